"""The artifacts of split proving (``zkml.compile_model(segments=)``): one model cut into
segments, one proof each; ``setup``, ``prove`` and ``verify`` dispatch on them. The
artifacts of one whole circuit are zkml.artifacts'."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from zkml.artifacts import ArtifactModel, Circuit, ExportedModel, Keys, QuantizationReport

__all__ = ["SPLIT_BUNDLE_FORMAT", "SplitCircuit", "SegmentLink", "SplitKeys", "SegmentProof",
           "SplitBundle"]

SPLIT_BUNDLE_FORMAT = "zkml-split-bundle/1"


class SplitCircuit(ArtifactModel):
    """A model cut into contiguous segments, each compiled as its own circuit.

    Segment i's outputs and segment i + 1's inputs are the tensors ``boundaries[i]``, committed
    (ezkl ``polycommit``) on both sides; the model's own input and output keep the preset's
    visibility. ``layer_groups`` names the layers cut into output-channel groups. Every
    segment is compiled at the same ``logrows`` (one SRS, comparable commitments).
    ``quantization`` compares the chained circuits with the whole float model.
    """

    exported: ExportedModel
    preset: str
    digest: str
    dir: str
    segments: list[Circuit]
    boundaries: list[list[str]]
    estimated_rows: list[int]
    logrows: int
    input_range: tuple[float, float]
    quantization: QuantizationReport
    cache_hit: bool = False
    layer_groups: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _one_tensor_boundaries(cls, data: Any) -> Any:
        # artifacts saved before multi-tensor boundaries list one tensor name per boundary
        if isinstance(data, dict) and isinstance(data.get("boundaries"), list):
            data = {**data, "boundaries": [[b] if isinstance(b, str) else b
                                           for b in data["boundaries"]]}
        return data


class SegmentLink(ArtifactModel):
    """Where a segment proof carries its boundary commitments (byte offsets of 64-byte G1
    points in the proof, from the segment's settings) and how many public instances it has."""

    input_points: list[int]
    output_points: list[int]
    num_instances: int


class SplitKeys(ArtifactModel):
    """Keys of every segment of a :class:`SplitCircuit`, all made with one SRS.

    ``model_id`` is the sha256 over the segments' vk digests and links, in order: it names
    the split model the way a vk digest names a monolithic one.
    """

    circuit: SplitCircuit
    segments: list[Keys]
    links: list[SegmentLink]
    model_id: str
    srs_path: str
    srs_sha256: str
    srs_source: Literal["ppot", "dev-unsafe"]


class SegmentProof(ArtifactModel):
    """One segment's proof: bytes (0x hex) and public instances (decimal strings)."""

    model_id: str = Field(description="the segment's vk digest")
    settings_digest: str
    proof: str
    instances: list[str]


class SplitBundle(ArtifactModel):
    """A proof of one inference made of one proof per segment; everything in it is public.

    Valid only as a whole: every segment proof verifies under its key AND each segment's
    output commitment equals the next one's input commitment (``zkml.verify``).
    ``outputs`` are decoded from the last segment's instances, for convenience only.
    """

    format: str = SPLIT_BUNDLE_FORMAT
    model_id: str
    preset: str
    segments: list[SegmentProof]
    output_scales: list[int]
    outputs: list[float]
    output_shape: list[int]
    input_commitment: str | None = None
    srs_source: str
    versions: dict[str, str]
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
