// A small agent-payment service in Node.js, verified by the harness as any other target:
//   harness run examples/node-target/profile.json --target-cmd "node examples/node-target/server.mjs"
// It implements part of the contract (docs/evidence-contract.md): GET /health, POST /settlements,
// POST /agent/decisions, the x402 challenge of GET /resources/{name}, rate limits per client (an issued API
// key of SRH_API_KEYS_FILE, else the client's address) with announced headers, and Server-Timing. It has no /admin/events feed and no /metrics, so the checks that need them come out
// "not observable" and the rest are judged.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { BodyTooLarge, NotJson, readJson as readBody } from "./body.mjs";
import { FailoverHorizon, HorizonUnavailable } from "./horizon.mjs";
import { take } from "./limits.mjs";
import { Settlements } from "./settlements.mjs";
import * as validate from "./validate.mjs";

const MAX_BODY = 64 * 1024;
const PRICE_STROOPS = "100000";

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return value;
}

const port = Number(required("PORT"));
const passphrase = required("STELLAR_NETWORK_PASSPHRASE");
const accounts = JSON.parse(readFileSync(required("SRH_ACCOUNTS_FILE"), "utf8"));
const horizon = new FailoverHorizon([required("HORIZON_URL"), process.env.HORIZON_URL_SECONDARY]);
const settlements = new Settlements(horizon, accounts, passphrase);
// SHA-256 (hex) of each API key the harness issued; any other key (or none) is the client's address.
const issuedKeys = new Set(readFileSync(required("SRH_API_KEYS_FILE"), "ascii").split("\n")
  .map((line) => line.trim().toLowerCase()).filter((line) => line && !line.startsWith("#")));

function clientOf(req) {
  const key = req.headers["x-api-key"];
  if (typeof key === "string" && key.length <= 256) {
    const digest = createHash("sha256").update(key, "utf8").digest("hex");
    if (issuedKeys.has(digest)) return `key:${digest}`;
  }
  return `address:${req.socket.remoteAddress}`;
}

class HttpError extends Error {
  constructor(status, error, message) {
    super(message);
    this.status = status;
    this.error = error;
  }
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  try {
    return await readBody(req, MAX_BODY);
  } catch (error) {
    if (error instanceof BodyTooLarge) throw new HttpError(413, "payload_too_large", "body over 64 KiB");
    if (error instanceof NotJson) throw new HttpError(400, "invalid_json", "the body is not JSON");
    throw error;
  }
}

function timing(metric, startedMs) {
  return { "Server-Timing": `${metric};dur=${(performance.now() - startedMs).toFixed(3)}` };
}

async function postSettlement(req, started) {
  const key = validate.idempotencyKey(req.headers["idempotency-key"]);
  const request = validate.settlement(await readJson(req), req.headers["x-agent-did"]);
  const result = await settlements.settle(key, request);
  const headers = result.retryAfter ? { "Retry-After": String(result.retryAfter) } : {};
  if (result.status === 200 && !result.replayed) Object.assign(headers, timing("settlement-finality", started));
  return [result.status, { ...result.body, ...(result.replayed ? { replayed: true } : {}) }, headers];
}

async function postDecisions(req, started) {
  const body = await readJson(req);
  const opportunities = validate.decisions(body, req.headers["x-agent-did"]);
  const decisions = opportunities.map((o) => ({ id: o.id, accept: o.amount <= 1000 && o.rate <= 0.3 }));
  return [200, { agent_did: body.agent_did, decisions }, timing("agent-decision", started)];
}

function getResource(req, name) {
  const requirements = { scheme: "exact", network: "stellar-standalone", maxAmountRequired: PRICE_STROOPS,
                         asset: "native", payTo: accounts.x402_pay_to, resource: `/resources/${name}`,
                         maxTimeoutSeconds: 60 };
  const reason = req.headers["x-payment"] ? "unsupported_payment" : "payment_required";
  return [402, { x402Version: 1, error: reason, accepts: [requirements] }, {}];
}

const ROUTES = [
  { method: "GET", path: /^\/health$/, handle: () => [200, { status: "ok", ready: true, breakers: horizon.states() }, {}] },
  { method: "POST", path: /^\/settlements$/, limiter: "settlements", handle: postSettlement },
  { method: "POST", path: /^\/agent\/decisions$/, limiter: "decisions", handle: postDecisions },
  { method: "GET", path: /^\/resources\/([A-Za-z0-9_-]{1,64})$/, limiter: "resources",
    handle: (req, _started, match) => getResource(req, match[1]) },
];

async function handle(req, res) {
  const started = performance.now();
  const path = new URL(req.url, "http://localhost").pathname;
  const route = ROUTES.find((r) => r.path.test(path));
  let limitHeaders = {};
  try {
    if (!route) throw new HttpError(404, "not_found", "no such route");
    if (route.method !== req.method) throw new HttpError(405, "method_not_allowed", "method not allowed");
    if (route.limiter) {
      const decision = take(route.limiter, clientOf(req));
      limitHeaders = decision.headers;
      if (!decision.allowed) throw new HttpError(429, "rate_limited", "rate limit exhausted");
    }
    const [status, body, headers] = await route.handle(req, started, path.match(route.path));
    send(res, status, body, { ...limitHeaders, ...headers });
  } catch (error) {
    if (error instanceof HttpError) return send(res, error.status, { error: error.error, message: error.message },
                                                limitHeaders);
    if (error instanceof validate.ValidationError) {
      return send(res, 400, { error: "invalid_request", field: error.field, message: error.message }, limitHeaders);
    }
    if (error instanceof HorizonUnavailable) {
      return send(res, 503, { error: "unavailable", message: error.message }, { ...limitHeaders, "Retry-After": "1" });
    }
    console.error(`internal error on ${req.method} ${path}: ${error?.stack ?? error}`);
    return send(res, 500, { error: "internal_error", message: "unexpected error" }, limitHeaders);
  }
}

const server = http.createServer((req, res) => {
  handle(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1", () => console.log(`LISTENING http://127.0.0.1:${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
