"""One party's side of a collaborative model: its segment, its folder, its weights.

A party holds one segment of the model (an ONNX graph with its own weights) in its own folder
and never sees another party's weights. It calibrates its segment (:func:`join`: on its own
samples at position 0, else on the previous party's activations at the previous party's
output scale), then, once the parties agree on one logrows and one SRS, compiles and sets it
up (:func:`finalize`) and publishes a :class:`Contribution`: verifying key, settings and the
commitment of its weights that every proof of its segment will carry.

Visibility per segment (ezkl): params ``polycommit`` (the weights are a private witness,
committed by a KZG point in each proof, instead of fixed into the verifying key); the input
``polycommit`` except at position 0 (``private``), the output ``polycommit`` except at the last
position (``public``). Boundaries are thus linked as in split proving (zkml.proof.split_verify).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zkml import _ezkl
from zkml._progress import step
from zkml._utils import atomic_write_bytes, sha256_file
from zkml.circuit.compile import CompileConfig, layout_args
from zkml.collab.formats import Contribution, Draft
from zkml.errors import ArtifactError, CompileError, InputError, ZkmlValueError
from zkml.model.graph import check_onnx
from zkml.model.reference import run_onnx_all

__all__ = ["join", "finalize", "load_draft", "party_files", "CONTRIBUTION_DIR"]

CONTRIBUTION_DIR = "contribution"
#: a party's own files (PRIVATE, except draft.json and contribution/)
_ONNX, _CAL, _NEXT = "segment.onnx", "calibration.npy", "next_calibration.npy"
_SETTINGS, _COMPILED, _PK, _VK = "settings.json", "segment.compiled", "pk.key", "vk.key"


def party_files(party_dir: Path) -> dict[str, Path]:
    """The paths of a party's folder, by role."""
    d = Path(party_dir)
    return {"onnx": d / _ONNX, "calibration": d / _CAL, "next": d / _NEXT,
            "settings": d / _SETTINGS, "compiled": d / _COMPILED, "pk": d / _PK,
            "vk": d / _VK, "draft": d / "draft.json", "contribution": d / CONTRIBUTION_DIR}


def _input_shape(onnx_bytes: bytes) -> list[int]:
    model = check_onnx(onnx_bytes, source="segment")
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise CompileError("a collaborative segment takes one input tensor and gives one "
                           f"output; this graph has {len(inputs)} and {len(model.graph.output)}.")
    dims = inputs[0].type.tensor_type.shape.dim
    return [d.dim_value if d.dim_value > 0 else 1 for d in dims]


def _visibility(position: int, parties: int) -> dict[str, str]:
    return {"input_visibility": "private" if position == 0 else "polycommit",
            "param_visibility": "polycommit",
            "output_visibility": "public" if position == parties - 1 else "polycommit"}


def join(onnx_path: str | Path, calibration: Any, party_dir: str | Path, *, name: str,
         position: int, parties: int, input_scale: int | None = None,
         config: CompileConfig | None = None) -> Draft:
    """Calibrate this party's segment in its own folder; write its public draft and, if a
    party follows, the activations it calibrates on (``next_calibration.npy``: hand it to
    the next party only).

    Args:
        onnx_path: the party's segment (its weights stay in ``party_dir``).
        calibration: samples of the segment's input, shaped (n, *input shape) or (n, features):
            the data at position 0, else the previous party's ``next_calibration.npy``.
        party_dir: the party's own folder (PRIVATE).
        name, position, parties: who the party is and where its segment sits (0-based).
        input_scale: the previous party's output scale (its draft says it); required after
            position 0, so this segment reads exactly the field elements it receives.
        config: decomposition, columns, max logrows.

    Raises:
        ZkmlValueError: a position outside 0..parties-1, or a missing/extra input scale.
        CompileError: the graph is not one-input/one-output or fails to calibrate.
        InputError: calibration samples of another size than the segment's input.
    """
    if not 0 <= position < parties:
        raise ZkmlValueError(f"position {position} is not in 0..{parties - 1}.")
    if (input_scale is None) != (position == 0):
        raise ZkmlValueError("give input_scale (the previous party's output scale) for every "
                             "position but the first, and only there.")
    cfg = config or CompileConfig()
    files = party_files(Path(party_dir))
    Path(party_dir).mkdir(parents=True, exist_ok=True)
    data = Path(onnx_path).read_bytes()
    shape = _input_shape(data)
    arr = np.asarray(calibration, dtype=np.float64)
    size = int(np.prod(shape))
    if arr.ndim < 1 or arr.size % size or arr.size // size < 1:
        raise InputError(f"calibration samples of {arr.shape} do not fit the segment's input "
                         f"{shape}: give (n, *{shape}).")
    samples = arr.reshape(-1, *shape)
    atomic_write_bytes(files["onnx"], data)
    np.save(files["calibration"], samples)
    cal = Path(party_dir) / "calibration.input.json"
    try:
        with step(f"Calibrating segment {position} ({name})", "collab_calibrate"):
            # all samples of the one input, flat, in one list (ezkl's batch calibration file)
            _ezkl.write_input(cal, [samples.reshape(-1).tolist()])
            _ezkl.gen_settings(files["onnx"], files["settings"],
                               layout_args(_visibility(position, parties), cfg))
            _ezkl.calibrate_segment(cal, files["onnx"], files["settings"],
                                    scales=[input_scale] if input_scale is not None
                                    else cfg.scales, max_logrows=cfg.max_logrows,
                                    lookup_margin=cfg.lookup_margin)
    finally:
        cal.unlink(missing_ok=True)
    s = _ezkl.read_settings(files["settings"])
    if input_scale is not None and s.input_scale != input_scale:
        raise CompileError(f"segment {position} calibrated at input scale {s.input_scale}, not "
                           f"the previous party's output scale {input_scale}.")
    if len(set(s.output_scales)) != 1:
        raise CompileError(f"segment {position}'s outputs came out at scales {s.output_scales}.")
    outs = [run_onnx_all(data, [x])[0] for x in samples]
    if position < parties - 1:
        np.save(files["next"], np.stack(outs))
    draft = Draft(name=name, position=position, parties=parties, input_shape=shape,
                  output_shape=list(outs[0].shape), input_scale=s.input_scale,
                  output_scale=s.output_scales[0], logrows=s.logrows)
    atomic_write_bytes(files["draft"], (draft.model_dump_json(indent=1) + "\n").encode())
    return draft


