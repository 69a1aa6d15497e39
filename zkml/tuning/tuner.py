"""The tuner: find the cheapest circuit settings whose outputs stay within an accuracy bound.

Cost drivers (FIELD_NOTES "Tuning headroom"): the range-check table (decomp base) often sets
the logrows floor for small models; the layout's rows (decomp legs, columns, rebase multiplier)
set it for big ones; calibrated scales set lookup sizes. Prove time tracks roughly
(columns + fixed overhead columns) x 2^logrows.

The search: calibrate ezkl's defaults; lay every grid candidate out without calibrating (a lower
bound on its logrows, in well under a second); calibrate only candidates whose bound could beat
the defaults, cheapest first, within a budget; keep those within the accuracy bound on held-out
samples; measure the cheapest few for real (setup + prove, and with a gas meter the verifier's
verifyProof gas); leave the defaults only for a measured gain of at least ``min_gain``; among
the candidates that prove within ``TOLERANCE`` of the fastest, take the cheapest verifier.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from zkml import _ezkl
from zkml._progress import step
from zkml.artifacts import Circuit, ExportedModel, Keys, ProofBundle
from zkml.circuit.compile import (
    CompileConfig,
    UnfaithfulCircuitWarning,
    compile_model,
    evaluate,
    model_samples,
)
from zkml.circuit.layout import estimate_rows
from zkml.errors import CompileError, InputRangeError, ZkmlError, ZkmlValueError
from zkml.proof.keys import setup
from zkml.proof.prove import prove

__all__ = ["AccuracyBound", "Candidate", "TuneResult", "tune", "DEFAULT_GRID", "EZKL_DEFAULT",
           "GasMeter", "MODES", "check_mode"]

#: ``thorough``: calibrate up to 10 candidates and measure the best by setting up and proving
#: them (minutes); ``quick``: layout estimates and at most two calibrations, no proof
#: (``zkml/tuning/quick.py``; seconds).
MODES = ("quick", "thorough")

#: ezkl's PyRunArgs defaults for the cost-driving settings.
EZKL_DEFAULT = CompileConfig(decomp_base=16384, decomp_legs=2, num_inner_cols=2)

DEFAULT_GRID: dict[str, list[Any]] = {
    "decomp": [(16384, 2), (4096, 3), (1024, 3), (256, 4)],
    "num_inner_cols": [2, 4],
    "scales": [None, [6, 7, 8]],
}

#: Column-equivalents every circuit pays for besides the inner ones (range-check and lookup
#: arguments, permutation, instances), fitted to attention's prove times: cols 2 at logrows 14
#: 14.0 s, cols 4 at 13 12.2 s. Cols 8 at 12 took 14.5 s (the permutation argument grows with
#: columns), so 8 is not in the default grid.
FIXED_COLUMNS = 1.0

#: Measured prove times within this fraction of the fastest count as equal: among them the
#: cheaper verifier wins (attention: 4 columns verify for 1.79M gas, 2 columns for 1.12M).
TOLERANCE = 0.10

#: Measures a proof's verifyProof gas on a chain (``zkml.chain.gas.VerifyGasMeter``; the tuner
#: may not import the chain package, so the caller passes one in).
GasMeter = Callable[[Keys, ProofBundle], int]


def cost_estimate(cols: int, logrows: int) -> float:
    """Relative prove cost of a layout: (columns + fixed columns) x 2^logrows."""
    return (cols + FIXED_COLUMNS) * 2.0**logrows


class AccuracyBound(BaseModel):
    """Max |circuit - float| as a fraction of the output range; same argmax (classifiers)."""

    model_config = ConfigDict(frozen=True)

    max_error_fraction: float = 0.01
    same_argmax: bool = True


@dataclass
class Candidate:
    config: CompileConfig
    est_rows: int | None = None
    est_logrows: int | None = None
    logrows: int | None = None
    num_rows: int | None = None
    cost: float | None = None
    max_abs_error: float | None = None
    argmax_agreement: float | None = None
    accurate: bool = False
    setup_seconds: float | None = None
    prove_seconds: float | None = None
    verify_gas: int | None = None
    gas_error: str | None = None
    error: str | None = None
    skipped: str | None = None
    circuit: Circuit | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        c = self.config
        return {
            "decomp": f"{c.decomp_base}^{c.decomp_legs}", "cols": c.num_inner_cols,
            "scales": c.scales, "lookup_margin": c.lookup_margin, "est_rows": self.est_rows,
            "est_logrows": self.est_logrows, "logrows": self.logrows, "rows": self.num_rows,
            "cost": self.cost, "max_abs_error": self.max_abs_error,
            "argmax_agreement": self.argmax_agreement, "accurate": self.accurate,
            "setup_s": self.setup_seconds, "prove_s": self.prove_seconds,
            "verify_gas": self.verify_gas, "gas_error": self.gas_error, "error": self.error,
            "skipped": self.skipped,
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


#: The timer the tuner measures setup and prove with. A module attribute read at call time, so
#: a test can put a deterministic clock in its place (the decisions then do not depend on load).
_clock: Callable[[], float] = time.perf_counter


def _measure(cand: Candidate, x: np.ndarray, gas_meter: GasMeter | None = None) -> None:
    assert cand.circuit is not None
    t0 = _clock()
    keys = setup(cand.circuit)
    cand.setup_seconds = _clock() - t0
    prove(keys, x)  # warm-up: table caches, page cache
    t0 = _clock()
    bundle = prove(keys, x)
    cand.prove_seconds = _clock() - t0
    if gas_meter is not None:
        try:
            cand.verify_gas = gas_meter(keys, bundle)
        except ZkmlError as e:  # no chain toolchain: the choice falls back to fewer columns
            cand.gas_error = str(e).splitlines()[0][:200]


def _pick(measured: list[Candidate], default: Candidate, min_gain: float) -> Candidate | None:
    """The candidate to leave the defaults for, or None.

    Only candidates at least ``min_gain`` faster than the defaults qualify; among those within
    :data:`TOLERANCE` of the fastest, the lowest verify gas wins (fewer columns when any gas is
    unknown: they verify cheaper), then the faster.
    """
    d_s = default.prove_seconds or 0.0
    fast = [c for c in measured
            if c.prove_seconds is not None and c.prove_seconds <= d_s * (1.0 - min_gain)]
    if not fast:
        return None
    fastest = min(c.prove_seconds or 0.0 for c in fast)
    near = [c for c in fast if (c.prove_seconds or 0.0) <= fastest * (1.0 + TOLERANCE)]
    if all(c.verify_gas is not None for c in near):
        return min(near, key=lambda c: (c.verify_gas or 0, c.prove_seconds or 0.0))
    return min(near, key=lambda c: (c.config.num_inner_cols, c.prove_seconds or 0.0))


def _calibrate(cand: Candidate, label: str, exported: ExportedModel, cal: np.ndarray,
               evals: np.ndarray, preset: str, bound: AccuracyBound, classifier: bool) -> None:
    """Calibrate and compile ``cand`` (cached by content), then check it on ``evals``.

    The tuner's calibration hook: both modes calibrate through it (a test counts them)."""
    c = cand.config
    with step(label):
        try:
            with warnings.catch_warnings():  # the accuracy bound judges candidates
                warnings.simplefilter("ignore", UnfaithfulCircuitWarning)
                circuit = compile_model(exported, cal, preset=preset, config=c)
            report = evaluate(circuit, evals)
        except (CompileError, InputRangeError) as e:
            cand.error = str(e).splitlines()[0][:200]
            return
    cand.circuit = circuit
    cand.logrows, cand.num_rows = circuit.logrows, circuit.num_rows
    cand.cost = cost_estimate(c.num_inner_cols, circuit.logrows)
    cand.max_abs_error = report.max_abs_error
    cand.argmax_agreement = report.argmax_agreement
    cand.accurate = (report.max_abs_error <= bound.max_error_fraction * report.output_range
                     and (not classifier or report.argmax_agreement == 1.0))


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`.

    Raises:
        ZkmlValueError: any other value (the message lists the modes).
    """
    if mode not in MODES:
        raise ZkmlValueError(f"tune mode {mode!r}: choose quick (layout estimates, at most 2 "
                             "calibrations, no proof; seconds) or thorough (measures the best "
                             "candidates by proving them; minutes).")
    return mode


def default_config(base: CompileConfig) -> CompileConfig:
    """``base`` with ezkl's own cost-driving defaults (the settings the tuner must beat)."""
    return base.model_copy(update={
        "decomp_base": EZKL_DEFAULT.decomp_base, "decomp_legs": EZKL_DEFAULT.decomp_legs,
        "num_inner_cols": EZKL_DEFAULT.num_inner_cols, "scales": None, "lookup_margin": 2.0})


def _label(c: CompileConfig) -> str:
    margin = "" if c.lookup_margin == 2.0 else f", lookup margin {c.lookup_margin:g}"
    return (f"decomp {c.decomp_base}^{c.decomp_legs}, cols {c.num_inner_cols}, scales "
            f"{c.scales or 'auto'}{margin}")


def _grid_configs(base: CompileConfig, grid: dict[str, list[Any]],
                  lookups: bool) -> list[CompileConfig]:
    margins = grid.get("lookup_margin") or ([2.0, 1.0] if lookups else [2.0])
    return [base.model_copy(update={"decomp_base": d[0], "decomp_legs": d[1],
                                    "num_inner_cols": cols, "scales": scales,
                                    "lookup_margin": m})
            for d, cols, scales, m in itertools.product(
                grid["decomp"], grid["num_inner_cols"], grid["scales"], margins)]


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
    max_calibrations: int = 10,
    min_gain: float = 0.10,
    gas_meter: GasMeter | None = None,
    mode: str = "thorough",
) -> TuneResult:
    """Search cost-driving settings for the cheapest accurate circuit.

    Args:
        exported: the model.
        calibration: samples covering the input range (as for :func:`compile_model`).
        eval_inputs: held-out samples the accuracy bound is checked on.
        preset: the privacy preset.
        base: settings the grid varies (max_logrows, range margin, visibility overrides).
        bound: the accuracy bound; default 1% of the output range and the same argmax.
        grid: ``{"decomp": [(base, legs)...], "num_inner_cols": [...], "scales": [...],
            "lookup_margin": [...]}``; lookup margins default to 2 and 1 when the model has
            lookup tables, else 2.
        measure_top: how many of the cheapest accurate candidates to set up and prove.
        max_calibrations: calibrations spent on candidates (cheapest estimate first).
        min_gain: the measured prove-time gain needed to leave ezkl's defaults (0.1 = 10%).
        gas_meter: measures each measured candidate's verifyProof gas (a
            ``zkml.chain.gas.VerifyGasMeter``); among candidates proving within
            :data:`TOLERANCE` of the fastest the cheapest verifier is chosen. Without one, the
            fewest columns stand in for it.
        mode: ``"thorough"`` (the search above) or ``"quick"``: layout estimates for every
            candidate, at most ``min(max_calibrations, 2)`` calibrations, no setup and no
            proof (``zkml/tuning/quick.py``); ``measure_top`` and ``gas_meter`` are unused.

    Returns:
        A :class:`TuneResult`; ``config`` is the chosen :class:`CompileConfig` (ezkl's
        defaults if nothing measured, or in quick mode estimated, at least ``min_gain``
        cheaper).

    Raises:
        CompileError: ezkl's default settings do not compile the model.
        ZkmlValueError: ``mode`` is neither quick nor thorough.

    Example:
        >>> res = zkml.tune(exported, X_train, X_test[:20])
        >>> circuit = zkml.compile_model(exported, X_train, config=res.config)
        >>> fast = zkml.tune(exported, X_train, X_test[:20], mode="quick")
    """
    check_mode(mode)
    bound = bound or AccuracyBound()
    base = base or CompileConfig()
    grid = grid or DEFAULT_GRID
    evals = model_samples(eval_inputs, exported)
    cal = model_samples(calibration, exported)
    if mode == "quick":
        from zkml.tuning.quick import QUICK_CALIBRATIONS, tune_quick

        return tune_quick(exported, cal, evals, preset=preset, base=base, bound=bound,
                          grid=grid, min_gain=min_gain,
                          max_calibrations=min(max_calibrations, QUICK_CALIBRATIONS))
    classifier = int(np.prod(exported.output_shape)) > 1 and bound.same_argmax

    def calibrate(cand: Candidate, label: str) -> None:
        _calibrate(cand, label, exported, cal, evals, preset, bound, classifier)

    default = Candidate(default_config(base))
    calibrate(default, "Tuning: calibrating ezkl's default settings")
    if default.circuit is None or default.cost is None:
        raise CompileError(f"ezkl's default settings do not compile this model: {default.error}")
    settings = _ezkl.read_settings(Path(default.circuit.settings_path))
    configs = _grid_configs(base, grid, lookups=settings.has_lookups)
    seen = {default.config.model_dump_json()}
    cands = []
    for c in configs:  # dedupe, keep order
        if c.model_dump_json() not in seen:
            seen.add(c.model_dump_json())
            cands.append(Candidate(c))
    with step(f"Tuning: laying out {len(cands)} candidates"):
        for cand in cands:
            try:
                cand.est_rows, cand.est_logrows = estimate_rows(exported, preset=preset,
                                                                config=cand.config)
            except CompileError as e:
                cand.error = str(e).splitlines()[0][:200]
    # Cheapest bound first; among equals, calibration's own scales and the default lookup
    # margin first (they keep accuracy), then grid order.
    order = sorted((c for c in cands if c.est_logrows is not None),
                   key=lambda c: (cost_estimate(c.config.num_inner_cols, c.est_logrows or 0),
                                  c.config.scales is not None, c.config.lookup_margin != 2.0))
    target = default.cost * (1.0 - min_gain)
    spent = 0
    for cand in order:
        est = cost_estimate(cand.config.num_inner_cols, cand.est_logrows or 0)
        found = sorted(c.cost for c in cands if c.accurate and c.cost is not None)
        if est > target:
            cand.skipped = "its fewest rows cannot beat the defaults"
        elif len(found) >= measure_top and found[measure_top - 1] <= est:
            cand.skipped = f"{measure_top} accurate candidates at least as cheap were found"
        elif spent >= max_calibrations:
            cand.skipped = f"calibration budget ({max_calibrations}) spent"
        else:
            spent += 1
            calibrate(cand, f"Tuning {spent}/{max_calibrations}: {_label(cand.config)}")
    ranked = sorted((c for c in cands if c.accurate and c.cost is not None
                     and c.cost <= target),
                    key=lambda c: (c.cost, c.config.scales is not None))
    x = evals[0]
    if ranked:
        with step("Tuning: measuring ezkl's default settings"):
            _measure(default, x, gas_meter)
    for cand in ranked[:measure_top]:
        with step(f"Tuning: measuring {_label(cand.config)} (logrows {cand.logrows})"):
            _measure(cand, x, gas_meter)
    everything = [default, *cands]
    measured = [c for c in ranked[:measure_top] if c.prove_seconds is not None]
    best = _pick(measured, default, min_gain)
    d_s = default.prove_seconds or 0.0
    if best is None:
        why = ("no candidate's layout can beat the defaults" if not any(
            c.cost is not None for c in cands) else
            "no candidate within the accuracy bound is cheaper" if not ranked else
            f"no accurate candidate proved at least {min_gain:.0%} faster than the defaults")
        return TuneResult(default.config, default, default, everything, False,
                          f"{why}: keeping ezkl's default settings (logrows "
                          f"{default.logrows}).")
    ratio = (best.prove_seconds or 0.0) / (d_s or 1.0)
    gas = (f", verify gas {default.verify_gas:,} -> {best.verify_gas:,}"
           if default.verify_gas and best.verify_gas else "")
    return TuneResult(best.config, default, best, everything, True,
                      f"logrows {default.logrows} -> {best.logrows}, prove "
                      f"{d_s:.2f}s -> {best.prove_seconds:.2f}s "
                      f"({ratio:.2f}x){gas}, max error {best.max_abs_error:.3g}.")
