"""Collaborative models on-chain (issue #24): the CollabVerifier checks each segment's weight
commitment against the one its contributor registered, the links and every segment proof; the
InferenceRegistry records an inference of it as one; the indexer and the web app credit each
segment's contributor on the model's page and on each of its inferences' pages.

Anvil (real pairings at ~0.01 s a call; the embedded EVM spends ~2.3 s per segment verify).
The two-party model is tests/integration/collab_world.py's (alice, bob, and mallory: bob's
shape with other weights); every forgery is made of real proofs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils.crypto import keccak

import zkml
from tests.integration.collab_world import World
from zkml import collab
from zkml._utils import dequantize
from zkml.artifacts import Deployment, InstanceLayout, ModelRegistration, RegistryDeployment
from zkml.chain import collab as C
from zkml.chain import registry as R
from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil
from zkml.collab.formats import CollabBundle
from zkml.errors import RegistryError, ZkmlValueError

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def world(collab_world: World) -> World:
    return collab_world


def _forgeries(w: World) -> dict[str, tuple[CollabBundle, str]]:
    """Bundles an adversary can assemble from real proofs, and the CollabVerifier's error."""
    one, two = w.bundles
    c1 = w.model.contributions[1]
    theirs = w.mallory.proofs[1].model_copy(update={"vk_digest": c1.vk_digest})
    outs = dequantize([int(v) for v in theirs.instances[-2:]], c1.output_scale)
    raw = bytearray.fromhex(theirs.proof[2:])  # her proof, bob's commitment pasted over hers
    for o, point in zip(c1.param_points, c1.weight_commitment, strict=True):
        raw[o:o + 64] = bytes.fromhex(point[2:])
    pasted = theirs.model_copy(update={"proof": "0x" + raw.hex()})
    return {
        "other weights": (one.model_copy(update={"segments": [one.segments[0], theirs],
                                                 "outputs": outs}), "WeightsMismatch(1)"),
        "other weights, commitment pasted": (one.model_copy(update={
            "segments": [one.segments[0], pasted], "outputs": outs}), "SegmentRejected(1)"),
        "another inference": (one.model_copy(update={
            "segments": [one.segments[0], two.segments[1]], "outputs": two.outputs}),
            "LinkBroken(0)"),
        "re-ordered": (one.model_copy(update={"segments": one.segments[::-1]}),
                       "WeightsMismatch(0)"),
        "dropped": (one.model_copy(update={"segments": one.segments[1:]}),
                    "SegmentCount(2, 1)"),
    }


@dataclass
class OnChain:
    node: Anvil
    chain: zkml.Chain
    deployment: Deployment
    owners: list[str]
    registry: RegistryDeployment
    model: ModelRegistration
    plain: ModelRegistration
    refused: dict[str, RegistryError]
    receipt: R.SubmitReceipt


