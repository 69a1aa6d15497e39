"""Batch proving: many inputs -> one proof bundle each, plus a manifest; local pool or Ray.

The manifest (``manifest.json`` in the output directory) is rewritten atomically after every
result, so a crash loses nothing proven. A re-run skips inputs whose bundle exists and
verifies. A bad input is recorded with its error and does not stop the batch; a worker that
dies has its input retried (Ray's task retries; the local pool is rebuilt).

The workers are zkml.proof.pool's (a local process pool or Ray).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from zkml._utils import atomic_write_json, sha256_file
from zkml.artifacts import Keys, ProofBundle, save_artifact
from zkml.errors import ZkmlError, ZkmlValueError
from zkml.proof.batch_inputs import read_inputs
from zkml.proof.commitment import CommitmentOpening, write_opening
from zkml.proof.pool import key_files, node_keys, run_local, run_ray

__all__ = ["prove_batch", "read_inputs", "BatchResult", "ManifestEntry", "estimate_proof_memory"]

Backend = Literal["local", "ray"]
MANIFEST = "manifest.json"


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_id: str
    status: Literal["ok", "error", "skipped"]
    bundle: str | None = None
    #: committed-input only: the PRIVATE opening (input + salt) next to the bundle, mode 0600
    opening: str | None = None
    error: str | None = None
    error_type: str | None = None
    attempts: int = 0
    prove_seconds: float | None = None
    verified: bool | None = None
    inference_id: str | None = None


@dataclass
class BatchResult:
    manifest_path: Path
    entries: dict[str, ManifestEntry]
    elapsed: float
    workers: int
    proved: int = 0
    skipped: int = 0
    failed: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def throughput_per_minute(self) -> float:
        return 60.0 * self.proved / self.elapsed if self.elapsed > 0 else 0.0


def estimate_proof_memory(keys: Keys) -> int:
    """Peak bytes of one proof, from its proving key's size (zkml.circuit.cost)."""
    from zkml.circuit.cost import peak_memory_for_key

    return peak_memory_for_key(os.path.getsize(keys.pk_path))


# Work units --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Salted:
    """An input whose committed-input salt was fixed in advance (pickled to the workers)."""

    value: Any
    salt: list[int]


def _prove_one(keys_json: str, input_id: str, value: Any, verify: bool) -> dict[str, Any]:
    """Prove one input; never raises for a bad input (the error goes into the result).
    ``value`` is a :class:`_Salted` when the salt was committed in advance."""
    import warnings

    from zkml.proof.prove import prove_with_opening
    from zkml.proof.verify import verify as verify_bundle

    warnings.simplefilter("ignore")
    keys = Keys.model_validate_json(keys_json)
    t0 = time.perf_counter()
    salt = None
    if isinstance(value, _Salted):
        value, salt = value.value, value.salt
    try:
        bundle, opening = prove_with_opening(keys, value, salt=salt)
    except ZkmlError as e:
        return {"input_id": input_id, "error": str(e), "error_type": type(e).__name__}
    result: dict[str, Any] = {"input_id": input_id, "bundle": bundle.model_dump_json(),
                              "prove_seconds": time.perf_counter() - t0}
    if opening is not None:  # private: written by the driver next to the bundle, mode 0600
        result["opening"] = opening.model_dump_json()
    if verify:
        result["verified"] = verify_bundle(bundle, keys)
    return result


def _ray_prove(files: dict[str, bytes], digest: str, keys_json: str, input_id: str,
               value: Any, verify: bool) -> dict[str, Any]:
    keys = node_keys(files, digest, keys_json)
    return _prove_one(keys.model_dump_json(), input_id, value, verify)


def _portable(v: Any) -> Any:
    """A value Ray can ship cheaply to another node (arrays as lists)."""
    if isinstance(v, _Salted):
        return _Salted(_portable(v.value), v.salt)
    return v.tolist() if isinstance(v, np.ndarray) else v


def _stream(keys: Keys, todo: list[tuple[str, Any]], workers: int, verify: bool,
            backend: Backend, address: str | None) -> Iterator[dict[str, Any]]:
    """Every input proven by the pool: locally, or on Ray with the key files shipped once
    per node (``node_keys``), so the nodes need not share a filesystem."""
    if backend == "local":
        return run_local(keys.model_dump_json(), todo, workers, verify, _prove_one)
    files = {name: Path(p).read_bytes() for name, p in key_files(keys).items()}
    digest = keys.model_id + "-" + sha256_file(keys.pk_path)[:16]
    return run_ray(_ray_prove, (digest, keys.model_dump_json()),
                   [(i, _portable(v)) for i, v in todo], workers, verify, address,
                   shipped=files)


# The batch ---------------------------------------------------------------------------------

def _load_manifest(path: Path) -> dict[str, ManifestEntry]:
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {e["input_id"]: ManifestEntry.model_validate(e) for e in raw["entries"]}
    except (ValueError, KeyError, TypeError):
        return {}  # an unreadable manifest only costs re-checking the bundles


