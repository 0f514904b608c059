"""Contract data entries and the Stellar Asset Contracts deployed at genesis.

A SAC's id is what the network derives for `HostFunction::CreateContract` from an asset:
SHA-256 of `HashIdPreimage::ContractId { network_id, CONTRACT_ID_PREIMAGE_FROM_ASSET(asset) }`
(rs-soroban-env v21 `host/data_helper.rs` `get_full_contract_id_preimage`; stellar-sdk's
`Asset.contract_id(passphrase)` and the JS SDK's `Asset.contractId` compute the same). Its instance entry
holds what `StellarAssetContract::init_asset` writes (`stellar_asset_contract/contract.rs`,
`metadata.rs`, `asset_info.rs`, `admin.rs`): `METADATA` {decimal 7, name "CODE:ISSUER" or "native",
symbol "CODE" or "native"}, `AssetInfo` and, for credit assets, `Admin` = the issuer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from stellar_sdk import StrKey, scval
from stellar_sdk import xdr as X

from harness.ledger.assets import NATIVE, account_id_xdr, split, to_xdr
from harness.ledger.soroban.values import contract_address, string, vec

PERSISTENT, TEMPORARY = X.ContractDataDurability.PERSISTENT, X.ContractDataDurability.TEMPORARY


@dataclass(slots=True)
class ContractData:
    """A CONTRACT_DATA ledger entry with its TTL entry's `live_until` ledger."""

    entry: X.ContractDataEntry
    live_until: int
    last_modified_ledger: int = 0
    last_modified_time: int = 0  # not part of the entry; set with last_modified_ledger at apply

    @property
    def persistent(self) -> bool:
        return self.entry.durability == PERSISTENT

    def clone(self) -> ContractData:
        return replace(self)

    def ledger_entry(self) -> X.LedgerEntry:
        data = X.LedgerEntryData(X.LedgerEntryType.CONTRACT_DATA, contract_data=self.entry)
        return X.LedgerEntry(X.Uint32(self.last_modified_ledger), data, X.LedgerEntryExt(0))

    def to_json(self) -> dict[str, Any]:
        return {"entry": self.entry.to_xdr(), "live_until": self.live_until,
                "last_modified_ledger": self.last_modified_ledger}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ContractData:
        return cls(X.ContractDataEntry.from_xdr(str(obj["entry"])), int(obj["live_until"]),
                   int(obj["last_modified_ledger"]))


def data_key(contract: X.SCAddress, key: X.SCVal, durability: X.ContractDataDurability) -> X.LedgerKey:
    return X.LedgerKey(X.LedgerEntryType.CONTRACT_DATA,
                       contract_data=X.LedgerKeyContractData(contract, key, durability))


def key_id(key: X.LedgerKey) -> str:
    """The state's index of a ledger key: its base64 XDR."""
    return key.to_xdr()


def entry_key(entry: X.ContractDataEntry) -> X.LedgerKey:
    return data_key(entry.contract, entry.key, entry.durability)


def ttl_key(key: X.LedgerKey) -> X.LedgerKey:
    """The TTL entry's key: SHA-256 of the contract data key's XDR."""
    return X.LedgerKey(X.LedgerEntryType.TTL,
                       ttl=X.LedgerKeyTtl(X.Hash(hashlib.sha256(key.to_xdr_bytes()).digest())))


def contract_id(asset: str, network_id: bytes) -> bytes:
    """The SAC id of `asset` ("native" or "CODE:ISSUER") on the network `network_id`."""
    preimage = X.HashIDPreimage(X.EnvelopeType.ENVELOPE_TYPE_CONTRACT_ID, contract_id=X.HashIDPreimageContractID(
        X.Hash(network_id), X.ContractIDPreimage(X.ContractIDPreimageType.CONTRACT_ID_PREIMAGE_FROM_ASSET,
                                                 from_asset=to_xdr(asset))))
    return hashlib.sha256(preimage.to_xdr_bytes()).digest()


def _sym(text: str) -> X.SCVal:
    return scval.to_symbol(text)


def instance_storage(asset: str) -> X.SCMap:
    """The SAC's instance storage after `init_asset`."""
    if asset == NATIVE:
        info, metadata = vec([_sym("Native")]), {"decimal": scval.to_uint32(7), "name": string(b"native"),
                                                 "symbol": string(b"native")}
        admin = None
    else:
        code, issuer = split(asset)
        width = 4 if len(code) <= 4 else 12
        raw = code.encode("ascii").ljust(width, b"\x00")
        info = vec([_sym("AlphaNum4" if width == 4 else "AlphaNum12"), scval.to_struct({
            "asset_code": string(raw), "issuer": scval.to_bytes(StrKey.decode_ed25519_public_key(issuer))})])
        metadata = {"decimal": scval.to_uint32(7), "name": string(asset.encode()), "symbol": string(code.encode())}
        admin = scval.to_address(issuer)
    # host map order: a Symbol key sorts before Vec keys; [Admin] before [AssetInfo]
    items = [(_sym("METADATA"), scval.to_struct(metadata))]
    if admin is not None:
        items.append((vec([_sym("Admin")]), admin))
    items.append((vec([_sym("AssetInfo")]), info))
    return X.SCMap([X.SCMapEntry(k, v) for k, v in items])


