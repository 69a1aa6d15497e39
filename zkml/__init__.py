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

Each public name is listed once, in the ``TYPE_CHECKING`` block at the end: type checkers and
IDEs read it as imports; at run time it is read as the table of which module defines each
name (``__all__`` and first-use imports both come from it). The errors are all of
``zkml.errors``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zkml import errors as _errors
from zkml.errors import *  # noqa: F403  (every error is public: zkml.errors.__all__)
from zkml.version import __version__ as __version__

#: feature subpackages, imported on first attribute access (``zkml.claims.verify_claim``)
_SUBPACKAGES = ("claims", "collab")

_table: dict[str, str] | None = None


def _lazy_table() -> dict[str, str]:
    """Public name -> the module that defines it: the ``TYPE_CHECKING`` imports below, read
    from this file's source once (the one place the names are listed)."""
    global _table
    if _table is None:
        import ast

        with open(__file__, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        block = next(n for n in tree.body if isinstance(n, ast.If)
                     and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING")
        _table = {alias.asname or alias.name: str(node.module) for node in block.body
                  if isinstance(node, ast.ImportFrom) for alias in node.names}
    return _table


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"zkml.{name}")
    if name == "__all__":
        value: Any = ["__version__", *_lazy_table(), *_errors.__all__]
    else:
        module = _lazy_table().get(name)
        if module is None:
            raise AttributeError(f"module 'zkml' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_lazy_table()) | set(_SUBPACKAGES))


if TYPE_CHECKING:  # the public names (``X as X``: re-exported), by the module defining each
    from zkml.artifacts import Circuit as Circuit
    from zkml.artifacts import Deployment as Deployment
    from zkml.artifacts import ExportedModel as ExportedModel
    from zkml.artifacts import Keys as Keys
    from zkml.artifacts import ProofBundle as ProofBundle
    from zkml.artifacts import QuantizationReport as QuantizationReport
    from zkml.artifacts import VerificationPackage as VerificationPackage
    from zkml.artifacts import VerifierContract as VerifierContract
    from zkml.artifacts import load_artifact as load_artifact
    from zkml.artifacts import save_artifact as save_artifact
    from zkml.chain.contract import build_verifier as build_verifier
    from zkml.chain.evm import Chain as Chain
    from zkml.chain.evm import OnchainResult as OnchainResult
    from zkml.chain.evm import connect as connect
    from zkml.chain.evm import deploy_verifier as deploy_verifier
    from zkml.chain.evm import verify_onchain as verify_onchain
    from zkml.circuit.compile import CompileConfig as CompileConfig
    from zkml.model.export import export as export
    from zkml.model.export import load_onnx as load_onnx
    from zkml.pipeline import compile_model as compile_model
    from zkml.pipeline import publish as publish
    from zkml.presets import PRESETS as PRESETS
    from zkml.proof.batch import BatchResult as BatchResult
    from zkml.proof.batch import prove_batch as prove_batch
    from zkml.proof.bundle import Verification as Verification
    from zkml.proof.bundle import decoded_outputs as decoded_outputs
    from zkml.proof.bundle import load_bundle as load_bundle
    from zkml.proof.commitment import CommitmentOpening as CommitmentOpening
    from zkml.proof.commitment import check_commitment as check_commitment
    from zkml.proof.commitment import load_opening as load_opening
    from zkml.proof.keys import setup as setup
    from zkml.proof.package import load_package as load_package
    from zkml.proof.prove import prove as prove
    from zkml.proof.srs import dev_srs as dev_srs
    from zkml.proof.srs import import_srs as import_srs
    from zkml.proof.srs import resolve_srs as resolve_srs
    from zkml.proof.verify import verify as verify
    from zkml.proof.verify import verify_detailed as verify_detailed
    from zkml.split_artifacts import SplitBundle as SplitBundle
    from zkml.split_artifacts import SplitCircuit as SplitCircuit
    from zkml.split_artifacts import SplitKeys as SplitKeys
    from zkml.tuning.common import AccuracyBound as AccuracyBound
    from zkml.tuning.common import TuneResult as TuneResult
    from zkml.tuning.tuner import tune as tune