def _bundle_ok(out: Path, input_id: str, keys: Keys) -> bool:
    from zkml.proof.verify import load_bundle, verify

    p = out / f"{input_id}.bundle.json"
    if not p.exists():
        return False
    try:
        return verify(load_bundle(p), keys)
    except ZkmlError:
        return False


def prove_batch(
    keys: Keys,
    inputs: str | Path | list[tuple[str, Any]],
    out_dir: str | Path,
    *,
    backend: Backend = "local",
    address: str | None = None,
    workers: int | None = None,
    max_memory: int | None = None,
    verify: bool = False,
    on_result: Callable[[ManifestEntry, int, int], None] | None = None,
    salts: Mapping[str, Sequence[int]] | None = None,
) -> BatchResult:
    """Prove every input of a batch, one bundle each, with a manifest; resumable.

    Args:
        keys: the model's keys.
        inputs: a .jsonl / .npy file, a directory of inputs, or ``[(id, value), ...]``.
        out_dir: where ``<id>.bundle.json`` files and ``manifest.json`` go (and, for the
            committed-input preset, each input's PRIVATE ``<id>.opening.json``, mode 0600:
            hand it to the input's owner, never publish it with the bundles).
        backend: ``"local"`` (a bounded process pool) or ``"ray"``.
        address: a Ray cluster address to join; by default a local Ray cluster is started.
        workers: concurrent proofs; default: the CPU count.
        max_memory: bytes the concurrent proofs may use together; caps ``workers`` by the
            per-proof estimate (:func:`estimate_proof_memory`).
        verify: verify every bundle after proving.
        on_result: called after each input with (entry, done, total), e.g. for progress.
        salts: committed-input only: input id -> the salt its proof must commit with (a
            committed evaluation set, zkml/claims); by default each proof draws a fresh one.
            With salts no opening file is written: the caller already holds each opening.

    Returns:
        A :class:`BatchResult`; the manifest is at ``out_dir/manifest.json``.

    Raises:
        InputError: the batch source is unreadable.
        ZkmlValueError: ``max_memory`` is below one proof's estimated peak, or bad backend.

    Example:
        >>> res = zkml.prove_batch(keys, "patients.jsonl", "build/proofs", backend="ray")
    """
    if backend not in ("local", "ray"):
        raise ZkmlValueError(f"backend must be 'local' or 'ray', not {backend!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = read_inputs(inputs) if isinstance(inputs, (str, Path)) else list(inputs)
    if salts is not None:
        missing = [i for i, _ in items if i not in salts]
        if missing:
            raise ZkmlValueError(f"no salt for input(s) {', '.join(missing[:5])}: give one "
                                 "per input, or none.")
        items = [(i, _Salted(v, [int(k) for k in salts[i]])) for i, v in items]
    n_workers = max(1, workers or os.cpu_count() or 1)
    per_proof = estimate_proof_memory(keys)
    if max_memory is not None:
        if max_memory < per_proof:
            raise ZkmlValueError(
                f"max_memory {max_memory / 1e9:.2f} GB is below one proof's estimated peak "
                f"{per_proof / 1e9:.2f} GB; raise it."
            )
        n_workers = min(n_workers, max_memory // per_proof)
    manifest_path = out / MANIFEST
    entries = _load_manifest(manifest_path)
    t0 = time.perf_counter()
    todo, done_count = [], 0
    for input_id, value in items:
        prev = entries.get(input_id)
        if prev and prev.status in ("ok", "skipped") and _bundle_ok(out, input_id, keys):
            entries[input_id] = prev.model_copy(update={"status": "skipped"})
            done_count += 1
        else:
            todo.append((input_id, value))
    skipped = done_count

    def write_manifest() -> None:
        atomic_write_json(manifest_path, {
            "model_id": keys.model_id,
            "updated_at": datetime.now(UTC).isoformat(),
            "total": len(items),
            "entries": [entries[i].model_dump() for i, _ in items if i in entries],
        })

    write_manifest()
    stream = _stream(keys, todo, n_workers, verify, backend, address)
    proved = failed = 0
    for res in stream:
        i = res["input_id"]
        if "bundle" in res:
            bundle = ProofBundle.model_validate_json(res["bundle"])
            opening = None
            if res.get("opening") and salts is None:  # else the caller holds the openings
                opening = str(write_opening(CommitmentOpening.model_validate_json(
                    res["opening"]), out / f"{i}.opening.json"))
            path = save_artifact(bundle, out / f"{i}.bundle.json")
            entry = ManifestEntry(input_id=i, status="ok", bundle=str(path), opening=opening,
                                  attempts=res.get("attempts", 1),
                                  prove_seconds=res.get("prove_seconds"),
                                  verified=res.get("verified"))
            proved += 1
        else:
            entry = ManifestEntry(input_id=i, status="error", error=res["error"],
                                  error_type=res.get("error_type"),
                                  attempts=res.get("attempts", 1))
            failed += 1
        entries[i] = entry
        write_manifest()
        done_count += 1
        if on_result:
            on_result(entry, done_count, len(items))
    return BatchResult(manifest_path, entries, time.perf_counter() - t0, n_workers,
                       proved=proved, skipped=skipped, failed=failed)
