// The JavaScript Stellar SDK against the offline network's submission rules: what a TypeScript agent sees
// for TRY_AGAIN_LATER, tx_bad_seq, fee bumps, trustlines, credit payments and their error codes.
// Every scenario uses its own accounts (funded through friendbot) and reports what the SDK returned or threw.
import {
  Asset,
  AuthRequiredFlag,
  Claimant,
  Horizon,
  Keypair,
  Memo,
  Operation,
  TransactionBuilder,
  xdr,
} from "@stellar/stellar-sdk";
import { args, attempt, done } from "./lib.mjs";

const { horizon, passphrase, usdc_issuer, usdc_holder_secret, usdc_receiver } = args();
const server = new Horizon.Server(horizon, { allowHttp: true });
const USDC = new Asset("USDC", usdc_issuer);

async function funded() {
  const kp = Keypair.random();
  await server.friendbot(kp.publicKey()).call();
  return kp;
}

// A signed transaction from `kp` (its account loaded now, or `account` to build several in a row).
async function build(kp, ops, { account = null, fee = "100", memo = "js-sdk" } = {}) {
  const source = account ?? (await server.loadAccount(kp.publicKey()));
  const builder = new TransactionBuilder(source, { fee, networkPassphrase: passphrase }).addMemo(Memo.text(memo));
  for (const op of ops) builder.addOperation(op);
  const tx = builder.setTimeout(120).build();
  tx.sign(kp);
  return tx;
}

// What the SDK gave back: the response fields a client looks at, or the error (status, problem, body).
function seen(outcome, started) {
  const elapsed_ms = Date.now() - started;
  if (!outcome.ok) {
    const { status, type, extras, body, message } = outcome.error;
    return {
      ok: false, elapsed_ms, status, type, message, result_codes: extras?.result_codes ?? null,
      result_xdr: extras?.result_xdr ?? null, extras_hash: extras?.hash ?? null,
      tx_status: body?.tx_status ?? null, error_result_xdr: body?.error_result_xdr ?? null, body_hash: body?.hash ?? null,
    };
  }
  const v = outcome.value;
  return {
    ok: true, elapsed_ms, successful: v.successful ?? null, hash: v.hash ?? null, tx_status: v.tx_status ?? null,
    fee_charged: v.fee_charged ?? null, max_fee: v.max_fee ?? null, fee_account: v.fee_account ?? null,
    fee_bump_transaction: v.fee_bump_transaction ?? null, inner_transaction: v.inner_transaction ?? null,
    source_account: v.source_account ?? null,
  };
}

async function sync(tx) {
  const started = Date.now();
  return seen(await attempt(() => server.submitTransaction(tx, { skipMemoRequiredCheck: true })), started);
}

async function async_(tx) {
  const started = Date.now();
  return seen(await attempt(() => server.submitAsyncTransaction(tx, { skipMemoRequiredCheck: true })), started);
}

function decodeResult(b64) {
  const result = xdr.TransactionResult.fromXDR(b64, "base64");
  return { code: result.result().switch().name, fee_charged: result.feeCharged().toString() };
}

async function balances(kp) {
  return (await server.loadAccount(kp.publicKey())).balances;
}

async function busyAccount() {
  const kp = await funded();
  const other = await funded();
  const account = await server.loadAccount(kp.publicKey());
  const first = await build(kp, [Operation.payment({ destination: other.publicKey(), asset: Asset.native(), amount: "1" })], { account, memo: "first" });
  const second = await build(kp, [Operation.payment({ destination: other.publicKey(), asset: Asset.native(), amount: "2" })], { account, memo: "second" });
  const pending = await async_(first);
  const asyncBusy = await async_(second);
  const syncBusy = await sync(second); // waits for a hash that never comes: Horizon answers 504 after its timeout
  const firstLanded = await sync(first); // already applied or still queued: the stored outcome either way
  return { pending, async_busy: asyncBusy, sync_busy: syncBusy, first_landed: firstLanded };
}

async function badSeq() {
  const kp = await funded();
  const other = await funded();
  const account = await server.loadAccount(kp.publicKey());
  account.incrementSequenceNumber(); // skip one: a gap
  const gapped = await build(kp, [Operation.payment({ destination: other.publicKey(), asset: Asset.native(), amount: "1" })], { account });
  const asyncGap = await async_(gapped);
  const syncGap = await sync(gapped);
  return { async_gap: { ...asyncGap, decoded: asyncGap.error_result_xdr ? decodeResult(asyncGap.error_result_xdr) : null },
           sync_gap: { ...syncGap, decoded: syncGap.result_xdr ? decodeResult(syncGap.result_xdr) : null } };
}

