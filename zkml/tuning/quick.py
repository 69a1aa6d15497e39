"""The quick tuner (``tune(mode="quick")``): layout estimates, at most two calibrations, no proof.

The thorough search measures the defaults and the best candidates for real (setup + two proofs
each), which costs more than a first proof with ezkl's own flow (benchmarks/RESULTS.md, "Time
to first proof"). This one decides from the layout alone:

1. lay ezkl's defaults and every grid layout out without calibrating (``estimate_rows``: well
   under a second each; scales and lookup margins do not change a layout, so each
   decomp/columns pair is laid out once). The defaults' estimate is a lower bound on their
   real cost, so a candidate whose *real* cost is below it is cheaper than the defaults for
   sure;
2. calibrate the cheapest estimates first (calibration's own scales and the default lookup
   margin first, they keep accuracy), at most ``max_calibrations``; a candidate counts if it
   is within the accuracy bound and its real cost (calibrated logrows) is at least
   ``min_gain`` below the defaults' estimate; stop when no remaining estimate can beat the
   best found. The layout does not see lookup tables (sigmoid, softmax, GELU...), which can
   set logrows above the estimate: the first calibration tells whether the model has any, and
   only then are the smaller tables of lookup margin 1 tried (the op mix as a prior);
3. nothing found: ezkl's defaults (never a layout estimated worse than theirs).

Cost is :func:`~zkml.tuning.tuner.cost_estimate` (columns x 2^logrows), not a measured time:
prove time tracks it (FIELD_NOTES "Tuning headroom"), and the thorough mode measures. Candidates
are ranked by that cost weighted by their verifier's gas (:data:`COLUMN_GAS_WEIGHT`), as the
thorough mode prefers the cheaper verifier among candidates proving about as fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zkml import _ezkl
from zkml._progress import step
from zkml.artifacts import ExportedModel
from zkml.circuit.compile import CompileConfig
from zkml.circuit.layout import estimate_rows
from zkml.errors import CompileError
from zkml.tuning import tuner as _t

__all__ = ["tune_quick", "QUICK_CALIBRATIONS", "COLUMN_GAS_WEIGHT"]

#: calibrations the quick mode may spend on candidates
QUICK_CALIBRATIONS = 2

#: verifyProof gas grows with the columns, not with logrows (RESULTS.md: ~540k at 2 columns,
#: ~777k at 4, +44%); prove times of 4 columns at logrows k and 2 at k + 1 measured equal
#: (breast-cancer 0.17 s / 0.16 s) though their costs differ by 17%. So each 2 columns beyond
#: 2 weigh 25% more: 4 columns win only where they save two logrows.
COLUMN_GAS_WEIGHT = 0.25


def _rank(cols: int, logrows: int) -> float:
    """Estimated prove cost weighted by the verifier's gas (more columns, dearer verifier)."""
    return _t.cost_estimate(cols, logrows) * (1.0 + COLUMN_GAS_WEIGHT * max(cols - 2, 0) / 2)


def _layout_key(c: CompileConfig) -> tuple[int, int, int, int]:
    return (c.decomp_base, c.decomp_legs, c.num_inner_cols, c.max_logrows)


def tune_quick(
    exported: ExportedModel,
    cal: np.ndarray,
    evals: np.ndarray,
    *,
    preset: str,
    base: CompileConfig,
    bound: _t.AccuracyBound,
    grid: dict[str, list[Any]],
    max_calibrations: int = QUICK_CALIBRATIONS,
    min_gain: float = 0.10,
) -> _t.TuneResult:
    """The quick search (see the module docstring); called by :func:`zkml.tune`.

    Raises:
        CompileError: ezkl cannot lay the model out with its default settings.
    """
    classifier = int(np.prod(exported.output_shape)) > 1 and bound.same_argmax
    default = _t.Candidate(_t.default_config(base))
    layouts: dict[tuple[int, int, int, int], tuple[int, int] | str] = {}

    def lay_out(cand: _t.Candidate) -> None:
        key = _layout_key(cand.config)
        if key not in layouts:
            try:
                layouts[key] = estimate_rows(exported, preset=preset, config=cand.config)
            except CompileError as e:
                layouts[key] = str(e).splitlines()[0][:200]
        got = layouts[key]
        if isinstance(got, str):
            cand.error = got
        else:
            cand.est_rows, cand.est_logrows = got

    configs = _t._grid_configs(base, grid, lookups=True)  # margins: the grid's, else 2 and 1
    seen = {default.config.model_dump_json()}
    cands = []
    for c in configs:
        if c.model_dump_json() not in seen:
            seen.add(c.model_dump_json())
            cands.append(_t.Candidate(c))
    with step(f"Tuning (quick): laying out the defaults and {len(cands)} candidates"):
        lay_out(default)
        for cand in cands:
            lay_out(cand)
    if default.est_logrows is None:
        raise CompileError(f"ezkl's default settings do not lay this model out: {default.error}")
    default.skipped = "quick mode: laid out, not calibrated (its estimate bounds its cost)"
    floor = _t.cost_estimate(default.config.num_inner_cols, default.est_logrows)
    target = floor * (1.0 - min_gain)
    order = sorted((c for c in cands if c.est_logrows is not None),
                   key=lambda c: (_rank(c.config.num_inner_cols, c.est_logrows or 0),
                                  c.config.scales is not None, c.config.lookup_margin != 2.0))
    best: _t.Candidate | None = None
    spent = 0
    lookups: bool | None = None  # unknown until a calibration says
    for cand in order:
        est = _t.cost_estimate(cand.config.num_inner_cols, cand.est_logrows or 0)
        if est > target:
            cand.skipped = "its fewest rows cannot beat the defaults"
        elif lookups is False and cand.config.lookup_margin != 2.0:
            cand.skipped = "the model has no lookup tables for the margin to shrink"
        elif best is not None and _rank(best.config.num_inner_cols, best.logrows or 0) <= _rank(
                cand.config.num_inner_cols, cand.est_logrows or 0):
            cand.skipped = "a calibrated candidate at least as cheap was found"
        elif spent >= max_calibrations:
            cand.skipped = f"calibration budget ({max_calibrations}) spent"
        else:
            spent += 1
            _t._calibrate(cand, f"Tuning (quick) {spent}/{max_calibrations}: "
                          f"{_t._label(cand.config)}", exported, cal, evals, preset, bound,
                          classifier)
            if cand.circuit is not None and lookups is None:
                lookups = _ezkl.read_settings(Path(cand.circuit.settings_path)).has_lookups
            if (cand.accurate and cand.cost is not None and cand.cost <= target
                    and (best is None or _rank(cand.config.num_inner_cols, cand.logrows or 0)
                         < _rank(best.config.num_inner_cols, best.logrows or 0))):
                best = cand
    everything = [default, *cands]
    if best is None:
        why = ("no candidate's layout can beat the defaults" if not any(
            c.cost is not None for c in cands) else
            f"no accurate candidate within {max_calibrations} calibration(s) is cheaper")
        return _t.TuneResult(default.config, default, default, everything, False,
                             f"quick: {why}: keeping ezkl's default settings (logrows >= "
                             f"{default.est_logrows}).")
    ratio = (best.cost or 0.0) / floor
    return _t.TuneResult(best.config, default, best, everything, True,
                         f"quick: logrows >= {default.est_logrows} (defaults, estimated) -> "
                         f"{best.logrows}, estimated prove cost <= {ratio:.2f}x, max error "
                         f"{best.max_abs_error:.3g} ({spent} calibration(s), no proof).")
