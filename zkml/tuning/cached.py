"""The tuner's search, cached with the model's artifacts (``zkml compile --tune``, ``zkml tune``).

The key covers the model, the samples, the preset, the base settings, the accuracy bound, the
grid and the search parameters (and the mode: a quick and a thorough search are cached apart).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zkml import cache
from zkml._utils import digest_of, sha256_bytes
from zkml.circuit.compile import CompileConfig
from zkml.circuit.cost import MEMORY_FIXED_COLUMNS, TIME_FIXED_COLUMNS
from zkml.tuning import tuner as _t
from zkml.tuning.tuner import (
    DEFAULT_GRID,
    TOLERANCE,
    GasMeter,
    TuneTask,
    check_mode,
    search,
)

__all__ = ["tune_cached", "tune_key"]


def tune_key(task: TuneTask, grid: dict[str, list[Any]], params: dict[str, Any]) -> str:
    # the samples as the compile stage reads them: packed rows for a model of several inputs
    cal = np.asarray(task.cal, dtype=np.float64)
    ev = np.asarray(task.evals, dtype=np.float64)
    return digest_of("tune/7", task.exported.onnx_sha256, sha256_bytes(cal.tobytes()),
                     sha256_bytes(ev.tobytes()), task.preset, task.base.model_dump(),
                     task.bound.model_dump(), grid, params, TIME_FIXED_COLUMNS,
                     MEMORY_FIXED_COLUMNS, TOLERANCE)


def tune_cached(task: TuneTask, *, grid: dict[str, list[Any]] | None = None,
                measure_top: int = 2, max_calibrations: int = 10,
                min_gain: float = 0.10, gas_meter: GasMeter | None = None,
                mode: str = "thorough") -> tuple[CompileConfig, dict[str, Any]]:
    """:func:`zkml.tune` on ``task``, cached with the model's artifacts: returns (config,
    report).

    With and without ``gas_meter`` are cached apart (the choice may differ), as are the modes.
    """
    check_mode(mode)
    grid = grid or DEFAULT_GRID
    params: dict[str, Any] = {"measure_top": measure_top, "max_calibrations": max_calibrations,
                              "min_gain": min_gain, "verify_gas": gas_meter is not None}
    if mode == "quick":  # thorough keeps the key it had before modes existed
        params = {"mode": "quick", "max_calibrations": max_calibrations, "min_gain": min_gain}
    key = tune_key(task, grid, params)

    def build(tmp: Any) -> dict[str, object]:
        t0 = _t._clock()
        r = search(task, grid=grid, measure_top=measure_top,
                   max_calibrations=max_calibrations, min_gain=min_gain, gas_meter=gas_meter,
                   mode=mode)
        return {"config": r.config.model_dump(), "message": r.message, "mode": mode,
                "beat_default": r.beat_default, "speedup": r.speedup,
                "tune_seconds": _t._clock() - t0,
                "default": r.default.summary(), "chosen": r.chosen.summary(),
                "candidates": [c.summary() for c in r.candidates]}

    entry = cache.get_or_build("tune", key, build)
    return CompileConfig.model_validate(entry.meta["config"]), dict(entry.meta)
