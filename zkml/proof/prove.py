"""Stage 5: one input -> a proof bundle (public by construction: no private value in it)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zkml import _ezkl, cache
from zkml._utils import dequantize, sha256_file
from zkml.artifacts import Keys, ProofBundle
from zkml.errors import InputError, InputRangeError, InputShapeError, ProveError, ZkmlValueError
from zkml.model.inputs import coerce_inputs, unpack
from zkml.model.salt import draw_salt, salt_values
from zkml.presets import get_preset
from zkml.proof.commitment import CommitmentOpening, refuse_needless_opening, write_opening
from zkml.proof.job import ProveJob, run_job
from zkml.version import __version__

__all__ = ["prove", "prove_with_opening", "check_input", "check_inputs", "prepare_job",
           "finish_job", "discard_job"]


def check_inputs(keys: Keys, value: Any) -> list[np.ndarray]:
    """Validate one inference input against the circuit, one array per graph input (each in
    its input's shape, float64): dtype, shape, finiteness, range.

    ``value`` for a model with several graph inputs: a dict by input name, a list or tuple in
    the graph's order, one packed row, or a path to a .json (ezkl's ``input_data``: one list
    per input, or a dict by name) or .npy (a packed row) file.

    Raises:
        InputError: as :func:`check_input`; for several inputs, the one missing, unknown,
            misshaped or fractional (for an integer input) is named.
    """
    exported = keys.circuit.exported
    if len(exported.inputs) == 1:
        return [check_input(keys, value)]
    if isinstance(value, (str, bytes, Path)):
        path = Path(os.fsdecode(value))
        value = _load_input_file(path, raw=True)
    row = coerce_inputs(value, exported.inputs, one=True)
    _check_range(keys, row)
    return [p[0].astype(np.float64) for p in unpack(row, exported.inputs, cast=False)]


def _check_range(keys: Keys, arr: np.ndarray) -> None:
    lo, hi = keys.circuit.input_range
    bad = np.flatnonzero((arr < lo) | (arr > hi))
    if bad.size:
        raise InputRangeError(
            f"{bad.size} input value(s) lie outside the calibrated range [{lo:.4g}, {hi:.4g}] "
            f"(first at flat index {int(bad[0])}); normalise the input like the calibration "
            "data, or recompile with calibration samples that cover it."
        )


def check_input(keys: Keys, value: Any) -> np.ndarray:
    """Validate one inference input against the circuit: dtype, shape, finiteness, range.

    For a model with one graph input; :func:`check_inputs` takes any number.

    Raises:
        InputError: wrong dtype, NaN/inf (``InputShapeError``: wrong size, or a model with
            several inputs; ``InputRangeError``: outside the calibrated range).
    """
    circuit = keys.circuit
    if len(circuit.exported.inputs) > 1:
        raise InputShapeError(
            f"the model takes {len(circuit.exported.inputs)} inputs "
            f"({', '.join(i.name for i in circuit.exported.inputs)}): validate them with "
            "check_inputs (one value per input).")
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
    _check_range(keys, arr)
    return arr.reshape(shape)


def _load_input_file(path: Path, *, raw: bool = False) -> Any:
    """A .npy array, or a JSON file's value (``input_data`` unwrapped unless ``raw``: a dict
    by input name is a multi-input model's value as it stands)."""
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        data = json.loads(path.read_text())
        if raw:
            return data
    except FileNotFoundError as e:
        raise InputError(f"{path}: no such input file.") from e
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a JSON or .npy input file ({e}).") from e
    return _ezkl.read_input_data(data, str(path))


def prove(keys: Keys, value: Any, *, opening_path: str | Path | None = None) -> ProofBundle:
    """Prove one inference of the keyed model on ``value``.

    With the ``committed-input`` preset each proof commits to the input with a fresh random
    salt (two proofs of one input have different commitments). The input and salt, the
    *opening*, are private: they never go into the bundle; pass ``opening_path`` to keep them
    (written mode 0600) so the commitment can be opened later (:func:`zkml.check_commitment`,
    a data owner checking what they consent to). Without it the salt is discarded: the
    commitment still binds the proof to the input, but nobody can open it.

    Args:
        keys: the artifact from :func:`zkml.setup`.
        value: one input (tensor, array, nested list, or a path to a .json / .npy file);
            for a model with several graph inputs, one value per input: a dict by input
            name, a list or tuple in the graph's order, or a .json file of ezkl's
            ``input_data`` (one list per input) or of a dict by name.
        opening_path: where to write the commitment's opening (``committed-input`` only).

    Returns:
        A :class:`ProofBundle` holding the proof, public instances and decoded outputs.

    Raises:
        InputError: wrong dtype, NaN/inf (``InputShapeError``: wrong size;
            ``InputRangeError``: outside the calibrated range).
        ProveError: witness generation or proving failed.
        ZkmlValueError: ``opening_path`` for a preset that commits to no input.

    Example:
        >>> bundle = zkml.prove(keys, patient_features, opening_path="bundle.opening.json")
    """
    refuse_needless_opening(keys.circuit.preset, opening_path)
    bundle, opening = prove_with_opening(keys, value)
    if opening_path is not None and opening is not None:
        write_opening(opening, opening_path)
    return bundle