@pytest.fixture(scope="module")
def onchain(world: World) -> Iterator[OnChain]:
    """The model deployed and registered; every forgery submitted (and refused) BEFORE the
    valid inference is recorded (a re-ordered bundle has the valid statement's instances)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)
        node = Anvil()
        try:
            chain = zkml.connect(node.url)
            owners = list(chain.w3.eth.accounts[1:3])
            dep = C.deploy_collab_verifier(chain, world.root / "model", world.srs, owners)
            registry = R.deploy_registry(chain)
            model = C.register_collab(chain, registry, dep, world.model)
            # an ordinary ezkl verifier (bob's segment's) as a model of its own: the indexer
            # must take it without contributors
            seg = chain.call(chain.contract(dep.address, dep.abi).functions.verifiers(1))
            plain = R.register_layout(chain, registry, seg, InstanceLayout(
                num_instances=2, output_offset=0, num_outputs=2,
                output_scale=world.model.contributions[1].output_scale), "ab" * 32)
            refused = {}
            for name, (bundle, _) in _forgeries(world).items():
                with pytest.raises(RegistryError) as e:
                    C.submit_collab(chain, registry, model.onchain_model_id, bundle)
                refused[name] = e.value
            receipt = C.submit_collab(chain, registry, model.onchain_model_id, world.bundles[0])
            yield OnChain(node, chain, dep, owners, registry, model, plain, refused, receipt)
        finally:
            node.stop()


def test_contributors_are_addresses_one_per_segment(world: World, onchain: OnChain,
                                                    tmp_path: Path) -> None:
    chain, model_dir = onchain.chain, world.root / "model"
    with pytest.raises(ZkmlValueError, match=r"segment 0 \(alice\) names no owner"):
        C.deploy_collab_verifier(chain, model_dir, world.srs)
    with pytest.raises(ZkmlValueError, match="1 contributor addresses for 2 segments"):
        C.deploy_collab_verifier(chain, model_dir, world.srs, onchain.owners[:1])
    with pytest.raises(ZkmlValueError, match=r"'0x1234' is not an address"):
        C.deploy_collab_verifier(chain, model_dir, world.srs, [onchain.owners[0], "0x1234"])
    # alice's contribution names her address: the one given must be the same
    import shutil

    named = tmp_path / "named"
    shutil.copytree(model_dir, named)
    alice = world.model.contributions[0].model_copy(update={"owner": onchain.owners[1]})
    (named / "segment0" / "contribution.json").write_text(alice.model_dump_json())
    m = world.model.model_copy(update={"contributions": [alice, world.model.contributions[1]]})
    (named / "model.json").write_text(m.model_dump_json())
    with pytest.raises(ZkmlValueError, match="they must agree"):
        C.deploy_collab_verifier(chain, named, world.srs, onchain.owners)


def test_forgeries_are_rejected_on_chain_with_their_reason(world: World,
                                                           onchain: OnChain) -> None:
    for name, (bundle, error) in _forgeries(world).items():
        # the off-chain verifier agrees
        assert not collab.verify_collab(bundle, world.root / "model", world.srs).valid, name
        r = C.verify_collab_onchain(onchain.chain, onchain.deployment, bundle)
        assert not r.valid and r.reason is not None and r.reason.startswith(error), (name, r)
        # through the registry: refused, never recorded, and the message says why
        refused = onchain.refused[name]
        assert refused.reason == "invalid proof", (name, refused)
        assert f"The CollabVerifier says: {error}" in str(refused), (name, refused)
    assert "other weights than the ones its contributor registered" in str(
        onchain.refused["other weights"])
    other = onchain.deployment.model_copy(update={"model_id": "00" * 32})
    r = C.verify_collab_onchain(onchain.chain, other, world.bundles[0])
    assert not r.valid and r.reason is not None and r.reason.startswith("model_id")


def test_an_inference_verifies_on_chain_and_is_recorded_once(world: World,
                                                             onchain: OnChain) -> None:
    for b in world.bundles:
        r = C.verify_collab_onchain(onchain.chain, onchain.deployment, b)
        assert r.valid and r.gas_used is not None and r.reason is None
    log = R.audit_log(onchain.chain, onchain.registry)
    assert [x.inference_id for x in log] == [onchain.receipt.inference_id]
    assert log[0].decoded_outputs == world.bundles[0].outputs
    assert log[0].onchain_model_id == onchain.model.onchain_model_id
    assert onchain.model.model_id == world.model.model_id
    assert onchain.model.layout.num_outputs == 2 and onchain.model.layout.output_offset == 0
    with pytest.raises(RegistryError) as e:
        C.submit_collab(onchain.chain, onchain.registry, onchain.model.onchain_model_id,
                        world.bundles[0])
    assert e.value.reason == "replay"


def _digest(points: list[str]) -> str:
    return "0x" + keccak(b"".join(bytes.fromhex(p[2:]) for p in points)).hex()


def test_contributors_on_chain_in_the_index_and_on_the_pages(world: World, onchain: OnChain,
                                                              tmp_path: Path) -> None:
    from zkml.serve.app import create_app
    from zkml.serve.indexer import Indexer
    from zkml.serve.store import Store

    expected = [C.Contributor(c.position, onchain.owners[c.position],
                              _digest(c.weight_commitment))
                for c in world.model.contributions]
    assert C.read_contributors(onchain.chain, onchain.deployment.address) == expected
    assert [C.weight_digest(c) for c in world.model.contributions] == [
        x.weight_digest for x in expected]
    assert expected[0].weight_digest != expected[1].weight_digest

    reader = zkml.connect(onchain.node.url, key_env="ZKML_TEST_NO_SUCH_KEY")
    db = tmp_path / "index.sqlite"
    report = Indexer(reader, onchain.registry, db).sync()
    assert (report.new_models, report.total_inferences) == (2, 1)
    store = Store(db)
    rows = [{"segment": x.position, "address": x.address, "weight_digest": x.weight_digest}
            for x in expected]
    model = store.model(onchain.model.onchain_model_id)
    assert model["contributors"] == rows and model["preset"] == "collaborative"
    assert store.model(onchain.plain.onchain_model_id)["contributors"] == []
    record = store.inference(onchain.receipt.inference_id)
    assert record["contributors"] == rows

    client = _Served(create_app(store))
    try:
        for path in (f"/models/{onchain.model.onchain_model_id}",
                     f"/inferences/{onchain.receipt.inference_id}"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert 'id="contributors"' in page.text and "Contributors (2 segments)" in page.text
            for x in expected:
                assert f"<td>{x.position}</td><td><code>{x.address}</code></td><td><code>" \
                       f"{x.weight_digest}</code></td>" in page.text, path
        plain = client.get(f"/models/{onchain.plain.onchain_model_id}")
        assert plain.status_code == 200 and 'id="contributors"' not in plain.text
        api = client.get(f"/api/inferences/{onchain.receipt.inference_id}").json()
        assert api["contributors"] == rows
        assert client.get(f"/api/models/{onchain.model.onchain_model_id}").json()[
            "contributors"] == rows
    finally:
        client.close()


class _Served:
    """The app served by uvicorn on a free loopback port in a daemon thread (as
    test_serve.py does), read with httpx."""

    def __init__(self, app: Any) -> None:
        import socket
        import threading
        import time

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.server.started, "uvicorn did not start"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=60)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_collab_deploy_and_submit_from_the_command_line(world: World, onchain: OnChain,
                                                        tmp_path: Path) -> None:
    """`zkml collab deploy | submit` on a registry of their own. Deployed twice by one account
    with the contributors swapped: two models (the CollabVerifier's code hash covers its
    configuration, so the registry's model ids differ)."""
    import json
    import shutil

    from typer.testing import CliRunner

    from zkml.cli.main import app

    def run(*args: str) -> tuple[int, str]:
        res = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return res.exit_code, res.stdout if "--json" in args else res.output

    url, reg = onchain.node.url, str(tmp_path / "registry.json")
    assert run("registry", "deploy", "--rpc-url", url, "--registry", reg)[0] == 0
    ids = []
    for i, owners in enumerate((onchain.owners, onchain.owners[::-1])):
        model = tmp_path / f"model{i}"
        shutil.copytree(world.root / "model", model)
        code, out = run("collab", "deploy", "--model", str(model), "--srs", str(world.srs),
                        "--contributors", ",".join(owners), "--registry", reg, "--rpc-url",
                        url, "--json")
        assert code == 0, out
        doc = json.loads(out)
        assert [c["address"] for c in doc["contributors"]] == owners
        assert doc["model_id"] == world.model.model_id
        ids.append(doc["registry_model_id"])
    assert ids[0] != ids[1]
    model = tmp_path / "model0"
    bundle, forged = tmp_path / "bundle.json", tmp_path / "forged.json"
    bundle.write_text(world.bundles[1].model_dump_json())
    forged.write_text(_forgeries(world)["other weights"][0].model_dump_json())
    code, out = run("collab", "submit", str(forged), "--model", str(model), "--registry", reg,
                    "--rpc-url", url)
    assert code == 1 and "WeightsMismatch(1)" in out, out
    code, out = run("collab", "submit", str(bundle), "--model", str(model), "--registry", reg,
                    "--rpc-url", url, "--json")
    assert code == 0, out
    assert json.loads(out)["inference_id"] == R.inference_id(
        ids[0], [int(v) for s in world.bundles[1].segments for v in s.instances])
