"""Stage 5: one input -> a proof bundle (public by construction: no private value in it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zkml import _ezkl, cache
from zkml._progress import step
from zkml._utils import dequantize, sha256_file
from zkml.artifacts import Keys, ProofBundle
from zkml.errors import InputError, InputRangeError, InputShapeError, ProveError
from zkml.presets import get_preset
from zkml.version import __version__

__all__ = ["prove", "check_input"]


def check_input(keys: Keys, value: Any) -> np.ndarray:
    """Validate one inference input against the circuit: dtype, shape, finiteness, range."""
    circuit = keys.circuit
    shape = circuit.exported.input_shape
    if isinstance(value, (str, bytes, Path)):
        value = _load_input_file(Path(os.fsdecode(value)))
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise InputError(f"input is not an array of numbers: {e}") from e
    declared = circuit.exported.input_dtype
    if arr.dtype.kind not in "iuf" and not (arr.dtype.kind == "b" and declared == "bool"):
        raise InputError(
            f"input has dtype {arr.dtype}; give real numbers (float or int), not "
            f"{'booleans' if arr.dtype.kind == 'b' else 'this type'}."
        )
    arr = arr.astype(np.float64)
    if np.dtype(declared).kind in "iub" and np.isfinite(arr).all() and \
            not np.array_equal(arr, np.round(arr)):
        raise InputError(f"the model's input is {declared}: give whole numbers, not "
                         "fractions.")
    size = int(np.prod(shape))
    if arr.size != size:
        raise InputShapeError(
            f"input has shape {tuple(arr.shape)} ({arr.size} values) but the model takes "
            f"{tuple(shape)} ({size} values)."
        )
    if not np.isfinite(arr).all():
        raise InputError("input contains NaN or infinity; give finite numbers.")
    lo, hi = circuit.input_range
    bad = np.flatnonzero((arr < lo) | (arr > hi))
    if bad.size:
        raise InputRangeError(
            f"{bad.size} input value(s) lie outside the calibrated range [{lo:.4g}, {hi:.4g}] "
            f"(first at flat index {int(bad[0])}); normalise the input like the calibration "
            "data, or recompile with calibration samples that cover it."
        )
    return arr.reshape(shape)


def _load_input_file(path: Path) -> Any:
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        data = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise InputError(f"{path}: no such input file.") from e
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a JSON or .npy input file ({e}).") from e
    return _ezkl.read_input_data(data, str(path))


def prove(keys: Keys, value: Any) -> ProofBundle:
    """Prove one inference of the keyed model on ``value``.

    Args:
        keys: the artifact from :func:`zkml.setup`.
        value: one input (tensor, array, nested list, or a path to a .json / .npy file).

    Returns:
        A :class:`ProofBundle` holding the proof, public instances and decoded outputs.

    Raises:
        InputError: wrong dtype, NaN/inf (``InputShapeError``: wrong size;
            ``InputRangeError``: outside the calibrated range).
        ProveError: witness generation or proving failed.

    Example:
        >>> bundle = zkml.prove(keys, patient_features)
    """
    x = check_input(keys, value)
    c = keys.circuit
    cache.ensure_intact(c.dir, "compiled circuit files")
    cache.ensure_intact(keys.dir, "proving/verifying keys")
    cache.ensure_file_hash(keys.srs_path, keys.srs_sha256, "SRS file")
    if sha256_file(keys.vk_path) != keys.model_id:
        raise ProveError(f"{keys.vk_path} does not match model id {keys.model_id[:16]}...; "
                         "run setup again.")
    work = cache.private_workdir("prove")
    try:
        data = work / "input.json"
        _ezkl.write_input(data, [x.reshape(-1).tolist()])
        with step("Generating witness", "witness"):
            try:
                _ezkl.gen_witness(
                    data, Path(c.compiled_path), work / "witness.json",
                    Path(keys.vk_path), Path(keys.srs_path),
                )
            except ProveError as e:
                if "decomposition" in str(e) or "too large" in str(e):
                    raise InputRangeError(
                        "the input drives an intermediate value outside the circuit's range "
                        "checks; recompile with calibration samples covering such inputs."
                    ) from e
                raise
        with step(f"Proving (logrows {c.logrows})", "prove"):
            _ezkl.prove(
                work / "witness.json", Path(c.compiled_path), Path(keys.pk_path),
                work / "proof.json", Path(keys.srs_path),
            )
        raw = _ezkl.read_proof(work / "proof.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the witness holds the private input
    return _bundle(keys, raw)


def _bundle(keys: Keys, raw: _ezkl.ProofFile) -> ProofBundle:
    c = keys.circuit
    instances = raw.instances
    n_out = int(np.prod(c.exported.output_shape))
    offset = len(instances) - n_out
    if offset < 0:
        raise ProveError(f"ezkl returned {len(instances)} instances for {n_out} outputs.")
    proof_hex = "0x" + raw.proof.hex()
    return ProofBundle(
        model_id=keys.model_id,
        settings_digest=c.settings_digest,
        preset=c.preset,
        proof=proof_hex,
        instances=[str(v) for v in instances],
        output_instance_offset=offset,
        output_scales=c.output_scales,
        outputs=dequantize(instances[offset:], c.output_scales[0]),
        output_shape=c.exported.output_shape,
        input_commitment=str(instances[0]) if get_preset(c.preset).commits_input else None,
        srs_source=keys.srs_source,
        versions={"zkml": __version__, "ezkl": _ezkl.EZKL_VERSION},
    )
