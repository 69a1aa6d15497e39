"""Stage 6: local verification of a proof bundle.

Like py_ecc's verifiers, :func:`verify` answers False for every proof that does not verify,
including tampered proof bytes, changed or out-of-field instances and a proof for another model.
It raises only when the bundle itself is malformed (``BundleError``) or no keys are found.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

from pydantic import ValidationError

from zkml import _ezkl, cache
from zkml._utils import FIELD_MODULUS, dequantize
from zkml.artifacts import Keys, ProofBundle
from zkml.errors import BundleError
from zkml.proof.keys import keys_for_model

__all__ = ["verify", "load_bundle", "parse_instances", "proof_bytes"]

_HEX = re.compile(r"0x([0-9a-fA-F]{2})*")
_DEC = re.compile(r"[0-9]{1,80}")


def load_bundle(path: str | Path) -> ProofBundle:
    """Read a proof bundle JSON file.

    Raises:
        BundleError: the file is missing, not JSON, or not a proof bundle.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BundleError(f"{path}: cannot read the proof bundle ({e.strerror}).") from e
    try:
        return ProofBundle.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as e:
        raise BundleError(
            f"{path}: not a zkml proof bundle ({str(e).splitlines()[0][:160]}); "
            "use the JSON written by `zkml prove`."
        ) from e


def proof_bytes(bundle: ProofBundle) -> bytes:
    if not _HEX.fullmatch(bundle.proof):
        raise BundleError("bundle.proof must be 0x-prefixed hex with an even number of digits.")
    return bytes.fromhex(bundle.proof[2:])


def parse_instances(bundle: ProofBundle) -> list[int]:
    """The instances as integers, exactly as written (no reduction modulo the field)."""
    out = []
    for s in bundle.instances:
        if not _DEC.fullmatch(s):
            raise BundleError(f"instance {s[:40]!r} is not a non-negative decimal integer.")
        out.append(int(s))
    return out


def verify(bundle: ProofBundle | str | Path, keys: Keys | None = None) -> bool:
    """Check a proof bundle against the model's verifying key.

    Args:
        bundle: a :class:`ProofBundle` or the path of its JSON file.
        keys: the model's keys; by default looked up on this machine by ``bundle.model_id``.

    Returns:
        True if the proof verifies for this model and these instances, else False.

    Raises:
        BundleError: the bundle is malformed (not for a bad proof: that is False).
        ArtifactError: no keys given and none on this machine for the bundle's model id.

    Example:
        >>> assert zkml.verify(bundle, keys)
    """
    if not isinstance(bundle, ProofBundle):
        bundle = load_bundle(bundle)
    proof = proof_bytes(bundle)
    instances = parse_instances(bundle)
    keys = keys or keys_for_model(bundle.model_id)
    c = keys.circuit
    # A corrupt verifying key must be an error, not a silent "invalid proof".
    cache.ensure_intact(keys.dir, "proving/verifying keys")
    cache.ensure_intact(c.dir, "compiled circuit files")
    cache.ensure_file_hash(keys.srs_path, keys.srs_sha256, "SRS file")
    if bundle.model_id != keys.model_id or bundle.settings_digest != c.settings_digest:
        return False
    if len(proof) != keys.proof_length:
        return False  # a proof of another length is malformed for this circuit
    if any(v >= FIELD_MODULUS for v in instances):
        return False  # never reduce modulo p: an aliased instance is a different statement
    n_out = math.prod(c.exported.output_shape)
    if bundle.output_instance_offset != len(instances) - n_out or n_out > len(instances):
        return False
    # The decoded outputs are part of the claim: they must be what the instances say.
    claimed = dequantize(instances[bundle.output_instance_offset :], c.output_scales[0])
    if len(claimed) != len(bundle.outputs) or any(
        not math.isclose(a, b, rel_tol=0, abs_tol=1e-12)
        for a, b in zip(claimed, bundle.outputs, strict=True)
    ):
        return False
    work = cache.private_workdir("verify")
    try:
        pf = work / "proof.json"
        _ezkl.write_proof(pf, proof, instances)
        return _ezkl.verify(pf, Path(c.settings_path), Path(keys.vk_path), Path(keys.srs_path))
    finally:
        shutil.rmtree(work, ignore_errors=True)
