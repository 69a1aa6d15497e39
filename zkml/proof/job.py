"""One proof's ezkl work (witness, then proof) as a job that can cross a process image.

:func:`zkml.proof.prove.prove_with_opening` prepares a :class:`ProveJob` (inputs checked,
ezkl's input file written in a private work folder), runs it, and turns ezkl's proof file
into a bundle. `zkml prove` runs the last two steps in a process of their own
(zkml/cli/prover.py), so the witness and proof are made with nothing but ezkl loaded: this
module imports only the standard library, zkml.errors, zkml._progress and zkml._ezkl.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml._progress import step
from zkml.errors import InputRangeError, ProveError

if TYPE_CHECKING:
    from zkml.artifacts import ProofBundle
    from zkml.proof.commitment import CommitmentOpening

__all__ = ["ProveJob", "run_job", "job_documents", "finish_job", "discard_job"]


@dataclass
class ProveJob:
    """What ezkl needs for one proof, and what the bundle and opening need afterwards.

    ``values`` and ``salt`` are private (the opening of a committed input): the job file
    lives in the private work folder and goes with it.
    """

    work: str
    compiled: str
    pk: str
    srs: str
    logrows: int
    preset: str
    commits: bool
    #: the vk and SRS for KZG-committed tensors only (loading them costs a plain circuit
    #: time and memory that ezkl's own flow does not spend)
    kzg_vk: str | None = None
    values: list[float] = field(default_factory=list)
    salt: list[int] = field(default_factory=list)
    input_shape: list[int] = field(default_factory=list)
    #: the keys' public facts the bundle states (zkml.proof.assemble.BundleFacts)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return Path(self.work) / "input.json"

    @property
    def witness(self) -> Path:
        return Path(self.work) / "witness.json"

    @property
    def proof(self) -> Path:
        return Path(self.work) / "proof.json"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run_job(job: ProveJob) -> None:
    """ezkl's witness of the job's input, then its proof, both into the work folder. If it
    fails (or is interrupted), the work folder, which holds the private input, is removed.

    Raises:
        InputRangeError: the input drives an intermediate value outside the range checks.
        ProveError: the witness or the proof failed (a committed-input circuit without the
            salt input names the fix).
    """
    try:
        _run(job)
    except BaseException:
        discard_job(job)
        raise


def _run(job: ProveJob) -> None:
    from zkml._ezkl import run

    with step("Generating witness", "witness"):
        try:
            run.gen_witness(job.data, Path(job.compiled), job.witness,
                            Path(job.kzg_vk) if job.kzg_vk else None,
                            Path(job.srs) if job.kzg_vk else None)
        except run.WitnessShapeError as e:
            if job.commits:
                raise ProveError(
                    f"this {job.preset} circuit takes no input salt: it was compiled by a "
                    "zkml without the hiding input commitment. Compile it again (`zkml "
                    "compile`, then `zkml setup`); its model id changes."
                ) from e
            raise
        except run.WitnessRangeError as e:
            raise InputRangeError(
                "the input drives an intermediate value outside the circuit's range "
                "checks; recompile with calibration samples covering such inputs."
            ) from e
    with step(f"Proving (logrows {job.logrows})", "prove"):
        run.prove(job.witness, Path(job.compiled), Path(job.pk), job.proof, Path(job.srs))


def discard_job(job: ProveJob) -> None:
    """Remove the job's work folder (the input file and witness hold the private input)."""
    shutil.rmtree(job.work, ignore_errors=True)


def job_documents(job: ProveJob) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The bundle (and the opening, committed-input) of a job :func:`run_job` has run, as
    JSON values; the work folder is removed whatever happens. Loads the standard library
    only (no numpy, pydantic or keys artifact): the lean prover writes these as they are.

    Raises:
        ProveError: ezkl's proof file is unreadable or short of instances.
    """
    from zkml._ezkl.formats import read_proof
    from zkml.proof.assemble import BundleFacts, bundle_fields, opening_fields

    try:
        raw = read_proof(job.proof)
    finally:
        discard_job(job)
    facts = BundleFacts(**job.facts)
    bundle = bundle_fields(facts, raw)
    return bundle, opening_fields(facts, bundle, job.values, job.salt, job.input_shape)


def finish_job(job: ProveJob) -> tuple[ProofBundle, CommitmentOpening | None]:
    """:func:`job_documents` as a :class:`zkml.ProofBundle` and its opening.

    Raises:
        ProveError: ezkl's proof file is unreadable or short of instances.
    """
    from zkml.artifacts import ProofBundle
    from zkml.proof.commitment import CommitmentOpening

    bundle, opening = job_documents(job)
    return (ProofBundle(**bundle),
            CommitmentOpening(**opening) if opening is not None else None)
