"""Typed artifacts passed between stages. Each is a pydantic model that round-trips to JSON.

No artifact holds a private value (an input, a calibration sample, a reference output, a
weight): :class:`ExportedModel`, :class:`Circuit` and :class:`Keys` point at the prover's own
files (ONNX, proving key, calibration data) by local path, and the public ones
(:class:`ProofBundle`, :class:`VerificationPackage`, :class:`VerifierContract`,
:class:`Deployment`, registry records) carry only what anyone may read. SECURITY.md lists which
files are private and why.

Model identity: ``vk_digest`` (called ``model_id`` in bundles and keys) is the sha256 of the
verifying key, computable by anyone from the published key; ``registry_model_id`` (called
``onchain_model_id`` in registry artifacts) is the InferenceRegistry's
keccak256(abi.encode(extcodehash(verifier), registrant)).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from zkml._utils import atomic_write_bytes
from zkml.choice import SettingsChoice
from zkml.errors import ArtifactError
from zkml.version import BUNDLE_FORMAT

__all__ = [
    "ArtifactModel",
    "InputSpec",
    "ExportedModel",
    "QuantizationReport",
    "Circuit",
    "Keys",
    "ProofBundle",
    "VerifierContract",
    "Deployment",
    "RegistryDeployment",
    "InstanceLayout",
    "ModelRegistration",
    "InferenceRecord",
    "VerificationPackage",
    "PackageFile",
    "SrsIdentity",
    "RegistryEntry",
    "save_artifact",
    "load_artifact",
]

PACKAGE_FORMAT = "zkml-verification-package/1"

A = TypeVar("A", bound=BaseModel)


class ArtifactModel(BaseModel):
    """The base of every artifact: unknown fields refused, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class InputSpec(ArtifactModel):
    """One graph input: its name, shape (symbolic dimensions as 1) and numpy dtype."""

    name: str
    shape: list[int]
    dtype: str = "float32"

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


class ExportedModel(ArtifactModel):
    """An ONNX graph checked by onnx.checker (the ONNX file is private: it holds the weights).

    The export runs the graph's float reference on the example input, but neither the input
    nor the reference output is kept here: this JSON may be shared. ``reference`` names the
    engine that computed it: ``onnxruntime`` (the first choice), ``onnx-reference`` (onnx's
    reference evaluator, for a graph onnxruntime refuses) or ``none`` (neither runs the graph:
    ezkl may still prove it, but no accuracy report can be made). Files written before it
    existed load as ``onnxruntime``.

    ``inputs`` lists every graph input in the graph's order; ``input_shape`` and
    ``input_dtype`` are the first one's (what one-input code reads). A file written before
    ``inputs`` existed loads as one input named ``input``.
    """

    name: str
    onnx_path: str
    onnx_sha256: str
    input_shape: list[int]
    input_dtype: str = "float32"
    output_shape: list[int]
    ops: list[str]
    inputs: list[InputSpec] = Field(default_factory=list)
    reference: Literal["onnxruntime", "onnx-reference", "none"] = "onnxruntime"

    @model_validator(mode="before")
    @classmethod
    def _one_input_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("inputs") and "input_shape" in data:
            data = {**data, "inputs": [{"name": "input", "shape": data["input_shape"],
                                        "dtype": data.get("input_dtype", "float32")}]}
        return data


class QuantizationReport(ArtifactModel):
    """Fixed-point circuit outputs against the float reference; ``None`` errors: a graph no
    reference runs (``ExportedModel.reference == "none"``), whose samples only ran through."""

    samples: int
    max_abs_error: float | None
    mean_abs_error: float | None
    output_range: float | None
    argmax_agreement: float | None


class Circuit(ArtifactModel):
    """A calibrated, compiled ezkl circuit for one model and one privacy preset.

    ``choice`` (set by :func:`zkml.compile_model`) says why these settings and not ezkl's own
    defaults: both estimates and the reason.
    """

    exported: ExportedModel
    preset: str
    digest: str
    dir: str
    settings_path: str
    compiled_path: str
    settings_digest: str
    logrows: int
    num_rows: int
    input_scale: int
    param_scale: int
    output_scales: list[int]
    input_range: tuple[float, float]
    quantization: QuantizationReport
    cache_hit: bool = False
    choice: SettingsChoice | None = None


class Keys(ArtifactModel):
    """Proving / verifying keys made for ``circuit`` (its digest says which compile).

    ``model_id`` is the vk digest: the sha256 of the verifying key.
    """

    circuit: Circuit
    dir: str
    pk_path: str
    vk_path: str
    srs_path: str
    srs_sha256: str
    srs_source: Literal["ppot", "dev-unsafe"]
    model_id: str
    proof_length: int
    cache_hit: bool = False


