"""The quick tuner (``tune(mode="quick")``): layout estimates, a couple of calibrations, no proof.

The thorough search measures candidates for real (setup + two proofs each), which costs more
than a first proof with ezkl's own flow. This one decides from calibrated settings and the one
cost model (``zkml.circuit.cost``), and never leaves ezkl's number of columns: a layout with
more columns at a lower logrows looks cheaper to any cells-based model than it proves
(measured up to 1.45x slower, issue #22), and only a measurement can tell (thorough mode).

1. lay every 2-column grid layout out without calibrating (``estimate_rows``, well under a
   second each: scales and lookup margins do not change a layout, so each decomposition is
   laid out once), and ezkl's default too;
2. calibrate the candidate of fewest estimated logrows (calibration's own scales and the
   default lookup margin first: they keep accuracy). Accurate below logrows 15
   (``RANGE_TABLE_LOGROWS``) it is chosen at once: ezkl's default needs at least that for its
   range table, so the floor holds without calibrating it;
3. otherwise calibrate ezkl's default (the floor, cached: the fallback circuit as well) and try
   the remaining candidates estimated below it at the scale ezkl's own search found (one
   pass, not a search), within ``max_calibrations``; an accurate one at a lower logrows than
   the floor's wins. A model with lookup ops (``LOOKUP_OPS``) starts with ezkl's default and
   tries capped scales first;
4. nothing found: ezkl's default settings.
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
from zkml.tuning import common as _c
from zkml.tuning.floor import RANGE_TABLE_LOGROWS, floor_config

__all__ = ["tune_quick", "QUICK_CALIBRATIONS"]

#: ONNX ops ezkl proves through lookup tables, whose size the layout does not see: a model
#: with one gets ezkl's default calibrated first (a candidate alone cannot show it beats the
#: range-table bound) and capped scales tried first (they shrink the tables)
LOOKUP_OPS = frozenset({"Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Erf",
                        "Gelu", "Sqrt", "Reciprocal", "Pow", "HardSigmoid", "Softplus", "Elu",
                        "Selu", "Celu", "LSTM", "GRU", "RNN", "LayerNormalization", "Cos",
                        "Sin", "Tan", "Atan", "Asin", "Acos", "Sinh", "Cosh", "Mish",
                        "HardSwish", "InstanceNormalization"})

#: calibrations the quick mode may spend on candidates (ezkl's default, when it must be
#: calibrated, is not counted: ezkl's own flow spends that one too)
QUICK_CALIBRATIONS = 2


def _layout_key(c: CompileConfig) -> tuple[int, int, int, int]:
    return (c.decomp_base, c.decomp_legs, c.num_inner_cols, c.max_logrows)


def tune_quick(
    exported: ExportedModel,
    cal: np.ndarray,
    evals: np.ndarray,
    *,
    preset: str,
    base: CompileConfig,
    bound: _c.AccuracyBound,
    grid: dict[str, list[Any]],
    max_calibrations: int = QUICK_CALIBRATIONS,
    min_gain: float = 0.10,
) -> _c.TuneResult:
    """The quick search (see the module docstring); called by :func:`zkml.tune`.

    ``min_gain`` is unused (a lower logrows at ezkl's column count is a gain of ~50%).

    Raises:
        CompileError: ezkl cannot lay the model out with its default settings.
    """
    classifier = int(np.prod(exported.output_shape)) > 1 and bound.same_argmax
    default = _c.Candidate(floor_config(base))
    layouts: dict[tuple[int, int, int, int], tuple[int, int] | str] = {}

    def lay_out(cand: _c.Candidate) -> None:
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

    def calibrate(cand: _c.Candidate, what: str) -> None:
        _c.calibrate_candidate(cand, what, exported, cal, evals, preset, bound, classifier)

    cols = _c.EZKL_DEFAULT.num_inner_cols
    seen = {default.config.model_dump_json()}
    cands = []
    for c in _c.grid_configs(base, {**grid, "num_inner_cols": [cols]}, lookups=True):
        if c.model_dump_json() not in seen:
            seen.add(c.model_dump_json())
            cands.append(_c.Candidate(c))
    with step(f"Tuning (quick): laying out ezkl's defaults and {len(cands)} candidates"):
        lay_out(default)
        for cand in cands:
            lay_out(cand)
    if default.est_logrows is None:
        raise CompileError(f"ezkl's default settings do not lay this model out: {default.error}")
    default.skipped = "not calibrated: a candidate was cheaper than its range table alone"
    lookup_ops = bool(LOOKUP_OPS & set(exported.ops))
    order = sorted((c for c in cands if c.est_logrows is not None),
                   key=lambda c: (c.est_logrows or 0, (c.config.scales is not None) != lookup_ops,
                                  c.config.lookup_margin != 2.0, -c.config.decomp_base))
    best: _c.Candidate | None = None
    spent = 0
    lookups: bool | None = None  # unknown until a calibration says
    floor_k: int | None = None   # ezkl's default's calibrated logrows, once known
    for cand in order:
        est = cand.est_logrows or 0
        if best is not None:
            cand.skipped = "a cheaper candidate was chosen"
            continue
        if floor_k is None and (est >= RANGE_TABLE_LOGROWS or spent > 0 or lookup_ops):
            # this candidate cannot be judged against the range-table bound: ezkl's default
            # must be calibrated (what ezkl's own flow spends; the fallback circuit too)
            calibrate(default, "Tuning (quick): calibrating ezkl's default settings (the floor)")
            default.skipped = None
            if default.logrows is None:
                raise CompileError("ezkl's default settings do not compile this model: "
                                   f"{default.error}")
            floor_k = default.logrows
        # strictly below: at the same logrows and columns a candidate gains nothing
        limit = (RANGE_TABLE_LOGROWS if floor_k is None else floor_k) - 1
        if est > limit:
            cand.skipped = "its fewest rows cannot beat ezkl's defaults"
        elif lookups is False and cand.config.lookup_margin != 2.0:
            cand.skipped = "the model has no lookup tables for the margin to shrink"
        elif spent >= max_calibrations:
            cand.skipped = f"calibration budget ({max_calibrations}) spent"
        else:
            spent += 1
            if default.circuit is not None:
                # the scale and rebase multiplier ezkl's own search found (capped ones at
                # most the cap): one calibration pass, not a search
                found = _ezkl.read_settings(Path(default.circuit.settings_path))
                capped = cand.config.scales
                scale = min(max(capped), found.input_scale) if capped else found.input_scale
                cand.config = cand.config.model_copy(update={
                    "scales": [scale], "rebase_multipliers": [found.scale_rebase_multiplier]})
            calibrate(cand, f"Tuning (quick) {spent}/{max_calibrations}: {_c.label(cand.config)}")
            if cand.circuit is not None and lookups is None:
                lookups = _ezkl.read_settings(Path(cand.circuit.settings_path)).has_lookups
            if cand.accurate and cand.logrows is not None and cand.logrows <= limit:
                best = cand
    everything = [default, *cands]
    if best is None:
        if default.logrows is None:  # every candidate failed before the floor was needed
            calibrate(default, "Tuning (quick): calibrating ezkl's default settings (the floor)")
            default.skipped = None
        if default.circuit is None:
            raise CompileError(f"ezkl's default settings do not compile this model: "
                               f"{default.error}")
        return _c.TuneResult(default.config, default, default, everything, False,
                             f"quick: no accurate candidate below ezkl's default logrows "
                             f"{default.logrows} within {max_calibrations} calibration(s): "
                             "keeping ezkl's default settings")
    vs = (f"ezkl's default logrows {floor_k}" if floor_k is not None else
          f"ezkl's default logrows >= {RANGE_TABLE_LOGROWS} (its range table)")
    return _c.TuneResult(best.config, default, best, everything, True,
                         f"quick: logrows {best.logrows} vs {vs}, max error "
                         f"{best.max_abs_error:.3g} ({spent} calibration(s), no proof)")