def load_draft(party_dir: str | Path) -> Draft:
    """The party's draft (raises ArtifactError if it has not joined)."""
    p = party_files(Path(party_dir))["draft"]
    try:
        return Draft.model_validate_json(p.read_text())
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{p}: no draft; run join for this party first ({e}).") from e


def finalize(party_dir: str | Path, *, logrows: int, srs_path: str | Path,
             owner: str | None = None) -> Contribution:
    """Compile the segment at the agreed ``logrows``, set it up with the agreed SRS, and
    publish the contribution (``party_dir/contribution/``: contribution.json, vk.key,
    settings.json; public). One proof on a calibration sample reads the weight commitment.

    Raises:
        ArtifactError: the party has not joined; ZkmlValueError: a logrows below the
            segment's own; SetupError / ProveError from ezkl.
    """
    d = Path(party_dir)
    files = party_files(d)
    draft = load_draft(d)
    if logrows < draft.logrows:
        raise ZkmlValueError(f"logrows {logrows} is below what segment {draft.position} needs "
                             f"({draft.logrows}): agree on the largest of the drafts.")
    srs = Path(srs_path)
    _ezkl.set_logrows(files["settings"], logrows)
    _ezkl.normalize_settings(files["settings"])
    work = d / "finalize.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        with step(f"Setting up segment {draft.position} (logrows {logrows})", "collab_setup"):
            _ezkl.compile_circuit(files["onnx"], files["compiled"], files["settings"])
            _ezkl.setup(files["compiled"], files["vk"], files["pk"], srs)
        sample = np.load(files["calibration"])[0]
        _ezkl.write_input(work / "input.json", [sample.reshape(-1).tolist()])
        _ezkl.gen_witness(work / "input.json", files["compiled"], work / "witness.json",
                          files["vk"], srs)
        with step("Reading the weight commitment (one proof)", "collab_commit"):
            _ezkl.prove(work / "witness.json", files["compiled"], files["pk"],
                        work / "proof.json", srs)
        proof = _ezkl.read_proof(work / "proof.json").proof
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the witness holds weights and activations
    sizes = _ezkl.committed_sizes(files["settings"])
    n_in = 0 if draft.position == 0 else 1
    points = _ezkl.commitment_points(int(sizes[n_in]), files["vk"], files["settings"], srs)
    layout = _ezkl.committed_layout(files["settings"], points)
    p = _ezkl.G1_POINT_BYTES
    contribution = Contribution(
        name=draft.name, owner=owner, position=draft.position, parties=draft.parties,
        vk_digest=sha256_file(files["vk"]), settings_digest=sha256_file(files["settings"]),
        logrows=logrows, srs_sha256=sha256_file(srs), input_shape=draft.input_shape,
        output_shape=draft.output_shape, input_scale=draft.input_scale,
        output_scale=draft.output_scale,
        weight_commitment=["0x" + proof[o:o + p].hex() for o in layout.params],
        input_points=layout.inputs, param_points=layout.params, output_points=layout.outputs,
        proof_length=len(proof),
        num_instances=_ezkl.read_settings(files["settings"]).num_instances)
    atomic_write_bytes(d / "srs.path", str(srs.resolve()).encode())
    out = files["contribution"]
    out.mkdir(exist_ok=True)
    shutil.copyfile(files["vk"], out / "vk.key")
    shutil.copyfile(files["settings"], out / "settings.json")
    atomic_write_bytes(out / "contribution.json",
                       (contribution.model_dump_json(indent=1) + "\n").encode())
    return contribution
