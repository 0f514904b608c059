// Input validation: every bad input is a ValidationError naming the field (answered 400 with a JSON body).
import { StrKey } from "@stellar/stellar-sdk";

const AMOUNT = /^(0|[1-9]\d{0,11})(\.\d{1,7})?$/;
const DID = /^did:[a-z0-9]+:[A-Za-z0-9._:%-]{1,200}$/;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;
const MAX_STROOPS = 2n ** 63n - 1n;

export class ValidationError extends Error {
  constructor(field, reason) {
    super(`${field}: ${reason}`);
    this.field = field;
  }
}

export function object(value, field = "body") {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ValidationError(field, "must be a JSON object");
  }
  return value;
}

export function address(value, field) {
  if (typeof value !== "string" || !StrKey.isValidEd25519PublicKey(value)) {
    throw new ValidationError(field, "must be a Stellar account id (G...)");
  }
  return value;
}

// A positive Stellar amount with at most 7 decimals that fits in int64 stroops; returns the string.
export function amount(value, field) {
  if (typeof value !== "string" || !AMOUNT.test(value)) throw new ValidationError(field, "must be a decimal string");
  const [whole, frac = ""] = value.split(".");
  const stroops = BigInt(whole) * 10_000_000n + BigInt(frac.padEnd(7, "0"));
  if (stroops <= 0n || stroops > MAX_STROOPS) throw new ValidationError(field, "must be positive and fit in int64 stroops");
  return value;
}

export function did(value, field = "agent_did") {
  if (typeof value !== "string" || !DID.test(value)) throw new ValidationError(field, "must be a DID (did:method:id)");
  return value;
}

// The agent DID from the body's `agent_did`, else the X-Agent-DID header (the contract's two ways).
export function agentDid(body, header) {
  if (body.agent_did !== undefined) return did(body.agent_did, "agent_did");
  if (header !== undefined) return did(header, "X-Agent-DID");
  throw new ValidationError("agent_did", "required (body field or X-Agent-DID header)");
}

export function idempotencyKey(value) {
  if (value === undefined) return null;
  if (!IDEMPOTENCY_KEY.test(value)) throw new ValidationError("Idempotency-Key", "1..128 of [A-Za-z0-9_.:-]");
  return value;
}

export function settlement(body, agentHeader) {
  object(body);
  if (body.asset !== undefined && body.asset !== "native") throw new ValidationError("asset", "only 'native' is supported");
  return {
    destination: address(body.destination, "destination"),
    amount: amount(body.amount, "amount"),
    agentDid: agentDid(body, agentHeader),
  };
}

function opportunity(item, field) {
  object(item, field);
  if (typeof item.id !== "string" || item.id.length < 1 || item.id.length > 64) {
    throw new ValidationError(`${field}.id`, "must be a string of 1..64 characters");
  }
  if (item.type === "loan") {
    const terms = object(item.terms, `${field}.terms`);
    address(terms.lender, `${field}.terms.lender`);
    address(terms.borrower, `${field}.terms.borrower`);
    const rate = terms.interestRate;
    if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) {
      throw new ValidationError(`${field}.terms.interestRate`, "must be a number in [0, 1]");
    }
    if (!Number.isInteger(terms.durationSeconds) || terms.durationSeconds <= 0) {
      throw new ValidationError(`${field}.terms.durationSeconds`, "must be a positive integer");
    }
    return { id: item.id, amount: Number(amount(terms.principal, `${field}.terms.principal`)), rate };
  }
  if (item.type === "escrow") {
    const escrow = object(item.escrow, `${field}.escrow`);
    address(escrow.payer, `${field}.escrow.payer`);
    address(escrow.payee, `${field}.escrow.payee`);
    return { id: item.id, amount: Number(amount(escrow.amount, `${field}.escrow.amount`)), rate: 0 };
  }
  throw new ValidationError(`${field}.type`, "must be 'loan' or 'escrow'");
}

export function decisions(body, agentHeader) {
  object(body);
  agentDid(body, agentHeader);
  const items = body.opportunities;
  if (!Array.isArray(items) || items.length < 1 || items.length > 50) {
    throw new ValidationError("opportunities", "must be a list of 1..50 objects");
  }
  return items.map((item, i) => opportunity(item, `opportunities[${i}]`));
}
