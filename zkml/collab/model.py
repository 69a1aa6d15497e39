"""Assembling the parties' contributions into one model, and verifying its inferences.

:func:`assemble` takes the public contribution folders (nobody's weights) and checks that
they chain: positions 0..K-1 once each, one logrows and one SRS, each segment's output shape
and scale the next one's input, the verifying keys and settings the ones described, and each
contribution's commitment layout recounted with ezkl (so no party can leave part of its
weights out of the checked commitment). :func:`verify_collab` then checks one inference: every
segment proof under its party's key, every segment proved with the weights its party
published (the params' points in the proof equal the weight commitment), and every link (a
segment's output commitment equals the next one's input commitment).
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from zkml import _ezkl, cache
from zkml._utils import atomic_write_bytes, dequantize, digest_of, sha256_file
from zkml.collab.formats import BUNDLE_FORMAT, CollabBundle, CollabModel, Contribution
from zkml.errors import ArtifactError, BundleError
from zkml.proof.verify import Verification

__all__ = ["assemble", "load_model", "load_collab_bundle", "verify_collab", "collab_model_id"]

MODEL_FILE = "model.json"
_P = _ezkl.G1_POINT_BYTES


def collab_model_id(contributions: list[Contribution], srs_sha256: str) -> str:
    """sha256 over every segment's key, settings, weight commitment and layout, in order."""
    return digest_of("zkml-collab-model/1", srs_sha256, [
        [c.vk_digest, c.settings_digest, c.weight_commitment, c.input_points, c.param_points,
         c.output_points] for c in contributions])


def _load_contribution(folder: Path) -> Contribution:
    f = folder / "contribution.json"
    try:
        c = Contribution.model_validate_json(f.read_text())
    except FileNotFoundError as e:
        raise ArtifactError(f"{folder}: no contribution.json (a party's finalize writes its "
                            "contribution/ folder).") from e
    except (OSError, ValueError, ValidationError) as e:
        raise ArtifactError(f"{f}: not a contribution ({str(e).splitlines()[0][:120]}).") from e
    for name, digest in (("vk.key", c.vk_digest), ("settings.json", c.settings_digest)):
        if not (folder / name).is_file() or sha256_file(folder / name) != digest:
            raise ArtifactError(f"{folder / name}: missing or not the file contribution.json "
                                "describes (changed?).")
    return c


def assemble(contribution_dirs: Sequence[str | Path], out_dir: str | Path,
             srs_path: str | Path) -> CollabModel:
    """Check the contributions chain and write the model folder (``model.json`` and each
    segment's vk and settings under ``segment<k>/``). Public: no weights in it.

    Raises:
        ArtifactError: a contribution is missing, changed, out of place or does not chain
            with its neighbours (the message names which and why).
    """
    folders = [Path(d) for d in contribution_dirs]
    contribs = sorted(((_load_contribution(f), f) for f in folders),
                      key=lambda t: t[0].position)
    cs = [c for c, _ in contribs]
    k = len(cs)
    srs = Path(srs_path)
    srs_sha = sha256_file(srs)
    if [c.position for c in cs] != list(range(k)) or any(c.parties != k for c in cs):
        raise ArtifactError(f"contributions at positions {[c.position for c in cs]} for "
                            f"{sorted({c.parties for c in cs})} parties: give one per position "
                            f"0..{k - 1}.")
    for c in cs:
        if c.logrows != cs[0].logrows or c.srs_sha256 != srs_sha:
            raise ArtifactError(f"segment {c.position} ({c.name}) was set up at logrows "
                                f"{c.logrows} with SRS {c.srs_sha256[:12]}...; the model needs "
                                f"one logrows ({cs[0].logrows}) and this SRS ({srs_sha[:12]}...).")
    for a, b in itertools.pairwise(cs):
        if math.prod(a.output_shape) != math.prod(b.input_shape) \
                or a.output_scale != b.input_scale:
            raise ArtifactError(f"segment {a.position} ({a.name}) gives {a.output_shape} at "
                                f"scale {a.output_scale}; segment {b.position} ({b.name}) "
                                f"takes {b.input_shape} at scale {b.input_scale}.")
    for c, f in contribs:
        sizes = _ezkl.committed_sizes(f / "settings.json")
        n_in = 0 if c.position == 0 else 1
        n = _ezkl.commitment_points(int(sizes[n_in]), f / "vk.key", f / "settings.json", srs)
        layout = _ezkl.committed_layout(f / "settings.json", n)
        if (layout.inputs, layout.params, layout.outputs) != (c.input_points, c.param_points,
                                                              c.output_points):
            raise ArtifactError(f"segment {c.position} ({c.name}): its contribution places the "
                                "commitments where its settings do not: refused.")
    out = Path(out_dir)
    for c, f in contribs:
        seg = out / f"segment{c.position}"
        seg.mkdir(parents=True, exist_ok=True)
        for name in ("vk.key", "settings.json", "contribution.json"):
            shutil.copyfile(f / name, seg / name)
    model = CollabModel(model_id=collab_model_id(cs, srs_sha), logrows=cs[0].logrows,
                        srs_sha256=srs_sha, contributions=cs)
    atomic_write_bytes(out / MODEL_FILE, (model.model_dump_json(indent=1) + "\n").encode())
    return model


