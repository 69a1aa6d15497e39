"""Reading proof bundles, and the checks a bundle must pass before any verifier sees it.

A bundle is public and may come from anyone: every field is checked here against what the
instances say. The decoded outputs shown to a user are always recomputed from the instances
(:func:`decoded_outputs`), never read from the ``outputs`` field, and a bundle whose stored
``outputs`` disagree with its instances is rejected by every verify path with a reason that
names the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from zkml._utils import FIELD_MODULUS, dequantize
from zkml.artifacts import ProofBundle
from zkml.errors import BundleError
from zkml.version import BUNDLE_FORMAT

__all__ = [
    "Verification",
    "load_bundle",
    "proof_bytes",
    "parse_instances",
    "decoded_outputs",
    "bundle_problem",
]

_HEX = re.compile(r"0x([0-9a-fA-F]{2})*")
_DEC = re.compile(r"[0-9]{1,80}")


@dataclass(frozen=True)
class Verification:
    """The outcome of a local verification; ``reason`` names the failing field when invalid."""

    valid: bool
    reason: str | None = None
    #: which verifying key was used: "keys" (this machine's setup) or "package"
    checked_with: str = "keys"

    def __bool__(self) -> bool:
        return self.valid


def load_bundle(path: str | Path) -> ProofBundle:
    """Read a proof bundle JSON file.

    Raises:
        BundleError: the file is missing, not JSON, not a proof bundle, or of a bundle format
            this zkml does not read.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BundleError(f"{path}: cannot read the proof bundle ({e.strerror}).") from e
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise BundleError(f"{path}: not a zkml proof bundle (not JSON: {e}); use the file "
                          "written by `zkml prove`.") from e
    if isinstance(data, dict) and data.get("format", BUNDLE_FORMAT) != BUNDLE_FORMAT:
        raise BundleError(
            f"{path}: bundle format {str(data['format'])[:40]!r} is not {BUNDLE_FORMAT!r}, "
            "the one this zkml reads; prove again with this version (or upgrade zkml)."
        )
    try:
        return ProofBundle.model_validate(data)
    except ValidationError as e:
        raise BundleError(
            f"{path}: not a zkml proof bundle ({str(e).splitlines()[0][:160]}); "
            "use the JSON written by `zkml prove`."
        ) from e


def proof_bytes(bundle: ProofBundle) -> bytes:
    """The proof as bytes.

    Raises:
        BundleError: ``proof`` is not 0x-prefixed hex.
    """
    if not _HEX.fullmatch(bundle.proof):
        raise BundleError("bundle.proof must be 0x-prefixed hex with an even number of digits.")
    return bytes.fromhex(bundle.proof[2:])


def parse_instances(bundle: ProofBundle) -> list[int]:
    """The instances as integers, exactly as written (no reduction modulo the field).

    Raises:
        BundleError: an instance is not a non-negative decimal integer.
    """
    out = []
    for s in bundle.instances:
        if not _DEC.fullmatch(s):
            raise BundleError(f"instance {s[:40]!r} is not a non-negative decimal integer.")
        out.append(int(s))
    return out


def decoded_outputs(bundle: ProofBundle) -> list[float]:
    """The outputs the instances encode: what the proof actually says.

    Raises:
        BundleError: the output offset or scales do not fit the instances.
    """
    instances = parse_instances(bundle)
    start = bundle.output_instance_offset
    if not bundle.output_scales or not 0 <= start <= len(instances):
        raise BundleError("bundle.output_instance_offset / output_scales do not fit its "
                          "instances.")
    return dequantize(instances[start:], bundle.output_scales[0])


def bundle_problem(bundle: ProofBundle) -> str | None:
    """Why ``bundle`` cannot be valid for any model, naming the field; None if it is coherent.

    Checks what needs no key: the format, instances inside the field, and that
    ``outputs``/``output_shape`` are what the instances encode.

    Raises:
        BundleError: the proof or instances are not encoded as a bundle encodes them
            (malformed, as opposed to invalid).
    """
    if bundle.format != BUNDLE_FORMAT:
        return f"format: {bundle.format[:40]!r} is not {BUNDLE_FORMAT!r}"
    proof = proof_bytes(bundle)
    instances = parse_instances(bundle)
    try:
        decoded = decoded_outputs(bundle)
    except BundleError as e:
        return f"output_instance_offset: {e}"
    if not proof:
        return "proof: empty"
    if any(v >= FIELD_MODULUS for v in instances):
        # never reduce modulo p: an aliased instance is a different statement
        return "instances: a value is not below the field modulus"
    if math.prod(bundle.output_shape) != len(decoded):
        return (f"output_shape: {bundle.output_shape} does not match the "
                f"{len(decoded)} output instances")
    if len(decoded) != len(bundle.outputs) or any(
        not math.isclose(a, b, rel_tol=0, abs_tol=1e-12)
        for a, b in zip(decoded, bundle.outputs, strict=True)
    ):
        return ("outputs: the stored outputs are not what the instances encode "
                f"({_brief(bundle.outputs)} stored, {_brief(decoded)} proven)")
    return None


def _brief(values: list[float]) -> str:
    shown = ", ".join(f"{v:.6g}" for v in values[:4])
    return f"[{shown}{', ...' if len(values) > 4 else ''}]"
