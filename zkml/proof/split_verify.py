"""Local verification of a split bundle: every segment proof AND every link between them.

ezkl's ``verify`` of one segment does not check the link: a segment proven on another
input's activation verifies on its own. So the link is checked here, byte for byte: the
commitment points segment i's proof carries for its output must equal those segment i + 1's
proof carries for its input (their offsets come from the settings, via :class:`SplitKeys`).
Both checks together mean the chain of segments computed the whole model on one input.
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
from zkml.errors import BundleError
from zkml.presets import get_preset
from zkml.proof.bundle import Verification
from zkml.split_artifacts import SPLIT_BUNDLE_FORMAT, SplitBundle, SplitKeys

__all__ = ["verify_split", "verify_split_detailed", "load_split_bundle", "segment_problem",
           "link_problem"]

_HEX = re.compile(r"0x([0-9a-fA-F]{2})*")
_DEC = re.compile(r"[0-9]{1,80}")
_POINT = _ezkl.G1_POINT_BYTES


def load_split_bundle(path: str | Path) -> SplitBundle:
    """Read a split bundle JSON file.

    Raises:
        BundleError: unreadable, or not a split bundle.
    """
    path = Path(path)
    try:
        return SplitBundle.model_validate(json.loads(path.read_text()))
    except FileNotFoundError as e:
        raise BundleError(f"{path}: no such split bundle file.") from e
    except (OSError, ValueError, ValidationError) as e:
        raise BundleError(f"{path}: not a zkml split bundle ({str(e).splitlines()[0][:160]}); "
                          "use the JSON written by `zkml split prove`.") from e


def _parse(bundle: SplitBundle) -> tuple[list[bytes], list[list[int]]] | str:
    proofs, instances = [], []
    for i, seg in enumerate(bundle.segments):
        if not _HEX.fullmatch(seg.proof) or len(seg.proof) < 4:
            return f"segments[{i}].proof: not 0x-prefixed hex"
        if not all(_DEC.fullmatch(v) for v in seg.instances):
            return f"segments[{i}].instances: not decimal integers"
        values = [int(v) for v in seg.instances]
        if any(v >= FIELD_MODULUS for v in values):
            return f"segments[{i}].instances: a value is not below the field modulus"
        proofs.append(bytes.fromhex(seg.proof[2:]))
        instances.append(values)
    return proofs, instances


def segment_problem(bundle: SplitBundle, keys: SplitKeys) -> str | None:
    """What makes the bundle's segments not those of ``keys``' model (by field), before any
    proof is checked; None if every segment is in place."""
    if bundle.format != SPLIT_BUNDLE_FORMAT:
        return f"format: {bundle.format[:40]!r} is not {SPLIT_BUNDLE_FORMAT!r}"
    if bundle.model_id != keys.model_id:
        return (f"model_id: the bundle is for split model {bundle.model_id[:16]}..., the keys "
                f"for {keys.model_id[:16]}...")
    if len(bundle.segments) != len(keys.segments):
        return (f"segments: {len(bundle.segments)} segment proofs, the model has "
                f"{len(keys.segments)}")
    parsed = _parse(bundle)
    if isinstance(parsed, str):
        return parsed
    proofs, instances = parsed
    for i, (seg, k, link) in enumerate(zip(bundle.segments, keys.segments, keys.links,
                                           strict=True)):
        if seg.model_id != k.model_id:
            return f"segments[{i}].model_id: a proof for another segment or model"
        if seg.settings_digest != k.circuit.settings_digest:
            return f"segments[{i}].settings_digest: proven with other circuit settings"
        if len(proofs[i]) != k.proof_length:
            return f"segments[{i}].proof: {len(proofs[i])} bytes, this segment's are " \
                   f"{k.proof_length}"
        if len(instances[i]) != link.num_instances:
            return f"segments[{i}].instances: {len(instances[i])}, expected {link.num_instances}"
    n_out = math.prod(bundle.output_shape)
    last = instances[-1]
    if n_out != math.prod(keys.circuit.exported.output_shape) or len(last) < n_out:
        return "output_shape: not this model's"
    decoded = dequantize(last[len(last) - n_out:], keys.circuit.segments[-1].output_scales[0])
    if len(decoded) != len(bundle.outputs) or any(
            not math.isclose(a, b, rel_tol=0, abs_tol=1e-12)
            for a, b in zip(decoded, bundle.outputs, strict=True)):
        return "outputs: the stored outputs are not what the last segment's instances encode"
    # committed-input: the first segment's first instance is the input's salted hash
    expected = (str(instances[0][0]) if get_preset(keys.circuit.preset).commits_input
                and instances[0] else None)
    if bundle.input_commitment != expected:
        return "input_commitment: not the commitment the first segment's proof carries"
    return link_problem(proofs, keys)


def link_problem(proofs: list[bytes], keys: SplitKeys) -> str | None:
    """Which boundary's commitments differ between the two proofs it joins; None if all
    match."""
    for i in range(len(proofs) - 1):
        out_pts = keys.links[i].output_points
        in_pts = keys.links[i + 1].input_points
        if len(out_pts) != len(in_pts) or not out_pts:
            return f"links[{i}]: the keys commit no boundary here"
        names = keys.circuit.boundaries[i]
        for t, (a, b) in enumerate(zip(out_pts, in_pts, strict=True)):
            if proofs[i][a:a + _POINT] != proofs[i + 1][b:b + _POINT]:
                name = names[t] if t < len(names) else f"#{t}"
                return (f"links[{i}]: segment {i}'s output commitment is not segment {i + 1}'s "
                        f"input commitment ({name!r})")
    return None


def verify_split_detailed(bundle: SplitBundle | str | Path, keys: SplitKeys) -> Verification:
    """Check a split bundle and say why it fails.

    Args:
        bundle: a :class:`SplitBundle` or the path of its JSON file.
        keys: the split model's keys (:func:`zkml.setup`).

    Returns:
        :class:`Verification`, truthy only when every segment verifies and every link holds.

    Raises:
        BundleError: the bundle file is unreadable or not a split bundle.
        ArtifactError: the keys are missing or corrupt.

    Example:
        >>> v = zkml.verify_detailed("split.bundle.json", keys)
    """
    if not isinstance(bundle, SplitBundle):
        bundle = load_split_bundle(bundle)
    cache.ensure_file_hash(keys.srs_path, keys.srs_sha256, "SRS file")
    for k in keys.segments:
        cache.ensure_intact(k.dir, "segment proving/verifying keys")
        cache.ensure_intact(k.circuit.dir, "compiled segment circuits")
    problem = segment_problem(bundle, keys)
    if problem:
        return Verification(False, problem)
    parsed = _parse(bundle)
    assert not isinstance(parsed, str)  # segment_problem said so
    work = cache.private_workdir("verify-split")
    try:
        for i, (proof, inst, k) in enumerate(zip(*parsed, keys.segments, strict=True)):
            pf = work / f"proof{i}.json"
            _ezkl.write_proof(pf, proof, inst)
            if not _ezkl.verify(pf, Path(k.circuit.settings_path), Path(k.vk_path),
                                Path(keys.srs_path)):
                return Verification(False, f"segments[{i}].proof: does not verify under this "
                                    "segment's verifying key")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Verification(True)


def verify_split(bundle: SplitBundle | str | Path, keys: SplitKeys) -> bool:
    """Check every segment proof of a split bundle and every link between segments.

    Args:
        bundle: a :class:`SplitBundle` or the path of its JSON file.
        keys: the split model's keys.

    Returns:
        True only if all segment proofs verify and each boundary commitment is the same on
        both sides; False for any tampered, reordered, dropped, foreign or re-linked segment
        (:func:`verify_split_detailed` says which).

    Raises:
        BundleError: the bundle file is unreadable (a bad proof is False, not an error).

    Example:
        >>> assert zkml.verify(bundle, keys)
    """
    return verify_split_detailed(bundle, keys).valid
