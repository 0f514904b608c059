"""Soroban in the offline network: Stellar Asset Contracts, Soroban authorization, resource fees, and
a Soroban RPC (JSON-RPC 2.0) face, at the semantics of protocol 21 (the protocol the ledger declares).

Sources: rs-soroban-env v21.0.0 (the host: SAC, auth, storage, events, fees; soroban-simulation),
stellar-core v21.3.1 (InvokeHostFunctionOpFrame, TransactionFrame's Soroban checks and refunds),
stellar-rpc (methods and response shapes). docs/ledger.md, "Soroban", says what is and is not simulated.
"""
