// The JavaScript SDK's read side against a Horizon URL: default submitTransaction (SEP-29 memo check),
// every history collection paged with next() until an empty page, record links followed, header_xdr decoded.
import {
  AccountRequiresMemoError, Asset, Horizon, Keypair, Memo, Operation, TransactionBuilder, xdr,
} from "@stellar/stellar-sdk";
import { args, attempt, done } from "./lib.mjs";

const { horizon, passphrase, payer_secret, payee, memo_account } = args();
const server = new Horizon.Server(horizon, { allowHttp: true });
const payer = Keypair.fromSecret(payer_secret);
const MAX_PAGES = 500;

async function pay(destination, memo) {
  const account = await server.loadAccount(payer.publicKey());
  let builder = new TransactionBuilder(account, { fee: "100", networkPassphrase: passphrase })
    .addOperation(Operation.payment({ destination, asset: Asset.native(), amount: "1" }))
    .setTimeout(30);
  if (memo) builder = builder.addMemo(Memo.text(memo));
  const tx = builder.build();
  tx.sign(payer);
  const response = await server.submitTransaction(tx); // SDK defaults: the memo-required check runs first
  return { successful: response.successful, hash: response.hash };
}

// Page with next() until a page comes back empty; report every paging token seen, in order.
async function drain(builder) {
  let page = await builder.call();
  const tokens = [];
  let pages = 0;
  while (page.records.length > 0 && pages < MAX_PAGES) {
    tokens.push(...page.records.map((r) => r.paging_token));
    page = await page.next();
    pages += 1;
  }
  return { tokens, pages, ended: page.records.length === 0 };
}

const plain = await attempt(() => pay(payee));
const refused = await pay(memo_account).then((value) => ({ ok: true, value }), (error) => ({
  ok: false, memo_required: error instanceof AccountRequiresMemoError, account: error.accountId ?? null,
  message: String(error.message),
}));
const withMemo = await attempt(() => pay(memo_account, "invoice 7"));
const hash = plain.ok ? plain.value.hash : null;
const tx = await server.transactions().transaction(hash).call();

const collections = {
  transactions: await drain(server.transactions().limit(3)),
  payer_transactions: await drain(server.transactions().forAccount(payer.publicKey()).limit(2)),
  ledger_transactions: await drain(server.transactions().forLedger(tx.ledger_attr).limit(1)),
  operations: await drain(server.operations().limit(4)),
  payer_operations: await drain(server.operations().forAccount(payer.publicKey()).limit(2)),
  payee_payments: await drain(server.payments().forAccount(payee).limit(2)),
  payments: await drain(server.payments().limit(5)),
  payer_effects: await drain(server.effects().forAccount(payer.publicKey()).limit(3)),
  tx_effects: await drain(server.effects().forTransaction(hash).limit(1)),
  effects: await drain(server.effects().limit(7)),
  ledgers: await drain(server.ledgers().limit(4)),
};

// Links on records are functions in the JS SDK: follow them.
const txOperations = await tx.operations();
const txEffects = await tx.effects();
const txLedger = await tx.ledger();
const txAccount = await tx.account();
const memoAccount = await server.accounts().accountId(memo_account).call();
const memoData = await memoAccount.data({ key: "config.memo_required" });
const operation = await server.operations().operation(txOperations.records[0].id).call();
const opEffects = await operation.effects();
const header = xdr.LedgerHeader.fromXDR(txLedger.header_xdr, "base64");

done({
  plain,
  refused,
  with_memo: withMemo,
  collections,
  links: {
    tx_operations: txOperations.records.map((r) => [r.type, r.transaction_hash, r.amount, r.to]),
    tx_effects: txEffects.records.map((r) => [r.type, r.account, r.amount]),
    tx_ledger: txLedger.sequence,
    tx_account: txAccount.id,
    memo_data: memoData,
    op_effects: opEffects.records.map((r) => r.type),
    header: { sequence: header.ledgerSeq(), fee_pool: header.feePool().toString(),
              total_coins: header.totalCoins().toString(), close_time: header.scpValue().closeTime().toString() },
    ledger_fields: { fee_pool: txLedger.fee_pool, total_coins: txLedger.total_coins, closed_at: txLedger.closed_at },
  },
});
