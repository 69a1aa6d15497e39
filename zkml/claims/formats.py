"""The artifacts of a proven model claim (issue #23); which are public and which are private.

PUBLIC (publish them, register them on-chain, hand them to any auditor):

- :class:`SetCommitment`: one Merkle root over the evaluation set's per-sample leaves, the
  sample count and the model it was committed for; published *before* any proof is made.
- :class:`Claim`: one entry per sample (its proof bundle's file and digest, the input
  commitment that proof publishes, the sample's label and public group), the decision rule
  that turns outputs into a predicted label, and the metrics recomputed from the proven
  outputs. A claim discloses each sample's label and group, never its features.

PRIVATE (the data owner's, written mode 0600, never inside a claim or a package):

- :class:`SetOpening`: each sample's features, label, group and salt: everything needed to
  prove the samples and to open any leaf for an auditor who may see the data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SET_FORMAT", "SET_OPENING_FORMAT", "CLAIM_FORMAT", "SetCommitment", "SampleOpening",
           "SetOpening", "DecisionRule", "GroupRates", "Metrics", "ClaimEntry", "Claim"]

SET_FORMAT: Final = "zkml-eval-set/1"
SET_OPENING_FORMAT: Final = "zkml-eval-set-opening/1"
CLAIM_FORMAT: Final = "zkml-claim/1"


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetCommitment(_Frozen):
    """PUBLIC. The commitment to an evaluation set: ``root`` binds every sample's input (through
    its salted Poseidon commitment, the value its proof publishes), label, group and position,
    and the sample count."""

    format: Literal["zkml-eval-set/1"] = SET_FORMAT
    root: str = Field(description="0x-prefixed sha256 Merkle root (zkml/claims/merkle.py)")
    samples: int
    model_id: str = Field(description="vk digest of the model the commitments were made for")
    input_scale: int = Field(description="the circuit's input scale the commitments use")
    group_attribute: str | None = None
    created_at: str = Field(default_factory=_now)


class SampleOpening(_Frozen):
    """PRIVATE. One sample: features (flat, as proven), label, group, salt, commitment."""

    index: int
    input: list[float]
    label: int
    group: str | None = None
    salt: list[int]
    input_commitment: str


class SetOpening(_Frozen):
    """PRIVATE. What opens a :class:`SetCommitment`: every sample with its salt."""

    format: Literal["zkml-eval-set-opening/1"] = SET_OPENING_FORMAT
    root: str
    model_id: str
    input_scale: int
    input_shape: list[int]
    group_attribute: str | None = None
    samples: list[SampleOpening]


class DecisionRule(_Frozen):
    """How a proven output becomes a predicted label: ``argmax`` over the outputs, or, for a
    one-output model, ``threshold``: label 1 when the output is >= ``threshold``, else 0.
    ``positive_label`` is the label the selection and true-positive rates count."""

    kind: Literal["argmax", "threshold"] = "argmax"
    threshold: float | None = None
    positive_label: int = 1


class GroupRates(_Frozen):
    """Counts and rates of one value of the group attribute."""

    group: str
    samples: int
    correct: int
    positives: int = Field(description="samples whose label is the positive label")
    selected: int = Field(description="samples predicted as the positive label")
    true_positives: int
    accuracy: float
    selection_rate: float
    true_positive_rate: float | None = Field(description="None when the group has no positive")


class Metrics(_Frozen):
    """The metrics of a claim, every one a function of the proven outputs and the labels."""

    samples: int
    correct: int
    accuracy: float
    labels: list[int] = Field(description="the row/column order of ``confusion``")
    confusion: list[list[int]] = Field(description="confusion[true][predicted], in ``labels``"
                                       " order")
    positive_label: int
    groups: list[GroupRates] = Field(default_factory=list)
    demographic_parity_difference: float | None = Field(
        default=None, description="max - min selection rate over the groups")
    equal_opportunity_difference: float | None = Field(
        default=None, description="max - min true-positive rate over groups with a positive")


class ClaimEntry(_Frozen):
    """One committed sample in a claim: its proof and what the claim reads from it."""

    index: int
    input_commitment: str = Field(description="decimal field element, the proof's instance 0")
    label: int
    group: str | None = None
    bundle: str = Field(description="the proof bundle's file, relative to the claim's folder")
    bundle_sha256: str
    prediction: int


class Claim(_Frozen):
    """PUBLIC. A model's accuracy/fairness claim on a committed evaluation set."""

    format: Literal["zkml-claim/1"] = CLAIM_FORMAT
    model_id: str
    set_root: str
    samples: int
    group_attribute: str | None = None
    decision: DecisionRule
    entries: list[ClaimEntry]
    proofs_root: str = Field(description="0x sha256 Merkle root over the bundles' digests")
    metrics: Metrics
    created_at: str = Field(default_factory=_now)
    versions: dict[str, str] = Field(default_factory=dict)
