"""Horizon JSON bodies: account, ledger, transaction, claimable balance, root, pages and problems."""

from __future__ import annotations

import base64
from typing import Any

from harness.ledger.assets import asset_type, split
from harness.ledger.config import format_amount
from harness.ledger.records import AppliedTx, LedgerHeader
from harness.ledger.results import TxResult
from harness.ledger.state import (
    AUTH_CLAWBACK,
    AUTH_IMMUTABLE,
    AUTH_REQUIRED,
    AUTH_REVOCABLE,
    TL_CLAWBACK,
    TL_MAINTAIN_LIABILITIES,
    Account,
    ClaimableBalance,
    TrustLine,
    iso_time,
)

HORIZON_VERSION = "srh-offline-1.0"
PROBLEM_BASE = "https://stellar.org/horizon-errors/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

_PROBLEMS: dict[str, tuple[int, str, str]] = {
    "bad_request": (400, "Bad Request", "The request you sent was invalid in some way."),
    "not_found": (404, "Resource Missing", "The resource at the url requested was not found.  This usually "
                  "occurs for one of two reasons:  The url requested is not valid, or no data in our database "
                  "could be found with the parameters provided."),
    "transaction_malformed": (400, "Transaction Malformed", "Horizon could not decode the transaction envelope "
                              "in this request. A transaction should be an XDR TransactionEnvelope struct "
                              "encoded using base64.  The envelope read from this request is echoed in the "
                              "`extras.envelope_xdr` field of this response for your convenience."),
    "transaction_failed": (400, "Transaction Failed", "The transaction failed when submitted to the stellar "
                           "network. The `extras.result_codes` field on this response contains further details.  "
                           "Descriptions of each code can be found at: https://developers.stellar.org/docs/data/"
                           "horizon/api-reference/errors/http-status-codes/horizon-specific/transaction-failed"),
    "unsupported_media_type": (415, "Unsupported Media Type", "The request has an unsupported content type. "
                               "Presently, the only supported content type is application/x-www-form-urlencoded."),
    "timeout": (504, "Timeout", "Your request timed out before completing.  Please try your request again. If you "
                "are submitting a transaction make sure you are sending exactly the same transaction (with the "
                "same sequence number)."),
    "transaction_submission_timeout": (
        504, "Transaction Submission Timeout", "Your transaction submission request has timed out. This does not "
        "necessarily mean the submission has failed. Before resubmitting, please use the transaction hash provided "
        "in `extras.hash` to poll the GET /transactions endpoint for sometime and check if it was included in a "
        "ledger."),
    "server_over_capacity": (503, "Server Over Capacity", "Horizon is temporarily unable to handle the request. "
                             "Try again later."),
    "method_not_allowed": (405, "Method Not Allowed", "This endpoint does not support the request method you used."),
    "server_error": (500, "Internal Server Error", "An error occurred while processing this request."),
}


def problem(slug: str, extras: dict[str, Any] | None = None, detail: str | None = None) -> tuple[int, dict[str, Any]]:
    """(status, body) of a Horizon problem; `extras` is omitted when empty, never null."""
    status, title, default_detail = _PROBLEMS[slug]
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status,
                            "detail": detail or default_detail}
    if extras:
        body["extras"] = extras
    return status, body


def transaction_failed(envelope_xdr: str, result: TxResult, result_xdr: str | None = None,
                       tx_hash: str | None = None) -> tuple[int, dict]:
    return problem("transaction_failed", {"envelope_xdr": envelope_xdr, "result_codes": result.result_codes(tx_hash),
                                          "result_xdr": result_xdr or result.to_xdr()})


