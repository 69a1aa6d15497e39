"""The floor under every compile: never settings estimated dearer than ezkl's own default.

ezkl's own flow (``gen_settings`` with its defaults, ``calibrate_settings`` for resources) is
what a user would get without zkml. :func:`settle` compares the circuit a mode chose with
that one, by the one cost model (``zkml.circuit.cost``) or, in thorough mode, by measured
prove times, and keeps ezkl's default when the choice is estimated dearer in prove time or
peak memory. It calibrates ezkl's default only when it has to: with 2 columns (ezkl's
number) a circuit at logrows <= 15 is never dearer, since ezkl's default range-check table
(decomp base 16384) alone needs 2^14 rows plus blinding, i.e. logrows >= 15.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zkml import _ezkl
from zkml._progress import step
from zkml.artifacts import Circuit
from zkml.choice import CostFigures, SettingsChoice, columns_text
from zkml.circuit.compile import CompileConfig
from zkml.circuit.cost import estimate_cost, max_logrows_for_memory
from zkml.tuning.common import EZKL_DEFAULT, TuneTask, default_config

__all__ = ["RANGE_TABLE_LOGROWS", "floor_config", "figures", "bound_figures", "settle",
           "ezkl_default_circuit"]

#: the logrows ezkl's default decomposition (base 16384) needs for its range table alone
RANGE_TABLE_LOGROWS = int(np.ceil(np.log2(EZKL_DEFAULT.decomp_base + 8)))


def floor_config(base: CompileConfig) -> CompileConfig:
    """ezkl's own defaults on ``base`` (visibility overrides, samples limit kept), with no
    logrows cap but this machine's memory: ezkl's flow calibrates without one."""
    cfg = default_config(base)
    return cfg.model_copy(update={"max_logrows": max(base.max_logrows,
                                                     max_logrows_for_memory(2))})


def ezkl_default_circuit(task: TuneTask) -> Circuit:
    """ezkl's default circuit for the task's model (calibrated once, cached by content)."""
    with step("Calibrating ezkl's own default settings (the floor)"):
        return task.compile(floor_config(task.base))


def figures(circuit: Circuit) -> CostFigures:
    """The circuit's settings, read from its settings file, and their estimated cost."""
    s = _ezkl.read_settings(Path(circuit.settings_path))
    est = estimate_cost(s.logrows, s.num_inner_cols)
    return CostFigures(logrows=s.logrows, num_inner_cols=s.num_inner_cols,
                       decomp=f"{s.decomp_base}^{s.decomp_legs}",
                       prove_seconds=est.prove_seconds,
                       peak_memory_bytes=est.peak_memory_bytes)


def bound_figures() -> CostFigures:
    """The least ezkl's default can cost (its range table's logrows), not calibrated."""
    est = estimate_cost(RANGE_TABLE_LOGROWS, EZKL_DEFAULT.num_inner_cols)
    return CostFigures(logrows=RANGE_TABLE_LOGROWS, num_inner_cols=EZKL_DEFAULT.num_inner_cols,
                       decomp=f"{EZKL_DEFAULT.decomp_base}^{EZKL_DEFAULT.decomp_legs}",
                       prove_seconds=est.prove_seconds,
                       peak_memory_bytes=est.peak_memory_bytes, calibrated=False)


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def settle(task: TuneTask, chosen: Circuit, *, mode: str, why: str = "",
           measured: tuple[float, float] | None = None) -> Circuit:
    """``chosen``, or ezkl's default circuit where ``chosen`` is estimated dearer.

    Args:
        task: the model, samples, preset and base settings the compile of ``chosen`` had.
        chosen: the circuit the mode picked.
        mode: "none", "quick" or "thorough" (recorded).
        why: the mode's own reason, prefixed to the decision's.
        measured: thorough mode's measured prove seconds (chosen, ezkl's default): time is
            then judged by them, memory still by the estimate.

    Returns:
        The circuit to use, its ``choice`` filled in (both estimates and the reason).
    """
    mine = figures(chosen)
    lead = f"{why}; " if why else ""
    if mine.num_inner_cols <= EZKL_DEFAULT.num_inner_cols and mine.logrows <= RANGE_TABLE_LOGROWS:
        return chosen.model_copy(update={"choice": SettingsChoice(
            mode=mode, ezkl_default=bound_figures(), chosen=mine, chose="zkml",  # type: ignore[arg-type]
            reason=f"{lead}logrows {mine.logrows} with {columns_text(mine.num_inner_cols)}: never "
                   f"dearer than ezkl's default, whose range table alone needs logrows >= "
                   f"{RANGE_TABLE_LOGROWS}")})
    floor = ezkl_default_circuit(task)
    ref = figures(floor)
    if floor.digest == chosen.digest:
        return floor.model_copy(update={"choice": SettingsChoice(
            mode=mode, ezkl_default=ref, chosen=ref, chose="ezkl-default",  # type: ignore[arg-type]
            reason=why or f"ezkl's default settings (logrows {ref.logrows})")})
    if measured is not None:
        faster = measured[0] < measured[1]
        time_text = f"measured prove {measured[0]:.2f} s vs {measured[1]:.2f} s"
    else:
        faster = mine.prove_seconds < ref.prove_seconds
        time_text = (f"estimated prove {mine.prove_seconds:.2f} s vs "
                     f"{ref.prove_seconds:.2f} s")
    lighter = mine.peak_memory_bytes <= ref.peak_memory_bytes
    compared = (f"logrows {mine.logrows} / {columns_text(mine.num_inner_cols)} vs ezkl's default "
                f"logrows {ref.logrows} / {columns_text(ref.num_inner_cols)}: {time_text}, "
                f"estimated peak {_gb(mine.peak_memory_bytes)} vs {_gb(ref.peak_memory_bytes)}")
    if faster and lighter:
        return chosen.model_copy(update={"choice": SettingsChoice(
            mode=mode, ezkl_default=ref, chosen=mine, chose="zkml",  # type: ignore[arg-type]
            reason=f"{lead}{compared}")})
    return floor.model_copy(update={"choice": SettingsChoice(
        mode=mode, ezkl_default=ref, chosen=ref, chose="ezkl-default",  # type: ignore[arg-type]
        reason=f"{lead}kept ezkl's default settings: the choice was "
               f"{'not faster' if not faster else 'heavier'} ({compared})")})
