"""The one cost model: what a circuit of a given size costs to prove (no ezkl call).

Prove time and memory both track the cells, (inner columns + the fixed columns every circuit
pays for) x 2^logrows, but with different fixed parts: the issue-#22 corpus measured 4 inner
columns at the same logrows as ezkl's 2 at 1.83x the prove time and 1.93x the peak memory,
so columns cost nearly in proportion, and the lookup / permutation overhead is small.
Compile (the ezkl floor), tuning, batch and split all rank circuits with these functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["CostEstimate", "estimate_cost", "max_logrows_for_memory", "relative_cost",
           "peak_memory_for_key",
           "PROVE_SECONDS_PER_CELL", "PK_BYTES_PER_CELL", "TIME_FIXED_COLUMNS",
           "MEMORY_FIXED_COLUMNS"]


#: Column-equivalents besides the inner ones, fitted to the measured ratios above:
#: (4 + f) / (2 + f) = 1.83 for time, 1.93 for memory. One column (quick mode's other choice)
#: is then 0.58x the time of two at equal logrows; sk-svc at logrows 15 measured 0.65x.
TIME_FIXED_COLUMNS = 0.4
MEMORY_FIXED_COLUMNS = 0.15

#: Measured on this 2-core machine kind: a LeNet-sized CNN at logrows 17 / 2 columns proved in
#: 13.2 s, 1.35 GB peak (issue #22); MLP logrows 15: 3.8 s, 138 MB pk; LeNet-5 logrows 19: 60-101 s,
#: 2.2 GB pk, 4.8-5.2 GB peak.
PROVE_SECONDS_PER_CELL = 4.5e-5
PK_BYTES_PER_CELL = 1960


@dataclass(frozen=True)
class CostEstimate:
    """Rough cost of proving at ``logrows`` (a layout estimate: no calibration)."""

    logrows: int
    prove_seconds: float
    proving_key_bytes: int
    peak_memory_bytes: int


def relative_cost(num_inner_cols: int, logrows: int) -> float:
    """Prove time in cells, (columns + fixed) x 2^logrows: what the tuners rank by."""
    return (num_inner_cols + TIME_FIXED_COLUMNS) * 2.0**logrows


def estimate_cost(logrows: int, num_inner_cols: int = 2) -> CostEstimate:
    """Prove time and memory at ``logrows``, from measured runs (within ~30% on this machine
    kind; a calibration can raise logrows by one or two)."""
    pk = int(PK_BYTES_PER_CELL * (num_inner_cols + MEMORY_FIXED_COLUMNS) * 2**logrows)
    return CostEstimate(logrows, PROVE_SECONDS_PER_CELL * relative_cost(num_inner_cols, logrows),
                        pk, peak_memory_for_key(pk))


def peak_memory_for_key(pk_bytes: int) -> int:
    """Peak bytes of one proof whose proving key has ``pk_bytes`` (measured: the key held
    about 2.5 times over, plus 0.3 GB of working buffers)."""
    return int(0.3e9 + 2.5 * pk_bytes)


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
