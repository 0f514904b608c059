"""Ledger evidence through Horizon's public API, for real Horizons (quickstart, testnet) and the offline network alike.

* `network_passphrase`: Horizon's root document (`GET /`, field `network_passphrase`).
* `read_history`: the transactions of the given accounts, successful and failed
  (`GET /accounts/{id}/transactions?include_failed=true&order=asc&limit=200`, following `_links.next`
  until a page comes back empty; Horizon `internal/actions/transaction.go` `GetTransactionsHandler`),
  as history records the judges reconcile against: `{"kind": "applied", "hash", "successful",
  "memo_hash" (hex, for memo_type hash), "ledger", "t" (close time, unix s), "source": "horizon"}`.
* `fund_accounts`: friendbot for accounts that do not exist yet (a fresh quickstart or testnet).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import httpx

from harness.run.collect import CollectionError

PAGE_LIMIT = 200  # Horizon's largest page
MAX_PAGES_PER_ACCOUNT = 2_000
TIMEOUT_S = 15.0
FUND_WORKERS = 4


def network_passphrase(horizon_url: str) -> str:
    """The passphrase a Horizon announces in its root document."""
    try:
        resp = httpx.get(horizon_url.rstrip("/") + "/", timeout=TIMEOUT_S)
        resp.raise_for_status()
        passphrase = resp.json().get("network_passphrase")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise CollectionError(f"Horizon {horizon_url}: root document unreadable ({type(exc).__name__})") from None
    if not isinstance(passphrase, str) or not passphrase:
        raise CollectionError(f"Horizon {horizon_url}: root document has no network_passphrase")
    return passphrase


def account_transactions(client: httpx.Client, account_id: str, page_limit: int = PAGE_LIMIT) -> list[dict[str, Any]]:
    """Every transaction of one account, oldest first (failed ones included)."""
    url = f"/accounts/{account_id}/transactions"
    params: dict[str, Any] | None = {"include_failed": "true", "order": "asc", "limit": page_limit, "cursor": ""}
    out: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES_PER_ACCOUNT):
        try:
            resp = client.get(url, params=params)
            resp.raise_for_status()
            page = resp.json()
            records = page["_embedded"]["records"]
            nxt = page["_links"]["next"]["href"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise CollectionError(f"Horizon {url}: {type(exc).__name__}: {exc}") from None
        if not records:
            return out
        out.extend(records)
        url, params = urljoin(str(client.base_url), nxt), None  # the next link carries cursor, order, limit
    raise CollectionError(f"Horizon {url}: more than {MAX_PAGES_PER_ACCOUNT} pages")


def history_record(tx: dict[str, Any]) -> dict[str, Any]:
    """A Horizon transaction resource as a history record the judges read."""
    memo_hash = ""
    if tx.get("memo_type") == "hash" and tx.get("memo"):
        try:
            memo_hash = base64.b64decode(str(tx["memo"]), validate=True).hex()
        except (binascii.Error, ValueError):
            memo_hash = ""
    try:
        t = datetime.fromisoformat(str(tx.get("created_at", "")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        t = 0.0
    return {"kind": "applied", "hash": str(tx.get("hash", "")).lower(), "successful": tx.get("successful") is True,
            "memo_hash": memo_hash, "ledger": tx.get("ledger"), "t": t, "source": "horizon"}


def read_history(horizon_url: str, account_ids: Iterable[str], page_limit: int = PAGE_LIMIT) -> list[dict[str, Any]]:
    """History records of every transaction touching `account_ids`, each once, in ledger order."""
    seen: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=horizon_url.rstrip("/"), timeout=TIMEOUT_S) as client:
        for account in dict.fromkeys(account_ids):
            for tx in account_transactions(client, account, page_limit):
                record = history_record(tx)
                seen.setdefault(record["hash"], record)
    return sorted(seen.values(), key=lambda r: (r["ledger"] or 0, r["t"]))


def fund_accounts(horizon_url: str, friendbot_url: str, account_ids: Iterable[str]) -> int:
    """Ask friendbot to create each account that does not exist yet; returns how many it funded."""
    todo = list(dict.fromkeys(account_ids))

    def fund(account: str) -> int:
        with httpx.Client(timeout=60.0) as client:
            if client.get(f"{horizon_url.rstrip('/')}/accounts/{account}").status_code == 200:
                return 0
            resp = client.get(friendbot_url, params={"addr": account})
            if resp.status_code != 200:
                raise CollectionError(f"friendbot {friendbot_url} refused {account}: {resp.status_code}")
            return 1

    try:
        with ThreadPoolExecutor(max_workers=FUND_WORKERS) as pool:
            return sum(pool.map(fund, todo))
    except httpx.HTTPError as exc:
        raise CollectionError(f"funding accounts through {friendbot_url}: {type(exc).__name__}") from None
