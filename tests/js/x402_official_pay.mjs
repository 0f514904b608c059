// The official x402 client (@x402/core x402Client + x402HTTPClient, @x402/stellar ExactStellarScheme +
// createEd25519Signer, 2.9.0) pays the service's paid route, and @x402/core's HTTPFacilitatorClient reads
// the facilitator's /supported: a client and a facilitator client nobody here wrote, as judges.
//
// The one shim (this script only, never the service or the network): @x402/stellar 2.9.0 maps only
// stellar:testnet and stellar:pubnet to passphrases, and its getRpcUrl throws for any other name, so it
// cannot pay on `stellar:offline`, the name the service gives the offline network (whose passphrase is
// its own: nothing signed here is valid on a real network). The client is registered for
// `stellar:offline` through an adapter that hands the official scheme the requirements under the name
// `stellar:testnet`, and STELLAR_NETWORK_TO_PASSPHRASE (an exported Map) maps that name to the offline
// passphrase in this process only. `accepted` in the payload stays the offered stellar:offline
// requirements (x402Client copies them). The client's close-time estimate, which asks horizon-testnet,
// is pointed at the offline Horizon (args.horizonUrl) so nothing leaves 127.0.0.1; the RPC is reached
// over https (args.rpcUrl) because AssembledTransaction refuses plain http.
import { Horizon } from "@stellar/stellar-sdk";
import { x402Client, x402HTTPClient } from "@x402/core/client";
import { HTTPFacilitatorClient } from "@x402/core/http";
import { STELLAR_NETWORK_TO_PASSPHRASE, STELLAR_TESTNET_CAIP2, createEd25519Signer } from "@x402/stellar";
import { ExactStellarScheme } from "@x402/stellar/exact/client";
import { args, attempt, done } from "./lib.mjs";

const a = args();
STELLAR_NETWORK_TO_PASSPHRASE.set(STELLAR_TESTNET_CAIP2, a.passphrase);
const ledgers = Horizon.Server.prototype.ledgers;
Horizon.Server.prototype.ledgers = function () {
  return this.serverURL.hostname() === "horizon-testnet.stellar.org"
    ? ledgers.call(new Horizon.Server(a.horizonUrl, { allowHttp: true }))
    : ledgers.call(this);
};

const official = new ExactStellarScheme(createEd25519Signer(a.payerSecret, STELLAR_TESTNET_CAIP2), { url: a.rpcUrl });
const adapter = {
  scheme: "exact",
  createPaymentPayload: (version, requirements, context) =>
    official.createPaymentPayload(version, { ...requirements, network: STELLAR_TESTNET_CAIP2 }, context),
};
const http = new x402HTTPClient(new x402Client().register(a.network, adapter));

async function payOnce(path) {
  const url = `${a.serviceUrl}${path}`;
  const started = performance.now();
  const challenge = await fetch(url);
  const required = http.getPaymentRequiredResponse((name) => challenge.headers.get(name), await challenge.json());
  const signedAt = performance.now();
  const payload = await http.createPaymentPayload(required);
  const builtMs = performance.now() - signedAt;
  const headers = http.encodePaymentSignatureHeader(payload);
  const paid = await fetch(url, { headers });
  const body = await paid.json();
  const receipt = await attempt(async () => http.getPaymentSettleResponse((name) => paid.headers.get(name)));
  const result = {
    challengeStatus: challenge.status, status: paid.status, body, receipt: receipt.ok ? receipt.value : null,
    latencyMs: performance.now() - started, buildMs: builtMs, serverTiming: paid.headers.get("server-timing"),
    accepted: payload.accepted, network: payload.accepted.network,
  };
  if (a.replay) {  // the same PAYMENT-SIGNATURE once more: a replay the service must refuse
    const again = await fetch(url, { headers });
    result.replay = { status: again.status, required: again.headers.get("payment-required") };
  }
  return result;
}

const supported = await attempt(() => new HTTPFacilitatorClient({ url: a.facilitatorUrl }).getSupported());
const payments = [];
for (const path of a.paths) {
  payments.push(await attempt(() => payOnce(path)));
}
done({ supported, payments });
