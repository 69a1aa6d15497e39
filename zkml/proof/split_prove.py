"""Prove one inference of a split model: the witness chain once, segment proofs in parallel.

The chain runs in this process (each segment's witness needs the previous one's outputs, as
field elements); the proofs, the costly part, fan out over the batch executor of
:mod:`zkml.proof.batch` (a local process pool or Ray), one segment per worker. A worker that
dies has its segment retried there; a segment that still fails fails the whole proof: no
partial bundle is ever returned.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypedDict

import numpy as np
from typing_extensions import Unpack

from zkml import _ezkl, cache
from zkml._progress import step
from zkml._utils import dequantize, digest_of, sha256_bytes, sha256_file
from zkml.artifacts import Keys
from zkml.errors import InputRangeError, ProveError, ZkmlError, ZkmlValueError
from zkml.model.salt import draw_salt, salt_values
from zkml.presets import get_preset
from zkml.proof.commitment import CommitmentOpening, refuse_needless_opening, write_opening
from zkml.proof.inputs import check_inputs
from zkml.proof.pool import key_files, node_keys, run_local, run_ray
from zkml.split_artifacts import SegmentProof, SplitBundle, SplitKeys
from zkml.version import __version__

__all__ = ["prove_split", "prove_split_with_opening"]


def _prove_segment(_split_json: str, seg_id: str, payload: dict[str, Any], _verify: bool
                   ) -> dict[str, Any]:
    """One segment proof, in a worker; never raises (the error goes into the result)."""
    import warnings

    warnings.simplefilter("ignore")
    work = cache.private_workdir("segment")
    try:
        if "files" in payload:  # a cluster node without the driver's files: its own copy
            keys = node_keys(payload["files"], payload["digest"], payload["keys"])
        else:
            keys = Keys.model_validate_json(payload["keys"])
        witness = work / "witness.json"
        witness.write_text(payload["witness"])
        _ezkl.prove(witness, Path(keys.circuit.compiled_path), Path(keys.pk_path),
                    work / "proof.json", Path(keys.srs_path))
        raw = _ezkl.read_proof(work / "proof.json")
    except ZkmlError as e:
        return {"input_id": seg_id, "error": str(e), "error_type": type(e).__name__}
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the witness holds private activations
    return {"input_id": seg_id, "proof": "0x" + raw.proof.hex(),
            "instances": [str(v) for v in raw.instances]}


def _check_keys(keys: SplitKeys) -> None:
    cache.ensure_file_hash(keys.srs_path, keys.srs_sha256, "SRS file")
    for k in keys.segments:
        cache.ensure_intact(k.circuit.dir, "compiled segment circuits")
        cache.ensure_intact(k.dir, "segment proving/verifying keys")
        if sha256_file(k.vk_path) != k.model_id:
            raise ProveError(f"{k.vk_path} does not match segment model id {k.model_id[:16]}..."
                             "; run setup_split again.")


def _witness_chain(keys: SplitKeys, first: list[list[float]], work: Path) -> list[str]:
    """Every segment's witness (JSON text), segment i + 1 fed segment i's output felts."""
    texts: list[str] = []
    w: dict[str, Any] = {}
    srs = Path(keys.srs_path)
    for i, k in enumerate(keys.segments):
        data = work / f"input{i}.json"
        if i == 0:
            _ezkl.write_input(data, first)
        else:
            _ezkl.write_chained_input(data, w)
        out = work / f"witness{i}.json"
        try:
            # vk and SRS make ezkl fill in the boundary commitments the proof will carry
            w = _ezkl.gen_witness(data, Path(k.circuit.compiled_path), out, Path(k.vk_path), srs)
        except _ezkl.WitnessRangeError as e:
            raise InputRangeError(
                f"the input drives a value in segment {i} outside the circuit's range "
                "checks; recompile with calibration samples covering such inputs.") from e
        texts.append(out.read_text())
    return texts


class SplitOptions(TypedDict, total=False):
    """How a split proof runs (:func:`prove_split_with_opening`'s keywords)."""

    backend: Literal["local", "ray"]
    workers: int | None
    address: str | None
    on_segment: Callable[[int, int], None] | None
    reuse: bool


def prove_split(keys: SplitKeys, value: Any, *, opening_path: str | Path | None = None,
                **options: Unpack[SplitOptions]) -> SplitBundle:
    """Prove one inference of a split model, its segments in parallel.

    Args:
        keys: the artifact from :func:`zkml.setup`.
        value: one input (array, nested list, or a .json / .npy path; for a model of several
            inputs a dict by name, a list in graph order or a packed row), as for
            :func:`zkml.prove`.
        backend: ``"local"`` (a process pool) or ``"ray"`` (a local cluster, or ``address``).
        workers: segment proofs at once; default: the number of segments, capped by the CPUs.
        address: a Ray cluster to join; each segment's key files go to the node proving it
            with the task (written once per node under ``ZKML_RAY_NODE_DIR``, default
            /tmp/zkml-ray), so the nodes need not share a filesystem.
        on_segment: called with (segments done, total) as each segment proof lands.
        opening_path: ``committed-input`` only: where to write the commitment's opening (the
            input and its salt: a PRIVATE file, mode 0600).
        reuse: take the segment proofs an earlier run of the same input left (every proof is
            kept as it lands, so a run that failed on one segment proves only the rest);
            False proves every segment again.

    Returns:
        A :class:`SplitBundle` with one proof per segment.

    Raises:
        InputError: the input is malformed or outside the calibrated range.
        ProveError: witness generation failed, or a segment could not be proven even after
            its retries (nothing partial is returned).
        ZkmlValueError: an unknown backend, or ``opening_path`` for a preset that commits to
            no input.

    Example:
        >>> bundle = zkml.prove(keys, x, backend="ray")
    """
    refuse_needless_opening(keys.circuit.preset, opening_path)
    bundle, opening = prove_split_with_opening(keys, value, **options)
    if opening_path is not None and opening is not None:
        write_opening(opening, opening_path)
    return bundle


def prove_split_with_opening(
    keys: SplitKeys,
    value: Any,
    *,
    backend: Literal["local", "ray"] = "local",
    workers: int | None = None,
    address: str | None = None,
    on_segment: Callable[[int, int], None] | None = None,
    reuse: bool = True,
) -> tuple[SplitBundle, CommitmentOpening | None]:
    """Like :func:`prove_split`, also returning the commitment's opening (``committed-input``;
    else None). The opening is private: keep it out of anything shared.

    Raises:
        the same errors as :func:`prove_split`.
    """
    if backend not in ("local", "ray"):
        raise ZkmlValueError(f"backend must be 'local' or 'ray', not {backend!r}.")
    split = keys.circuit
    seg0 = keys.segments[0]
    # validated as the user's model takes it (segment 0 of committed-input takes it salted)
    parts = check_inputs(seg0.model_copy(update={"circuit": seg0.circuit.model_copy(
        update={"exported": split.exported})}), value)
    commits = get_preset(split.preset).commits_input
    values: list[float] = []
    salt: list[int] = []
    if commits:
        # as zkml.prove: every input's values in graph order (rounded through its dtype),
        # then the salt, in the one tensor the first segment hashes
        values = np.concatenate([
            p.reshape(-1).astype(spec.dtype).astype(np.float64)
            for p, spec in zip(parts, split.exported.inputs, strict=True)]).tolist()
        salt = draw_salt()
        first = [values + salt_values(salt, seg0.circuit.input_scale)]
    else:
        first = [p.reshape(-1).tolist() for p in parts]
    _check_keys(keys)
    k = len(keys.segments)
    n_workers = max(1, min(workers or (os.cpu_count() or 1), k))
    work = cache.private_workdir("split")
    try:
        with step(f"Generating the witness chain ({k} segments)", "witness"):
            texts = _witness_chain(keys, first, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # A segment proof is kept (cache "segment-proofs", by segment and witness) as it lands: a
    # run that fails on one segment, or is stopped, proves only what is missing next time.
    # The same input gives the same witness (committed-input: not, a fresh salt each time).
    stored = [_stored_key(s, texts[i]) for i, s in enumerate(keys.segments)]
    proofs: dict[int, SegmentProof] = {}
    for i, key in enumerate(stored if reuse else []):
        entry = cache.lookup("segment-proofs", key)
        if entry is not None:
            proofs[i] = SegmentProof.model_validate_json(entry.file("proof.json").read_text())
    # Joining a cluster (address): its nodes may not see this machine's files, so each
    # segment's key files travel with its task (Ray's object store) and are written once per
    # node, as the batch path does; a local pool or local Ray cluster reads them by path.
    ship = backend == "ray" and address is not None
    todo: list[tuple[str, Any]] = [(str(i), _payload(s, texts[i], ship))
                                   for i, s in enumerate(keys.segments) if i not in proofs]
    failed: list[str] = []
    reused = f", {len(proofs)} kept from an earlier run" if proofs else ""
    with step(f"Proving {len(todo)} of {k} segments on {n_workers} worker(s) (logrows "
              f"{keys.circuit.logrows}{reused})", "prove"):
        if proofs and on_segment:
            on_segment(len(proofs), k)
        keys_json = keys.model_dump_json()
        stream = (run_ray(_prove_segment, (keys_json,), todo, n_workers, False, address)
                  if backend == "ray" else run_local(keys_json, todo, n_workers, False,
                                                     _prove_segment)) if todo else iter([])
        for res in stream:
            i = int(res["input_id"])
            if "error" in res:  # the others still land and are kept
                failed.append(f"segment {i}: {res['error']}")
                continue
            s = keys.segments[i]
            proofs[i] = SegmentProof(model_id=s.model_id,
                                     settings_digest=s.circuit.settings_digest,
                                     proof=res["proof"], instances=res["instances"])
            _store(stored[i], proofs[i])
            if on_segment:
                on_segment(len(proofs), k)
    if failed:
        raise ProveError(f"{len(failed)} of {k} segments could not be proven ("
                         + "; ".join(failed)[:400] + f"); the {len(proofs)} proven are kept: "
                         "run the same proof again to prove only the rest.")
    bundle = _bundle(keys, [proofs[i] for i in range(k)])
    if bundle.input_commitment is None:
        return bundle, None
    return bundle, CommitmentOpening(
        model_id=keys.model_id, input_commitment=bundle.input_commitment,
        input_scale=seg0.circuit.input_scale, input=values, salt=salt,
        input_shape=list(parts[0].shape) if len(parts) == 1 else [1, len(values)])


def _stored_key(keys: Keys, witness: str) -> str:
    return digest_of("segment-proof/1", keys.model_id, sha256_bytes(witness.encode()))


def _store(key: str, proof: SegmentProof) -> None:
    def build(tmp: Path) -> dict[str, object]:
        (tmp / "proof.json").write_text(proof.model_dump_json())
        return {}

    cache.get_or_build("segment-proofs", key, build)


def _payload(keys: Keys, witness: str, ship: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"keys": keys.model_dump_json(), "witness": witness}
    if ship:
        payload["files"] = {name: Path(p).read_bytes() for name, p in key_files(keys).items()}
        payload["digest"] = keys.model_id + "-" + sha256_file(keys.pk_path)[:16]
    return payload


def _bundle(keys: SplitKeys, segments: list[SegmentProof]) -> SplitBundle:
    split = keys.circuit
    last = [int(v) for v in segments[-1].instances]
    n_out = int(np.prod(split.exported.output_shape))
    if len(last) < n_out:
        raise ProveError(f"ezkl returned {len(last)} instances for {n_out} outputs.")
    scales = split.segments[-1].output_scales
    return SplitBundle(
        model_id=keys.model_id, preset=split.preset, segments=segments,
        output_scales=scales, outputs=dequantize(last[len(last) - n_out:], scales[0]),
        output_shape=split.exported.output_shape,
        input_commitment=(segments[0].instances[0] if get_preset(split.preset).commits_input
                          else None),
        srs_source=keys.srs_source,
        versions={"zkml": __version__, "ezkl": _ezkl.EZKL_VERSION},
    )
