"""Private helpers shared by the stages: hashing, atomic writes, field-element codecs."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The BN254 scalar field modulus: every public instance is an element of this field.
FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def canonical_json(obj: Any) -> bytes:
    """JSON with sorted keys and no whitespace, so equal objects hash equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def digest_of(*parts: Any) -> str:
    return sha256_bytes(canonical_json(list(parts)))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=indent, sort_keys=True) + "\n").encode())


def felt_from_le_hex(value: str) -> int:
    """Decode ezkl's little-endian hex encoding of a field element."""
    return int.from_bytes(bytes.fromhex(value.removeprefix("0x")), "little")


def felt_to_le_hex(value: int) -> str:
    return value.to_bytes(32, "little").hex()


def felt_to_signed(value: int) -> int:
    """Map a field element to the signed integer it encodes (negatives are ``p - |x|``)."""
    return value - FIELD_MODULUS if value > FIELD_MODULUS // 2 else value


def dequantize(felts: Iterable[int], scale: int) -> list[float]:
    return [felt_to_signed(v) / float(2**scale) for v in felts]
