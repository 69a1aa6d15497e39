"""What a circuit of a given size costs to prove, from measured runs (no ezkl call)."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["CostEstimate", "estimate_cost", "max_logrows_for_memory",
           "PROVE_SECONDS_PER_CELL", "PK_BYTES_PER_CELL"]


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


def max_logrows_for_memory(num_inner_cols: int = 2, fraction: float = 0.7) -> int:
    """The largest logrows whose estimated peak fits ``fraction`` of this machine's memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 8 * 10**9
    k = 10
    while k < 26 and estimate_cost(k + 1, num_inner_cols).peak_memory_bytes <= fraction * total:
        k += 1
    return k
