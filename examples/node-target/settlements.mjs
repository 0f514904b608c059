// POST /settlements: pay from a pool account, memo hash = sha256(Idempotency-Key), answer once the ledger decided.
// The same key never pays twice: a repeat returns the recorded outcome; after an unknown outcome (timeout, 504)
// the repeat looks the transaction up by hash and resubmits the same signed bytes, never a new transaction.
import { createHash, randomUUID } from "node:crypto";
import { Account, Asset, BASE_FEE, Keypair, Memo, Operation, TransactionBuilder } from "@stellar/stellar-sdk";
import { HorizonUnavailable, OutcomeUnknown } from "./horizon.mjs";

const TX_TIMEOUT_S = 20;
const QUARANTINE_MS = (TX_TIMEOUT_S + 5) * 1000; // an account with an unknown transaction waits out its time bounds
const ACQUIRE_MS = 8000;
const MAX_KEYS = 100_000;

export class Unavailable extends Error {}

export class Settlements {
  constructor(horizon, accounts, passphrase) {
    this.horizon = horizon;
    this.passphrase = passphrase;
    this.pool = accounts.settlement_pool.map((secret) => ({ kp: Keypair.fromSecret(secret), seq: null, busy: false,
                                                           until: 0 }));
    this.next = 0;
    this.byKey = new Map(); // key -> { fingerprint, outcome?, pending?, xdr?, hash? }
  }

  // { status, body } for one settlement request; `key` may be null (then nothing is remembered).
  async settle(key, request) {
    const fingerprint = JSON.stringify(request);
    const known = key && this.byKey.get(key);
    if (known && known.fingerprint !== fingerprint) {
      return { status: 409, body: { error: "idempotency_key_reused", message: "another request used this key" } };
    }
    if (known?.pending) return { ...(await known.pending), replayed: true };
    if (known?.outcome) return { ...known.outcome, replayed: true };
    const entry = known || { fingerprint };
    if (key) this.remember(key, entry);
    entry.pending = (entry.xdr ? this.resolve(entry) : this.pay(key, request, entry)).finally(() => {
      entry.pending = null;
    });
    const result = await entry.pending;
    if (result.status === 503 && key && !entry.xdr) this.byKey.delete(key); // nothing was sent: start afresh
    return result;
  }

  remember(key, entry) {
    if (this.byKey.size >= MAX_KEYS) this.byKey.delete(this.byKey.keys().next().value);
    this.byKey.set(key, entry);
  }

  async pay(key, request, entry) {
    const account = await this.acquire();
    try {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        if (account.seq === null) account.seq = await this.sequence(account.kp.publicKey());
        const tx = new TransactionBuilder(new Account(account.kp.publicKey(), account.seq.toString()), {
          fee: BASE_FEE, networkPassphrase: this.passphrase,
        })
          .addOperation(Operation.payment({ destination: request.destination, asset: Asset.native(),
                                            amount: request.amount }))
          .addMemo(Memo.hash(createHash("sha256").update(key ?? randomUUID()).digest()))
          .setTimeout(TX_TIMEOUT_S)
          .build();
        tx.sign(account.kp);
        entry.xdr = tx.toEnvelope().toXDR("base64");
        entry.hash = tx.hash().toString("hex");
        const result = await this.submit(entry, account);
        if (result !== "bad_seq") return result;
        account.seq = null; // the sequence moved on: reload it and build again (the first was never applied)
        entry.xdr = null;
      }
      return { status: 503, body: { error: "unavailable", message: "sequence conflicts" }, retryAfter: 1 };
    } catch (error) {
      if (error instanceof HorizonUnavailable) {
        entry.xdr = null;
        return { status: 503, body: { error: "unavailable", message: error.message }, retryAfter: 1 };
      }
      throw error;
    } finally {
      account.busy = false;
    }
  }

  // An earlier attempt's outcome is unknown: look it up by hash, else resubmit the same bytes.
  async resolve(entry) {
    try {
      const found = await this.horizon.request(`/transactions/${entry.hash}`);
      if (found.status === 200) return this.decide(entry, found.body.successful ? 200 : 422, found.body.ledger);
      return await this.submit(entry, null);
    } catch (error) {
      if (error instanceof HorizonUnavailable) {
        return { status: 503, body: { error: "unavailable", status: "unknown", tx_hash: entry.hash }, retryAfter: 1 };
      }
      throw error;
    }
  }

  async submit(entry, account) {
    let answer;
    try {
      answer = await this.horizon.request("/transactions", { method: "POST", sends: true, timeoutMs: 12_000,
                                                            body: `tx=${encodeURIComponent(entry.xdr)}` });
    } catch (error) {
      if (!(error instanceof OutcomeUnknown)) throw error;
      answer = { status: 504 };
    }
    const code = answer.body?.extras?.result_codes?.transaction;
    if (answer.status === 200) {
      if (account) account.seq += 1n;
      return this.decide(entry, 200, answer.body.ledger);
    }
    if (answer.status === 400 && code === "tx_failed") {
      if (account) account.seq += 1n;
      return this.decide(entry, 422, null);
    }
    if (answer.status === 400 && code === "tx_bad_seq" && account) return "bad_seq";
    if (account) {
      account.seq = null;
      account.until = Date.now() + QUARANTINE_MS;
    }
    return { status: 504, body: { error: "outcome_unknown", status: "unknown", tx_hash: entry.hash } };
  }

  decide(entry, status, ledger) {
    const body = status === 200
      ? { status: "success", tx_hash: entry.hash, ledger }
      : { error: "transaction_failed", status: "failed", tx_hash: entry.hash };
    entry.outcome = { status, body };
    return entry.outcome;
  }

  async sequence(accountId) {
    const answer = await this.horizon.request(`/accounts/${accountId}`);
    if (answer.status !== 200) throw new HorizonUnavailable(`account ${accountId}: ${answer.status}`);
    return BigInt(answer.body.sequence);
  }

  async acquire() {
    const deadline = Date.now() + ACQUIRE_MS;
    while (Date.now() < deadline) {
      for (let i = 0; i < this.pool.length; i += 1) {
        const account = this.pool[(this.next + i) % this.pool.length];
        if (!account.busy && account.until <= Date.now()) {
          this.next = (this.next + i + 1) % this.pool.length;
          account.busy = true;
          return account;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new HorizonUnavailable("no pool account free");
  }
}