def instance_entry(asset: str, network_id: bytes) -> X.ContractDataEntry:
    instance = X.SCContractInstance(X.ContractExecutable(X.ContractExecutableType.CONTRACT_EXECUTABLE_STELLAR_ASSET),
                                    instance_storage(asset))
    return X.ContractDataEntry(X.ExtensionPoint(0), contract_address(contract_id(asset, network_id)),
                               X.SCVal(X.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE), PERSISTENT,
                               X.SCVal(X.SCValType.SCV_CONTRACT_INSTANCE, instance=instance))


def metadata_field(entry: X.ContractDataEntry, name: str) -> X.SCVal:
    """A field of the instance's METADATA struct (what `read_name` / `read_symbol` read)."""
    assert entry.val.instance is not None and entry.val.instance.storage is not None
    for item in entry.val.instance.storage.sc_map:
        if item.key.type == X.SCValType.SCV_SYMBOL and item.key.sym and item.key.sym.sc_symbol == b"METADATA":
            return scval.from_struct(item.val)[name]
    raise KeyError("METADATA")


def deploy_genesis(assets: list[str], network_id: bytes, ledger: int, max_entry_ttl: int) -> dict[str, ContractData]:
    """The instance entries of these assets' SACs at genesis, living as long as the network allows."""
    out = {}
    for asset in assets:
        entry = instance_entry(asset, network_id)
        out[key_id(entry_key(entry))] = ContractData(entry, ledger + max_entry_ttl - 1, ledger)
    return out


def asset_of_instance(entry: X.ContractDataEntry) -> str:
    """The asset a SAC instance was initialised for (read back from its AssetInfo)."""
    assert entry.val.instance is not None and entry.val.instance.storage is not None
    for item in entry.val.instance.storage.sc_map:
        if item.key.type == X.SCValType.SCV_VEC and item.key.vec and len(item.key.vec.sc_vec) == 1 \
                and item.key.vec.sc_vec[0].sym and item.key.vec.sc_vec[0].sym.sc_symbol == b"AssetInfo":
            parts = item.val.vec.sc_vec if item.val.vec else []
            if parts[0].sym and parts[0].sym.sc_symbol == b"Native":
                return NATIVE
            fields = scval.from_struct(parts[1])
            code = scval.from_string(fields["asset_code"]).rstrip(b"\x00").decode("ascii")
            return f"{code}:{StrKey.encode_ed25519_public_key(scval.from_bytes(fields['issuer']))}"
    raise KeyError("AssetInfo")


def account_address(account_id: str) -> X.SCAddress:
    return X.SCAddress(X.SCAddressType.SC_ADDRESS_TYPE_ACCOUNT, account_id=account_id_xdr(account_id))


def evict_expired(state: Any, ledger: int) -> list[str]:
    """Drop temporary entries (nonces) whose TTL ended before `ledger`; core's eviction scan removes them
    later, but an expired temporary entry is already absent to every reader."""
    gone = [k for k, d in state.contract_data.items() if not d.persistent and d.live_until < ledger]
    for k in gone:
        del state.contract_data[k]
    return gone


def contract_holdings(state: Any) -> tuple[dict[str, int], list[str]]:
    """What C-addresses hold through the SACs (asset -> stroops) and malformed balance entries: the
    `[Balance, address]` entries of every SAC instance in `state`."""
    assets = {d.entry.contract.to_xdr_bytes(): asset_of_instance(d.entry) for d in state.contract_data.values()
              if d.entry.key.type == X.SCValType.SCV_LEDGER_KEY_CONTRACT_INSTANCE}
    held: dict[str, int] = {}
    problems: list[str] = []
    for data in state.contract_data.values():
        key = data.entry.key
        items = key.vec.sc_vec if key.type == X.SCValType.SCV_VEC and key.vec else []
        if len(items) != 2 or not items[0].sym or items[0].sym.sc_symbol != b"Balance":
            continue
        asset = assets.get(data.entry.contract.to_xdr_bytes())
        amount = scval.from_int128(scval.from_struct(data.entry.val)["amount"])
        if asset is None or amount < 0:
            problems.append(f"contract balance entry {key_id(entry_key(data.entry))} holds {amount} of a "
                            f"{'SAC' if asset else 'contract that is not a SAC'}")
            continue
        held[asset] = held.get(asset, 0) + amount
    return held, problems
