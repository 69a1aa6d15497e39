"""Compile a model cut into segments: one ezkl circuit per segment, chained by commitments.

Per segment (FIELD_NOTES, "Split proving"): the input is ``polycommit`` except for the first
segment (the preset's visibility), the output is ``polycommit`` except for the last, params
keep the preset's visibility. Segment i + 1 is calibrated on segment i's float activations at
segment i's output scale with ``scale_rebase_multiplier=[1]``, so it reads exactly the field
elements segment i wrote. Then every segment is raised to the largest logrows: one SRS for
all, and a commitment made at one logrows only equals one made at the same logrows.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zkml import _ezkl, cache
from zkml._progress import step
from zkml._utils import dequantize, digest_of, sha256_bytes, sha256_file
from zkml.artifacts import Circuit, ExportedModel, QuantizationReport
from zkml.circuit.compile import CompileConfig, calibration_subset, layout_args, model_samples
from zkml.circuit.cost import max_logrows_for_memory
from zkml.circuit.cut import CutPlan, choose_segments, plan_cuts, segment_logrows, write_segments
from zkml.errors import CompileError
from zkml.model import salt as _salt
from zkml.model.export import load_onnx, run_onnx, run_onnx_all
from zkml.model.inputs import unpack
from zkml.presets import get_preset, visibility_for
from zkml.split_artifacts import SplitCircuit

__all__ = ["compile_split"]


def compile_split(
    exported: ExportedModel,
    calibration_inputs: Any,
    *,
    segments: int | str = "auto",
    max_memory: int | None = None,
    preset: str = "private-input",
    config: CompileConfig | None = None,
) -> SplitCircuit:
    """Cut ``exported`` into segments and compile each as its own circuit; cached by content.

    Args:
        exported: the ONNX artifact from :func:`zkml.export`.
        calibration_inputs: representative samples covering the real input range.
        segments: how many segments (cut where few tensors cross, a too-big layer cut into
            output-channel groups, balanced by the layout estimate of rows), or ``"auto"``:
            the fewest whose estimated proving peak fits ``max_memory``.
        max_memory: bytes one segment proof may use (``"auto"`` only); default: what this
            machine allows one proof.
        preset: a privacy preset; it applies to the model's own input and output.
        config: cost-driving settings, as for :func:`zkml.compile_model`.

    Returns:
        The :class:`SplitCircuit` (one :class:`Circuit` per segment, shared logrows).

    Raises:
        ZkmlValueError: ``segments`` is neither a positive integer nor ``"auto"``.
        CompileError: the graph has too few cut points, no cut fits ``max_memory``, or a
            segment fails to calibrate.

    Example:
        >>> split = zkml.compile_model(exported, X_train[:64], segments=2)
        >>> keys = zkml.setup(split)
    """
    from zkml.errors import ZkmlValueError

    cfg = config or CompileConfig()
    pre = get_preset(preset)
    vis = visibility_for(pre, param_visibility=cfg.param_visibility,
                         allow_unbound_model=cfg.allow_unbound_model)
    samples = model_samples(calibration_inputs, exported)
    onnx_path = Path(exported.onnx_path)
    onnx_bytes = onnx_path.read_bytes()
    if sha256_bytes(onnx_bytes) != exported.onnx_sha256:
        raise CompileError(f"{onnx_path} changed since export (sha256 mismatch); export again.")
    # committed-input: the graph cut is the salted one (zkml/model/salt.py), whose one input
    # [x..., salt...] the first segment hashes; calibration with a zero salt
    salted = pre.commits_input
    inputs = _inputs_of(samples, exported)
    first = inputs
    work = cache.private_workdir("split-salted") if salted else None
    try:
        if work is not None:
            _salt.check_decomposition(cfg.decomp_base, cfg.decomp_legs)
            onnx_path = work / "model.onnx"
            onnx_path.write_bytes(_salt.salted_onnx(onnx_bytes,
                                                    [i.shape for i in exported.inputs]))
            flat = samples.reshape(len(samples), -1)
            first = [np.hstack([flat, np.zeros((len(flat), _salt.SALT_ELEMENTS))])[:, None]]
        with step("Planning the cut", "split_plan"):
            if segments == "auto":
                plan = choose_segments(onnx_path, max_memory=max_memory, preset=preset,
                                       config=cfg)
            elif isinstance(segments, int) and not isinstance(segments, bool) and segments >= 1:
                plan = plan_cuts(onnx_path, segments, preset=preset, config=cfg)
            else:
                raise ZkmlValueError(f"segments must be a positive integer or 'auto', not "
                                     f"{segments!r}.")
        data_digest = sha256_bytes(samples.astype("<f8").tobytes())
        key = digest_of("split/2", exported.onnx_sha256, vis, cfg.model_dump(), data_digest,
                        plan.boundaries, plan.layer_groups, _ezkl.EZKL_VERSION,
                        *([f"salt/{_salt.SALT_ELEMENTS}x{_salt.SALT_ELEMENT_BITS}"] if salted
                          else []))
        cut_path = onnx_path

        def build(tmp: Path) -> dict[str, object]:
            return _build(tmp, cut_path, plan, first, vis, cfg,
                          reference=(onnx_bytes, inputs))

        with step(f"Compiling {len(plan.ranges)} segment circuits ({preset})", "compile"):
            entry = cache.get_or_build("splits", key, build)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    meta = entry.meta
    circuits = []
    seg_metas: list[dict[str, Any]] = meta["segments"]  # type: ignore[assignment]
    for i, m in enumerate(seg_metas):
        shapes = m["input_shapes"]
        seg_exported = load_onnx(entry.file(f"segment{i}.onnx"),
                                 [np.zeros(shape) for shape in shapes],
                                 name=f"{exported.name}.{i}")
        circuits.append(Circuit(
            exported=seg_exported, preset=preset, digest=digest_of(key, i), dir=str(entry.path),
            settings_path=str(entry.file(f"segment{i}.settings.json")),
            compiled_path=str(entry.file(f"segment{i}.compiled")),
            settings_digest=sha256_file(entry.file(f"segment{i}.settings.json")),
            logrows=int(meta["logrows"]),  # type: ignore[call-overload]
            num_rows=int(m["num_rows"]), input_scale=int(m["input_scale"]),
            param_scale=int(m["param_scale"]), output_scales=list(m["output_scales"]),
            input_range=tuple(m["input_range"]),
            quantization=QuantizationReport.model_validate(meta["quantization"]),
            cache_hit=entry.hit,
        ))
    return SplitCircuit(
        exported=exported, preset=preset, digest=key, dir=str(entry.path), segments=circuits,
        boundaries=plan.boundaries, estimated_rows=plan.rows, layer_groups=plan.layer_groups,
        logrows=int(meta["logrows"]),  # type: ignore[call-overload]
        input_range=circuits[0].input_range,
        quantization=QuantizationReport.model_validate(meta["quantization"]),
        cache_hit=entry.hit,
    )


def _inputs_of(samples: np.ndarray, exported: ExportedModel) -> list[np.ndarray]:
    """One array (n, *shape) per graph input, from samples as :func:`model_samples` gives."""
    if len(exported.inputs) > 1:
        return unpack(samples, exported.inputs, cast=False)
    return [samples]


def _activations(paths: list[Path], inputs: list[np.ndarray]) -> list[list[np.ndarray]]:
    """The float inputs of every segment on every sample (onnxruntime, segment by segment):
    per segment, one array (n, *shape) per input tensor."""
    acts = [inputs]
    for path in paths[:-1]:
        data = path.read_bytes()
        outs = [run_onnx_all(data, [a[n] for a in acts[-1]]) for n in range(len(inputs[0]))]
        acts.append([np.stack([o[t] for o in outs]) for t in range(len(outs[0]))])
    return acts


def _build(tmp: Path, onnx_path: Path, plan: CutPlan, inputs: list[np.ndarray],
           vis: dict[str, str], cfg: CompileConfig, *,
           reference: tuple[bytes, list[np.ndarray]]) -> dict[str, object]:
    """Compile every segment; ``inputs`` feed the first segment (salted for
    committed-input), ``reference`` is the user's graph and its inputs (range, accuracy)."""
    paths = write_segments(onnx_path, plan, tmp)
    subset_idx = calibration_subset(np.concatenate(
        [a.reshape(len(a), -1) for a in inputs], axis=1), cfg.calibration_limit)
    acts = _activations(paths, [a[subset_idx] for a in inputs])
    k = len(paths)
    cap = max(cfg.max_logrows, max_logrows_for_memory(cfg.num_inner_cols))
    metas: list[dict[str, Any]] = []
    scale: int | None = None
    for i, path in enumerate(paths):
        seg_vis = {**vis,
                   "input_visibility": vis["input_visibility"] if i == 0 else "polycommit",
                   "output_visibility": vis["output_visibility"] if i == k - 1 else "polycommit"}
        settings = tmp / f"segment{i}.settings.json"
        cal = tmp.parent / f"{tmp.name}.calibration{i}.json"
        _ezkl.write_input(cal, [a.reshape(-1).tolist() for a in acts[i]])
        try:
            _ezkl.gen_settings(path, settings, layout_args(seg_vis, cfg))
            _ezkl.calibrate_segment(
                cal, path, settings, scales=[scale] if scale is not None else cfg.scales,
                max_logrows=min(cap, max(cfg.max_logrows,
                                         segment_logrows(plan.rows[i], cfg) + 2)),
                lookup_margin=cfg.lookup_margin)
        finally:
            cal.unlink(missing_ok=True)
        s = _ezkl.read_settings(settings)
        if scale is not None and s.input_scale != scale:
            raise CompileError(f"segment {i} calibrated at input scale {s.input_scale}, not the "
                               f"previous segment's output scale {scale}; cap the scales "
                               "(CompileConfig.scales) and compile again.")
        if i < k - 1 and len(set(s.output_scales)) != 1:
            # the next segment reads all its inputs at one scale
            raise CompileError(f"segment {i}'s boundary tensors came out at different scales "
                               f"{s.output_scales}; cap the scales (CompileConfig.scales) or "
                               "use fewer segments.")
        scale = s.output_scales[0]
        # the model's input range: every sample (first segment), else the activations seen
        seen = np.concatenate([a.reshape(-1) for a in (reference[1] if i == 0 else acts[i])])
        lo, hi = float(seen.min()), float(seen.max())
        margin = cfg.range_margin * max(hi - lo, 1e-9)
        metas.append({"num_rows": s.num_rows, "input_scale": s.input_scale,
                      "param_scale": s.param_scale, "output_scales": s.output_scales,
                      "logrows": s.logrows, "input_range": [lo - margin, hi + margin],
                      "input_shapes": [list(a.shape[1:]) for a in acts[i]]})
    logrows = max(m["logrows"] for m in metas)
    for i, path in enumerate(paths):
        settings = tmp / f"segment{i}.settings.json"
        _ezkl.set_logrows(settings, logrows)
        _ezkl.normalize_settings(settings)
        _ezkl.compile_circuit(path, tmp / f"segment{i}.compiled", settings)
        _ezkl.polycommit_layout(settings)  # refuses a boundary that would not fit one column
    report = _quantization(tmp, k, [a[subset_idx] for a in inputs], metas[-1]["output_scales"][0],
                           reference[0], [a[subset_idx] for a in reference[1]])
    return {"logrows": logrows, "segments": metas, "quantization": report.model_dump()}


