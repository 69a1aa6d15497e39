"""Shared fixtures: a tiny model run through the real pipeline, an embedded chain, anvil."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import circuits
import zkml
from circuits import ZooModel
from zkml._solc import node_bin

ANVIL_KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Anvil:
    """An anvil node from node_modules, on 127.0.0.1, stopped when the test ends."""

    def __init__(self) -> None:
        binary = node_bin("anvil", "@foundry-rs/anvil")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(self.port), "--silent",
             "--code-size-limit", "100000", "--gas-limit", "30000000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("anvil did not start within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    node = Anvil()
    old = os.environ.get("ZKML_PRIVATE_KEY")
    os.environ["ZKML_PRIVATE_KEY"] = ANVIL_KEY0  # the key comes from the environment only
    try:
        yield node
    finally:
        node.stop()
        if old is None:
            os.environ.pop("ZKML_PRIVATE_KEY", None)
        else:
            os.environ["ZKML_PRIVATE_KEY"] = old
