"""The offline Stellar network: a Horizon-compatible ledger simulator stellar-sdk uses unchanged.

Python API: `harness.ledger.ledger.Ledger` (state machine) and `harness.ledger.http_api.LedgerServer`
(HTTP server); documentation in docs/ledger.md.
"""