class ProofBundle(ArtifactModel):
    """A proof of one inference: everything in it is public.

    ``instances`` are the public field elements as decimal strings, in the verifier's order;
    ``outputs`` are the public outputs decoded back to floats, for convenience only: every
    verify path recomputes them from ``instances`` and rejects a bundle where they differ
    (read them with ``zkml.decoded_outputs``). ``model_id`` is the vk digest.
    """

    format: str = BUNDLE_FORMAT
    model_id: str
    settings_digest: str
    preset: str
    proof: str = Field(description="0x-prefixed hex of the proof bytes")
    instances: list[str]
    output_instance_offset: int
    output_scales: list[int]
    outputs: list[float]
    output_shape: list[int]
    input_commitment: str | None = None
    srs_source: str
    versions: dict[str, str]
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


class VerifierContract(ArtifactModel):
    """A compiled Solidity verifier for one model."""

    model_id: str
    sol_path: str
    contract_name: str
    abi: list[dict[str, Any]]
    bytecode: str
    runtime_size: int
    solc_version: str


class Deployment(ArtifactModel):
    """A verifier contract deployed on a chain."""

    model_id: str
    chain_id: int
    address: str
    tx_hash: str
    gas_used: int
    abi: list[dict[str, Any]]


def save_artifact(artifact: BaseModel, path: str | Path) -> Path:
    """Write an artifact as JSON, atomically."""
    path = Path(path)
    atomic_write_bytes(path, (artifact.model_dump_json(indent=2) + "\n").encode())
    return path


def load_artifact(cls: type[A], path: str | Path) -> A:
    """Load an artifact written by :func:`save_artifact`, raising ArtifactError if malformed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise ArtifactError(f"{path}: no such file; run the stage that writes it first.") from e
    except OSError as e:
        raise ArtifactError(f"{path}: cannot read ({e.strerror}).") from e
    try:
        return cls.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as e:
        raise ArtifactError(
            f"{path}: not a valid {cls.__name__} artifact ({_first_error(e)}); regenerate it."
        ) from e


def _first_error(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "document"
        return f"{loc}: {err['msg']}"
    return str(e).splitlines()[0][:120]


class RegistryDeployment(ArtifactModel):
    """An InferenceRegistry contract on a chain."""

    chain_id: int
    address: str
    tx_hash: str
    gas_used: int
    abi: list[dict[str, Any]]
    solc_version: str


class InstanceLayout(ArtifactModel):
    """Which public instances mean what (mirrors the registry's Layout struct)."""

    num_instances: int
    output_offset: int
    num_outputs: int
    input_commitment_index: int | None = None
    weights_hash_index: int | None = None
    output_scale: int
    weights_hash: int = 0


class ModelRegistration(ArtifactModel):
    """A model registered in the InferenceRegistry."""

    registry: str
    chain_id: int
    onchain_model_id: str = Field(description="keccak256(verifier codehash, registrant)")
    model_id: str = Field(description="sha256 of the verifying key (local model id)")
    verifier: str
    owner: str
    layout: InstanceLayout
    metadata_uri: str
    tx_hash: str
    gas_used: int


class InferenceRecord(ArtifactModel):
    """One verified inference, as recorded on-chain (read back from its event)."""

    onchain_model_id: str
    inference_id: str
    input_commitment: str
    outputs: list[str]
    decoded_outputs: list[float]
    submitter: str
    timestamp: int
    block_number: int
    tx_hash: str
    model_retired: bool = False


class PackageFile(ArtifactModel):
    """One file of a verification package, by relative path and sha256."""

    path: str
    sha256: str
    size: int


class SrsIdentity(ArtifactModel):
    """Which SRS the keys were made with; the file itself is in the package only if
    ``included``."""

    sha256: str
    source: Literal["ppot", "dev-unsafe"]
    logrows: int
    included: bool


class RegistryEntry(ArtifactModel):
    """Where the model is registered on-chain (one entry per registry registration)."""

    chain_id: int
    registry: str
    registry_model_id: str
    verifier: str
    owner: str


class VerificationPackage(ArtifactModel):
    """What a third party needs to check a proof bundle off-chain (docs/package.md).

    Public by construction: verifying key, settings, verifier, ids and layout; no input,
    calibration sample, reference output, weight, proving key or ONNX file.
    """

    format: Literal["zkml-verification-package/1"] = "zkml-verification-package/1"
    name: str
    vk_digest: str = Field(description="sha256 of vk.key: the model id in bundles")
    registry: list[RegistryEntry] = Field(default_factory=list)
    settings_digest: str
    preset: str
    binds: str = Field(description="what a valid proof guarantees under this preset")
    visibility: dict[str, str]
    logrows: int
    proof_length: int
    layout: InstanceLayout
    output_shape: list[int]
    output_scales: list[int]
    labels: list[str] | None = None
    srs: SrsIdentity
    verifier_contract: str
    solc_version: str
    files: dict[str, PackageFile]
    versions: dict[str, str]
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
