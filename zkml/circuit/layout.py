"""Laying a circuit out without calibrating: rows, logrows and cost, in about a second.

ezkl lays the graph out on ``gen_settings``; that is also where it meets every node, so an
operator ezkl cannot prove is found (and named) here, long before a calibration.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zkml import _ezkl, cache
from zkml.artifacts import ExportedModel
from zkml.circuit.compile import CompileConfig, layout_args
from zkml.circuit.cost import CostEstimate, estimate_cost
from zkml.presets import get_preset, visibility_for

__all__ = ["estimate_rows", "estimate_rows_of", "estimate_cost", "CostEstimate"]


#: Rows halo2 keeps for blinding at the bottom of every column (a lower bound is enough here).
_RESERVED_ROWS = 8


def estimate_rows(
    exported: ExportedModel, *, preset: str = "private-input", config: CompileConfig | None = None
) -> tuple[int, int]:
    """A lower bound on a circuit's (rows, logrows) under ``config``, without calibrating.

    ezkl lays the circuit out once (well under a second even for LeNet-size models, where one
    calibration takes minutes). Rows depend on decomp base/legs and columns, barely on scales;
    the layout uses the rebase multiplier with the fewest rows calibration may pick, and the
    range-check table (``decomp_base`` rows) sets a floor of its own.
    """
    return estimate_rows_of(Path(exported.onnx_path), preset=preset, config=config)


def estimate_rows_of(
    onnx_path: Path, *, preset: str = "private-input", config: CompileConfig | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """:func:`estimate_rows` for an ONNX file (no export artifact needed); ``overrides`` are
    ezkl run args set last (a split segment commits its boundaries: ``polycommit``).

    Raises:
        UnsupportedOpError: ezkl cannot lay out one of the graph's nodes (named).
        CompileError: any other layout failure.
    """
    cfg = config or CompileConfig()
    vis = visibility_for(get_preset(preset), param_visibility=cfg.param_visibility,
                         allow_unbound_model=cfg.allow_unbound_model)
    work = cache.private_workdir("estimate")
    try:
        settings = work / "settings.json"
        _ezkl.gen_settings(onnx_path, settings,
                           {**layout_args(vis, cfg), "scale_rebase_multiplier": 10,
                            **(overrides or {})})
        rows = _ezkl.read_settings(settings).num_rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logrows = int(np.ceil(np.log2(max(rows, cfg.decomp_base) + _RESERVED_ROWS)))
    return rows, logrows
