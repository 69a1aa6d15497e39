"""Batch proving throughput on Ray for 1 and 2 workers, measured side by side in one run.

    .venv/bin/pytest benchmarks/test_batch_throughput.py \
        --benchmark-json benchmarks/results/batch_throughput.json
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import circuits
import zkml

N_INPUTS = int(os.environ.get("ZKML_BENCH_BATCH", "24"))
RESULTS: dict[int, float] = {}


@pytest.fixture(scope="module")
def model(workdir: Path) -> tuple[Any, zkml.Keys]:
    return circuits.prepare(os.environ.get("ZKML_BENCH_MODEL", "breast-cancer"), workdir)


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_batch_throughput(benchmark: Any, model: tuple[Any, zkml.Keys], workdir: Path,
                              workers: int) -> None:
    zoo, keys = model
    items = [(f"x{i:03d}", zoo.calibration[i % len(zoo.calibration)]) for i in range(N_INPUTS)]
    runs = iter(range(100))

    def run() -> zkml.BatchResult:
        return zkml.prove_batch(keys, items, workdir / f"w{workers}-{next(runs)}",
                                backend="ray", workers=workers)

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    assert res.proved == N_INPUTS and res.failed == 0
    RESULTS[workers] = res.throughput_per_minute
    benchmark.extra_info.update({
        "model": zoo.name, "inputs": N_INPUTS, "workers": workers,
        "proofs_per_minute": round(res.throughput_per_minute, 2),
        "logrows": keys.circuit.logrows, "cpus": os.cpu_count(),
    })
    if 1 in RESULTS and 2 in RESULTS:
        benchmark.extra_info["scaling_2_over_1"] = round(RESULTS[2] / RESULTS[1], 3)
