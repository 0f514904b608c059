"""Horizon JSON bodies: account, ledger, claimable balance, root, pages and problems, with Horizon's `_links`.

Links are absolute on the host the request named (Horizon's `hal.LinkBuilder` with the request's base
URL), so a client reaching the ledger through a proxy follows links through the same proxy.
"""

from __future__ import annotations

import base64
from typing import Any

from harness.ledger.assets import asset_type, split
from harness.ledger.config import format_amount
from harness.ledger.paging import toid
from harness.ledger.records import LedgerHeader
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
PAGING_OPTIONS = "{?cursor,limit,order}"  # hal.StandardPagingOptions
ELDER_LEDGER = 1  # history_elder_ledger: the offline network keeps its whole history

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
    "before_history": (410, "Data Requested Is Before Recorded History", "This horizon instance is configured to "
                       "only track a portion of the stellar network's latest history. This request is asking for "
                       "results prior to the recorded history known to this horizon instance."),
    "not_acceptable": (406, "An acceptable response content-type could not be provided for this request", ""),
}


def problem(slug: str, extras: dict[str, Any] | None = None, detail: str | None = None) -> tuple[int, dict[str, Any]]:
    """(status, body) of a Horizon problem; `extras` is omitted when empty, never null."""
    status, title, default_detail = _PROBLEMS[slug]
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail or default_detail:  # problem.P: `detail` is omitempty
        body["detail"] = detail or default_detail
    if extras:
        body["extras"] = extras
    return status, body


def transaction_failed(envelope_xdr: str, result: TxResult, result_xdr: str | None = None,
                       tx_hash: str | None = None) -> tuple[int, dict]:
    return problem("transaction_failed", {"envelope_xdr": envelope_xdr, "result_codes": result.result_codes(tx_hash),
                                          "result_xdr": result_xdr or result.to_xdr()})


def link(base: str, path: str) -> dict[str, Any]:
    """hal.NewLink: an absolute href on the request's host, `templated` when it holds a URI template."""
    href = base + path
    return {"href": href, "templated": True} if "{" in href else {"href": href}


def paged_link(base: str, path: str) -> dict[str, Any]:
    """hal.LinkBuilder.PagedLink: `path{?cursor,limit,order}`."""
    return link(base, path + PAGING_OPTIONS)


    """protocols/horizon.Account; links as resourceadapter.PopulateAccountEntry builds them."""
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


