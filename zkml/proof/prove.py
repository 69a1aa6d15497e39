"""Stage 5: one input -> a proof bundle (public by construction: no private value in it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from typing_extensions import Unpack

from zkml import _ezkl, cache
from zkml._utils import sha256_file
from zkml.artifacts import Keys, ProofBundle
from zkml.errors import ProveError, ZkmlValueError
from zkml.model.salt import draw_salt, salt_values
from zkml.presets import get_preset
from zkml.proof.assemble import facts_of
from zkml.proof.commitment import CommitmentOpening, refuse_needless_opening, write_opening
from zkml.proof.inputs import check_input, check_inputs
from zkml.proof.job import ProveJob, discard_job, finish_job, run_job
from zkml.split_artifacts import SplitBundle, SplitKeys

if TYPE_CHECKING:
    from zkml.proof.split_prove import SplitOptions

__all__ = ["prove", "prove_with_opening", "check_input", "check_inputs", "prepare_job",
           "finish_job", "discard_job"]  # check_input(s): zkml.proof.inputs


@overload
def prove(keys: Keys, value: Any, *, opening_path: str | Path | None = ...) -> ProofBundle: ...


@overload
def prove(keys: SplitKeys, value: Any, *, opening_path: str | Path | None = ...,
          **split: Unpack[SplitOptions]) -> SplitBundle: ...


def prove(keys: Keys | SplitKeys, value: Any, *, opening_path: str | Path | None = None,
          **split: Any) -> ProofBundle | SplitBundle:
    """Prove one inference of the keyed model on ``value``.

    With the ``committed-input`` preset each proof commits to the input with a fresh random
    salt (two proofs of one input have different commitments). The input and salt, the
    *opening*, are private: they never go into the bundle; pass ``opening_path`` to keep them
    (written mode 0600) so the commitment can be opened later (:func:`zkml.check_commitment`,
    a data owner checking what they consent to). Without it the salt is discarded: the
    commitment still binds the proof to the input, but nobody can open it.

    Split keys (from a split circuit) prove the segments in parallel
    (:func:`zkml.proof.split_prove.prove_split`: ``backend`` ``"local"`` or ``"ray"``,
    ``workers``, ``address``, ``on_segment``, ``reuse``) and return a :class:`SplitBundle`.

    Args:
        keys: the artifact from :func:`zkml.setup`.
        value: one input (tensor, array, nested list, or a path to a .json / .npy file);
            for a model with several graph inputs, one value per input: a dict by input
            name, a list or tuple in the graph's order, or a .json file of ezkl's
            ``input_data`` (one list per input) or of a dict by name.
        opening_path: where to write the commitment's opening (``committed-input`` only).

    Returns:
        A :class:`ProofBundle` holding the proof, public instances and decoded outputs (a
        :class:`SplitBundle` for split keys).

    Raises:
        InputError: wrong dtype, NaN/inf (``InputShapeError``: wrong size;
            ``InputRangeError``: outside the calibrated range).
        ProveError: witness generation or proving failed.
        ZkmlValueError: ``opening_path`` for a preset that commits to no input; split
            options for one circuit's keys.

    Example:
        >>> bundle = zkml.prove(keys, patient_features, opening_path="bundle.opening.json")
    """
    if isinstance(keys, SplitKeys):
        from zkml.proof.split_prove import prove_split

        return prove_split(keys, value, opening_path=opening_path, **split)
    if split:
        raise ZkmlValueError(f"{', '.join(sorted(split))}: options of a split model's proof, "
                             "but these keys are one circuit's.")
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
    run_job(job)
    return finish_job(job)


def prepare_job(keys: Keys, value: Any, *, salt: Sequence[int] | None = None) -> ProveJob:
    """Check the input, the circuit files, keys and SRS; write ezkl's input file in a fresh
    private work folder. Run the job with :func:`zkml.proof.job.run_job`, then
    :func:`zkml.proof.job.finish_job` (or ``discard_job``).

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
        input_shape=list(parts[0].shape) if len(parts) == 1 else [1, len(values)],
        facts=facts_of(keys).as_dict())
    try:
        _ezkl.write_input(job.data, [values + salt_values(salt, c.input_scale)] if commits
                          else [p.reshape(-1).tolist() for p in parts])
    except BaseException:
        discard_job(job)
        raise
    return job