def credit_balance(line: TrustLine) -> dict[str, Any]:
    """A trustline in `balances` (Horizon resourceadapter PopulateAssetBalance + fillAuthorizationFlags)."""
    code, issuer = split(line.asset)
    body: dict[str, Any] = {"balance": format_amount(line.balance), "limit": format_amount(line.limit),
                            "buying_liabilities": "0.0000000", "selling_liabilities": "0.0000000",
                            "last_modified_ledger": line.last_modified_ledger, "is_authorized": line.authorized,
                            "is_authorized_to_maintain_liabilities": line.authorized
                            or bool(line.flags & TL_MAINTAIN_LIABILITIES)}
    if line.flags & TL_CLAWBACK:
        body["is_clawback_enabled"] = True
    return {**body, "asset_type": asset_type(line.asset), "asset_code": code, "asset_issuer": issuer}


def account_body(account: Account, trustlines: list[TrustLine] | tuple[TrustLine, ...] = ()) -> dict[str, Any]:
    thresholds = {"low_threshold": account.low_threshold, "med_threshold": account.med_threshold,
                  "high_threshold": account.high_threshold}
    signers = [{"weight": w, "key": k, "type": "ed25519_public_key"} for k, w in sorted(account.signers.items())]
    signers.append({"weight": account.master_weight, "key": account.account_id, "type": "ed25519_public_key"})
    return {
        "_links": {"self": {"href": f"/accounts/{account.account_id}"}},
        "id": account.account_id,
        "account_id": account.account_id,
        "sequence": str(account.seq_num),
        **({"sequence_ledger": account.seq_ledger, "sequence_time": str(account.seq_time)}
           if account.seq_ledger else {}),
        "subentry_count": account.subentry_count,
        **({"home_domain": account.home_domain} if account.home_domain else {}),
        "last_modified_ledger": account.last_modified_ledger,
        "last_modified_time": iso_time(account.last_modified_time),
        "thresholds": thresholds,
        "flags": {"auth_required": bool(account.flags & AUTH_REQUIRED),
                  "auth_revocable": bool(account.flags & AUTH_REVOCABLE),
                  "auth_immutable": bool(account.flags & AUTH_IMMUTABLE),
                  "auth_clawback_enabled": bool(account.flags & AUTH_CLAWBACK)},
        "balances": [*(credit_balance(t) for t in trustlines),
                     {"balance": format_amount(account.balance), "buying_liabilities": "0.0000000",
                      "selling_liabilities": "0.0000000", "asset_type": "native"}],
        "signers": signers,
        "data": {k: base64.b64encode(v).decode() for k, v in sorted(account.data.items())},
        "num_sponsoring": account.num_sponsoring,
        "num_sponsored": 0,
        "paging_token": account.account_id,
    }


def ledger_body(header: LedgerHeader) -> dict[str, Any]:
    return {
        "_links": {"self": {"href": f"/ledgers/{header.sequence}"}},
        "id": header.hash,
        "paging_token": str(header.sequence),
        "hash": header.hash,
        "prev_hash": header.prev_hash,
        "sequence": header.sequence,
        "successful_transaction_count": header.successful_transaction_count,
        "failed_transaction_count": header.failed_transaction_count,
        "operation_count": header.operation_count,
        "tx_set_operation_count": header.operation_count,
        "closed_at": iso_time(header.close_time),
        "total_coins": format_amount(header.total_coins),
        "fee_pool": format_amount(header.fee_pool),
        "base_fee_in_stroops": header.base_fee,
        "base_reserve_in_stroops": header.base_reserve,
        "max_tx_set_size": header.max_tx_set_size,
        "protocol_version": header.protocol_version,
    }