def account_body(account: Account, base: str, trustlines: list[TrustLine] | tuple[TrustLine, ...] = ()) -> dict[str, Any]:
    """protocols/horizon.Account; links as resourceadapter.PopulateAccountEntry builds them."""
    thresholds = {"low_threshold": account.low_threshold, "med_threshold": account.med_threshold,
                  "high_threshold": account.high_threshold}
    signers = [{"weight": w, "key": k, "type": "ed25519_public_key"} for k, w in sorted(account.signers.items())]
    signers.append({"weight": account.master_weight, "key": account.account_id, "type": "ed25519_public_key"})
    me = f"/accounts/{account.account_id}"
    links = {"self": link(base, me), **{name: paged_link(base, f"{me}/{name}") for name in
                                         ("transactions", "operations", "payments", "effects", "offers", "trades")},
             "data": link(base, f"{me}/data/{{key}}")}
    return {
        "_links": links,
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


def ledger_body(header: LedgerHeader, base: str, header_xdr: str) -> dict[str, Any]:
    """protocols/horizon.Ledger (resourceadapter.PopulateLedger): paging token = TOID of the ledger."""
    me = f"/ledgers/{header.sequence}"
    body: dict[str, Any] = {
        "_links": {"self": link(base, me), **{name: paged_link(base, f"{me}/{name}") for name in
                                              ("transactions", "operations", "payments", "effects")}},
        "id": header.hash,
        "paging_token": str(toid(header.sequence)),
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
        "header_xdr": header_xdr,
    }
    if header.sequence <= 1:  # history.Ledger: previous_ledger_hash is null for the first ledger
        del body["prev_hash"]
    return body


def claimable_balance_body(balance: ClaimableBalance, base: str) -> dict[str, Any]:
    me = f"/claimable_balances/{balance.balance_id}"
    return {
        "_links": {"self": link(base, me), "transactions": paged_link(base, f"{me}/transactions"),
                   "operations": paged_link(base, f"{me}/operations")},
        "id": balance.balance_id,
        "asset": balance.asset,
        "amount": format_amount(balance.amount),
        "sponsor": balance.sponsor,
        "last_modified_ledger": balance.last_modified_ledger,
        "last_modified_time": iso_time(balance.last_modified_time),
        "claimants": [{"destination": d, "predicate": p} for d, p in balance.claimants],
        "flags": {"clawback_enabled": False},
        "paging_token": balance_paging_token(balance),
    }


def balance_paging_token(balance: ClaimableBalance) -> str:
    """PopulateClaimableBalance: `<last_modified_ledger>-<balance id>`."""
    return f"{balance.last_modified_ledger}-{balance.balance_id}"


def page(links: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """A Horizon collection page (hal.Page): `_links` self/next/prev, `_embedded.records` always present."""
    return {"_links": links, "_embedded": {"records": records}}


_ROOT_LINKS = {
    "account": "/accounts/{account_id}",
    "accounts": "/accounts{?signer,sponsor,asset,liquidity_pool,cursor,limit,order}",
    "account_transactions": "/accounts/{account_id}/transactions" + PAGING_OPTIONS,
    "claimable_balances": "/claimable_balances{?asset,sponsor,claimant,cursor,limit,order}",
    "assets": "/assets{?asset_code,asset_issuer,cursor,limit,order}",
    "effects": "/effects{?cursor,limit,order}",
    "fee_stats": "/fee_stats",
    "friendbot": "/friendbot{?addr}",
    "ledger": "/ledgers/{sequence}",
    "ledgers": "/ledgers{?cursor,limit,order}",
    "liquidity_pools": "/liquidity_pools{?reserves,account,cursor,limit,order}",
    "offer": "/offers/{offer_id}",
    "offers": "/offers{?selling,buying,seller,sponsor,cursor,limit,order}",
    "operation": "/operations/{id}",
    "operations": "/operations{?cursor,limit,order,include_failed}",
    "order_book": "/order_book{?selling_asset_type,selling_asset_code,selling_asset_issuer,buying_asset_type,"
                  "buying_asset_code,buying_asset_issuer,limit}",
    "payments": "/payments{?cursor,limit,order,include_failed}",
    "self": "/",
    "strict_receive_paths": "/paths/strict-receive{?source_assets,source_account,destination_account,"
                            "destination_asset_type,destination_asset_issuer,destination_asset_code,"
                            "destination_amount}",
    "strict_send_paths": "/paths/strict-send{?destination_account,destination_assets,source_asset_type,"
                         "source_asset_issuer,source_asset_code,source_amount}",
    "trade_aggregations": "/trade_aggregations?base_asset_type={base_asset_type}&base_asset_code={base_asset_code}"
                          "&base_asset_issuer={base_asset_issuer}&counter_asset_type={counter_asset_type}"
                          "&counter_asset_code={counter_asset_code}&counter_asset_issuer={counter_asset_issuer}",
    "trades": "/trades?base_asset_type={base_asset_type}&base_asset_code={base_asset_code}"
              "&base_asset_issuer={base_asset_issuer}&counter_asset_type={counter_asset_type}"
              "&counter_asset_code={counter_asset_code}&counter_asset_issuer={counter_asset_issuer}",
    "transaction": "/transactions/{hash}",
    "transactions": "/transactions" + PAGING_OPTIONS,
}


def root_body(latest: LedgerHeader, passphrase: str, base: str) -> dict[str, Any]:
    """protocols/horizon.Root with the links of resourceadapter.PopulateRoot (some lead to 404 here)."""
    return {
        "_links": {name: link(base, path) for name, path in _ROOT_LINKS.items()},
        "horizon_version": HORIZON_VERSION,
        "core_version": HORIZON_VERSION,
        "ingest_latest_ledger": latest.sequence,
        "history_latest_ledger": latest.sequence,
        "history_latest_ledger_closed_at": iso_time(latest.close_time),
        "history_elder_ledger": ELDER_LEDGER,
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
