"""Typed artifacts passed between stages. Each is a pydantic model that round-trips to JSON.

Only :class:`ProofBundle`, :class:`VerifierContract` and :class:`Deployment` are public
artifacts; the others point at private files (ONNX, keys, calibration data) on local disk.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zkml._utils import atomic_write_bytes
from zkml.errors import ArtifactError

__all__ = [
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
    "save_artifact",
    "load_artifact",
]

BUNDLE_FORMAT = "zkml-proof-bundle/1"

A = TypeVar("A", bound=BaseModel)


class _Artifact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExportedModel(_Artifact):
    """An ONNX graph checked by onnx.checker, with its float reference (private, local)."""

    name: str
    onnx_path: str
    onnx_sha256: str
    input_shape: list[int]
    output_shape: list[int]
    ops: list[str]
    example_input: list[float]
    reference_output: list[float]


class QuantizationReport(_Artifact):
    """Fixed-point circuit outputs against the float (onnxruntime) reference."""

    samples: int
    max_abs_error: float
    mean_abs_error: float
    output_range: float
    argmax_agreement: float


class Circuit(_Artifact):
    """A calibrated, compiled ezkl circuit for one model and one privacy preset."""

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


class Keys(_Artifact):
    """Proving / verifying keys. ``model_id`` is the sha256 of the verifying key."""

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


class ProofBundle(_Artifact):
    """A proof of one inference: everything in it is public.

    ``instances`` are the public field elements as decimal strings, in the verifier's order;
    ``outputs`` are the public outputs decoded back to floats.
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


class VerifierContract(_Artifact):
    """A compiled Solidity verifier for one model."""

    model_id: str
    sol_path: str
    contract_name: str
    abi: list[dict[str, Any]]
    bytecode: str
    runtime_size: int
    solc_version: str


class Deployment(_Artifact):
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


class RegistryDeployment(_Artifact):
    """An InferenceRegistry contract on a chain."""

    chain_id: int
    address: str
    tx_hash: str
    gas_used: int
    abi: list[dict[str, Any]]
    solc_version: str


class InstanceLayout(_Artifact):
    """Which public instances mean what (mirrors the registry's Layout struct)."""

    num_instances: int
    output_offset: int
    num_outputs: int
    input_commitment_index: int | None = None
    weights_hash_index: int | None = None
    output_scale: int
    weights_hash: int = 0


class ModelRegistration(_Artifact):
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


class InferenceRecord(_Artifact):
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
