"""Laying a circuit out without calibrating: rows, logrows and cost, in about a second.

ezkl lays the graph out on ``gen_settings``; that is also where it meets every node, so an
operator ezkl cannot prove is found (and named) here, long before a calibration.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zkml import _ezkl, cache
from zkml.artifacts import ExportedModel
from zkml.circuit.compile import CompileConfig, layout_args
from zkml.presets import get_preset, visibility_for

__all__ = ["estimate_rows", "estimate_rows_of", "estimate_cost", "CostEstimate",
           "PROVE_SECONDS_PER_CELL", "PK_BYTES_PER_CELL"]


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
    onnx_path: Path, *, preset: str = "private-input", config: CompileConfig | None = None
) -> tuple[int, int]:
    """:func:`estimate_rows` for an ONNX file (no export artifact needed).

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
                           {**layout_args(vis, cfg), "scale_rebase_multiplier": 10})
        rows = _ezkl.read_settings(settings).num_rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logrows = int(np.ceil(np.log2(max(rows, cfg.decomp_base) + _RESERVED_ROWS)))
    return rows, logrows


#: Measured on this 2-core machine kind (benchmarks/RESULTS.md, FIELD_NOTES): prove time and
#: proving-key size both track the cells (columns + 1) x 2^logrows: MLP logrows 15 / 2 columns
#: 6.6 s, 138 MB pk; LeNet-5 logrows 19: 98-107 s, 2.2 GB pk, 4.8-5.2 GB peak.
PROVE_SECONDS_PER_CELL = 8e-5
PK_BYTES_PER_CELL = 1400


@dataclass(frozen=True)
class CostEstimate:
    """Rough cost of proving at ``logrows`` (a layout estimate: no calibration)."""

    logrows: int
    prove_seconds: float
    proving_key_bytes: int
    peak_memory_bytes: int


def estimate_cost(logrows: int, num_inner_cols: int = 2) -> CostEstimate:
    """Prove time and memory at ``logrows``, from measured runs (within ~30% on this machine
    kind; a calibration can raise logrows by one or two)."""
    cells = (num_inner_cols + 1) * 2**logrows
    pk = int(PK_BYTES_PER_CELL * cells)
    # peak = the proving key held twice plus working buffers (batch.estimate_proof_memory)
    return CostEstimate(logrows, PROVE_SECONDS_PER_CELL * cells, pk, int(0.3e9 + 2.5 * pk))
