"""The quick tuner (``tune(mode="quick")``): layout estimates, a few calibrations, no proof.

The thorough search measures candidates for real (setup + two proofs each), which costs more
than a first proof with ezkl's own flow. This one decides from calibrated settings and the one
cost model (``zkml.circuit.cost``), and never takes more columns than ezkl's 2: more columns at
a lower logrows look cheaper to a cells-based model than they prove (measured up to 1.45x
slower, issue #22), while fewer columns at the same logrows are fewer cells over the same
tables (one column proved sk-svc at logrows 15 in 0.65x the time of two).

1. lay out ezkl's default and every grid layout (decomposition x 1 or 2 columns) without
   calibrating (``estimate_rows``: well under a second each);
2. a model without lookup ops: calibrate the cheapest layout estimated below the logrows
   ezkl's default can ever have (its range table alone needs 15, ``RANGE_TABLE_LOGROWS``),
   in one pass at the scale ezkl's search settles on for such models (``SCALE_GUESS``: about
   a sixth of the search's time). Accurate and cheaper than that bound, it is chosen, and
   ezkl's default is never calibrated;
3. otherwise calibrate ezkl's default (the floor: what ezkl's own flow spends; cached, the
   fallback circuit too). Its settings give the scale and rebase multiplier ezkl's search
   found and the size of its lookup tables. Each layout is predicted at that scale (with
   lookup tables, also one and two scales lower: each halves them) and its rebase multiplier
   as logrows = max(layout, lookup table), priced by the cost model; the
   cheapest is laid out again at its own scale and multiplier (the first layout assumed the
   fewest rows), grown as much as the floor's rows grew from its layout to its calibrated
   circuit, and re-ranked, and those still predicted cheaper than the floor are
   calibrated in one pass each, cheapest first (the higher scale first among equals), within
   ``max_calibrations``. One is kept if it is accurate (or, where ezkl's default itself misses
   the accuracy bound, no less accurate than it) and its calibrated cost is below the floor's;
4. nothing found: ezkl's default settings.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from zkml import _ezkl
from zkml._progress import step
from zkml.choice import columns_text
from zkml.circuit.compile import CompileConfig
from zkml.circuit.cost import relative_cost
from zkml.errors import CompileError
from zkml.tuning import common as _c
from zkml.tuning.floor import RANGE_TABLE_LOGROWS, floor_config

__all__ = ["tune_quick", "QUICK_CALIBRATIONS", "LOOKUP_OPS", "SCALE_GUESS"]

#: ONNX ops ezkl proves through lookup tables, whose size the layout does not see: a model
#: with one gets ezkl's default calibrated first (a candidate alone cannot show it beats the
#: range-table bound; the floor's settings tell the tables' size)
LOOKUP_OPS = frozenset({"Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Erf",
                        "Gelu", "Sqrt", "Reciprocal", "Pow", "HardSigmoid", "Softplus", "Elu",
                        "Selu", "Celu", "LSTM", "GRU", "RNN", "LayerNormalization", "Cos",
                        "Sin", "Tan", "Atan", "Asin", "Acos", "Sinh", "Cosh", "Mish",
                        "HardSwish", "InstanceNormalization"})

#: calibrations the quick mode may spend on candidates (ezkl's default, when it must be
#: calibrated, is not counted: ezkl's own flow spends that one too)
QUICK_CALIBRATIONS = 2

#: scales below the one ezkl's search found that a model with lookup tables may try: each
#: halves the tables; two keep the error within the bound on the corpus's lookup models
LOOKUP_SCALE_STEPS = (0, 1, 2)

#: the scale ezkl's own calibration search (target "resources") picks for a model without
#: lookup tables: the largest it tries among those with the fewest logrows (FIELD_NOTES)
SCALE_GUESS = 13

#: rows halo2 keeps for blinding below a table (as ``zkml.circuit.layout``)
_RESERVED_ROWS = 8

_NOT_CHEAPER = "its fewest rows cannot beat ezkl's defaults"

#: one-pass candidates laid out again at their own scale before calibrating (each well under
#: a second; a calibration costs several, 13 s on the corpus's LSTM); never one calibrated
#: on its first layout, which assumed the fewest rows (3x too few on that LSTM)
MAX_RELAYOUTS = 24


def _rows_at_scale(task: _c.TuneTask, config: CompileConfig, scale: int, rebase: int) -> int:
    """The rows ezkl lays ``config`` out in at this scale and rebase multiplier."""
    return task.rows_with(config, {"input_scale": scale, "param_scale": scale,
                                   "scale_rebase_multiplier": rebase})


def _relay_out(task: _c.TuneTask, cand: _c.Candidate, tables: dict[int, int],
               growth: float) -> None:
    """``cand``'s rows at its own scale and rebase multiplier, grown as the floor's grew from
    its layout to its calibrated circuit; its logrows with the tables."""
    scale = (cand.config.scales or [0])[0]
    try:
        rows = _rows_at_scale(task, cand.config, scale,
                              (cand.config.rebase_multipliers or [1])[0])
    except CompileError as e:
        cand.error = str(e).splitlines()[0][:200]
        cand.est_logrows = 99  # never calibrated
        return
    grown = math.ceil(rows * growth)
    k = math.ceil(math.log2(max(grown, cand.config.decomp_base) + _RESERVED_ROWS))
    cand.est_rows, cand.est_logrows = grown, max(k, tables.get(scale, 0))


def _layout_key(c: CompileConfig) -> tuple[int, int, int, int]:
    return (c.decomp_base, c.decomp_legs, c.num_inner_cols, c.max_logrows)


def _cost(cand: _c.Candidate, logrows: int | None) -> float:
    return relative_cost(cand.config.num_inner_cols, logrows or 99)


def _no_worse(cand: _c.Candidate, default: _c.Candidate) -> bool:
    """Accurate, or (ezkl's default itself missing the bound) no less accurate than it."""
    if cand.accurate:
        return True
    if cand.max_abs_error is None or default.max_abs_error is None:
        return False
    return (cand.max_abs_error <= default.max_abs_error
            and (cand.argmax_agreement or 0.0) >= (default.argmax_agreement or 0.0))


def tune_quick(
    task: _c.TuneTask,
    *,
    grid: dict[str, list[Any]],
    max_calibrations: int = QUICK_CALIBRATIONS,
    min_gain: float = 0.10,
) -> _c.TuneResult:
    """The quick search (see the module docstring); called by :func:`zkml.tune`.

    ``min_gain`` is unused (a candidate is calibrated only when predicted cheaper than the
    floor, and kept only when its calibrated cost is).

    Raises:
        CompileError: ezkl cannot lay the model out with its default settings.
    """
    default = _c.Candidate(floor_config(task.base))
    layouts: dict[tuple[int, int, int, int], tuple[int, int] | str] = {}

    def lay_out(cand: _c.Candidate) -> None:
        key = _layout_key(cand.config)
        if key not in layouts:
            try:
                layouts[key] = task.lay_out(cand.config)
            except CompileError as e:
                layouts[key] = str(e).splitlines()[0][:200]
        got = layouts[key]
        if isinstance(got, str):
            cand.error = got
        else:
            cand.est_rows, cand.est_logrows = got

    def calibrate(cand: _c.Candidate, what: str, judge: bool = True) -> None:
        _c.calibrate_candidate(cand, what, task, judge=judge)

    def no_worse(cand: _c.Candidate) -> bool:
        # the floor is judged on the held-out samples only when a candidate needs it (an
        # inaccurate one): a witness per sample, seconds on a LeNet-size model
        if not cand.accurate:
            _c.judge_candidate(default, task)
        return _no_worse(cand, default)

    # never more columns than ezkl's default; one column where the grid allows it
    cols = sorted({c for c in grid["num_inner_cols"] if c <= _c.EZKL_DEFAULT.num_inner_cols}
                  or {_c.EZKL_DEFAULT.num_inner_cols})
    seen = {default.config.model_dump_json()}
    layout_cands = []
    for cfg in _c.grid_configs(task.base, {**grid, "num_inner_cols": cols, "scales": [None],
                                      "lookup_margin": [2.0]}, lookups=False):
        if cfg.model_dump_json() not in seen:
            seen.add(cfg.model_dump_json())
            layout_cands.append(_c.Candidate(cfg))
    with step(f"Tuning (quick): laying out ezkl's defaults and {len(layout_cands)} layouts"):
        lay_out(default)
        for cand in layout_cands:
            lay_out(cand)
    if default.est_logrows is None:
        raise CompileError(f"ezkl's default settings do not lay this model out: {default.error}")
    default.skipped = "not calibrated: a candidate was cheaper than its range table alone"
    bound_cost = relative_cost(_c.EZKL_DEFAULT.num_inner_cols, RANGE_TABLE_LOGROWS)
    laid = sorted((c for c in layout_cands if c.est_logrows is not None),
                  key=lambda c: (_cost(c, c.est_logrows), -c.config.decomp_base))
    spent = 0

    # 2. below the range-table bound, no floor needed (models without lookup ops)
    # (a layout assumes the fewest rows calibration may pick: only a logrows below the bound
    # is a clear enough win to skip the floor for)
    below = [c for c in laid if (c.est_logrows or 99) < RANGE_TABLE_LOGROWS]
    guesses: list[_c.Candidate] = []
    if below and not (LOOKUP_OPS & set(task.exported.ops)):
        first = below[0]
        # one pass at the scale ezkl's search settles on for a model without lookup tables
        # (the largest among the fewest logrows: SCALE_GUESS on every such corpus model)
        # costs about a sixth of the search; when it misses, the floor's search (step 3)
        # finds the scale the candidates are then tried at
        guess = _c.Candidate(first.config.model_copy(update={"scales": [SCALE_GUESS]}),
                             est_rows=first.est_rows, est_logrows=first.est_logrows)
        guesses.append(guess)
        spent += 1
        calibrate(guess, f"Tuning (quick) {spent}/{max_calibrations}: {_c.label(guess.config)}"
                  " (ezkl's usual scale)")
        if guess.accurate and _cost(guess, guess.logrows) < bound_cost:
            for c in layout_cands:
                c.skipped = "a cheaper candidate was chosen"
            return _c.TuneResult(guess.config, default, guess,
                                 [default, *guesses, *layout_cands], True,
                                 f"quick: logrows {guess.logrows} with "
                                 f"{columns_text(guess.config.num_inner_cols)} vs ezkl's default "
                                 f"logrows >= {RANGE_TABLE_LOGROWS} (its range table), max "
                                 f"error {guess.max_abs_error:.3g} ({spent} calibration(s), "
                                 "no proof)")

    # 3. the floor, then one-pass candidates predicted cheaper than it
    calibrate(default, "Tuning (quick): calibrating ezkl's default settings (the floor)",
              judge=False)
    default.skipped = None
    if default.circuit is None or default.logrows is None:
        raise CompileError(f"ezkl's default settings do not compile this model: {default.error}")
    found = _ezkl.read_settings(Path(default.circuit.settings_path))
    floor_cost = _cost(default, default.logrows)
    # calibration lays some graphs out in more rows than gen_settings does at the same scale
    # (an LSTM: 3x, as its lookups' ranges become known); a candidate's layout is assumed to
    # grow as the floor's did, so such a model spends no calibration on a hopeless candidate
    try:
        laid_floor = _rows_at_scale(task, default.config, found.input_scale,
                                    found.scale_rebase_multiplier)
        growth = max(1.0, found.num_rows / max(laid_floor, 1))
    except CompileError:
        growth = 1.0
    steps = LOOKUP_SCALE_STEPS if found.lookup_entries else (0,)
    one_pass: list[_c.Candidate] = []
    tables: dict[int, int] = {}  # scale -> logrows its lookup tables need
    # ezkl's found rebase multiplier only: another one at its scale overflowed the range
    # checks on the corpus (convt-decoder: 10 at scale 13), and the retry then searched
    rebase = found.scale_rebase_multiplier
    for lay in [c for c in layout_cands if c.est_logrows is not None] + [default]:
        for scale in (found.input_scale - k for k in steps):
            if lay is default and scale == found.input_scale:
                continue  # the floor itself
            if any(g.logrows is not None and _layout_key(g.config) == _layout_key(lay.config)
                   and scale == SCALE_GUESS for g in guesses):
                continue  # the guess calibrated it already
            table = found.lookup_entries / 2.0 ** (found.input_scale - scale)
            tables[scale] = math.ceil(math.log2(table + _RESERVED_ROWS)) if table else 0
            one_pass.append(_c.Candidate(
                lay.config.model_copy(update={"scales": [scale],
                                              "rebase_multipliers": [rebase]}),
                est_rows=lay.est_rows, est_logrows=max(lay.est_logrows or 0, tables[scale])))

    def rank(c: _c.Candidate) -> tuple[float, int, int]:
        # among equal predictions: the higher scale (accuracy), then the larger decomposition
        # base (fewer rows than laid out is likelier)
        return (_cost(c, c.est_logrows), -(c.config.scales or [0])[0], -c.config.decomp_base)

    # cheapest prediction first; before its calibration a candidate is laid out again at its
    # own scale and rebase multiplier (the first layout assumed the fewest rows calibration
    # could pick), so a layout that grew is re-ranked instead of calibrated
    pending, refined = sorted(one_pass, key=rank), set[int]()
    best: _c.Candidate | None = None
    for c in guesses:  # calibrated before the floor: now judged against it
        if c.logrows is not None and _cost(c, c.logrows) < floor_cost and no_worse(c):
            best = c
    while pending:
        cand = pending.pop(0)
        predicted = _cost(cand, cand.est_logrows)
        if predicted >= floor_cost:
            cand.skipped = _NOT_CHEAPER
        elif best is not None and predicted >= _cost(best, best.logrows):
            cand.skipped = "a cheaper candidate was chosen"
        elif spent >= max_calibrations:
            cand.skipped = f"calibration budget ({max_calibrations}) spent"
        elif id(cand) not in refined:
            if len(refined) >= MAX_RELAYOUTS:
                cand.skipped = f"not laid out at its scale (budget of {MAX_RELAYOUTS} spent)"
                continue
            refined.add(id(cand))
            _relay_out(task, cand, tables, growth)
            pending = sorted([*pending, cand], key=rank)
        else:
            spent += 1
            calibrate(cand, f"Tuning (quick) {spent}/{max_calibrations}: {_c.label(cand.config)}")
            if cand.logrows is not None and _cost(cand, cand.logrows) < \
                    (_cost(best, best.logrows) if best else floor_cost) and no_worse(cand):
                best = cand
    for c in laid:
        if c.logrows is None and c.skipped is None:
            c.skipped = (_NOT_CHEAPER if _cost(c, c.est_logrows) >= floor_cost else
                         "judged at the scale ezkl's own search found (below)")
    everything = [default, *guesses, *layout_cands, *one_pass]
    if best is None and default.circuit.quantization.max_abs_error is None:
        return _c.TuneResult(default.config, default, default, everything, False,
                             "quick: no float reference to judge a candidate's accuracy by: "
                             "keeping ezkl's default settings")
    if best is None:
        return _c.TuneResult(default.config, default, default, everything, False,
                             f"quick: no accurate candidate cheaper than ezkl's default "
                             f"(logrows {default.logrows}, "
                             f"{columns_text(default.config.num_inner_cols)}) within "
                             f"{max_calibrations} calibration(s): keeping ezkl's default "
                             "settings")
    return _c.TuneResult(best.config, default, best, everything, True,
                         f"quick: logrows {best.logrows} with "
                         f"{columns_text(best.config.num_inner_cols)} vs ezkl's default logrows "
                         f"{default.logrows} with "
                         f"{columns_text(default.config.num_inner_cols)}, max error "
                         f"{best.max_abs_error:.3g} ({spent} calibration(s), no proof)")
