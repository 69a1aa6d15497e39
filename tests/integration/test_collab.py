"""Collaborative models (issue #24): each party proves its own segment with private weights.

Two parties split a 4-8-2 MLP (alice: Linear+ReLU, bob: Linear); a third folder holds a bob
with other weights of the same shape (mallory). Every cheat is a bundle or hop an adversary
could assemble from real proofs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.integration.collab_world import World
from zkml import _ezkl, collab
from zkml._utils import dequantize, sha256_file
from zkml.collab.formats import CollabBundle
from zkml.errors import ArtifactError, ProveError, ZkmlValueError


@pytest.fixture(scope="module")
def world(collab_world: World) -> World:
    return collab_world


def _verify(world: World, bundle: CollabBundle) -> tuple[bool, str | None]:
    v = collab.verify_collab(bundle, world.root / "model", world.srs)
    return v.valid, v.reason


def test_an_inference_verifies_and_matches_the_float_model(world: World) -> None:
    for b, ref in zip(world.bundles, world.floats, strict=True):
        assert _verify(world, b) == (True, None)
        assert np.allclose(b.outputs, ref, atol=0.01)
    assert world.bundles[0].outputs != world.bundles[1].outputs
    c0, c1 = world.model.contributions
    assert c0.weight_commitment != c1.weight_commitment
    # the weight commitment is the same in every proof of a segment, whatever the input
    for b in world.bundles:
        for s, c in zip(b.segments, world.model.contributions, strict=True):
            proof = bytes.fromhex(s.proof[2:])
            assert ["0x" + proof[o:o + 64].hex() for o in c.param_points] == c.weight_commitment


def test_a_segment_proved_with_other_weights_is_rejected(world: World) -> None:
    good = world.bundles[0]
    forged = world.mallory.proofs[1].model_copy(
        update={"vk_digest": world.model.contributions[1].vk_digest})
    bad = good.model_copy(update={"segments": [good.segments[0], forged]})
    assert _verify(world, bad) == (False, "segment 1 (bob): proved with other weights than the "
                                          "ones its party published")
    # her proof with bob's published commitment pasted over hers: the proof no longer holds
    c1 = world.model.contributions[1]
    raw = bytearray.fromhex(world.mallory.proofs[1].proof[2:])
    for o, point in zip(c1.param_points, c1.weight_commitment, strict=True):
        raw[o:o + 64] = bytes.fromhex(point[2:])
    pasted = forged.model_copy(update={"proof": "0x" + raw.hex()})
    outs = dequantize([int(v) for v in pasted.instances[-2:]], c1.output_scale)
    bad = good.model_copy(update={"segments": [good.segments[0], pasted], "outputs": outs})
    assert _verify(world, bad) == (False, "segment 1 (bob): the proof does not verify under "
                                          "its party's key")


def test_a_segment_from_another_inference_or_out_of_order_is_rejected(world: World) -> None:
    one, two = world.bundles
    mixed = one.model_copy(update={"segments": [one.segments[0], two.segments[1]],
                                   "outputs": two.outputs})
    ok, reason = _verify(world, mixed)
    assert not ok and reason is not None and reason.startswith(
        "link 0: segment 0's output commitment is not segment 1's input commitment")
    flipped = one.model_copy(update={"segments": one.segments[::-1]})
    ok, reason = _verify(world, flipped)
    assert not ok and reason is not None and "re-ordered" in reason
    edited = one.model_copy(update={"outputs": [v + 1 for v in one.outputs]})
    assert _verify(world, edited) == (False, "outputs: not what the last segment's instances "
                                             "encode")


def test_parties_refuse_foreign_keys_and_tampered_hops(world: World) -> None:
    # committed weights leave the verifying key weight-free: mallory's key IS bob's, so only
    # the weight commitment tells them apart; her own prover refuses to pass as bob
    assert sha256_file(world.root / "mallory" / "vk.key") == world.model.contributions[1].vk_digest
    with pytest.raises(ProveError, match="does not carry the weight commitment its "
                                         "contribution published"):
        collab.prove_hop(world.root / "mallory", world.model, hop=world.hops[0])
    with pytest.raises(ZkmlValueError, match="this party's key is not in model"):
        collab.prove_hop(world.root / "alice", world.model.model_copy(
            update={"contributions": world.model.contributions[1:]}), value=[0.0] * 4)
    c0 = world.model.contributions[0]
    raw = bytearray.fromhex(world.hops[0].proofs[0].proof[2:])
    raw[c0.param_points[0]] ^= 1
    bad = world.hops[0].model_copy(update={"proofs": [
        world.hops[0].proofs[0].model_copy(update={"proof": "0x" + raw.hex()})]})
    with pytest.raises(ZkmlValueError, match="proved with other weights than its party "
                                             "published"):
        collab.prove_hop(world.root / "bob", world.model, hop=bad)
    with pytest.raises(ZkmlValueError, match="party 0 proves on the input"):
        collab.prove_hop(world.root / "bob", world.model, value=[0.0] * 8)


def test_assemble_refuses_what_does_not_chain(world: World, tmp_path: Path) -> None:
    alice, bob = (world.root / p / "contribution" for p in ("alice", "bob"))
    with pytest.raises(ArtifactError, match=r"positions \[1\] for \[2\] parties"):
        collab.assemble([bob], tmp_path / "m1", world.srs)
    other = tmp_path / "other.srs"
    _ezkl.gen_srs(other, world.model.logrows)
    with pytest.raises(ArtifactError, match="the model needs one logrows"):
        collab.assemble([alice, bob], tmp_path / "m2", other)
    edited = tmp_path / "bob"
    import shutil

    shutil.copytree(bob, edited)
    c = json.loads((edited / "contribution.json").read_text())
    c["param_points"] = c["param_points"][:-1] or [0]
    (edited / "contribution.json").write_text(json.dumps(c))
    with pytest.raises(ArtifactError, match="places the commitments where its settings do not"):
        collab.assemble([alice, edited], tmp_path / "m3", world.srs)
    (edited / "vk.key").write_bytes(b"x" + (bob / "vk.key").read_bytes()[1:])
    with pytest.raises(ArtifactError, match=r"not the file contribution\.json describes"):
        collab.assemble([alice, edited], tmp_path / "m4", world.srs)


def test_the_two_party_demo_keeps_each_partys_weights_in_its_folder(tmp_path: Path) -> None:
    """examples/collaborative.py: separate processes, folders and caches; then every file of
    each party (its cache included), the channel and the public folder is searched for the
    other party's weights (text, quantised, field elements, float bytes)."""
    example = Path(__file__).resolve().parents[2] / "examples" / "collaborative.py"
    # --no-chain: its on-chain tail runs the `zkml collab deploy | submit` commands that
    # test_collab_chain.py drives on anvil (20 s of solc and anvil saved here)
    res = subprocess.run([sys.executable, str(example), "--dir", str(tmp_path), "--no-chain"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "verified: True" in res.stdout
    contribs = [json.loads((tmp_path / "public" / f"{p}.contribution" / "contribution.json")
                           .read_text())["owner"] for p in ("alice", "bob")]
    assert [c.lower() for c in contribs] == ["0x00000000000000000000000000000000000a11ce",
                                             "0x0000000000000000000000000000000000000b0b"]
    import re

    import onnx
    from onnx import numpy_helper

    from zkml._utils import FIELD_MODULUS

    def needles(party: str, onnx_name: str) -> tuple[set[str], set[bytes]]:
        """A party's weights as text (floats, quantised integers) and as bytes: float32
        pairs as an ONNX stores them, float64, field elements as a compiled circuit would."""
        m = onnx.load(tmp_path / party / onnx_name)
        arrays = [numpy_helper.to_array(t).astype(np.float32).ravel()
                  for t in m.graph.initializer]
        scale = json.loads((tmp_path / party / "zkml" / "settings.json").read_text())[
            "run_args"]["param_scale"]
        text: set[str] = set()
        raw: set[bytes] = set()
        for arr in arrays:
            raw |= {arr[i:i + 2].tobytes() for i in range(len(arr) - 1)}
            for v in arr.tolist():
                q = round(v * 2**scale)
                raw.add(np.float64(v).tobytes())
                if abs(q) >= 10_000:
                    raw.add((q % FIELD_MODULUS).to_bytes(32, "little"))
                    text |= {str(q), (q % FIELD_MODULUS).to_bytes(32, "little").hex()}
                if abs(v) >= 1e-3:
                    text |= {repr(v), f"{v:.6f}"}
        return {n for n in text if len(n.lstrip("-").replace(".", "").strip("0")) >= 5}, raw

    for owner, onnx_name, others in (("alice", "extractor.onnx", ("bob", "channel", "public")),
                                     ("bob", "head.onnx", ("alice", "channel", "public"))):
        text, raw = needles(owner, onnx_name)
        assert len(text) > 10 and len(raw) > 10
        files = [p for d in others for p in (tmp_path / d).rglob("*") if p.is_file()]
        assert any(p.name == "pk.key" for p in files) and any(p.suffix == ".npy" for p in files)
        leaks = []
        for p in files:
            data = p.read_bytes()
            leaks += [(str(p.relative_to(tmp_path)), n.hex()) for n in raw if n in data]
            if p.suffix in {".json", ".txt", ".path", ".csv"}:
                s = data.decode("latin-1")
                leaks += [(str(p.relative_to(tmp_path)), n) for n in text if n in s and re.search(
                    rf"(?<![0-9A-Za-z.]){re.escape(n)}(?![0-9A-Za-z])", s)]
        assert leaks == [], f"{owner}'s weights found: {leaks[:5]}"
