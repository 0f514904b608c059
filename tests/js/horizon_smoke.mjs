// The JavaScript Stellar SDK against a Horizon URL: load an account, read the base fee, pay with a memo.
import { Asset, Horizon, Keypair, Memo, Operation, TransactionBuilder } from "@stellar/stellar-sdk";
import { args, attempt, done } from "./lib.mjs";

const { horizon, passphrase, payer_secret, payee } = args();
const server = new Horizon.Server(horizon, { allowHttp: true });
const payer = Keypair.fromSecret(payer_secret);
const account = await server.loadAccount(payer.publicKey());
const baseFee = await server.fetchBaseFee();
const tx = new TransactionBuilder(account, { fee: String(baseFee), networkPassphrase: passphrase })
  .addOperation(Operation.payment({ destination: payee, asset: Asset.native(), amount: "1.5" }))
  .addMemo(Memo.text("js-sdk smoke"))
  .setTimeout(30)
  .build();
tx.sign(payer);
const submitted = await attempt(() => server.submitTransaction(tx));
done({
  sequence: account.sequenceNumber(),
  base_fee: baseFee,
  submitted: submitted.ok ? { successful: submitted.value.successful, hash: submitted.value.hash } : submitted,
});
