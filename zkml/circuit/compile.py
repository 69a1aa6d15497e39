"""Stage 2: calibrate and compile an exported model into an ezkl circuit, per privacy preset."""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from zkml import _ezkl, cache
from zkml._progress import step
from zkml._utils import (
    dequantize,
    digest_of,
    sha256_bytes,
    sha256_file,
)
from zkml.artifacts import Circuit, ExportedModel, QuantizationReport
from zkml.circuit.cost import max_logrows_for_memory
from zkml.errors import CompileError, InputError, InputShapeError, NoReferenceError
from zkml.model import salt as _salt
from zkml.model.export import run_onnx
from zkml.model.inputs import coerce_inputs, unpack
from zkml.presets import get_preset, input_visibilities, visibility_for

log = logging.getLogger("zkml.compile")

__all__ = ["CompileConfig", "build_circuit", "as_samples", "evaluate", "layout_args",
           "calibration_subset", "model_samples"]


class CompileConfig(BaseModel):
    """Cost-driving circuit settings. The defaults suit small models (see FIELD_NOTES)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decomp_base: int = Field(256, description="range-check table base; sets the logrows floor")
    decomp_legs: int = Field(4, description="decomposition legs; base**legs bounds values")
    num_inner_cols: int = 2
    max_logrows: int = 17
    scales: list[int] | None = Field(None, description="scales calibration may try")
    range_margin: float = Field(
        0.5, description="fraction of the calibrated span an input may exceed it by"
    )
    calibration_limit: int = Field(
        64, description="samples ezkl calibrates on (extremes first); all set the input range"
    )
    lookup_margin: float = Field(
        2.0, description="lookup tables span this multiple of the calibrated ranges"
    )
    rebase_multipliers: list[int] | None = Field(
        None, description="scale rebase multipliers calibration may try (None: ezkl's [1, 10])")
    param_visibility: str | None = None
    allow_unbound_model: bool = False


def as_samples(inputs: Any, input_shape: list[int]) -> np.ndarray:
    """Coerce ``inputs`` into an array of samples, each of ``input_shape``; validate values.

    Accepted shapes: ``(n, *input_shape)`` or one sample ``input_shape``; for a model whose
    input has batch dimension 1, also ``(n, *input_shape[1:])`` and ``input_shape[1:]``.
    Anything else is refused, never reshaped by element count (that would mix samples).

    Raises:
        InputShapeError: the shape is none of the above.
        InputError: not numbers, or NaN/infinity.
    """
    try:
        arr = np.asarray(inputs, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"inputs must be numbers (a tensor, array or nested list): {e}") from e
    one = tuple(input_shape)
    forms = [one] + ([one[1:]] if len(one) > 1 and one[0] == 1 else [])
    if arr.size and arr.shape in forms:
        arr = arr.reshape((1, *one))
    elif arr.ndim >= 1 and arr.shape[0] > 0 and arr.shape[1:] in forms:
        arr = arr.reshape((arr.shape[0], *one))
    else:
        shown = " or ".join(f"(n, {', '.join(map(str, f))})" for f in forms)
        raise InputShapeError(
            f"samples of shape {arr.shape} do not fit the model input {one}: give an array "
            f"of shape {shown} (n samples), or one sample of shape {one}."
        )
    if not np.isfinite(arr).all():
        raise InputError("inputs contain NaN or infinity; give finite numbers.")
    return arr


def model_samples(inputs: Any, exported: ExportedModel) -> np.ndarray:
    """Calibration or evaluation samples: (n, *input_shape) for a one-input model; packed rows
    (n, total values, see ``zkml.model.inputs.coerce_inputs``) for a model with several."""
    if _several(exported):
        return coerce_inputs(inputs, exported.inputs)
    return as_samples(inputs, exported.input_shape)


def _several(exported: ExportedModel | None) -> bool:
    return exported is not None and len(exported.inputs) > 1


def _input_data(sample: np.ndarray, exported: ExportedModel | None) -> list[list[float]]:
    """ezkl's ``input_data`` of one sample, or of several: each input's values in turn."""
    if exported is None or not _several(exported):
        return [sample.reshape(-1).tolist()]
    parts = unpack(sample.reshape(-1, sample.shape[-1]), exported.inputs, cast=False)
    return [p.reshape(-1).tolist() for p in parts]


def _reference(onnx_bytes: bytes, sample: np.ndarray,
               exported: ExportedModel | None) -> np.ndarray:
    if exported is None or not _several(exported):
        return run_onnx(onnx_bytes, sample)
    return run_onnx(onnx_bytes, [p[0] for p in unpack(sample.reshape(1, -1), exported.inputs)])


def build_circuit(
    exported: ExportedModel,
    calibration_inputs: Any,
    *,
    preset: str = "private-input",
    config: CompileConfig | None = None,
) -> Circuit:
    """Calibrate and compile ``exported`` for ``preset`` with ``config``; cached by content.

    The public :func:`zkml.compile_model` adds ``tune=True`` on top of this (the tuner calls
    this function for each candidate, so it cannot live here without an import cycle).

    Args:
        exported: the ONNX artifact from :func:`zkml.export`.
        calibration_inputs: representative samples (array-like, several inputs stacked) that
            cover the real input range; inputs outside it are rejected at prove time. For a
            model with several graph inputs: a dict by input name or a list/tuple in the
            graph's order, each input's samples stacked, or packed rows
            (``zkml.model.inputs.coerce_inputs``).
        preset: a privacy preset name (see ``zkml.PRESETS``).
        config: cost-driving settings; defaults suit small models.

    Returns:
        The :class:`Circuit` artifact, with logrows, rows and a quantization report.

    Raises:
        UnboundModelError: params ``private`` without ``allow_unbound_model``.
        InputError: calibration samples malformed or non-finite (for several inputs, the
            input missing, unknown or misshaped is named).
        CompileError: calibration or compilation failed; ``committed-input`` for a model
            with several inputs (not supported yet).
    """
    cfg = config or CompileConfig()
    pre = get_preset(preset)
    vis = visibility_for(
        pre, param_visibility=cfg.param_visibility, allow_unbound_model=cfg.allow_unbound_model
    )
    input_visibilities(pre, [i.name for i in exported.inputs])  # refuses what it cannot do
    samples = model_samples(calibration_inputs, exported)
    onnx_bytes = Path(exported.onnx_path).read_bytes()
    if sha256_bytes(onnx_bytes) != exported.onnx_sha256:
        raise CompileError(
            f"{exported.onnx_path} changed since export (sha256 mismatch); export again."
        )
    data_digest = sha256_bytes(samples.astype("<f8").tobytes())
    # committed-input proves a salted graph (zkml/model/salt.py): another circuit, another key
    salted = pre.commits_input
    if salted:
        _salt.check_decomposition(cfg.decomp_base, cfg.decomp_legs)
    key = digest_of(
        "circuit/1", exported.onnx_sha256, vis, cfg.model_dump(), data_digest, _ezkl.EZKL_VERSION,
        *([f"salt/{_salt.SALT_ELEMENTS}x{_salt.SALT_ELEMENT_BITS}"] if salted else []),
    )

    def build(tmp: Path) -> dict[str, object]:
        return _build(tmp, exported, onnx_bytes, samples, vis, cfg, salted=salted)

    with step(f"Compiling circuit ({preset})", "compile"):
        entry = cache.get_or_build("circuits", key, build)
    meta = entry.meta
    circuit = Circuit(
        exported=exported,
        preset=preset,
        digest=key,
        dir=str(entry.path),
        settings_path=str(entry.file("settings.json")),
        compiled_path=str(entry.file("model.compiled")),
        settings_digest=sha256_file(entry.file("settings.json")),
        logrows=int(meta["logrows"]),  # type: ignore[call-overload]
        num_rows=int(meta["num_rows"]),  # type: ignore[call-overload]
        input_scale=int(meta["input_scale"]),  # type: ignore[call-overload]
        param_scale=int(meta["param_scale"]),  # type: ignore[call-overload]
        output_scales=list(meta["output_scales"]),  # type: ignore[call-overload]
        input_range=tuple(meta["input_range"]),  # type: ignore[arg-type]
        quantization=QuantizationReport.model_validate(meta["quantization"]),
        cache_hit=entry.hit,
    )
    _warn_if_unfaithful(circuit.quantization)
    return circuit


class UnfaithfulCircuitWarning(UserWarning):
    """The circuit's outputs differ from the float model's by more than quantisation explains."""


def _warn_if_unfaithful(q: QuantizationReport, fraction: float = 0.05) -> None:
    """A proof verifies for what the circuit computes; if that is far from the float model
    (ezkl proves a bilinear Resize as nearest-neighbour, say, or the scales are too coarse),
    say so at compile time, before anyone trusts the outputs."""
    if q.max_abs_error is None or q.output_range is None:
        warnings.warn(UnfaithfulCircuitWarning(
            "no float reference for this graph (neither onnxruntime nor onnx's reference "
            "evaluator runs it): the circuit's outputs were not compared with the model's. "
            "Proofs will verify for what the circuit computes; check a few outputs yourself."),
            stacklevel=3)
        return
    if q.output_range > 0 and q.max_abs_error > fraction * q.output_range:
        warnings.warn(UnfaithfulCircuitWarning(
            f"the circuit's outputs differ from the float model by up to {q.max_abs_error:.3g} "
            f"({q.max_abs_error / q.output_range:.0%} of the output range) on {q.samples} "
            "calibration samples: proofs will verify for these numbers. Check the model's ops "
            "(docs/op-coverage.md lists ops ezkl proves differently) or raise the scales."),
            stacklevel=3)


def _build(
    tmp: Path,
    exported: ExportedModel,
    onnx_bytes: bytes,
    samples: np.ndarray,
    vis: dict[str, str],
    cfg: CompileConfig,
    *,
    salted: bool = False,
) -> dict[str, object]:
    onnx_path = tmp / "model.onnx"
    shapes = [i.shape for i in exported.inputs]
    onnx_path.write_bytes(_salt.salted_onnx(onnx_bytes, shapes) if salted else onnx_bytes)
    settings = tmp / "settings.json"
    # Calibration data is private: it stays in the cache dir only as long as the build runs.
    cal = tmp.parent / f"{tmp.name}.calibration.json"
    subset = samples[calibration_subset(samples, cfg.calibration_limit)]
    # a zero salt: huge salt values would drive calibration to a useless input scale
    flat = subset.reshape(len(subset), -1)
    if salted:
        flat = np.hstack([flat, np.zeros((len(flat), _salt.SALT_ELEMENTS))])
    # several graph inputs: one flat list per input, every sample's values in turn (ezkl
    # splits each list into samples by the input's size)
    _ezkl.write_input(cal, [flat.reshape(-1).tolist()] if salted
                      else _input_data(flat, exported))
    try:
        attempts = _calibrate_with_retries(cal, onnx_path, settings, vis, cfg)
        _ezkl.normalize_settings(settings)
        compiled = tmp / "model.compiled"
        _ezkl.compile_circuit(onnx_path, compiled, settings)
        s = _ezkl.read_settings(settings)
        report = _quantization(tmp, compiled, onnx_bytes, samples, s.output_scales[0],
                               salted=salted, exported=exported)
    finally:
        cal.unlink(missing_ok=True)
        for leftover in tmp.glob("*.witness.json"):
            leftover.unlink()
        for leftover in tmp.glob("*.input.json"):
            leftover.unlink()
    lo, hi = float(samples.min()), float(samples.max())
    margin = cfg.range_margin * max(hi - lo, 1e-9)
    return {
        "logrows": s.logrows,
        "num_rows": s.num_rows,
        "input_scale": s.input_scale,
        "param_scale": s.param_scale,
        "output_scales": s.output_scales,
        "input_range": [lo - margin, hi + margin],
        "quantization": report.model_dump(),
        "calibration_attempts": attempts,
    }


def _calibrate_with_retries(cal: Path, onnx_path: Path, settings: Path, vis: dict[str, str],
                            cfg: CompileConfig) -> list[str]:
    """Calibrate with ``cfg``; on failure, widen step by step (calibration's own scale search,
    doubled lookup margins, more rows within this machine's memory) before giving up with
    every attempt and its cause in the error."""
    cap = max(cfg.max_logrows, max_logrows_for_memory(cfg.num_inner_cols))
    ladder = [(cfg.max_logrows, cfg.scales, cfg.lookup_margin, cfg.rebase_multipliers)]
    for extra, margin in ((2, 2.0), (4, 4.0)):
        step_ = (min(cfg.max_logrows + extra, cap), None, cfg.lookup_margin * margin, None)
        if step_ not in ladder:
            ladder.append(step_)
    tried: list[str] = []
    for max_logrows, scales, margin, multipliers in ladder:
        label = f"max_logrows {max_logrows}, scales {scales or 'auto'}, lookup margin {margin:g}"
        try:
            _ezkl.gen_settings(onnx_path, settings, layout_args(vis, cfg))
            _ezkl.calibrate(cal, onnx_path, settings, max_logrows=max_logrows, scales=scales,
                            lookup_margin=margin, rebase_multipliers=multipliers)
        except CompileError as e:
            tried.append(f"{label}: {str(e).splitlines()[0][:160]}")
            log.warning("calibration failed (%s); trying a wider setting", label)
            continue
        return [*tried, f"{label}: ok"]
    raise CompileError(
        "calibration failed with every setting tried (" + "; ".join(tried) + "). Give "
        "calibration samples that cover the real inputs, cap the scales (CompileConfig.scales)"
        ", or use a smaller model: `zkml inspect` estimates its rows."
    )


def layout_args(vis: dict[str, str], cfg: CompileConfig) -> dict[str, Any]:
    """ezkl run args for the layout before calibration (which picks scales and logrows)."""
    return {
        **vis,
        "decomp_base": cfg.decomp_base,
        "decomp_legs": cfg.decomp_legs,
        "num_inner_cols": cfg.num_inner_cols,
        "logrows": min(cfg.max_logrows, 17),
    }


def calibration_subset(samples: np.ndarray, limit: int) -> list[int]:
    """Indices of at most ``limit`` samples: each feature's extremes first, then a spread.

    ezkl's calibration time grows with the sample count; the extremes are what set the ranges.
    """
    flat = samples.reshape(len(samples), -1)
    if len(flat) <= limit:
        return list(range(len(flat)))
    chosen: list[int] = []
    for i in [*flat.argmin(axis=0).tolist(), *flat.argmax(axis=0).tolist()]:
        if i not in chosen:
            chosen.append(int(i))
    spread = np.linspace(0, len(flat) - 1, num=limit).astype(int).tolist()
    chosen.extend(i for i in spread if i not in chosen)
    return sorted(chosen[: max(limit, 1)])


def _quantization(
    tmp: Path, compiled: Path, onnx_bytes: bytes, samples: np.ndarray, scale: int,
    limit: int = 8, *, salted: bool = False, exported: ExportedModel | None = None,
) -> QuantizationReport:
    """Run the compiled circuit's witness on a spread of calibration samples vs onnxruntime."""
    idx = np.unique(np.linspace(0, len(samples) - 1, num=min(limit, len(samples))).astype(int))
    # The extremes matter most: a sample whose witness overflows the range checks would fail.
    extra = {int(np.argmin(samples.reshape(len(samples), -1).min(axis=1))),
             int(np.argmax(samples.reshape(len(samples), -1).max(axis=1)))}
    chosen = sorted(set(idx.tolist()) | extra)
    errs: list[float] = []
    agree = 0
    lo_out, hi_out = np.inf, -np.inf
    # a graph no engine runs is still laid out and checked against the range checks below
    compare = exported is None or exported.reference != "none"
    for i in chosen:
        x = samples[i : i + 1].reshape(samples.shape[1:])
        data = tmp / f"{i}.input.json"
        # ``onnx_bytes`` is the user's graph: the reference never sees the salt
        _ezkl.write_input(data, [x.reshape(-1).tolist() + _salt.zero_salt()] if salted
                          else _input_data(x, exported))
        try:
            w = _ezkl.gen_witness(data, compiled, tmp / f"{i}.witness.json", None, None)
        except Exception as e:
            raise CompileError(
                f"calibration sample {i} does not fit the circuit ({e}); raise decomp_base or "
                "decomp_legs, or lower the scales."
            ) from e
        if not compare:
            continue
        got = np.array(dequantize(_ezkl.witness_outputs(w)[0], scale))
        try:
            ref = _reference(onnx_bytes, x, exported).reshape(-1)
        except NoReferenceError:
            compare = False
            continue
        errs.extend(np.abs(got - ref).tolist())
        agree += int(np.argmax(got) == np.argmax(ref))
        lo_out, hi_out = min(lo_out, float(ref.min())), max(hi_out, float(ref.max()))
    if not compare:
        return QuantizationReport(samples=len(chosen), max_abs_error=None, mean_abs_error=None,
                                  output_range=None, argmax_agreement=None)
    return QuantizationReport(
        samples=len(chosen),
        max_abs_error=float(max(errs)),
        mean_abs_error=float(np.mean(errs)),
        output_range=float(hi_out - lo_out),
        argmax_agreement=agree / len(chosen),
    )


def evaluate(circuit: Circuit, samples: Any) -> QuantizationReport:
    """Compare the circuit's fixed-point outputs with the float model on ``samples``.

    Raises:
        CompileError: a sample does not fit the circuit's ranges.
    """
    arr = model_samples(samples, circuit.exported)
    onnx_bytes = Path(circuit.exported.onnx_path).read_bytes()
    work = cache.private_workdir("eval")
    try:
        return _quantization(work, Path(circuit.compiled_path), onnx_bytes, arr,
                             circuit.output_scales[0], limit=len(arr),
                             salted=get_preset(circuit.preset).commits_input,
                             exported=circuit.exported)
    finally:
        shutil.rmtree(work, ignore_errors=True)
