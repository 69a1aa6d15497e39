"""The index's claim queries (ClaimRegistry): recorded claims with the commitment they name.

:class:`zkml.serve.store.Store` answers ``claims`` and ``claim`` with these over its read-only
connection; ``rows(sql, params)`` runs one query there. A claim names its set by root AND
committer (the ClaimRegistry keys commitments by both), so its set is joined on both: another
account's commitment of the same root is never shown as the claim's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

__all__ = ["Rows", "has_claims", "claims", "claim"]

#: runs one query on the index: (sql, parameters) -> rows
Rows = Callable[[str, Any], list[sqlite3.Row]]

_CLAIMS = (
    "SELECT c.*, m.vk_digest, s.model_digest AS set_model_digest, s.timestamp AS set_timestamp, "
    "s.block AS set_block, s.tx_hash AS set_tx_hash, "
    "EXISTS(SELECT 1 FROM retirements r WHERE r.model_id = c.model_id) AS retired "
    "FROM claims c LEFT JOIN models m ON m.model_id = c.model_id "
    "LEFT JOIN sets s ON s.set_root = c.set_root AND s.committer = c.set_committer")


def has_claims(rows: Rows) -> bool:
    """False for an index made before claims were indexed, or before commitments were keyed
    by committer (index format 1: the next `zkml index` run makes it again)."""
    return bool(rows("SELECT 1 FROM pragma_table_info('claims') WHERE name = 'set_committer'",
                     ()))


def claims(rows: Rows, model_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Recorded claims (of ``model_ids``), newest first."""
    where = "" if model_ids is None else \
        f" WHERE c.model_id IN ({','.join('?' * len(model_ids))})"
    return [_record(r) for r in rows(
        f"{_CLAIMS}{where} ORDER BY c.block DESC, c.log_index DESC", model_ids or [])]


def claim(rows: Rows, claim_id: str) -> dict[str, Any] | None:
    """The claim of id ``claim_id`` (0x + 64 lower-case hex), or None."""
    found = rows(f"{_CLAIMS} WHERE c.claim_id = ?", (claim_id,))
    return _record(found[0]) if found else None


def _record(r: sqlite3.Row) -> dict[str, Any]:
    """A claim with its set's commitment (``set_*``: None when the index has not got it);
    ``metrics`` = [[name, ppm], ...] as recorded."""
    kept = {k: r[k] for k in r.keys() if k not in ("block", "log_index", "retired")}
    return {**kept, "block_number": r["block"], "metrics": json.loads(r["metrics"]),
            "model_retired": bool(r["retired"])}
