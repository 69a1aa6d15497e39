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

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zkml import _ezkl
from zkml._progress import step
from zkml.artifacts import ExportedModel
from zkml.circuit.compile import CompileConfig
from zkml.circuit.cost import estimate_cost, relative_cost
from zkml.errors import CompileError, ZkmlError
from zkml.proof.keys import setup
from zkml.proof.prove import prove
from zkml.tuning.common import (
    DEFAULT_GRID,
    EZKL_DEFAULT,
    MODES,
    TOLERANCE,
    AccuracyBound,
    Candidate,
    GasMeter,
    TuneResult,
    TuneTask,
    calibrate_candidate,
    check_mode,
    grid_configs,
    label,
)
from zkml.tuning.floor import floor_config
from zkml.tuning.quick import QUICK_CALIBRATIONS, tune_quick

__all__ = ["AccuracyBound", "Candidate", "TuneResult", "TuneTask", "tune", "search",
           "DEFAULT_GRID", "EZKL_DEFAULT",
           "GasMeter", "MODES", "TOLERANCE", "check_mode"]

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


def _heavier(c: Candidate, default: Candidate) -> bool:
    """``c``'s estimated peak memory is above the default's (both calibrated)."""
    if c.logrows is None or default.logrows is None:
        return False
    return (estimate_cost(c.logrows, c.config.num_inner_cols).peak_memory_bytes
            > estimate_cost(default.logrows, default.config.num_inner_cols).peak_memory_bytes)


def _pick(measured: list[Candidate], default: Candidate, min_gain: float) -> Candidate | None:
    """The candidate to leave the defaults for, or None.

    Only candidates at least ``min_gain`` faster than the defaults qualify; among those within
    :data:`TOLERANCE` of the fastest, the lowest verify gas wins (fewer columns when any gas is
    unknown: they verify cheaper), then the faster.
    """
    d_s = default.prove_seconds or 0.0
    # the floor's memory side: a faster candidate must not be estimated heavier than ezkl's
    # default (more columns at a lower logrows can be both)
    fast = [c for c in measured
            if c.prove_seconds is not None and c.prove_seconds <= d_s * (1.0 - min_gain)
            and not _heavier(c, default)]
    if not fast:
        return None
    fastest = min(c.prove_seconds or 0.0 for c in fast)
    near = [c for c in fast if (c.prove_seconds or 0.0) <= fastest * (1.0 + TOLERANCE)]
    if all(c.verify_gas is not None for c in near):
        return min(near, key=lambda c: (c.verify_gas or 0, c.prove_seconds or 0.0))
    return min(near, key=lambda c: (c.config.num_inner_cols, c.prove_seconds or 0.0))


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
    task = TuneTask.of(exported, calibration, eval_inputs, preset=preset, base=base,
                       bound=bound)
    return search(task, grid=grid or DEFAULT_GRID, measure_top=measure_top,
                  max_calibrations=max_calibrations, min_gain=min_gain, gas_meter=gas_meter,
                  mode=mode)


def search(task: TuneTask, *, grid: dict[str, list[Any]], measure_top: int = 2,
           max_calibrations: int = 10, min_gain: float = 0.10,
           gas_meter: GasMeter | None = None, mode: str = "thorough") -> TuneResult:
    """:func:`tune` on a task built at the caller's boundary (its samples converted once).

    Raises:
        CompileError: ezkl's default settings do not compile the model.
        ZkmlValueError: ``mode`` is neither quick nor thorough.
    """
    check_mode(mode)
    if mode == "quick":
        return tune_quick(task, grid=grid, min_gain=min_gain,
                          max_calibrations=min(max_calibrations, QUICK_CALIBRATIONS))

    def calibrate(cand: Candidate, what: str) -> None:
        calibrate_candidate(cand, what, task)

    default = Candidate(floor_config(task.base))
    calibrate(default, "Tuning: calibrating ezkl's default settings")
    if default.circuit is None or default.cost is None:
        raise CompileError(f"ezkl's default settings do not compile this model: {default.error}")
    settings = _ezkl.read_settings(Path(default.circuit.settings_path))
    configs = grid_configs(task.base, grid, lookups=settings.has_lookups)
    seen = {default.config.model_dump_json()}
    cands = []
    for c in configs:  # dedupe, keep order
        if c.model_dump_json() not in seen:
            seen.add(c.model_dump_json())
            cands.append(Candidate(c))
    with step(f"Tuning: laying out {len(cands)} candidates"):
        for cand in cands:
            try:
                cand.est_rows, cand.est_logrows = task.lay_out(cand.config)
            except CompileError as e:
                cand.error = str(e).splitlines()[0][:200]
    # Cheapest bound first; among equals, calibration's own scales and the default lookup
    # margin first (they keep accuracy), then grid order.
    order = sorted((c for c in cands if c.est_logrows is not None),
                   key=lambda c: (relative_cost(c.config.num_inner_cols, c.est_logrows or 0),
                                  c.config.scales is not None, c.config.lookup_margin != 2.0))
    target = default.cost * (1.0 - min_gain)
    spent = 0
    for cand in order:
        est = relative_cost(cand.config.num_inner_cols, cand.est_logrows or 0)
        found = sorted(c.cost for c in cands if c.accurate and c.cost is not None)
        if est > target:
            cand.skipped = "its fewest rows cannot beat the defaults"
        elif len(found) >= measure_top and found[measure_top - 1] <= est:
            cand.skipped = f"{measure_top} accurate candidates at least as cheap were found"
        elif spent >= max_calibrations:
            cand.skipped = f"calibration budget ({max_calibrations}) spent"
        else:
            spent += 1
            calibrate(cand, f"Tuning {spent}/{max_calibrations}: {label(cand.config)}")
    ranked = sorted((c for c in cands if c.accurate and c.cost is not None
                     and c.cost <= target),
                    key=lambda c: (c.cost, c.config.scales is not None))
    x = task.evals[0]
    if ranked:
        with step("Tuning: measuring ezkl's default settings"):
            _measure(default, x, gas_meter)
    for cand in ranked[:measure_top]:
        with step(f"Tuning: measuring {label(cand.config)} (logrows {cand.logrows})"):
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
