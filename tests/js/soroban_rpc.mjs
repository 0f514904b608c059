// Soroban RPC and a SAC transfer through the JavaScript SDK, the way the x402 `exact` Stellar scheme does it:
// the payer builds and simulates `transfer` with contract.AssembledTransaction, signs its auth entry,
// re-simulates; a second account rebuilds the transaction as its source and fee payer (as the x402
// facilitator's settle() does), sends it and polls getTransaction. Balances are read back through the SAC
// (a read call) and through Horizon.
// Args: {rpcUrl, horizonUrl, passphrase, payerSecret, submitterSecret, payTo, assetCode, assetIssuer, amount}
import {
  Asset, Contract, Horizon, Keypair, Operation, TransactionBuilder, Transaction, contract, nativeToScVal, rpc,
  scValToNative, xdr,
} from "@stellar/stellar-sdk";
import { args, attempt, done } from "./lib.mjs";

const a = args();
const server = new rpc.Server(a.rpcUrl, { allowHttp: true });
const payer = Keypair.fromSecret(a.payerSecret);
const submitter = Keypair.fromSecret(a.submitterSecret);
const contractId = new Asset(a.assetCode, a.assetIssuer).contractId(a.passphrase);
const out = { contractId };
const common = { contractId, networkPassphrase: a.passphrase, rpcUrl: a.rpcUrl, allowHttp: true };

async function balance(address) {
  const read = await contract.AssembledTransaction.build({
    ...common, method: "balance", args: [nativeToScVal(address, { type: "address" })],
    parseResultXdr: (v) => scValToNative(v).toString(),
  });
  return read.result;
}

async function horizonBalance(account) {
  const horizon = new Horizon.Server(a.horizonUrl, { allowHttp: true });
  const loaded = await horizon.loadAccount(account);
  return loaded.balances.find((b) => b.asset_code === a.assetCode)?.balance ?? null;
}

async function poll(hash) {
  for (let i = 0; i < 60; i++) {
    const got = await server.getTransaction(hash);
    if (got.status !== rpc.Api.GetTransactionStatus.NOT_FOUND) return got;
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

// Rebuild as the x402 facilitator's settle() does: its own source, the client's sorobanData and operation.
async function rebuild(clientXdr) {
  const clientTx = new Transaction(clientXdr, a.passphrase);
  const sorobanData = xdr.TransactionEnvelope.fromXDR(clientXdr, "base64").v1().tx().ext().sorobanData();
  const account = await server.getAccount(submitter.publicKey());
  const tx = new TransactionBuilder(account, { fee: clientTx.fee, networkPassphrase: a.passphrase, sorobanData })
    .setTimeout(60).addOperation(Operation.invokeHostFunction(clientTx.operations[0])).build();
  tx.sign(submitter);
  return tx;
}

out.health = await server.getHealth();
out.network = await server.getNetwork();
const latest = await server.getLatestLedger();
out.latest = { sequence: latest.sequence, protocolVersion: latest.protocolVersion, hasMeta: !!latest.metadataXdr };
const instance = await server.getLedgerEntries(new Contract(contractId).getFootprint());
out.instance = instance.entries.map((e) => ({ type: e.val.switch().name, liveUntil: e.liveUntilLedgerSeq }));
out.before = { payer: await balance(payer.publicKey()), payTo: await balance(a.payTo),
               horizonPayer: await horizonBalance(payer.publicKey()) };

const tx = await contract.AssembledTransaction.build({
  ...common, method: "transfer", parseResultXdr: (r) => r,
  args: [nativeToScVal(payer.publicKey(), { type: "address" }), nativeToScVal(a.payTo, { type: "address" }),
         nativeToScVal(a.amount, { type: "i128" })],
});
out.firstSimulation = { ok: rpc.Api.isSimulationSuccess(tx.simulation), fee: tx.simulation.minResourceFee,
                        needs: tx.needsNonInvokerSigningBy() };
await tx.signAuthEntries({ address: payer.publicKey(), expiration: latest.sequence + 12,
                           signAuthEntry: contract.basicNodeSigner(payer, a.passphrase).signAuthEntry });
await tx.simulate();
out.secondSimulation = { ok: rpc.Api.isSimulationSuccess(tx.simulation), needs: tx.needsNonInvokerSigningBy(),
                         error: tx.simulation.error ?? null };
const clientXdr = tx.built.toXDR();
out.signedAuth = tx.built.operations[0].auth[0].toXDR("base64"); // what stellar-base's authorizeEntry signed

// The facilitator's verify(): re-simulate the client's transaction and read its transfer event.
const verify = await server.simulateTransaction(new Transaction(clientXdr, a.passphrase));
out.verifyEvents = (verify.events ?? []).filter((e) => e.event().type().name === "contract").map((e) => {
  const body = e.event().body().v0();
  return { topics: body.topics().map((t) => String(scValToNative(t))), data: scValToNative(body.data()).toString() };
});

const settled = await rebuild(clientXdr);
const sent = await server.sendTransaction(settled);
out.sent = { status: sent.status, hash: sent.hash };
const got = await poll(sent.hash);
out.got = got && { status: got.status, ledger: got.ledger, applicationOrder: got.applicationOrder,
                   returnValue: got.returnValue?.switch().name ?? null, metaVersion: got.resultMetaXdr.switch(),
                   events: got.events.contractEventsXdr.flat().length, feeCharged: got.resultXdr.feeCharged().toString() };
out.after = { payer: await balance(payer.publicKey()), payTo: await balance(a.payTo),
              horizonPayer: await horizonBalance(payer.publicKey()) };

// The same signed auth entry again: its nonce is spent.
const replay = await rebuild(clientXdr);
const replaySim = await server.simulateTransaction(replay);
out.replaySimulation = replaySim.error ?? null;
const replaySent = await attempt(() => server.sendTransaction(replay));
const replayGot = replaySent.ok && replaySent.value.status === "PENDING" ? await poll(replaySent.value.hash) : null;
out.replay = { status: replaySent.ok ? replaySent.value.status : replaySent.error,
               result: replayGot && { status: replayGot.status,
                 code: replayGot.resultXdr.result().results()[0].tr().invokeHostFunctionResult().switch().name } };
done(out);
