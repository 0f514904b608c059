// Horizon client with failover: the primary first, then the secondary, each behind a small circuit breaker.
// A refused connection (a proxy that is down) fails over at once; both unavailable -> HorizonUnavailable.

const FAILURES_TO_OPEN = 5;
const OPEN_MS = 10_000;

export class HorizonUnavailable extends Error {}

// The request was sent, but no answer came back: the outcome is unknown.
export class OutcomeUnknown extends Error {}

class Breaker {
  constructor(name) {
    this.name = name;
    this.state = "closed";
    this.failures = 0;
    this.openedAt = 0;
    this.trial = false;
  }

  allow(now) {
    if (this.state === "open" && now - this.openedAt >= OPEN_MS) this.state = "half_open";
    if (this.state === "closed") return true;
    if (this.state === "half_open" && !this.trial) {
      this.trial = true;
      return true;
    }
    return false;
  }

  success() {
    this.state = "closed";
    this.failures = 0;
    this.trial = false;
  }

  failure(now) {
    this.failures += 1;
    this.trial = false;
    if (this.state === "half_open" || this.failures >= FAILURES_TO_OPEN) {
      this.state = "open";
      this.openedAt = now;
      this.failures = 0;
    }
  }
}

export class FailoverHorizon {
  constructor(urls) {
    this.endpoints = urls.filter(Boolean).map((url, i) => ({
      url: url.replace(/\/$/, ""),
      breaker: new Breaker(i === 0 ? "horizon-primary" : "horizon-secondary"),
    }));
  }

  states() {
    return Object.fromEntries(this.endpoints.map((e) => [e.breaker.name, e.breaker.state]));
  }

  // fetch(path) on the first endpoint that answers; 5xx and network errors fail over.
  // `sends` marks a submission: a timeout after sending it is an unknown outcome, not a failover.
  async request(path, { method = "GET", body, timeoutMs = 5000, sends = false } = {}) {
    const causes = [];
    for (const { url, breaker } of this.endpoints) {
      if (!breaker.allow(Date.now())) {
        causes.push(`${breaker.name}: breaker open`);
        continue;
      }
      try {
        const response = await fetch(url + path, {
          method,
          body,
          headers: body ? { "Content-Type": "application/x-www-form-urlencoded" } : {},
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (response.status >= 500 && response.status !== 504) {
          breaker.failure(Date.now());
          causes.push(`${breaker.name}: ${response.status}`);
          continue;
        }
        const parsed = await response.json(); // a cut-off body throws: unknown outcome or failover, below
        breaker.success();
        return { status: response.status, body: parsed };
      } catch (error) {
        breaker.failure(Date.now());
        const refused = error?.cause?.code === "ECONNREFUSED";
        if (sends && !refused) throw new OutcomeUnknown(`${breaker.name}: ${error.name}`);
        causes.push(`${breaker.name}: ${refused ? "connection refused" : error.name}`);
      }
    }
    throw new HorizonUnavailable(causes.join("; "));
  }
}