def transaction_body(tx: AppliedTx, tx_hash: str | None = None) -> dict[str, Any]:
    """Horizon's transaction resource (resourceadapter PopulateTransaction); `tx_hash` is the hash asked
    for, which for a fee bump may be its inner hash (then `id`/`hash`/`signatures` are the inner ones)."""
    shown = tx_hash or tx.hash
    body: dict[str, Any] = {
        "_links": {"self": {"href": f"/transactions/{shown}"}},
        "id": shown,
        "paging_token": str((tx.ledger << 32) + tx.application_order),
        "successful": tx.successful,
        "hash": shown,
        "ledger": tx.ledger,
        "created_at": iso_time(tx.close_time),
        "source_account": tx.source,
        "source_account_sequence": str(tx.seq),
        "fee_account": tx.fee_account or tx.source,
        "fee_charged": str(tx.result.fee_charged),
        "max_fee": str(tx.outer_fee if tx.outer_fee is not None else tx.max_fee),
        "operation_count": len(tx.operations),
        "envelope_xdr": tx.envelope_xdr,
        "result_xdr": tx.result_xdr,
        "memo_type": tx.memo_type,
        "signatures": list(tx.outer_signatures if tx.inner_hash and shown == tx.hash else tx.signatures),
    }
    if tx.inner_hash:
        body["fee_bump_transaction"] = {"hash": tx.hash, "signatures": list(tx.outer_signatures)}
        body["inner_transaction"] = {"hash": tx.inner_hash, "signatures": list(tx.signatures),
                                     "max_fee": str(tx.max_fee)}
    if tx.memo_type != "none" and tx.memo_value is not None:
        body["memo"] = (base64.b64encode(bytes.fromhex(tx.memo_value)).decode()
                        if tx.memo_type in ("hash", "return") else tx.memo_value)
    if tx.time_bounds is not None:
        low, high = tx.time_bounds
        body["valid_after"] = iso_time(low)
        if high:
            body["valid_before"] = iso_time(high)
        body["preconditions"] = {"timebounds": {"min_time": str(low), **({"max_time": str(high)} if high else {})}}
    return body


def claimable_balance_body(balance: ClaimableBalance) -> dict[str, Any]:
    return {
        "_links": {"self": {"href": f"/claimable_balances/{balance.balance_id}"}},
        "id": balance.balance_id,
        "asset": balance.asset,
        "amount": format_amount(balance.amount),
        "sponsor": balance.sponsor,
        "last_modified_ledger": balance.last_modified_ledger,
        "last_modified_time": iso_time(balance.last_modified_time),
        "claimants": [{"destination": d, "predicate": p} for d, p in balance.claimants],
        "flags": {"clawback_enabled": False},
        "paging_token": balance.balance_id,
    }


def page(path: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A Horizon collection page (`_embedded.records` always present)."""
    return {"_links": {"self": {"href": path}, "next": {"href": path}, "prev": {"href": path}},
            "_embedded": {"records": records}}


def root_body(latest: LedgerHeader, passphrase: str) -> dict[str, Any]:
    return {
        "_links": {"account": {"href": "/accounts/{account_id}", "templated": True},
                   "ledgers": {"href": "/ledgers{?cursor,limit,order}", "templated": True},
                   "transactions": {"href": "/transactions/{hash}", "templated": True},
                   "friendbot": {"href": "/friendbot{?addr}", "templated": True}},
        "horizon_version": HORIZON_VERSION,
        "core_version": HORIZON_VERSION,
        "ingest_latest_ledger": latest.sequence,
        "history_latest_ledger": latest.sequence,
        "history_latest_ledger_closed_at": iso_time(latest.close_time),
        "history_elder_ledger": 1,
        "core_latest_ledger": latest.sequence,
        "network_passphrase": passphrase,
        "current_protocol_version": latest.protocol_version,
        "supported_protocol_version": latest.protocol_version,
        "core_supported_protocol_version": latest.protocol_version,
    }


def fee_stats_body(latest: LedgerHeader) -> dict[str, Any]:
    fee = str(latest.base_fee)
    percentiles = {k: fee for k in ("max", "min", "mode", "p10", "p20", "p30", "p40", "p50", "p60", "p70",
                                    "p80", "p90", "p95", "p99")}
    return {"last_ledger": str(latest.sequence), "last_ledger_base_fee": fee, "ledger_capacity_usage": "0.00",
            "fee_charged": dict(percentiles), "max_fee": dict(percentiles)}
