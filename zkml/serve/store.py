"""The read side of the index: models, inferences (filtered, paginated), one record, claims
(their queries: ``zkml.serve.claim_queries``), a collaborative model's contributors (with the
model and each of its records: ``zkml.serve.contributors``), the indexer's state. Read-only
connections; every value returned is plain data (dicts, lists).

Speed (benchmarks/serve_load.py): every list query walks an index in its ORDER BY order (a
vk digest registered twice: one per registration, merged), a page's rowids are found on
that index before any row is read (a deep page costs its offset on an index), and what is the
same for every request until the indexer commits again (the model list, the number of records
matching a filter) is cached under the index's ``sync_id``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zkml.errors import ZkmlValueError
from zkml.presets import PRESETS
from zkml.serve import claim_queries, contributors
from zkml.serve.indexer import open_db

__all__ = ["Store", "Filters", "ModelInfo", "BadQuery", "parse_time"]

_HEXDIGITS = frozenset("0123456789abcdef")
MAX_PER_PAGE = 500
_NO_BLOCK = 1 << 62  # a block range no record is in


class BadQuery(ZkmlValueError):
    """A filter the user gave cannot be read (or names nothing here): shown, status 400/404."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ModelInfo:
    """What a verification package given to the server says about a model (vk digest)."""

    name: str
    preset: str
    binds: str
    labels: list[str] | None


def parse_time(value: str | None, what: str, *, end: bool = False) -> int | None:
    """Unix seconds from seconds, a date (YYYY-MM-DD: its start, or its end with ``end``) or
    an ISO date-time (UTC when no zone is given)."""
    if value is None or not value.strip():
        return None
    v = value.strip()
    if v.isdigit():
        return int(v)
    try:
        if len(v) == 10:
            d = datetime.fromisoformat(v).replace(tzinfo=UTC)
            return int(d.timestamp()) + (86399 if end else 0)
        t = datetime.fromisoformat(v)
        return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp())
    except ValueError as e:
        raise BadQuery(f"{what} {v[:40]!r} is not a date (YYYY-MM-DD), a date-time or unix "
                       "seconds.") from e


@dataclass
class Filters:
    """The inference filters; ``model`` is a registry model id or a vk digest."""

    model: str | None = None
    submitter: str | None = None
    from_block: int | None = None
    to_block: int | None = None
    from_time: int | None = None
    to_time: int | None = None


def _bytes32(value: str, what: str) -> str:
    raw = value.strip().lower().removeprefix("0x")
    if len(raw) != 64 or not set(raw) <= _HEXDIGITS:
        raise BadQuery(f"{what} {value[:80]!r} is not 32 bytes of hex: give a registry model id "
                       "(0x + 64 hex) or a vk digest (64 hex).")
    return raw


def _address(value: str) -> str:
    from eth_utils.address import to_checksum_address

    v = value.strip()
    try:
        if not (v[:2].lower() == "0x" and len(v) == 42):
            raise ValueError(v)
        return str(to_checksum_address(v.lower()))
    except ValueError as e:
        raise BadQuery(f"submitter {value[:80]!r} is not an address (0x + 40 hex).") from e


_CACHE_SIZE = 512