def _quantization(tmp: Path, k: int, inputs: list[np.ndarray], scale: int, onnx_bytes: bytes,
                  ref_inputs: list[np.ndarray], limit: int = 4) -> QuantizationReport:
    """The chained circuits' outputs (first segment fed ``inputs``) against the whole float
    model (fed ``ref_inputs``) on a few samples."""
    n_samples = len(inputs[0])
    idx = sorted(set(np.linspace(0, n_samples - 1, num=min(limit, n_samples))
                     .astype(int).tolist()))
    errs: list[float] = []
    agree = 0
    lo_out, hi_out = np.inf, -np.inf
    try:
        for n in idx:
            x = [a[n] for a in inputs]
            w: dict[str, Any] = {}
            for i in range(k):
                data = tmp / f"q{n}.{i}.input.json"
                if i == 0:
                    _ezkl.write_input(data, [v.reshape(-1).tolist() for v in x])
                else:
                    _ezkl.write_chained_input(data, w)
                w = _ezkl.gen_witness(data, tmp / f"segment{i}.compiled",
                                      tmp / f"q{n}.{i}.witness.json", None, None)
            got = np.array(dequantize(_ezkl.witness_outputs(w)[0], scale))
            ref = run_onnx(onnx_bytes, [a[n] for a in ref_inputs]).reshape(-1)
            errs.extend(np.abs(got - ref).tolist())
            agree += int(np.argmax(got) == np.argmax(ref))
            lo_out, hi_out = min(lo_out, float(ref.min())), max(hi_out, float(ref.max()))
    finally:
        for leftover in [*tmp.glob("q*.input.json"), *tmp.glob("q*.witness.json")]:
            leftover.unlink()
    return QuantizationReport(samples=len(idx), max_abs_error=float(max(errs)),
                              mean_abs_error=float(np.mean(errs)),
                              output_range=float(hi_out - lo_out),
                              argmax_agreement=agree / len(idx))
