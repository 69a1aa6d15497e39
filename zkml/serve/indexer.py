"""Follow an InferenceRegistry's events into SQLite (stdlib ``sqlite3``), and optionally a
ClaimRegistry's over it (committed evaluation sets and recorded model claims).

One database holds one registry (and at most one claim registry) on one chain. Each run:

1. reads the chain's identity (chain id, genesis block hash) and the registries' (address, code
   hash); if the database was filled from another chain or registry (a restarted dev node has a
   new genesis), everything is dropped and indexed again, never mixed;
2. checks that the block just before its re-read window still has the hash it had (else a reorg
   went deeper than the window: re-index from scratch);
3. deletes what it stored from the last ``reorg_depth`` blocks and reads them again with every
   newer block, in one transaction: a run that sees the same chain changes nothing
   (idempotent), one that sees a short reorg replaces the orphaned rows.

Outputs are decoded from the on-chain instances with the model's output scale, as the audit log
does (``zkml.chain.audit``), never taken from a bundle. A model whose verifier answers
``contributors()`` (a collaborative model's CollabVerifier) has them stored with it
(``zkml.serve.contributors``).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from zkml._utils import dequantize
from zkml.artifacts import RegistryDeployment
from zkml.chain.evm import Chain
from zkml.errors import ChainError, ZkmlValueError
from zkml.serve import contributors

__all__ = ["Indexer", "SyncReport", "open_db", "registry_from", "SCHEMA_VERSION"]

SCHEMA_VERSION = "3"  # 2: sets keyed by (root, committer); 3: contributors
_NONE16 = 0xFFFF
_EVENT_TABLES = ("models", "transfers", "retirements", "inferences", "sets", "claims",
                 "contributors")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
  model_id TEXT PRIMARY KEY, vk_digest TEXT NOT NULL, first_owner TEXT NOT NULL,
  verifier TEXT NOT NULL, metadata_uri TEXT NOT NULL, registered_at INTEGER NOT NULL,
  block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx_hash TEXT NOT NULL,
  num_instances INTEGER NOT NULL, output_offset INTEGER NOT NULL, num_outputs INTEGER NOT NULL,
  input_commitment_index INTEGER, weights_hash_index INTEGER, output_scale INTEGER NOT NULL,
  weights_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS transfers (
  model_id TEXT NOT NULL, previous_owner TEXT NOT NULL, new_owner TEXT NOT NULL,
  block INTEGER NOT NULL, log_index INTEGER NOT NULL, tx_hash TEXT NOT NULL,
  PRIMARY KEY (block, log_index));
CREATE TABLE IF NOT EXISTS retirements (
  model_id TEXT NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL,
  tx_hash TEXT NOT NULL, PRIMARY KEY (block, log_index));
CREATE TABLE IF NOT EXISTS inferences (
  inference_id TEXT PRIMARY KEY, model_id TEXT NOT NULL, input_commitment TEXT NOT NULL,
  outputs TEXT NOT NULL, decoded TEXT NOT NULL, top INTEGER NOT NULL, submitter TEXT NOT NULL,
  timestamp INTEGER NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL,
  tx_hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS inf_order ON inferences (block, log_index);
CREATE INDEX IF NOT EXISTS inf_model ON inferences (model_id, block, log_index);
CREATE INDEX IF NOT EXISTS inf_submitter ON inferences (submitter, block, log_index);
CREATE INDEX IF NOT EXISTS inf_time ON inferences (timestamp);
CREATE TABLE IF NOT EXISTS sets (
  set_root TEXT NOT NULL, committer TEXT NOT NULL, model_digest TEXT NOT NULL,
  samples INTEGER NOT NULL, timestamp INTEGER NOT NULL, block INTEGER NOT NULL,
  log_index INTEGER NOT NULL, tx_hash TEXT NOT NULL, PRIMARY KEY (set_root, committer));
CREATE TABLE IF NOT EXISTS claims (
  claim_id TEXT PRIMARY KEY, model_id TEXT NOT NULL, set_root TEXT NOT NULL,
  set_committer TEXT NOT NULL, claimant TEXT NOT NULL, proofs_root TEXT NOT NULL,
  claim_digest TEXT NOT NULL, samples INTEGER NOT NULL, metrics TEXT NOT NULL,
  timestamp INTEGER NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL,
  tx_hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS claim_model ON claims (model_id, block, log_index);
CREATE TABLE IF NOT EXISTS contributors (
  model_id TEXT NOT NULL, position INTEGER NOT NULL, address TEXT NOT NULL,
  weight_digest TEXT NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL,
  PRIMARY KEY (model_id, position));
"""