def load_model(model_dir: str | Path) -> CollabModel:
    """Read an assembled model folder, checking its files and its id.

    Raises:
        ArtifactError: missing, malformed, a file changed, or an id that does not match.
    """
    d = Path(model_dir)
    try:
        m = CollabModel.model_validate_json((d / MODEL_FILE).read_text())
    except FileNotFoundError as e:
        raise ArtifactError(f"{d}: no {MODEL_FILE} (written by assemble).") from e
    except (OSError, ValueError, ValidationError) as e:
        raise ArtifactError(f"{d / MODEL_FILE}: not a collaborative model "
                            f"({str(e).splitlines()[0][:120]}).") from e
    for c in m.contributions:
        seg = d / f"segment{c.position}"
        if _load_contribution(seg) != c:
            raise ArtifactError(f"{seg}: not the contribution {MODEL_FILE} lists.")
    if collab_model_id(m.contributions, m.srs_sha256) != m.model_id:
        raise ArtifactError(f"{d / MODEL_FILE}: its model id does not match its contributions.")
    return m


def load_collab_bundle(path: str | Path) -> CollabBundle:
    """Read a collaborative bundle. Raises BundleError if unreadable."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
        if not isinstance(raw, dict) or raw.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"format is not {BUNDLE_FORMAT!r}")
        return CollabBundle.model_validate(raw)
    except FileNotFoundError as e:
        raise BundleError(f"{p}: no such bundle file.") from e
    except (OSError, ValueError, ValidationError) as e:
        raise BundleError(f"{p}: not a collaborative bundle ({str(e).splitlines()[0][:120]})."
                          ) from e


def _problem(bundle: CollabBundle, model: CollabModel) -> str | None:
    cs = model.contributions
    if bundle.model_id != model.model_id:
        return "model_id: the bundle is for another collaborative model"
    if [s.position for s in bundle.segments] != list(range(len(cs))):
        return (f"segments: positions {[s.position for s in bundle.segments]}, the model has "
                f"0..{len(cs) - 1} (missing, doubled or re-ordered)")
    proofs = []
    for s, c in zip(bundle.segments, cs, strict=True):
        if s.vk_digest != c.vk_digest:
            return f"segment {c.position}: a proof for another party's key"
        try:
            proof = bytes.fromhex(s.proof.removeprefix("0x"))
        except ValueError:
            return f"segment {c.position}: the proof is not hex"
        if len(proof) != c.proof_length or len(s.instances) != c.num_instances:
            return f"segment {c.position}: not a proof of this segment's circuit"
        got = ["0x" + proof[o:o + _P].hex() for o in c.param_points]
        if got != c.weight_commitment:
            return (f"segment {c.position} ({c.name}): proved with other weights than the "
                    "ones its party published")
        proofs.append(proof)
    for i in range(len(cs) - 1):
        a = [proofs[i][o:o + _P] for o in cs[i].output_points]
        b = [proofs[i + 1][o:o + _P] for o in cs[i + 1].input_points]
        if not a or a != b:
            return (f"link {i}: segment {i}'s output commitment is not segment {i + 1}'s input "
                    "commitment (a segment from another inference)")
    last = cs[-1]
    n_out = math.prod(bundle.output_shape)
    instances = bundle.segments[-1].instances
    if n_out != math.prod(last.output_shape) or not 0 < n_out <= len(instances):
        return "output_shape: not this model's"
    try:
        decoded = dequantize([int(v) for v in instances[-n_out:]], last.output_scale)
    except ValueError:
        return "instances: not decimal integers"
    if decoded != bundle.outputs or bundle.output_scale != last.output_scale:
        return "outputs: not what the last segment's instances encode"
    return None


def verify_collab(bundle: CollabBundle | str | Path, model_dir: str | Path,
                  srs_path: str | Path) -> Verification:
    """Check one inference of a collaborative model (returns a verdict; never raises for a
    bad proof).

    Raises:
        BundleError: an unreadable bundle; ArtifactError: an unreadable model folder or SRS.
    """
    b = bundle if isinstance(bundle, CollabBundle) else load_collab_bundle(bundle)
    model = load_model(model_dir)
    srs = Path(srs_path)
    if sha256_file(srs) != model.srs_sha256:
        raise ArtifactError(f"{srs}: not the SRS the model was set up with.")
    problem = _problem(b, model)
    if problem:
        return Verification(False, problem, "collab model")
    work = cache.private_workdir("collab-verify")
    try:
        for s, c in zip(b.segments, model.contributions, strict=True):
            seg = Path(model_dir) / f"segment{c.position}"
            pf = work / f"proof{c.position}.json"
            _ezkl.write_proof(pf, bytes.fromhex(s.proof[2:]), [int(v) for v in s.instances])
            if not _ezkl.verify(pf, seg / "settings.json", seg / "vk.key", srs):
                return Verification(False, f"segment {c.position} ({c.name}): the proof does "
                                    "not verify under its party's key", "collab model")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Verification(True, None, "collab model")
