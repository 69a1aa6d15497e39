"""Split proving beyond cuts between layers (issue #16): boundaries of several tensors, a layer
cut into output-channel groups, models of several inputs. Real ezkl and anvil.

The tiny MLP (4-8-2) has two places to cut between layers; four segments need a layer cut
into channel groups. Its input is private, so no cut may fall where the input would be
carried past a group: the cut falls after the last group of the first layer, where the four
group outputs cross together: a boundary of four tensors, linked commitment by commitment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import zkml
from zkml.split_artifacts import SplitBundle, SplitKeys

from .conftest import Pipeline


@pytest.fixture(scope="module")
def keys4(tiny: Pipeline) -> SplitKeys:
    split = zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments=4,
                               config=tiny.zoo.config)
    return zkml.setup(split)


@pytest.fixture(scope="module")
def bundle4(tiny: Pipeline, keys4: SplitKeys) -> SplitBundle:
    return zkml.prove(keys4, tiny.zoo.test_inputs[0], workers=2)


def _wide(keys: SplitKeys) -> int:
    """The first boundary carrying more than one tensor."""
    return next(i for i, b in enumerate(keys.circuit.boundaries) if len(b) > 1)


def test_a_layer_is_cut_into_channel_groups_when_cuts_between_layers_run_out(
        tiny: Pipeline, keys4: SplitKeys, bundle4: SplitBundle,
        bundle: zkml.ProofBundle) -> None:
    split = keys4.circuit
    assert len(split.segments) == 4
    (layer, groups), = split.layer_groups.items()
    assert "Gemm" in layer and groups >= 2
    # the cut layer's input travels with the first groups' outputs: one commitment per tensor
    # on each side of every boundary
    assert max(len(b) for b in split.boundaries) >= 2
    for i, names in enumerate(split.boundaries):
        assert len(keys4.links[i].output_points) == len(names)
        assert len(keys4.links[i + 1].input_points) == len(names)
    assert zkml.verify(bundle4, keys4)
    # the same computation as the model: within one quantisation step of the monolithic proof
    step = 2.0 ** -split.segments[-1].output_scales[0]
    mono = zkml.decoded_outputs(bundle)
    assert np.max(np.abs(np.subtract(bundle4.outputs, mono))) <= 4 * step
    x = torch.tensor(np.asarray(tiny.zoo.test_inputs[0], dtype=np.float32))
    ref = tiny.zoo.model(x).detach().numpy().reshape(-1)
    assert np.max(np.abs(np.subtract(bundle4.outputs, ref))) <= \
        split.quantization.max_abs_error + 4 * step


def test_every_tensor_of_a_wide_boundary_is_linked(keys4: SplitKeys, bundle4: SplitBundle,
                                                    tiny: Pipeline) -> None:
    b = _wide(keys4)
    other = zkml.prove(keys4, tiny.zoo.test_inputs[1], workers=1)
    names = keys4.circuit.boundaries[b]
    for t in range(len(names)):
        # segment b + 1 taken from the other input's proof: only the tensors' links tell
        at_out = keys4.links[b].output_points[t]
        p = bytearray.fromhex(bundle4.segments[b].proof[2:])
        p[at_out + 9] ^= 1
        segs = list(bundle4.segments)
        segs[b] = segs[b].model_copy(update={"proof": "0x" + p.hex()})
        v = zkml.verify_detailed(bundle4.model_copy(update={"segments": segs}), keys4)
        assert not v.valid and v.reason is not None
        assert v.reason.startswith(f"links[{b}]") and repr(names[t]) in v.reason
    mixed = list(bundle4.segments)
    mixed[b + 1:] = other.segments[b + 1:]
    forged = bundle4.model_copy(update={"segments": mixed, "outputs": other.outputs})
    v = zkml.verify_detailed(forged, keys4)
    assert not v.valid and v.reason is not None and v.reason.startswith(f"links[{b}]")


def test_wide_boundaries_on_chain(anvil: object, keys4: SplitKeys,
                                  bundle4: SplitBundle) -> None:
    from zkml.chain import split as S
    from zkml.chain._registry_base import compiled
    from zkml.errors import ChainError

    chain = zkml.connect(anvil.url)  # type: ignore[attr-defined]
    dep = S.deploy_split_verifier(chain, keys4)
    assert S.verify_split_onchain(chain, dep, bundle4).valid
    b = _wide(keys4)
    for t in range(len(keys4.circuit.boundaries[b])):
        p = bytearray.fromhex(bundle4.segments[b + 1].proof[2:])
        p[keys4.links[b + 1].input_points[t] + 3] ^= 1
        segs = list(bundle4.segments)
        segs[b + 1] = segs[b + 1].model_copy(update={"proof": "0x" + p.hex()})
        res = S.verify_split_onchain(chain, dep, bundle4.model_copy(update={"segments": segs}))
        assert not res.valid
    # a SplitVerifier whose boundary has no link would accept unrelated proofs: refused
    c = compiled("SplitVerifier")
    verifiers = [dep.address] * 3
    for bounds in ([0], [0, 2], [1, 0], [0, 1, 1, 3]):
        with pytest.raises(ChainError):
            chain.deploy(c["abi"], str(c["bytecode"]), verifiers, [0, 0, 2], bounds,
                         [0] * len(bounds), [0] * len(bounds), gas=3_000_000)


def test_a_model_of_two_inputs_splits(tmp_path_factory: pytest.TempPathFactory) -> None:
    class TwoInputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Linear(6, 8)
            self.b = torch.nn.Linear(8, 3)

        def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.b(torch.relu(self.a(features)) * mask)

    torch.manual_seed(3)
    model = TwoInputs().eval()
    rng = np.random.default_rng(3)
    feats = rng.uniform(-1, 1, size=(16, 1, 6)).astype(np.float32)
    masks = (rng.uniform(size=(16, 1, 8)) > 0.3).astype(np.float32)
    exported = zkml.export(model, (torch.tensor(feats[0]), torch.tensor(masks[0])),
                           tmp_path_factory.mktemp("two") / "two.onnx")
    samples = {"features": feats, "mask": masks}
    # private inputs: no boundary carries the mask (a graph input) nor anything computable
    # from the inputs without the weights; the cut falls after the Mul
    private = zkml.compile_model(exported, samples, segments=2)
    assert private.boundaries == [[private.boundaries[0][0]]]
    assert "mask" not in private.boundaries[0]
    # public inputs: the mask may cross the boundary with the hidden activations
    split = zkml.compile_model(exported, samples, segments=2, preset="public")
    keys = zkml.setup(split)
    assert any("mask" in names for names in split.boundaries)
    value = {"features": feats[5], "mask": masks[5]}
    b = zkml.prove(keys, value, workers=2)
    assert zkml.verify(b, keys)
    ref = model(torch.tensor(feats[5]), torch.tensor(masks[5])).detach().numpy().reshape(-1)
    assert np.max(np.abs(np.subtract(b.outputs, ref))) <= split.quantization.max_abs_error + 0.01
    with pytest.raises(zkml.InputError, match="mask"):
        zkml.prove(keys, {"features": feats[5]}, workers=1)


def test_segment_keys_travel_to_cluster_nodes_with_their_tasks(
        tiny: Pipeline, keys4: SplitKeys, bundle4: SplitBundle, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    nodes = tmp_path / "nodes"
    monkeypatch.setenv("ZKML_RAY_NODE_DIR", str(nodes))  # inherited by the cluster's workers
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # joining a running cluster (address): keys are shipped, not read by path
        b = zkml.prove(keys4, tiny.zoo.test_inputs[0], backend="ray", address="auto",
                             workers=2, reuse=False)
    finally:
        ray.shutdown()
    assert zkml.verify(b, keys4) and b.outputs == bundle4.outputs
    copies = sorted(d for d in nodes.iterdir() if d.is_dir())
    assert sorted(d.name.split("-")[0] for d in copies) == \
        sorted(k.model_id for k in keys4.segments)
    for d in copies:
        assert (d / "pk.key").stat().st_size > 0 and (d / "done").exists()


def test_committed_input_split_hides_the_input_and_opens(tiny: Pipeline,
                                                         tmp_path: Path) -> None:
    import json
    import os
    import stat

    from typer.testing import CliRunner

    from zkml.artifacts import save_artifact
    from zkml.cli.main import app

    split = zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments=2,
                               preset="committed-input", config=tiny.zoo.config)
    keys = zkml.setup(split)
    x = tiny.zoo.test_inputs[0]
    o1, o2 = tmp_path / "o1.json", tmp_path / "o2.json"
    b1 = zkml.prove(keys, x, workers=2, opening_path=o1)
    b2 = zkml.prove(keys, x, workers=1, opening_path=o2)
    assert zkml.verify(b1, keys) and zkml.verify(b2, keys)
    # same input, fresh salt: two unlinkable commitments, same outputs
    assert b1.input_commitment and b2.input_commitment
    assert b1.input_commitment != b2.input_commitment and b1.outputs == b2.outputs
    assert zkml.check_commitment(b1, o1) and zkml.check_commitment(b2, o2)
    assert not zkml.check_commitment(b1, o2)
    assert stat.S_IMODE(os.stat(o1).st_mode) == 0o600
    salt = json.loads(o1.read_text())["salt"]
    public = b1.model_dump_json()
    assert not any(str(v) in public for v in salt)
    # the stored commitment must be the one the first segment's proof carries
    v = zkml.verify_detailed(b1.model_copy(
        update={"input_commitment": b2.input_commitment}), keys)
    assert not v.valid and v.reason is not None and v.reason.startswith("input_commitment")
    # a split bundle file opens with the CLI like a monolithic one
    path = save_artifact(b1, tmp_path / "b1.json")
    res = CliRunner().invoke(app, ["commitment", "check", "--bundle", str(path), "--opening",
                                   str(o1)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["commitment", "check", "--bundle", str(path), "--opening",
                                   str(o2)])
    assert res.exit_code == 1, res.output


def test_an_opening_is_refused_for_a_preset_that_commits_to_nothing(
        tiny: Pipeline, keys4: SplitKeys, tmp_path: Path) -> None:
    with pytest.raises(zkml.ZkmlValueError, match="preset private-input commits to no input: "
                       "there is nothing to open"):
        zkml.prove(keys4, tiny.zoo.test_inputs[0], opening_path=tmp_path / "o.json")
    with pytest.raises(zkml.ZkmlValueError, match="commits to no input"):
        zkml.prove(tiny.keys, tiny.zoo.test_inputs[0], opening_path=tmp_path / "o.json")
    assert not (tmp_path / "o.json").exists()
