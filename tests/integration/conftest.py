"""Shared fixtures: a tiny model run through the real pipeline, an embedded chain, anvil."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import circuits
import zkml
from circuits import ZooModel
from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil

from .collab_world import World as CollabWorld

__all__ = ["Anvil", "Pipeline", "build_pipeline", "tiny_zoo"]


@dataclass
class Pipeline:
    zoo: ZooModel
    exported: zkml.ExportedModel
    circuit: zkml.Circuit
    keys: zkml.Keys


def build_pipeline(zoo: ZooModel, workdir: Path, preset: str = "private-input") -> Pipeline:
    exported = zkml.export(zoo.model, zoo.example_input, workdir / f"{zoo.name}.onnx")
    circuit = zkml.compile_model(exported, zoo.calibration, preset=preset, config=zoo.config)
    return Pipeline(zoo, exported, circuit, zkml.setup(circuit))


def tiny_zoo(seed: int = 0) -> ZooModel:
    from circuits import tiny_mlp

    return tiny_mlp.build(seed)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return build_pipeline(circuits.build("tiny-mlp"), tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_b(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """Same architecture, other weights."""
    return build_pipeline(tiny_zoo(seed=1), tmp_path_factory.mktemp("tiny_b"))


@pytest.fixture(scope="session")
def bundle(tiny: Pipeline) -> zkml.ProofBundle:
    return zkml.prove(tiny.keys, tiny.zoo.test_inputs[0])


@pytest.fixture(scope="session")
def bundle_b(tiny_b: Pipeline) -> zkml.ProofBundle:
    return zkml.prove(tiny_b.keys, tiny_b.zoo.test_inputs[0])


@pytest.fixture(scope="session")
def verifier(tiny: Pipeline) -> zkml.VerifierContract:
    return zkml.build_verifier(tiny.keys)


@pytest.fixture(scope="session")
def embedded() -> zkml.Chain:
    return zkml.connect()


@pytest.fixture(scope="session")
def embedded_deployment(embedded: zkml.Chain, verifier: zkml.VerifierContract
                        ) -> zkml.Deployment:
    return zkml.deploy_verifier(embedded, verifier)


#: Fixtures that start an anvil node: every test using one is marked ``anvil``.
ANVIL_FIXTURES = frozenset({"anvil", "anvil_node"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ANVIL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.anvil)


@pytest.fixture
def anvil(monkeypatch: pytest.MonkeyPatch) -> Iterator[Anvil]:
    """A fresh anvil node; its dev key in ZKML_PRIVATE_KEY (the key comes from the environment
    only), restored by monkeypatch after the test."""
    monkeypatch.setenv("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)
    node = Anvil()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def collab_world(tmp_path_factory: pytest.TempPathFactory) -> CollabWorld:
    """The two-party collaborative model (built once: test_collab and test_collab_chain)."""
    from .collab_world import build_world

    return build_world(tmp_path_factory.mktemp("collab"))