def open_db(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection to the index (created with its schema unless ``readonly``).

    Raises:
        ZkmlValueError: no index there (``readonly``), or the file is not a zkml index.
    """
    p = Path(path)
    if readonly and not p.is_file():
        raise ZkmlValueError(f"no index at {p}: build it with `zkml index --rpc-url URL "
                             f"--db {p}` (or give `zkml serve` an --rpc-url).")
    if not readonly:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, check_same_thread=False)
            conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchall()
            # pages are read through the OS page cache (mmap) rather than copied per
            # connection
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA mmap_size = 268435456")
            conn.execute("PRAGMA cache_size = -8000")
        else:
            conn = sqlite3.connect(p, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")  # readers (the web app) never block it
            conn.executescript(_SCHEMA)
    except sqlite3.DatabaseError as e:
        raise ZkmlValueError(f"{p} is not a zkml index ({e}): give the file `zkml index "
                             "--db` writes, or a new path to build one.") from e
    conn.row_factory = sqlite3.Row
    return conn


#: a function only that contract has: a deployment JSON of another contract is refused
_MARKERS = {"ClaimRegistry": "recordClaim"}


def registry_from(value: str | Path, chain_id: int | None = None, *,
                  contract: str = "InferenceRegistry", option: str = "--registry"
                  ) -> RegistryDeployment:
    """A registry given as its deployment JSON file or as a bare 0x address (the ABI is then
    ``contract``'s, compiled with the pinned solc); ``option`` names it in errors."""
    from zkml.artifacts import load_artifact

    text = str(value)
    if text.startswith(("0x", "0X")) and len(text) == 42 and not Path(text).exists():
        from eth_utils.address import to_checksum_address

        from zkml.chain._registry_base import compiled

        try:
            address = to_checksum_address(text)
        except ValueError as e:
            raise ZkmlValueError(f"{option} {text!r} is not an address.") from e
        c = compiled(contract)
        return RegistryDeployment(chain_id=chain_id or 0, address=address, tx_hash="",
                                  gas_used=0, abi=c["abi"], solc_version=c["solc"])
    path = Path(text)
    if not path.is_file():
        raise ZkmlValueError(f"{option} {text}: neither a {contract} deployment JSON nor a 0x "
                             "address.")
    dep = load_artifact(RegistryDeployment, path)
    marker = _MARKERS.get(contract)
    if marker and not any(f.get("name") == marker for f in dep.abi):
        # e.g. the InferenceRegistry's file given for the ClaimRegistry: both are deployments
        raise ZkmlValueError(f"{option} {text}: not a {contract} deployment (its ABI has no "
                             f"{marker}).")
    return dep


@dataclass(frozen=True)
class SyncReport:
    """What one :meth:`Indexer.sync` did."""

    from_block: int
    to_block: int
    new_models: int
    new_inferences: int
    total_inferences: int
    #: why everything was indexed again (None: resumed)
    reindexed: str | None
    seconds: float
    new_claims: int = 0
    total_claims: int = 0


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex().removeprefix("0x")


class Indexer:
    """Index one registry on one chain into the database at ``db``; with ``claim_registry``
    (a ClaimRegistry over that registry) its set commitments and claims too."""

    def __init__(self, chain: Chain, registry: RegistryDeployment, db: str | Path, *,
                 reorg_depth: int = 12, from_block: int = 0, chunk: int = 5000,
                 claim_registry: RegistryDeployment | None = None) -> None:
        if reorg_depth < 1:
            raise ZkmlValueError("--reorg-depth must be 1 or more.")
        self.chain = chain
        self.registry = registry
        self.db_path = Path(db)
        self.reorg_depth = reorg_depth
        self.from_block = from_block
        self.chunk = chunk
        if registry.chain_id and registry.chain_id != chain.chain_id:
            raise ChainError(f"the registry {registry.address} is on chain {registry.chain_id}; "
                             f"{chain.label} is chain {chain.chain_id}.")
        self.contract = chain.contract(registry.address, registry.abi)
        self.claims: Any = None
        if claim_registry is not None:
            if claim_registry.chain_id and claim_registry.chain_id != chain.chain_id:
                raise ChainError(f"the claim registry {claim_registry.address} is on chain "
                                 f"{claim_registry.chain_id}; {chain.label} is chain "
                                 f"{chain.chain_id}.")
            self.claims = chain.contract(claim_registry.address, claim_registry.abi)
            over = self._rpc("reading the claim registry", lambda: self.chain.call(
                self.claims.functions.inferenceRegistry(), gas=None))
            if str(over).lower() != str(self.contract.address).lower():
                raise ZkmlValueError(f"the claim registry {claim_registry.address} records "
                                     f"claims of the registry {over}, not of "
                                     f"{registry.address}.")

    def _rpc(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ChainError:
            raise
        except Exception as e:
            raise ChainError(f"{self.chain.label}: {what} failed: "
                             f"{(str(e).splitlines() or [type(e).__name__])[0][:200]}") from e

    def identity(self) -> dict[str, str]:
        """What must stay the same for the stored rows to be about this chain and registry."""
        eth = self.chain.w3.eth
        genesis = self._rpc("reading the genesis block", lambda: eth.get_block(0)["hash"])
        code = self._rpc("reading the registry code", lambda: eth.get_code(
            self.contract.address))
        claims = {"claim_registry": "", "claim_registry_code_hash": ""}
        if self.claims is not None:
            ccode = self._rpc("reading the claim registry code", lambda: eth.get_code(
                self.claims.address))
            claims = {"claim_registry": str(self.claims.address).lower(),
                      "claim_registry_code_hash": "0x" + keccak(bytes(ccode)).hex()}
        return {"schema": SCHEMA_VERSION, "chain_id": str(self.chain.chain_id),
                "genesis_hash": _hex(genesis), "registry": str(self.contract.address).lower(),
                "registry_code_hash": "0x" + keccak(bytes(code)).hex(), **claims}

    def _block_hash(self, number: int) -> str | None:
        block = self._rpc("reading a block", lambda: self.chain.w3.eth.get_block(number))
        return _hex(block["hash"]) if block else None

    def sync(self) -> SyncReport:
        """Index every event up to the chain's head; see the module docstring."""
        t0 = time.perf_counter()
        ident = self.identity()
        head = int(self._rpc("reading the block number", lambda: self.chain.w3.eth.block_number))
        conn = open_db(self.db_path)
        try:
            meta = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM meta")}
            reason = self._why_reindex(meta, ident, head)
            last = int(meta.get("last_block", "-1"))
            start = self.from_block if reason or last < 0 else max(
                self.from_block, last - self.reorg_depth + 1)
            before = self._counts(conn)
            with conn:  # one transaction: a crash leaves the previous state
                # begun here (a DROP would not begin one), IMMEDIATE: holding the write lock
                # from its first read, so another indexer's commit cannot make it stale
                if not conn.in_transaction:
                    conn.execute("BEGIN IMMEDIATE")
                if reason or last < 0:
                    # dropped and made again: an index of an older format has other columns
                    for table in (*_EVENT_TABLES, "meta"):
                        conn.execute(f"DROP TABLE IF EXISTS {table}")
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():  # one by one: executescript would commit
                            conn.execute(statement)
                    before = (0, 0, 0)
                    window = None
                else:
                    window = self._window(conn, start)
                    for table in _EVENT_TABLES:
                        conn.execute(f"DELETE FROM {table} WHERE block >= ?", (start,))
                for a in range(start, head + 1, self.chunk):
                    self._read(conn, a, min(head, a + self.chunk - 1))
                anchor = head - self.reorg_depth
                # sync_id: what the web app's caches are keyed on; new whenever a stored row
                # changed, kept when the re-read window came back the same
                same = window is not None and window == self._window(conn, start)
                new_meta = {**ident, "last_block": str(head), "anchor_block": str(anchor),
                            "sync_id": meta.get("sync_id") if same and meta.get("sync_id")
                            else uuid.uuid4().hex,
                            "anchor_hash": (self._block_hash(anchor) or "") if anchor >= 0
                            else "", "updated_at": str(int(time.time()))}
                conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                 list(new_meta.items()))
            after = self._counts(conn)
        finally:
            conn.close()
        return SyncReport(start, head, after[0] - before[0], after[1] - before[1], after[1],
                          reason, time.perf_counter() - t0, after[2] - before[2], after[2])

    def _why_reindex(self, meta: dict[str, str], ident: dict[str, str], head: int
                     ) -> str | None:
        if "chain_id" not in meta:
            return None
        for key, what in (("schema", "index format"), ("chain_id", "chain id"),
                          ("genesis_hash", "genesis block (a restarted or other chain)"),
                          ("registry", "registry address"),
                          ("registry_code_hash", "registry code"),
                          ("claim_registry", "claim registry address"),
                          ("claim_registry_code_hash", "claim registry code")):
            # an index made before claims were indexed has no claim registry: ""
            if meta.get(key, "" if key.startswith("claim") else None) != ident[key]:
                return f"the {what} changed"
        if int(meta.get("last_block", "-1")) > head:
            return "the chain is shorter than the index (restarted or reorganised)"
        anchor = int(meta.get("anchor_block", "-1"))
        if anchor >= 0 and self._block_hash(anchor) != meta.get("anchor_hash"):
            return f"block {anchor} changed: a reorg deeper than {self.reorg_depth} blocks"
        return None

    @staticmethod
    def _window(conn: sqlite3.Connection, start: int) -> list[list[tuple[Any, ...]]]:
        """Every stored row of blocks ``start`` and later (the re-read window)."""
        return [[tuple(r) for r in conn.execute(
            f"SELECT * FROM {t} WHERE block >= ? ORDER BY block, log_index", (start,))]
            for t in _EVENT_TABLES]

    @staticmethod
    def _counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
        m, i, c = (int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                   for t in ("models", "inferences", "claims"))
        return m, i, c

    def _logs(self, name: str, a: int, b: int, contract: Any = None) -> list[Any]:
        event = getattr((contract or self.contract).events, name)()
        return sorted(self.chain.logs(event, from_block=a, to_block=b),
                      key=lambda lg: (lg["blockNumber"], lg["logIndex"]))

    def _read(self, conn: sqlite3.Connection, a: int, b: int) -> None:
        """Store the events of blocks [a, b]: models first (inferences need their scale)."""
        for lg in self._logs("ModelRegistered", a, b):
            args = lg["args"]
            raw_id = bytes(args["modelId"])
            m = self.chain.call(self.contract.functions.getModel(raw_id), gas=None)
            lay = m[5]
            conn.execute(
                "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (_hex(raw_id), bytes(args["vkDigest"]).hex(), str(args["owner"]),
                 str(args["verifier"]), str(args["metadataURI"]), int(m[3]),
                 int(lg["blockNumber"]), int(lg["logIndex"]), _hex(lg["transactionHash"]),
                 int(lay[0]), int(lay[1]), int(lay[2]),
                 None if int(lay[3]) == _NONE16 else int(lay[3]),
                 None if int(lay[4]) == _NONE16 else int(lay[4]), int(lay[5]), str(lay[6])))
            contributors.index_model(conn, self.chain, _hex(raw_id), str(args["verifier"]),
                                     int(lg["blockNumber"]), int(lg["logIndex"]))
        for lg in self._logs("ModelOwnershipTransferred", a, b):
            args = lg["args"]
            conn.execute("INSERT OR REPLACE INTO transfers VALUES (?,?,?,?,?,?)",
                         (_hex(args["modelId"]), str(args["previousOwner"]),
                          str(args["newOwner"]), int(lg["blockNumber"]), int(lg["logIndex"]),
                          _hex(lg["transactionHash"])))
        for lg in self._logs("ModelRetired", a, b):
            conn.execute("INSERT OR REPLACE INTO retirements VALUES (?,?,?,?)",
                         (_hex(lg["args"]["modelId"]), int(lg["blockNumber"]),
                          int(lg["logIndex"]), _hex(lg["transactionHash"])))
        scales: dict[str, int] = {}
        rows = []
        for lg in self._logs("InferenceVerified", a, b):
            args = lg["args"]
            mid = _hex(args["modelId"])
            if mid not in scales:
                row = conn.execute("SELECT output_scale FROM models WHERE model_id = ?",
                                   (mid,)).fetchone()
                scales[mid] = int(row[0]) if row else 0
            outputs = [int(v) for v in args["outputs"]]
            decoded = dequantize(outputs, scales[mid])
            top = max(range(len(decoded)), key=lambda i: decoded[i]) if decoded else -1
            rows.append((_hex(args["inferenceId"]), mid, str(args["inputCommitment"]),
                         json.dumps([str(v) for v in outputs]), json.dumps(decoded), top,
                         str(args["submitter"]), int(args["timestamp"]), int(lg["blockNumber"]),
                         int(lg["logIndex"]), _hex(lg["transactionHash"])))
        conn.executemany("INSERT OR REPLACE INTO inferences VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         rows)
        if self.claims is not None:
            self._read_claims(conn, a, b)

    def _read_claims(self, conn: sqlite3.Connection, a: int, b: int) -> None:
        """Set commitments (one per root and committer; ``model_digest``: the vk digest it was
        committed for) and claims; a claim's metrics are kept as [[name, ppm], ...]."""
        for lg in self._logs("SetCommitted", a, b, self.claims):
            args = lg["args"]
            conn.execute("INSERT OR REPLACE INTO sets VALUES (?,?,?,?,?,?,?,?)",
                         (_hex(args["setRoot"]), str(args["committer"]),
                          bytes(args["modelDigest"]).hex(), int(args["samples"]),
                          int(args["timestamp"]), int(lg["blockNumber"]), int(lg["logIndex"]),
                          _hex(lg["transactionHash"])))
        for lg in self._logs("ClaimRecorded", a, b, self.claims):
            args = lg["args"]
            metrics = [[str(n), int(v)] for n, v in zip(args["metricNames"],
                                                         args["metricValues"], strict=True)]
            conn.execute(
                "INSERT OR REPLACE INTO claims VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (_hex(args["claimId"]), _hex(args["modelId"]), _hex(args["setRoot"]),
                 str(args["setCommitter"]), str(args["claimant"]), _hex(args["proofsRoot"]),
                 _hex(args["claimDigest"]),
                 int(args["samples"]), json.dumps(metrics), int(args["timestamp"]),
                 int(lg["blockNumber"]), int(lg["logIndex"]), _hex(lg["transactionHash"])))
