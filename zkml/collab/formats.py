"""The artifacts of a collaborative model: parties that each own one segment (issue #24).

PUBLIC:
- :class:`Draft`: what a party says after calibrating its segment (its position, shapes,
  scales, the logrows it needs), so the parties can agree on one logrows.
- :class:`Contribution`: a party's published segment: the verifying key and settings (files
  next to it), the **weight commitment** (the KZG commitment of its weights, which every proof
  of that segment carries) and where a proof carries its committed tensors.
- :class:`CollabModel`: the contributions in order, with the agreed logrows and SRS; its id
  names the whole model, weights included (by commitment).
- :class:`CollabBundle`: one inference: a proof per segment. No activation, no weight.

PRIVATE:
- :class:`Hop`: what party k hands party k + 1 for one inference: the proofs so far, and the
  boundary tensor (party k's output activations, as field elements).
- a party's folder (its ONNX, calibration samples, compiled circuit, proving key).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DRAFT_FORMAT", "CONTRIBUTION_FORMAT", "MODEL_FORMAT", "HOP_FORMAT", "BUNDLE_FORMAT",
           "Draft", "Contribution", "CollabModel", "SegmentProof", "Hop", "CollabBundle"]

DRAFT_FORMAT: Final = "zkml-collab-draft/1"
CONTRIBUTION_FORMAT: Final = "zkml-collab-contribution/1"
MODEL_FORMAT: Final = "zkml-collab-model/1"
HOP_FORMAT: Final = "zkml-collab-hop/1"
BUNDLE_FORMAT: Final = "zkml-collab-bundle/1"


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Draft(_Frozen):
    """PUBLIC. A party's calibrated segment, before the parties agree on one logrows."""

    format: Literal["zkml-collab-draft/1"] = DRAFT_FORMAT
    name: str
    position: int
    parties: int
    input_shape: list[int]
    output_shape: list[int]
    input_scale: int
    output_scale: int
    logrows: int = Field(description="what this segment needs; the model uses the maximum")


class Contribution(_Frozen):
    """PUBLIC. One party's segment: ``vk.key`` and ``settings.json`` sit next to this file."""

    format: Literal["zkml-collab-contribution/1"] = CONTRIBUTION_FORMAT
    name: str
    owner: str | None = Field(default=None, description="the party's address, if it has one")
    position: int
    parties: int
    vk_digest: str
    settings_digest: str
    logrows: int
    srs_sha256: str
    input_shape: list[int]
    output_shape: list[int]
    input_scale: int
    output_scale: int
    weight_commitment: list[str] = Field(description="0x hex of each 64-byte G1 point")
    input_points: list[int]
    param_points: list[int]
    output_points: list[int]
    proof_length: int
    num_instances: int
    created_at: str = Field(default_factory=_now)


class CollabModel(_Frozen):
    """PUBLIC. The whole model: its segments' contributions, in order."""

    format: Literal["zkml-collab-model/1"] = MODEL_FORMAT
    model_id: str
    logrows: int
    srs_sha256: str
    contributions: list[Contribution]


class SegmentProof(_Frozen):
    """One segment's proof: bytes (0x hex) and public instances (decimal strings)."""

    position: int
    vk_digest: str
    proof: str
    instances: list[str]


class Hop(_Frozen):
    """PRIVATE (party k to party k + 1). The proofs so far and the boundary activations."""

    format: Literal["zkml-collab-hop/1"] = HOP_FORMAT
    model_id: str
    proofs: list[SegmentProof]
    boundary: list[list[str]] = Field(description="the last proven segment's outputs, as "
                                      "ezkl's field elements (little-endian hex)")


class CollabBundle(_Frozen):
    """PUBLIC. One inference of a collaborative model: one proof per segment."""

    format: Literal["zkml-collab-bundle/1"] = BUNDLE_FORMAT
    model_id: str
    segments: list[SegmentProof]
    outputs: list[float]
    output_scale: int
    output_shape: list[int]
    created_at: str = Field(default_factory=_now)
