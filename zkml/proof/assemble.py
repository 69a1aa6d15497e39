"""A proof bundle from ezkl's proof file and the public facts of the keys it was made with.

The facts are taken from the keys when the proof is prepared (:func:`facts_of`) and travel
with the job, so the bundle (and the committed-input opening) is assembled without the keys
artifact or numpy. :func:`bundle_fields` and :func:`opening_fields` give the documents as
plain JSON values, in the artifacts' field order: the lean prover (zkml/cli/prover.py)
writes them with the standard library alone, :func:`zkml.proof.job.finish_job` validates
the same values into their pydantic models.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zkml._utils import dequantize
from zkml.errors import ProveError
from zkml.version import BUNDLE_FORMAT, OPENING_FORMAT, __version__

if TYPE_CHECKING:
    from zkml._ezkl.formats import ProofFile
    from zkml.artifacts import Keys

__all__ = ["BundleFacts", "facts_of", "bundle_fields", "opening_fields", "opening_path_for"]


@dataclass(frozen=True)
class BundleFacts:
    """What a bundle says about its model, all public."""

    model_id: str
    settings_digest: str
    preset: str
    commits_input: bool
    input_scale: int
    output_scales: list[int]
    output_shape: list[int]
    srs_source: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def facts_of(keys: Keys) -> BundleFacts:
    from zkml.presets import get_preset

    c = keys.circuit
    return BundleFacts(
        model_id=keys.model_id, settings_digest=c.settings_digest, preset=c.preset,
        commits_input=get_preset(c.preset).commits_input, input_scale=c.input_scale,
        output_scales=list(c.output_scales), output_shape=list(c.exported.output_shape),
        srs_source=keys.srs_source)


def bundle_fields(facts: BundleFacts, raw: ProofFile) -> dict[str, Any]:
    """The bundle of ezkl's proof ``raw`` as JSON values, in ProofBundle's field order:
    proof, instances, the decoded outputs.

    Raises:
        ProveError: fewer instances than the model has outputs.
    """
    from zkml._ezkl.formats import EZKL_VERSION

    instances = raw.instances
    n_out = math.prod(facts.output_shape)
    offset = len(instances) - n_out
    if offset < 0:
        raise ProveError(f"ezkl returned {len(instances)} instances for {n_out} outputs.")
    return {
        "format": BUNDLE_FORMAT,
        "model_id": facts.model_id,
        "settings_digest": facts.settings_digest,
        "preset": facts.preset,
        "proof": "0x" + raw.proof.hex(),
        "instances": [str(v) for v in instances],
        "output_instance_offset": offset,
        "output_scales": list(facts.output_scales),
        "outputs": dequantize(instances[offset:], facts.output_scales[0]),
        "output_shape": list(facts.output_shape),
        "input_commitment": str(instances[0]) if facts.commits_input else None,
        "srs_source": facts.srs_source,
        "versions": {"zkml": __version__, "ezkl": EZKL_VERSION},
        "created_at": datetime.now(UTC).isoformat(),
    }


def opening_fields(facts: BundleFacts, bundle: dict[str, Any], values: list[float],
                   salt: list[int], input_shape: list[int]) -> dict[str, Any] | None:
    """The opening of ``bundle``'s input commitment as JSON values, in CommitmentOpening's
    field order (None when the bundle commits to no input). PRIVATE."""
    if bundle["input_commitment"] is None:
        return None
    return {"format": OPENING_FORMAT, "model_id": facts.model_id,
            "input_commitment": bundle["input_commitment"], "input_scale": facts.input_scale,
            "input_shape": list(input_shape), "input": list(values), "salt": list(salt)}


def opening_path_for(bundle_path: str | Path) -> Path:
    """Where the CLI keeps a bundle's opening: ``X.json`` -> ``X.opening.json``."""
    p = Path(bundle_path)
    stem = p.name[: -len(".json")] if p.name.endswith(".json") else p.name
    return p.with_name(f"{stem}.opening.json")