class Store:
    """Queries over the index at ``db``; ``packages`` maps vk digest -> what a package says."""

    def __init__(self, db: str | Path, packages: dict[str, ModelInfo] | None = None) -> None:
        self.db = Path(db)
        self.packages = packages or {}
        self._local = threading.local()  # one read-only connection per server thread
        self._cache: dict[Any, Any] = {}
        self._cache_version: Any = None

    def version(self) -> tuple[str | None, ...]:
        """What cached answers are keyed on: the indexer's ``sync_id``, new whenever a
        stored row changed (an index without one: its last block and update time)."""
        meta = self.status()
        if meta.get("sync_id"):
            return (meta["sync_id"],)
        return meta.get("last_block"), meta.get("updated_at")

    def _cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per index version. A race with a commit can at worst store a
        newer answer under the older version, which no later request asks for."""
        version = self.version()
        if version != self._cache_version or len(self._cache) >= _CACHE_SIZE:
            self._cache, self._cache_version = {}, version
        cache = self._cache
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def _conn(self) -> sqlite3.Connection:
        return open_db(self.db, readonly=True)

    def _rows(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._conn()
        return list(conn.execute(sql, params).fetchall())

    def status(self) -> dict[str, str]:
        if not self.db.is_file():
            return {}
        return {r["key"]: r["value"] for r in self._rows("SELECT key, value FROM meta")}

    # --- models -------------------------------------------------------------------------

    def models(self, model_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Every registered model (or those of ``model_ids``) in registration order. The
        returned dicts are shared with other requests: read them, do not change them."""
        key = ("models", tuple(model_ids) if model_ids is not None else None)
        return list(self._cached(key, lambda: self._models(model_ids)))

    def _models(self, model_ids: list[str] | None) -> list[dict[str, Any]]:
        where, params = "", []
        if model_ids is not None:
            where = f"WHERE m.model_id IN ({','.join('?' * len(model_ids))})"
            params = list(model_ids)
        rows = self._rows(f"""
            SELECT m.*,
              COALESCE((SELECT t.new_owner FROM transfers t WHERE t.model_id = m.model_id
                        ORDER BY t.block DESC, t.log_index DESC LIMIT 1), m.first_owner) AS owner,
              (SELECT r.block FROM retirements r WHERE r.model_id = m.model_id
               ORDER BY r.block LIMIT 1) AS retired_block,
              (SELECT COUNT(*) FROM inferences i WHERE i.model_id = m.model_id) AS n_inferences,
              (SELECT i.timestamp FROM inferences i WHERE i.model_id = m.model_id  -- newest
               ORDER BY i.block DESC, i.log_index DESC LIMIT 1) AS last_inference
            FROM models m {where} ORDER BY m.block, m.log_index""", params)
        people = contributors.by_model(self._rows, model_ids)
        return [self._model(r, people.get(r["model_id"], [])) for r in rows]

    def _model(self, r: sqlite3.Row, contribs: list[dict[str, Any]]) -> dict[str, Any]:
        info = self.packages.get(r["vk_digest"])
        commits = r["input_commitment_index"] is not None
        if info is not None:
            preset, binds, source = info.preset, info.binds, "verification package"
        elif contribs:
            preset, binds, source = "collaborative", contributors.BINDS, "verifier contract"
        elif commits:
            preset, binds = "committed-input", PRESETS["committed-input"].guarantee
            source = "instance layout"
        else:
            preset = "private-input or public"
            binds = ("The outputs are public instances and the weights are fixed in the "
                     "verifying key (this exact model). Whether the input is hidden is not "
                     "recorded on-chain: the model's verification package names its preset.")
            source = "instance layout"
        return {
            "model_id": r["model_id"], "vk_digest": r["vk_digest"], "owner": r["owner"],
            "first_owner": r["first_owner"], "verifier": r["verifier"],
            "metadata_uri": r["metadata_uri"], "registered_at": r["registered_at"],
            "block": r["block"], "tx_hash": r["tx_hash"],
            "retired": r["retired_block"] is not None, "retired_block": r["retired_block"],
            "inferences": r["n_inferences"], "last_inference": r["last_inference"],
            "name": info.name if info else None, "labels": info.labels if info else None,
            "preset": preset, "binds": binds, "preset_source": source, "contributors": contribs,
            "layout": {k: r[k] for k in ("num_instances", "output_offset", "num_outputs",
                                         "input_commitment_index", "weights_hash_index",
                                         "output_scale", "weights_hash")},
        }

    def model(self, model_id: str) -> dict[str, Any]:
        ids = self.resolve(model_id)
        found = self.models(ids[:1])
        if not found:
            raise BadQuery(f"no model {model_id[:80]} in this index.", 404)
        return found[0]

    def contributors(self, model_id: str) -> list[dict[str, Any]]:
        """Who supplied each segment of a collaborative model ([] for another model)."""
        return list(self._cached(("contributors", model_id), lambda: contributors.by_model(
            self._rows, [model_id]).get(model_id, [])))

    def resolve(self, given: str) -> list[str]:
        """Registry model ids for ``given``: itself if it is one, else every registration of
        that vk digest (as ``zkml.chain.audit.resolve_model``, against the index).

        Raises:
            BadQuery: not 32 bytes of hex (400) or neither form is in the index (404).
        """
        raw = _bytes32(given, "model")
        if self._rows("SELECT 1 FROM models WHERE model_id = ?", ("0x" + raw,)):
            return ["0x" + raw]
        ids = [r[0] for r in self._rows(
            "SELECT model_id FROM models WHERE vk_digest = ? ORDER BY block, log_index", (raw,))]
        if not ids:
            raise BadQuery(f"no model {given.strip()[:80]} in this index: it is neither a "
                           "registry model id nor the vk digest of a registered model.", 404)
        return ids

    def by_vk_digest(self, vk_digest: str) -> list[dict[str, Any]]:
        ids = [r[0] for r in self._rows("SELECT model_id FROM models WHERE vk_digest = ?",
                                        (vk_digest.lower().removeprefix("0x"),))]
        return self.models(ids) if ids else []

    # --- inferences ---------------------------------------------------------------------

    def _where(self, f: Filters) -> tuple[str, list[Any]]:
        return self._join(*self._clauses(f))

    @staticmethod
    def _join(ids: list[str], clauses: list[str], params: list[Any]
              ) -> tuple[str, list[Any]]:
        if ids:
            clauses = [f"i.model_id IN ({','.join('?' * len(ids))})", *clauses]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", [*ids, *params]

    def _clauses(self, f: Filters) -> tuple[list[str], list[str], list[Any]]:
        """The model ids a filter names, and its other clauses with their values."""
        ids = self.resolve(f.model) if f.model else []
        clauses: list[str] = []
        params: list[Any] = []
        if f.submitter:
            clauses.append("i.submitter = ?")
            params.append(_address(f.submitter))
        from_block, to_block = f.from_block, f.to_block
        if f.from_time is not None or f.to_time is not None:
            lo, hi = self._time_blocks(f.from_time, f.to_time)
            if lo is not None:
                from_block = lo if from_block is None else max(from_block, lo)
            if hi is not None:
                to_block = hi if to_block is None else min(to_block, hi)
        for col, op, value in (("i.block", ">=", from_block), ("i.block", "<=", to_block),
                               # `+`: checked on the rows the block range selects, so that
                               # SQLite walks an index in page order instead of sorting
                               ("+i.timestamp", ">=", f.from_time),
                               ("+i.timestamp", "<=", f.to_time)):
            if value is not None:
                clauses.append(f"{col} {op} ?")
                params.append(value)
        return ids, clauses, params

    def _time_blocks(self, from_time: int | None, to_time: int | None
                     ) -> tuple[int | None, int | None]:
        """The block range holding the records of a time range (an empty range when none
        is). Exact because a record's time is its block's timestamp, which consensus makes
        grow with the block number; two index look-ups, not a scan."""
        lo: int | None = None
        hi: int | None = None
        if from_time is not None:
            lo = self._rows("SELECT MIN(block) FROM inferences WHERE timestamp = (SELECT "
                            "MIN(timestamp) FROM inferences WHERE timestamp >= ?)",
                            (from_time,))[0][0]
            lo = _NO_BLOCK if lo is None else lo
        if to_time is not None:
            hi = self._rows("SELECT MAX(block) FROM inferences WHERE timestamp = (SELECT "
                            "MAX(timestamp) FROM inferences WHERE timestamp <= ?)",
                            (to_time,))[0][0]
            hi = -1 if hi is None else hi
        return lo, hi

    def inferences(self, f: Filters, *, page: int = 1, per_page: int = 50
                   ) -> tuple[list[dict[str, Any]], int]:
        """One page (newest first) and the number of matching records."""
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise BadQuery(f"page must be 1 or more and per_page 1 to {MAX_PER_PAGE}.")
        ids, clauses, values = self._clauses(f)
        where, params = self._join(ids, clauses, values)
        total = int(self._cached(("count", where, tuple(params)), lambda: self._rows(
            f"SELECT COUNT(*) FROM inferences i{where}", params)[0][0]))
        # the page's rowids first, from the covering index of the filter (no row is read
        # for the skipped ones), then those rows with their model
        offset, order = (page - 1) * per_page, " ORDER BY i.block DESC, i.log_index DESC"
        if len(ids) > 1:  # a vk digest registered twice: each registration's newest
            # offset + per_page, merged (a sort of those, not of every record of the vk)
            one = " WHERE " + " AND ".join(["i.model_id = ?", *clauses])
            part = (f"SELECT * FROM (SELECT i.rowid AS rid, i.block AS b, i.log_index AS l "
                    f"FROM inferences i{one}{order} LIMIT ?)")
            inner = " UNION ALL ".join([part] * len(ids)) + " ORDER BY b DESC, l DESC"
            params = [v for mid in ids for v in (mid, *values, offset + per_page)]
        else:
            inner = f"SELECT i.rowid AS rid FROM inferences i{where}{order}"
        page_ids = f"({inner} LIMIT ? OFFSET ?) AS p JOIN inferences i ON i.rowid = p.rid"
        rows = self._rows(f"{self._select(page_ids)}{order}", [*params, per_page, offset])
        return [self._record(r) for r in rows], total

    def iter_inferences(self, f: Filters, limit: int = 1_000_000) -> Iterator[dict[str, Any]]:
        """Every matching record in chain order (downloads)."""
        where, params = self._where(f)
        conn = self._conn()
        try:
            cur = conn.execute(f"{self._select()}{where} ORDER BY i.block, i.log_index LIMIT ?",
                               [*params, limit])
            for r in cur:
                yield self._record(r)
        finally:
            conn.close()

    def inference(self, inference_id: str) -> dict[str, Any]:
        raw = inference_id.strip().lower().removeprefix("0x")
        if len(raw) != 64 or not set(raw) <= _HEXDIGITS:
            raise BadQuery(f"inference id {inference_id[:80]!r} is not 0x + 64 hex.")
        rows = self._rows(f"{self._select()} WHERE i.inference_id = ?", ("0x" + raw,))
        if not rows:
            raise BadQuery(f"no inference 0x{raw} in this index.", 404)
        record = self._record(rows[0])
        return {**record, "contributors": self.contributors(record["model_id"])}

    @staticmethod
    def _select(source: str = "inferences i") -> str:
        return ("SELECT i.*, m.vk_digest, m.output_scale, EXISTS(SELECT 1 FROM retirements r "
                f"WHERE r.model_id = i.model_id) AS retired FROM {source} "
                "JOIN models m ON m.model_id = i.model_id")

    def _record(self, r: sqlite3.Row) -> dict[str, Any]:
        decoded = json.loads(r["decoded"])
        info = self.packages.get(r["vk_digest"])
        labels = info.labels if info and info.labels and len(info.labels) == len(decoded) \
            else None
        return {
            "inference_id": r["inference_id"], "model_id": r["model_id"],
            "vk_digest": r["vk_digest"], "submitter": r["submitter"],
            "timestamp": r["timestamp"], "block_number": r["block"], "tx_hash": r["tx_hash"],
            "input_commitment": r["input_commitment"], "outputs": json.loads(r["outputs"]),
            "decoded_outputs": decoded, "labels": labels,
            "predicted": (labels[r["top"]] if labels else r["top"]) if r["top"] >= 0 else None,
            "model_retired": bool(r["retired"]),
        }

    def activity(self, model_ids: list[str]) -> list[tuple[int, int]]:
        """(timestamp, predicted class index) of every inference of these models."""
        q = ",".join("?" * len(model_ids))
        return [(int(r[0]), int(r[1])) for r in self._rows(
            f"SELECT timestamp, top FROM inferences WHERE model_id IN ({q}) ORDER BY timestamp",
            model_ids)]

    def outputs(self, model_ids: list[str]) -> list[list[float]]:
        q = ",".join("?" * len(model_ids))
        return [json.loads(r[0]) for r in self._rows(
            f"SELECT decoded FROM inferences WHERE model_id IN ({q})", model_ids)]

    # --- claims (ClaimRegistry): the queries are zkml.serve.claim_queries' --------------

    def _has_claims(self) -> bool:  # False: an index of claims in no or an older format
        return bool(self._cached("has_claims", lambda: claim_queries.has_claims(self._rows)))

    def claims(self, model_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Recorded claims (of ``model_ids``), newest first, with their set's commitment."""
        return claim_queries.claims(self._rows, model_ids) if self._has_claims() else []

    def claim(self, claim_id: str) -> dict[str, Any]:
        raw = claim_id.strip().lower().removeprefix("0x")
        if len(raw) != 64 or not set(raw) <= _HEXDIGITS:
            raise BadQuery(f"claim id {claim_id[:80]!r} is not 0x + 64 hex.")
        found = claim_queries.claim(self._rows, "0x" + raw) if self._has_claims() else None
        if found is None:
            raise BadQuery(f"no claim 0x{raw} in this index.", 404)
        return found
