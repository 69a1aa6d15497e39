"""The Merkle trees of a claim: the evaluation set's root and the root over its proofs.

sha256 throughout (any client, and the EVM, recomputes it cheaply); each hash is domain
separated, so a leaf can never pass for an inner node nor a set root for a proofs root.

- set leaf  = sha256("zkml-eval-leaf/1" 0x00 | index u64 | input commitment u256 | label i64 |
  group), group = 0x00 when the set has none, else 0x01 | sha256(group utf-8). The index binds
  each sample to its position (a swap changes two leaves), the input commitment is the
  salted Poseidon hash the sample's proof publishes (zkml/model/salt.py), and the label and
  group are fixed before any proof exists.
- proof leaf = sha256("zkml-claim-proof/1" 0x00 | index u64 | sha256 of the bundle file).
- node = sha256(0x01 | left | right); an odd node moves up unpaired (never duplicated, so two
  different leaf lists cannot share a root).
- root = sha256(tag 0x00 | leaf count u64 | tree root): the count is bound too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from zkml.errors import ZkmlValueError

__all__ = ["set_leaf", "proof_leaf", "set_root", "proofs_root", "inclusion_path",
           "root_from_path"]

_SET = b"zkml-eval-set/1\x00"
_PROOFS = b"zkml-claim-proofs/1\x00"


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def set_leaf(index: int, input_commitment: int, label: int, group: str | None) -> bytes:
    """The leaf of sample ``index``."""
    tag = b"\x00" if group is None else b"\x01" + _h(group.encode())
    return _h(b"zkml-eval-leaf/1\x00", index.to_bytes(8, "big"),
              input_commitment.to_bytes(32, "big"), label.to_bytes(8, "big", signed=True), tag)


def proof_leaf(index: int, bundle_sha256: str) -> bytes:
    """The leaf of sample ``index``'s proof bundle (its file's sha256, hex)."""
    return _h(b"zkml-claim-proof/1\x00", index.to_bytes(8, "big"), bytes.fromhex(bundle_sha256))


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    if not leaves:
        raise ZkmlValueError("an empty set has no Merkle root: commit at least one sample.")
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        cur = levels[-1]
        nxt = [_h(b"\x01", cur[i], cur[i + 1]) for i in range(0, len(cur) - 1, 2)]
        if len(cur) % 2:
            nxt.append(cur[-1])
        levels.append(nxt)
    return levels


def _root(tag: bytes, leaves: Sequence[bytes]) -> str:
    return "0x" + _h(tag, len(leaves).to_bytes(8, "big"), _levels(leaves)[-1][0]).hex()


def set_root(leaves: Sequence[bytes]) -> str:
    """The evaluation set's root (0x hex) over its leaves in index order."""
    return _root(_SET, leaves)


def proofs_root(leaves: Sequence[bytes]) -> str:
    """The root (0x hex) over a claim's proof leaves in index order."""
    return _root(_PROOFS, leaves)


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[tuple[str, bool]]:
    """The siblings from leaf ``index`` up: (sibling hex, sibling is on the left)."""
    if not 0 <= index < len(leaves):
        raise ZkmlValueError(f"no leaf {index} in a set of {len(leaves)}.")
    path = []
    for level in _levels(leaves)[:-1]:
        sib = index ^ 1
        if sib < len(level):
            path.append((level[sib].hex(), sib < index))
        index //= 2
    return path


def root_from_path(leaf: bytes, count: int, path: Sequence[tuple[str, bool]]) -> str:
    """The set root a leaf and its :func:`inclusion_path` lead to (compare with the set's)."""
    node = leaf
    for sib_hex, left in path:
        sib = bytes.fromhex(sib_hex)
        node = _h(b"\x01", sib, node) if left else _h(b"\x01", node, sib)
    return "0x" + _h(_SET, count.to_bytes(8, "big"), node).hex()
