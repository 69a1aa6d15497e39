"""Gas of the inference registry vs a bare verifyProof, on the embedded EVM and on anvil.

    .venv/bin/pytest benchmarks/test_registry_gas.py \
        --benchmark-json benchmarks/results/registry_gas.json
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import circuits
import zkml
from zkml.chain import registry as R
from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil

MODEL = os.environ.get("ZKML_BENCH_MODEL", "breast-cancer")


@pytest.fixture(scope="module")
def model(workdir: Path) -> tuple[Any, zkml.Keys]:
    return circuits.prepare(MODEL, workdir)


@pytest.fixture(params=["embedded", "anvil"])
def chain(request: pytest.FixtureRequest) -> Iterator[zkml.Chain]:
    if request.param == "embedded":
        yield zkml.connect()
        return
    os.environ["ZKML_PRIVATE_KEY"] = ANVIL_DEV_KEY
    with Anvil() as node:
        yield zkml.connect(node.url)


def test_submit_overhead(benchmark: Any, model: tuple[Any, zkml.Keys], chain: zkml.Chain
                         ) -> None:
    zoo, keys = model
    verifier = zkml.deploy_verifier(chain, zkml.build_verifier(keys))
    reg = R.deploy_registry(chain)
    reg_model = R.register_model(chain, reg, keys, verifier)
    bundles = iter([zkml.prove(keys, x) for x in zoo.test_inputs[:3]])
    bare = zkml.verify_onchain(chain, verifier, zkml.prove(keys, zoo.test_inputs[5]))
    receipts = []

    def submit() -> None:
        receipts.append(R.submit_inference(chain, reg, reg_model.onchain_model_id,
                                           next(bundles)))

    benchmark.pedantic(submit, rounds=3, iterations=1)
    gas = [r.gas_used for r in receipts]
    assert bare.gas_used
    benchmark.extra_info.update({
        "chain": chain.label if not chain.embedded else "embedded py-evm", "model": MODEL,
        "verifier_deploy_gas": verifier.gas_used, "registry_deploy_gas": reg.gas_used,
        "register_gas": reg_model.gas_used, "bare_verify_gas": bare.gas_used,
        "submit_gas": gas, "overhead_first": round(gas[0] / bare.gas_used - 1, 4),
        "overhead_later": round(gas[-1] / bare.gas_used - 1, 4),
    })
