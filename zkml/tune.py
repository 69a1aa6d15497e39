"""The tuner: find the cheapest circuit settings whose outputs stay within an accuracy bound.

Cost drivers (FIELD_NOTES "Tuning headroom"): the range-check table (decomp base) often sets
the logrows floor for small models; calibrated scales set lookup sizes; prove time tracks
roughly columns x 2^logrows. The tuner compiles a grid of candidates (cached), filters them by
accuracy on held-out samples, ranks the survivors by that cost estimate, measures the best few
for real (setup + prove), and never returns settings slower than ezkl's defaults.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from . import cache
from ._progress import step
from ._utils import digest_of, sha256_bytes
from .artifacts import Circuit, ExportedModel
from .circuit import CompileConfig, as_samples, compile_model, evaluate
from .errors import CompileError, InputRangeError
from .keys import setup
from .prove import prove

__all__ = ["AccuracyBound", "Candidate", "TuneResult", "tune", "DEFAULT_GRID", "EZKL_DEFAULT"]

#: ezkl's PyRunArgs defaults for the cost-driving settings.
EZKL_DEFAULT = CompileConfig(decomp_base=16384, decomp_legs=2, num_inner_cols=2)

DEFAULT_GRID: dict[str, list[Any]] = {
    "decomp": [(16384, 2), (1024, 3), (256, 4)],
    "num_inner_cols": [2, 4],
    "scales": [None, [6, 7, 8]],
}


class AccuracyBound(BaseModel):
    """Max |circuit - float| as a fraction of the output range; same argmax (classifiers)."""

    model_config = ConfigDict(frozen=True)

    max_error_fraction: float = 0.01
    same_argmax: bool = True


@dataclass
class Candidate:
    config: CompileConfig
    logrows: int | None = None
    num_rows: int | None = None
    cost: float | None = None
    max_abs_error: float | None = None
    argmax_agreement: float | None = None
    accurate: bool = False
    setup_seconds: float | None = None
    prove_seconds: float | None = None
    error: str | None = None
    circuit: Circuit | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        c = self.config
        return {
            "decomp": f"{c.decomp_base}^{c.decomp_legs}", "cols": c.num_inner_cols,
            "scales": c.scales, "logrows": self.logrows, "rows": self.num_rows,
            "cost": self.cost, "max_abs_error": self.max_abs_error,
            "argmax_agreement": self.argmax_agreement, "accurate": self.accurate,
            "setup_s": self.setup_seconds, "prove_s": self.prove_seconds, "error": self.error,
        }


@dataclass
class TuneResult:
    config: CompileConfig
    default: Candidate
    chosen: Candidate
    candidates: list[Candidate]
    beat_default: bool
    message: str

    @property
    def speedup(self) -> float | None:
        if self.default.prove_seconds and self.chosen.prove_seconds:
            return self.default.prove_seconds / self.chosen.prove_seconds
        return None


def _measure(cand: Candidate, x: np.ndarray) -> None:
    assert cand.circuit is not None
    t0 = time.perf_counter()
    keys = setup(cand.circuit)
    cand.setup_seconds = time.perf_counter() - t0
    prove(keys, x)  # warm-up: table caches, page cache
    t0 = time.perf_counter()
    prove(keys, x)
    cand.prove_seconds = time.perf_counter() - t0


def tune(
    exported: ExportedModel,
    calibration: Any,
    eval_inputs: Any,
    *,
    preset: str = "private-input",
    base: CompileConfig | None = None,
    bound: AccuracyBound | None = None,
    grid: dict[str, list[Any]] | None = None,
    measure_top: int = 2,
) -> TuneResult:
    """Search cost-driving settings for the cheapest accurate circuit.

    Args:
        exported: the model.
        calibration: samples covering the input range (as for :func:`compile_model`).
        eval_inputs: held-out samples the accuracy bound is checked on.
        preset: the privacy preset.
        base: settings the grid varies (max_logrows, range margin, visibility overrides).
        bound: the accuracy bound; default 1% of the output range and the same argmax.
        grid: ``{"decomp": [(base, legs)...], "num_inner_cols": [...], "scales": [...]}``.
        measure_top: how many of the cheapest accurate candidates to set up and prove.

    Returns:
        A :class:`TuneResult`; ``config`` is the chosen :class:`CompileConfig` (ezkl's
        defaults if nothing measured faster).

    Example:
        >>> res = zkml.tune(exported, X_train, X_test[:20])
        >>> circuit = zkml.compile_model(exported, X_train, config=res.config)
    """
    bound = bound or AccuracyBound()
    base = base or CompileConfig()
    grid = grid or DEFAULT_GRID
    evals = as_samples(eval_inputs, exported.input_shape)
    cal = as_samples(calibration, exported.input_shape)
    classifier = int(np.prod(exported.output_shape)) > 1 and bound.same_argmax
    default_cfg = base.model_copy(update={
        "decomp_base": EZKL_DEFAULT.decomp_base, "decomp_legs": EZKL_DEFAULT.decomp_legs,
        "num_inner_cols": EZKL_DEFAULT.num_inner_cols, "scales": None})
    configs = [default_cfg] + [
        base.model_copy(update={"decomp_base": d[0], "decomp_legs": d[1],
                                "num_inner_cols": cols, "scales": scales})
        for d, cols, scales in itertools.product(grid["decomp"], grid["num_inner_cols"],
                                                 grid["scales"])
    ]
    configs = list({c.model_dump_json(): c for c in configs}.values())  # dedupe, keep order
    cands = [Candidate(c) for c in configs]
    for i, cand in enumerate(cands, 1):
        c = cand.config
        with step(f"Tuning {i}/{len(cands)}: decomp {c.decomp_base}^{c.decomp_legs}, cols "
                  f"{c.num_inner_cols}, scales {c.scales or 'auto'}"):
            try:
                circuit = compile_model(exported, cal, preset=preset, config=c)
                report = evaluate(circuit, evals)
            except (CompileError, InputRangeError) as e:
                cand.error = str(e).splitlines()[0][:200]
                continue
        cand.circuit = circuit
        cand.logrows, cand.num_rows = circuit.logrows, circuit.num_rows
        cand.cost = float(c.num_inner_cols * 2**circuit.logrows)
        cand.max_abs_error = report.max_abs_error
        cand.argmax_agreement = report.argmax_agreement
        cand.accurate = (report.max_abs_error <= bound.max_error_fraction * report.output_range
                         and (not classifier or report.argmax_agreement == 1.0))
    default = cands[0]
    if default.circuit is None:
        raise CompileError(f"ezkl's default settings do not compile this model: {default.error}")
    ranked = sorted((c for c in cands[1:] if c.accurate and c.cost is not None),
                    key=lambda c: (c.cost, c.config.num_inner_cols))
    x = evals[0]
    with step("Measuring ezkl's default settings"):
        _measure(default, x)
    for cand in ranked[:measure_top]:
        with step(f"Measuring logrows {cand.logrows}, cols {cand.config.num_inner_cols}"):
            _measure(cand, x)
    measured = [c for c in ranked[:measure_top] if c.prove_seconds is not None]
    best = min(measured, key=lambda c: c.prove_seconds or 0.0, default=None)
    if best is None or (best.prove_seconds or 0.0) >= (default.prove_seconds or 0.0):
        why = ("no candidate met the accuracy bound" if not ranked else
               "no accurate candidate proved faster than ezkl's defaults")
        return TuneResult(default.config, default, default, cands, False,
                          f"{why}: keeping the default settings (logrows {default.logrows}).")
    ratio = (best.prove_seconds or 0.0) / (default.prove_seconds or 1.0)
    return TuneResult(best.config, default, best, cands, True,
                      f"logrows {default.logrows} -> {best.logrows}, prove "
                      f"{default.prove_seconds:.2f}s -> {best.prove_seconds:.2f}s "
                      f"({ratio:.2f}x), max error {best.max_abs_error:.3g}.")


def tune_key(exported: ExportedModel, calibration: Any, eval_inputs: Any, preset: str,
             base: CompileConfig, bound: AccuracyBound, grid: dict[str, list[Any]]) -> str:
    cal = np.asarray(calibration, dtype=np.float64)
    ev = np.asarray(eval_inputs, dtype=np.float64)
    return digest_of("tune/1", exported.onnx_sha256, sha256_bytes(cal.tobytes()),
                     sha256_bytes(ev.tobytes()), preset, base.model_dump(), bound.model_dump(),
                     grid)


def tune_cached(exported: ExportedModel, calibration: Any, eval_inputs: Any, *,
                preset: str = "private-input", base: CompileConfig | None = None,
                bound: AccuracyBound | None = None, grid: dict[str, list[Any]] | None = None,
                measure_top: int = 2) -> tuple[CompileConfig, dict[str, Any]]:
    """:func:`tune`, cached with the model's artifacts: returns (config, report)."""
    base, bound, grid = base or CompileConfig(), bound or AccuracyBound(), grid or DEFAULT_GRID
    key = tune_key(exported, calibration, eval_inputs, preset, base, bound, grid)

    def build(tmp: Any) -> dict[str, object]:
        r = tune(exported, calibration, eval_inputs, preset=preset, base=base, bound=bound,
                 grid=grid, measure_top=measure_top)
        return {"config": r.config.model_dump(), "message": r.message,
                "beat_default": r.beat_default, "speedup": r.speedup,
                "default": r.default.summary(), "chosen": r.chosen.summary(),
                "candidates": [c.summary() for c in r.candidates]}

    entry = cache.get_or_build("tune", key, build)
    return CompileConfig.model_validate(entry.meta["config"]), dict(entry.meta)
