"""The zkml exception hierarchy.

Every error zkml raises on purpose derives from :class:`ZkmlError`. Families mirror the
pipeline stages so callers can catch one stage's failures; builtin mixins (``ValueError``,
``FileNotFoundError``...) keep ``except ValueError`` working for code that does not know zkml.
Messages say what went wrong *and* what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ZkmlError",
    "ZkmlValueError",
    "ExportError",
    "UnsupportedOpError",
    "NoReferenceError",
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


class ZkmlError(Exception):
    """Root of every error zkml raises on purpose."""


class ZkmlValueError(ZkmlError, ValueError):
    """A value given to zkml is not acceptable."""


class ExportError(ZkmlValueError):
    """The model could not be exported to a valid ONNX graph."""


class UnsupportedOpError(ExportError):
    """The ONNX graph uses an operator ezkl itself cannot compile (``ops``, at ``nodes``)."""

    def __init__(self, message: str, ops: list[str], nodes: list[str] | None = None) -> None:
        super().__init__(message)
        self.ops = ops
        self.nodes = nodes or []


class NoReferenceError(ExportError):
    """No float reference can be computed for the graph: neither onnxruntime nor onnx's
    reference evaluator runs it (``reasons``: each engine's error, by engine name). The graph
    is the problem, not the input; ezkl may still prove it."""

    def __init__(self, message: str, reasons: dict[str, str]) -> None:
        super().__init__(message)
        self.reasons = reasons


class CompileError(ZkmlError):
    """Calibration or circuit compilation failed."""


class UnboundModelError(ZkmlValueError):
    """The requested visibility would produce proofs that are not bound to any model."""


class SrsError(ZkmlError):
    """The structured reference string is missing, corrupt or does not match."""


class SetupError(ZkmlError):
    """Proving / verifying key generation failed."""


class InputError(ZkmlValueError):
    """An inference input is malformed (shape, dtype, NaN/inf)."""


class InputShapeError(InputError):
    """An inference input has the wrong number of elements or shape."""


class InputRangeError(InputError):
    """An inference input lies outside the range the circuit was calibrated for."""


class ProveError(ZkmlError):
    """Witness generation or proving failed."""


class BundleError(ZkmlValueError):
    """A proof bundle is malformed (not a tampered proof: that verifies to False)."""


class ArtifactError(ZkmlError, FileNotFoundError):
    """A cached or user-given artifact is missing or fails its integrity check."""


class ContractError(ZkmlError):
    """The Solidity verifier could not be generated or compiled."""


class ContractSizeError(ContractError, ValueError):
    """The verifier's runtime bytecode exceeds the EIP-170 limit."""


class ToolchainError(ZkmlError):
    """A pinned external tool (node, solc-js, anvil) is missing."""


class ChainError(ZkmlError):
    """A chain could not be reached, or a transaction failed for a reason other than rejection."""


class RegistryError(ChainError):
    """The inference registry rejected a request (see ``reason``)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
