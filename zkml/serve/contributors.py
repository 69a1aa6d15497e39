"""Contributors of collaborative models in the index: who supplied each segment.

A collaborative model's verifier (``verifier_contracts/CollabVerifier.sol``) fixes every
segment's weights by their commitment, so every inference it verifies was computed with those
weights: the contributors of each recorded inference of that model are the model's. The
indexer asks each newly registered model's verifier for ``contributors()`` (an ``eth_call``
that an ordinary ezkl verifier refuses or answers with something that does not decode: then the
model has none) and stores (position, address, weight commitment digest) with the
registration's block, so a reorg drops them with it. The read side (:func:`contributors`)
runs over :class:`zkml.serve.store.Store`'s read-only connection.

What is shown is what the verifier contract states: a CollabVerifier checks the weights of
every proof against these digests, but the addresses are the ones its deployer declared.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from zkml.chain.evm import Chain, Reverted
from zkml.serve.claim_queries import Rows

__all__ = ["MAX_SEGMENTS", "BINDS", "probe", "index_model", "has_contributors", "by_model"]

#: more segments than this in an answer: not taken (a verifier that answers with a huge list)
MAX_SEGMENTS = 256
_SELECTOR = keccak(text="contributors()")[:4]
#: what a valid proof of a collaborative model binds (the model page's "a valid proof binds")
BINDS = ("The outputs are public instances of the last segment. Each segment's weights are "
         "private, and bound by the weight commitment its contributor registered: the "
         "verifier contract checks it in every segment proof, and that each segment's input "
         "commitment is the previous segment's output commitment.")


def probe(chain: Chain, verifier: str) -> list[tuple[str, str]] | None:
    """``[(address, weight digest), ...]`` from the verifier's ``contributors()``, or None
    when it has no such view (it reverts, or its answer is not two equal-length lists).

    Raises:
        ChainError: the node failed (not the contract): the caller retries later.
    """
    try:
        raw = chain.call_raw(verifier, _SELECTOR)
    except Reverted:
        return None
    try:
        owners, digests = abi_decode(["address[]", "bytes32[]"], raw)
    except (DecodingError, ValueError, OverflowError):
        return None
    if len(owners) != len(digests) or not 0 < len(owners) <= MAX_SEGMENTS:
        return None
    return [(to_checksum_address(a), "0x" + bytes(d).hex())
            for a, d in zip(owners, digests, strict=True)]


def index_model(conn: sqlite3.Connection, chain: Chain, model_id: str, verifier: str,
                block: int, log_index: int) -> None:
    """Store the contributors of the model registered at (block, log_index), if any."""
    found = probe(chain, verifier) or []
    conn.executemany("INSERT OR REPLACE INTO contributors VALUES (?,?,?,?,?,?)",
                     [(model_id, i, a, d, block, log_index) for i, (a, d) in enumerate(found)])


def has_contributors(rows: Rows) -> bool:
    """False for an index made before contributors were indexed (the next `zkml index` run
    makes it again)."""
    return bool(rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                     "'contributors'", ()))


def by_model(rows: Rows, model_ids: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """model id -> its contributors in segment order (``segment``, ``address``,
    ``weight_digest``: keccak256 of the segment's weight commitment), for ``model_ids`` (None:
    every model), in one query; a model without any is not a key."""
    if not has_contributors(rows):
        return {}
    where = "" if model_ids is None else f" WHERE model_id IN ({','.join('?' * len(model_ids))})"
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows(f"SELECT * FROM contributors{where} ORDER BY model_id, position",
                  model_ids or []):
        out.setdefault(str(r["model_id"]), []).append({
            "segment": int(r["position"]), "address": str(r["address"]),
            "weight_digest": str(r["weight_digest"])})
    return out