async function feeBumps() {
  const payer = await funded();
  const sponsorOfFees = await funded();
  const other = await funded();
  const inner = await build(payer, [Operation.payment({ destination: other.publicKey(), asset: Asset.native(), amount: "3" })]);
  const bump = TransactionBuilder.buildFeeBumpTransaction(sponsorOfFees, "200", inner, passphrase);
  bump.sign(sponsorOfFees);
  const applied = await sync(bump);
  const byInnerHash = await attempt(() => server.transactions().transaction(inner.hash().toString("hex")).call());
  const failingInner = await build(other, [Operation.payment({ destination: payer.publicKey(), asset: Asset.native(), amount: "99999" })]);
  const failingBump = TransactionBuilder.buildFeeBumpTransaction(sponsorOfFees, "200", failingInner, passphrase);
  failingBump.sign(sponsorOfFees);
  const failed = await sync(failingBump);
  return { applied, inner_hash: inner.hash().toString("hex"), bump_hash: bump.hash().toString("hex"),
           by_inner_hash: byInnerHash.ok ? { id: byInnerHash.value.id, fee_account: byInnerHash.value.fee_account } : byInnerHash,
           failed, fee_source: sponsorOfFees.publicKey() };
}

async function trustlines() {
  const issuer = await funded();
  const holder = await funded();
  const outsider = await funded();
  const eur = new Asset("EUR", issuer.publicKey());
  const results = {};
  results.change_trust = await sync(await build(holder, [Operation.changeTrust({ asset: eur, limit: "10" })]));
  results.issue = await sync(await build(issuer, [Operation.payment({ destination: holder.publicKey(), asset: eur, amount: "6" })]));
  results.holder_balances = await balances(holder);
  results.op_no_trust = await sync(await build(issuer, [Operation.payment({ destination: outsider.publicKey(), asset: eur, amount: "1" })]));
  results.op_line_full = await sync(await build(issuer, [Operation.payment({ destination: holder.publicKey(), asset: eur, amount: "5" })]));
  results.op_src_no_trust = await sync(await build(outsider, [Operation.payment({ destination: holder.publicKey(), asset: eur, amount: "1" })]));
  results.op_underfunded = await sync(await build(holder, [Operation.payment({ destination: issuer.publicKey(), asset: eur, amount: "7" })]));
  results.op_no_issuer = await sync(await build(holder, [Operation.changeTrust({ asset: new Asset("NOPE", Keypair.random().publicKey()) })]));
  results.op_invalid_limit = await sync(await build(holder, [Operation.changeTrust({ asset: eur, limit: "1" })]));
  results.burn = await sync(await build(holder, [Operation.payment({ destination: issuer.publicKey(), asset: eur, amount: "6" })]));
  // the genesis USDC: generated accounts hold an authorized trustline with a balance
  const usdcHolder = Keypair.fromSecret(usdc_holder_secret);
  results.usdc_payment = await sync(await build(usdcHolder, [Operation.payment({ destination: usdc_receiver, asset: USDC, amount: "1.5" })]));
  results.usdc_receiver_balances = (await server.loadAccount(usdc_receiver)).balances;
  return results;
}

async function authorization() {
  const issuer = await funded();
  const holder = await funded();
  const gold = new Asset("GOLD", issuer.publicKey());
  const results = {};
  results.auth_required = await sync(await build(issuer, [Operation.setOptions({ setFlags: AuthRequiredFlag })]));
  results.change_trust = await sync(await build(holder, [Operation.changeTrust({ asset: gold })]));
  results.op_not_authorized = await sync(await build(issuer, [Operation.payment({ destination: holder.publicKey(), asset: gold, amount: "1" })]));
  results.op_src_not_authorized = await sync(await build(holder, [Operation.payment({ destination: issuer.publicKey(), asset: gold, amount: "1" })]));
  results.authorize = await sync(await build(issuer, [Operation.setTrustLineFlags({ trustor: holder.publicKey(), asset: gold, flags: { authorized: true } })]));
  results.paid = await sync(await build(issuer, [Operation.payment({ destination: holder.publicKey(), asset: gold, amount: "1" })]));
  results.issuer_flags = (await server.loadAccount(issuer.publicKey())).flags;
  return results;
}

async function claimableBalances() {
  const creator = await funded();
  const claimant = await funded();
  const issuer = await funded();
  const eur = new Asset("EUR", issuer.publicKey());
  const results = {};
  await sync(await build(creator, [Operation.changeTrust({ asset: eur })]));
  await sync(await build(issuer, [Operation.payment({ destination: creator.publicKey(), asset: eur, amount: "20" })]));
  const create = await build(creator, [Operation.createClaimableBalance({ asset: eur, amount: "8", claimants: [new Claimant(claimant.publicKey())] })]);
  const balanceId = create.getClaimableBalanceId(0);
  results.create = await sync(create);
  results.listed = (await server.claimableBalances().claimant(claimant.publicKey()).call()).records.map((r) => ({ id: r.id, asset: r.asset, amount: r.amount }));
  results.claim_without_trustline = await sync(await build(claimant, [Operation.claimClaimableBalance({ balanceId })]));
  await sync(await build(claimant, [Operation.changeTrust({ asset: eur })]));
  results.claim = await sync(await build(claimant, [Operation.claimClaimableBalance({ balanceId })]));
  results.claimant_balances = await balances(claimant);
  results.balance_id = balanceId;
  return results;
}

const report = {};
for (const [name, scenario] of Object.entries({ busyAccount, badSeq, feeBumps, trustlines, authorization, claimableBalances })) {
  const outcome = await attempt(scenario);
  report[name] = outcome.ok ? outcome.value : { scenario_error: outcome.error };
}
done(report);
