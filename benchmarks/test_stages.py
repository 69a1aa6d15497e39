"""Per-stage benchmarks (pytest-benchmark); figures in extra_info, JSON kept.

    .venv/bin/pytest benchmarks/test_stages.py --benchmark-json benchmarks/results/stages.json
    ZKML_BENCH_MODEL=breast-cancer .venv/bin/pytest benchmarks/test_stages.py ...
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

import pytest

import circuits
import zkml

MODEL = os.environ.get("ZKML_BENCH_MODEL", "tiny-mlp")


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture(scope="module")
def zoo() -> circuits.ZooModel:
    return circuits.build(MODEL)


@pytest.fixture(scope="module")
def exported(zoo: circuits.ZooModel, workdir: Path) -> zkml.ExportedModel:
    return zkml.export(zoo.model, zoo.example_input, workdir / f"{MODEL}.onnx")


@pytest.fixture(scope="module")
def keys(zoo: circuits.ZooModel, exported: zkml.ExportedModel) -> zkml.Keys:
    return zkml.setup(zkml.compile_model(exported, zoo.calibration, config=zoo.config))


@pytest.fixture(scope="module")
def bundle(keys: zkml.Keys, zoo: circuits.ZooModel) -> zkml.ProofBundle:
    return zkml.prove(keys, zoo.test_inputs[0])


def _info(benchmark: Any, keys: zkml.Keys, **extra: Any) -> None:
    benchmark.extra_info.update({"model": MODEL, "logrows": keys.circuit.logrows,
                                 "rows": keys.circuit.num_rows, "peak_rss": _rss(), **extra})


def test_compile(benchmark: Any, zoo: circuits.ZooModel, exported: zkml.ExportedModel,
                 tmp_path: Path) -> None:
    # a fresh cache per round, so calibration really runs
    rounds = iter(range(100))

    def run() -> zkml.Circuit:
        os.environ["ZKML_CACHE_DIR"] = str(tmp_path / f"c{next(rounds)}")
        return zkml.compile_model(exported, zoo.calibration, config=zoo.config)

    old = os.environ["ZKML_CACHE_DIR"]
    try:
        c = benchmark.pedantic(run, rounds=2, iterations=1)
    finally:
        os.environ["ZKML_CACHE_DIR"] = old
    assert not c.cache_hit
    benchmark.extra_info.update({"model": MODEL, "logrows": c.logrows, "rows": c.num_rows,
                                 "peak_rss": _rss()})


def test_setup(benchmark: Any, keys: zkml.Keys) -> None:
    from zkml import _ezkl

    d = Path(keys.dir)
    benchmark.pedantic(lambda: _ezkl.setup(Path(keys.circuit.compiled_path), d / "b_vk.key",
                                           d / "b_pk.key", Path(keys.srs_path)),
                       rounds=3, iterations=1)
    for f in ("b_vk.key", "b_pk.key"):
        (d / f).unlink()
    _info(benchmark, keys, pk_bytes=Path(keys.pk_path).stat().st_size)


def test_prove(benchmark: Any, keys: zkml.Keys, zoo: circuits.ZooModel) -> None:
    b = benchmark.pedantic(lambda: zkml.prove(keys, zoo.test_inputs[0]), rounds=5, iterations=1)
    _info(benchmark, keys, proof_bytes=len(b.proof) // 2 - 1)


def test_verify(benchmark: Any, keys: zkml.Keys, bundle: zkml.ProofBundle) -> None:
    assert benchmark(zkml.verify, bundle, keys)
    _info(benchmark, keys)


def test_verify_onchain(benchmark: Any, keys: zkml.Keys, bundle: zkml.ProofBundle) -> None:
    chain = zkml.connect()
    dep = zkml.deploy_verifier(chain, zkml.build_verifier(keys))
    res = benchmark.pedantic(lambda: zkml.verify_onchain(chain, dep, bundle, measure_gas=False),
                             rounds=2, iterations=1)
    assert res.valid
    gas = zkml.verify_onchain(chain, dep, bundle).gas_used
    _info(benchmark, keys, verify_gas=gas, deploy_gas=dep.gas_used, chain="embedded py-evm")
