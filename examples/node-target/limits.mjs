// Per-client token buckets (a client: an issued API key, else an address), announced on every limited response (X-RateLimit-*, RateLimit-Policy).
// The limits are the seed's presets that config/development.json names: PAYMENT 50/min, STANDARD 100/min.

const MAX_KEYS = 10_000; // bounded memory: the oldest bucket goes first

export const LIMITS = {
  resources: { limit: 50, windowS: 60 },
  settlements: { limit: 50, windowS: 60 },
  decisions: { limit: 100, windowS: 60 },
};

const buckets = new Map();

// { allowed, headers } for one request of `key` on `name`'s limiter.
export function take(name, key) {
  const { limit, windowS } = LIMITS[name];
  const rate = limit / windowS;
  const id = `${name}\u0000${key}`;
  const now = Date.now() / 1000;
  let bucket = buckets.get(id);
  if (bucket === undefined) {
    if (buckets.size >= MAX_KEYS) buckets.delete(buckets.keys().next().value);
    bucket = { tokens: limit, at: now };
  }
  buckets.delete(id);
  buckets.set(id, bucket);
  bucket.tokens = Math.min(limit, bucket.tokens + (now - bucket.at) * rate);
  bucket.at = now;
  const allowed = bucket.tokens >= 1;
  if (allowed) bucket.tokens -= 1;
  const headers = {
    "X-RateLimit-Limit": String(limit),
    "X-RateLimit-Remaining": String(Math.floor(bucket.tokens)),
    "X-RateLimit-Reset": String(Math.ceil((limit - bucket.tokens) / rate)),
    "RateLimit-Policy": `${limit};w=${windowS}`,
  };
  if (!allowed) headers["Retry-After"] = String(Math.max(1, Math.ceil((1 - bucket.tokens) / rate)));
  return { allowed, headers };
}