def prove_with_opening(keys: Keys, value: Any, *, salt: Sequence[int] | None = None
                       ) -> tuple[ProofBundle, CommitmentOpening | None]:
    """Like :func:`prove`, also returning the commitment's opening (``committed-input``; else
    None). The opening is private: keep it out of anything shared (:func:`write_opening`).

    ``salt`` (``committed-input`` only): the salt committed to in advance (a committed
    evaluation set, zkml/claims), instead of a fresh one; never reuse a salt for another
    input's proof.

    Raises:
        the same errors as :func:`prove`; ZkmlValueError: a salt for a preset that commits
        to no input, or a malformed salt.
    """
    job = prepare_job(keys, value, salt=salt)
    try:
        run_job(job)
    except BaseException:
        discard_job(job)
        raise
    return finish_job(keys, job)


def prepare_job(keys: Keys, value: Any, *, salt: Sequence[int] | None = None) -> ProveJob:
    """Check the input, the circuit files, keys and SRS; write ezkl's input file in a fresh
    private work folder. Run the job with :func:`zkml.proof.job.run_job`, then
    :func:`finish_job` (or :func:`discard_job`).

    Raises:
        the errors of :func:`prove_with_opening` that come before ezkl is called.
    """
    parts = check_inputs(keys, value)
    c = keys.circuit
    commits = get_preset(c.preset).commits_input
    if salt is not None:
        if not commits:
            raise ZkmlValueError(f"preset {c.preset!r} commits to no input: a salt means "
                                 "nothing to it; compile with preset committed-input.")
        salt_values(salt, c.input_scale)  # checks length and range
    cache.ensure_intact(c.dir, "compiled circuit files")
    cache.ensure_intact(keys.dir, "proving/verifying keys")
    cache.ensure_file_hash(keys.srs_path, keys.srs_sha256, "SRS file")
    if sha256_file(keys.vk_path) != keys.model_id:
        raise ProveError(f"{keys.vk_path} does not match model id {keys.model_id[:16]}...; "
                         "run setup again.")
    # committed-input: every input's values in the graph's order, then the salt, in one
    # tensor (zkml/model/salt.py); ezkl rounds inputs through the graph's dtype, so the
    # opening holds those rounded values
    flat = np.concatenate([
        p.reshape(-1).astype(spec.dtype).astype(np.float64) if commits else p.reshape(-1)
        for p, spec in zip(parts, c.exported.inputs, strict=True)])
    values = flat.tolist()
    salt = (list(salt) if salt is not None else draw_salt()) if commits else []
    kzg = _ezkl.read_settings(Path(c.settings_path)).kzg_commits
    job = ProveJob(
        work=str(cache.private_workdir("prove")), compiled=c.compiled_path,
        pk=keys.pk_path, srs=keys.srs_path, logrows=c.logrows, preset=c.preset,
        commits=commits, kzg_vk=keys.vk_path if kzg else None,
        values=values if commits else [], salt=list(salt),
        # several inputs: the packed row, each input's values in the graph's order
        input_shape=list(parts[0].shape) if len(parts) == 1 else [1, len(values)])
    try:
        _ezkl.write_input(job.data, [values + salt_values(salt, c.input_scale)] if commits
                          else [p.reshape(-1).tolist() for p in parts])
    except BaseException:
        discard_job(job)
        raise
    return job


def discard_job(job: ProveJob) -> None:
    """Remove the job's work folder (the input file and witness hold the private input)."""
    shutil.rmtree(job.work, ignore_errors=True)


def finish_job(keys: Keys, job: ProveJob) -> tuple[ProofBundle, CommitmentOpening | None]:
    """The bundle (and the opening, committed-input) of a job :func:`run_job` has run; the
    work folder is removed whatever happens."""
    try:
        raw = _ezkl.read_proof(job.proof)
    finally:
        discard_job(job)
    bundle = _bundle(keys, raw)
    if bundle.input_commitment is None:
        return bundle, None
    return bundle, CommitmentOpening(
        model_id=keys.model_id, input_commitment=bundle.input_commitment,
        input_scale=keys.circuit.input_scale, input=job.values, salt=job.salt,
        input_shape=job.input_shape)


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
