"""zkml: verifiable ML inference. PyTorch model -> ONNX -> ezkl circuit -> proof -> EVM.

The public API is one function per pipeline stage, each taking the previous stage's artifact::

    exported = zkml.export(net, example, "build/net.onnx")
    circuit  = zkml.compile_model(exported, calibration_samples, preset="private-input")
    keys     = zkml.setup(circuit)
    bundle   = zkml.prove(keys, x)
    assert zkml.verify(bundle, keys)
    contract = zkml.build_verifier(keys)
    chain    = zkml.connect()                      # embedded EVM; or an RPC URL
    dep      = zkml.deploy_verifier(chain, contract)
    assert zkml.verify_onchain(chain, dep, bundle).valid

Two features have their own subpackage, loaded on first use the same way:
``zkml.claims`` (accuracy and fairness claims proven on a committed evaluation set,
docs/claims.md) and ``zkml.collab`` (models whose segments belong to parties that keep their
weights private, docs/collaboration.md).

``import zkml`` is light: each name below is imported from its stage module on first use, so
torch, onnx, ezkl and web3 load only when a stage that needs them runs. The layering (which
package may import which) is in docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zkml.errors import (
    ArtifactError,
    BundleError,
    ChainError,
    CompileError,
    ContractError,
    ContractSizeError,
    ExportError,
    InputError,
    InputRangeError,
    InputShapeError,
    NoReferenceError,
    ProveError,
    RegistryError,
    SetupError,
    SrsError,
    ToolchainError,
    UnboundModelError,
    UnsupportedOpError,
    ZkmlError,
    ZkmlValueError,
)
from zkml.version import __version__

#: public name -> the module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    "export": "zkml.model.export",
    "load_onnx": "zkml.model.export",
    "compile_model": "zkml.api",
    "CompileConfig": "zkml.circuit.compile",
    "tune": "zkml.tuning.tuner",
    "TuneResult": "zkml.tuning.common",
    "AccuracyBound": "zkml.tuning.common",
    "PRESETS": "zkml.presets",
    "setup": "zkml.proof.keys",
    "prove": "zkml.proof.prove",
    "prove_batch": "zkml.proof.batch",
    "BatchResult": "zkml.proof.batch",
    "verify": "zkml.proof.verify",
    "verify_detailed": "zkml.proof.verify",
    "Verification": "zkml.proof.bundle",
    "load_bundle": "zkml.proof.bundle",
    "decoded_outputs": "zkml.proof.bundle",
    "check_commitment": "zkml.proof.commitment",
    "load_opening": "zkml.proof.commitment",
    "CommitmentOpening": "zkml.proof.commitment",
    "publish": "zkml.api",
    "load_package": "zkml.proof.package",
    "VerificationPackage": "zkml.artifacts",
    "import_srs": "zkml.proof.srs",
    "dev_srs": "zkml.proof.srs",
    "resolve_srs": "zkml.proof.srs",
    "build_verifier": "zkml.chain.contract",
    "connect": "zkml.chain.evm",
    "deploy_verifier": "zkml.chain.evm",
    "verify_onchain": "zkml.chain.evm",
    "Chain": "zkml.chain.evm",
    "OnchainResult": "zkml.chain.evm",
    "ExportedModel": "zkml.artifacts",
    "Circuit": "zkml.artifacts",
    "Keys": "zkml.artifacts",
    "ProofBundle": "zkml.artifacts",
    "QuantizationReport": "zkml.artifacts",
    "VerifierContract": "zkml.artifacts",
    "Deployment": "zkml.artifacts",
    "save_artifact": "zkml.artifacts",
    "load_artifact": "zkml.artifacts",
    # split proving (compile_model(segments=), then setup / prove / verify): its artifacts
    "SplitCircuit": "zkml.artifacts",
    "SplitKeys": "zkml.artifacts",
    "SplitBundle": "zkml.artifacts",
}

__all__ = [
    "__version__",
    "export",
    "load_onnx",
    "compile_model",
    "CompileConfig",
    "tune",
    "TuneResult",
    "AccuracyBound",
    "PRESETS",
    "setup",
    "prove",
    "prove_batch",
    "BatchResult",
    "verify",
    "verify_detailed",
    "Verification",
    "load_bundle",
    "decoded_outputs",
    "check_commitment",
    "load_opening",
    "CommitmentOpening",
    "publish",
    "load_package",
    "VerificationPackage",
    "import_srs",
    "dev_srs",
    "resolve_srs",
    "build_verifier",
    "connect",
    "deploy_verifier",
    "verify_onchain",
    "Chain",
    "OnchainResult",
    "ExportedModel",
    "Circuit",
    "Keys",
    "ProofBundle",
    "QuantizationReport",
    "VerifierContract",
    "Deployment",
    "save_artifact",
    "load_artifact",
    "SplitCircuit",
    "SplitKeys",
    "SplitBundle",
    # errors
    "ZkmlError",
    "ZkmlValueError",
    "ExportError",
    "NoReferenceError",
    "UnsupportedOpError",
    "CompileError",
    "UnboundModelError",
    "SrsError",
    "SetupError",
    "InputError",
    "InputShapeError",
    "InputRangeError",
    "ProveError",
    "BundleError",
    "ArtifactError",
    "ContractError",
    "ContractSizeError",
    "ToolchainError",
    "ChainError",
    "RegistryError",
]


#: feature subpackages, imported on first attribute access (``zkml.claims.verify_claim``)
_SUBPACKAGES = ("claims", "collab")


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"zkml.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zkml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))


if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported eagerly
    from zkml.api import compile_model, publish
    from zkml.artifacts import (
        Circuit,
        Deployment,
        ExportedModel,
        Keys,
        ProofBundle,
        QuantizationReport,
        SplitBundle,
        SplitCircuit,
        SplitKeys,
        VerificationPackage,
        VerifierContract,
        load_artifact,
        save_artifact,
    )
    from zkml.chain.contract import build_verifier
    from zkml.chain.evm import Chain, OnchainResult, connect, deploy_verifier, verify_onchain
    from zkml.circuit.compile import CompileConfig
    from zkml.model.export import export, load_onnx
    from zkml.presets import PRESETS
    from zkml.proof.batch import BatchResult, prove_batch
    from zkml.proof.bundle import Verification, decoded_outputs, load_bundle
    from zkml.proof.commitment import CommitmentOpening, check_commitment, load_opening
    from zkml.proof.keys import setup
    from zkml.proof.package import load_package
    from zkml.proof.prove import prove
    from zkml.proof.srs import dev_srs, import_srs, resolve_srs
    from zkml.proof.verify import verify, verify_detailed
    from zkml.tuning.common import AccuracyBound, TuneResult
    from zkml.tuning.tuner import tune
