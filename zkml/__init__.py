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
"""

from .artifacts import (
    Circuit,
    Deployment,
    ExportedModel,
    Keys,
    ProofBundle,
    QuantizationReport,
    VerifierContract,
    load_artifact,
    save_artifact,
)
from .batch import BatchResult, prove_batch
from .chain import Chain, OnchainResult, connect, deploy_verifier, verify_onchain
from .circuit import CompileConfig, compile_model
from .contract import build_verifier
from .errors import *  # noqa: F403 - the error hierarchy is public by design
from .errors import __all__ as _errors_all
from .export import export, load_onnx
from .keys import setup
from .presets import PRESETS
from .prove import prove
from .srs import dev_srs, import_srs, resolve_srs
from .tune import AccuracyBound, TuneResult, tune
from .verify import load_bundle, verify
from .version import __version__

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
    "load_bundle",
    "build_verifier",
    "connect",
    "deploy_verifier",
    "verify_onchain",
    "import_srs",
    "dev_srs",
    "resolve_srs",
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
    *_errors_all,
]
