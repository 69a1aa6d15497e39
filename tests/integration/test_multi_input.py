"""Graphs with several inputs (features + mask, token ids + positions) end to end: export or
import, compile, setup, prove, verify, decoded outputs against onnxruntime, batch, package.
Real ezkl, tiny circuits (logrows ~9-12, well under a second a proof)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import zkml
from zkml._utils import dequantize
from zkml.errors import InputError, InputShapeError
from zkml.model.export import run_onnx

ZKML = str(Path(sys.executable).with_name("zkml"))
pytestmark = pytest.mark.timeout(600)
RNG = np.random.default_rng(0)
#: calibration and test samples of the features + mask model
X = RNG.uniform(-1, 1, (20, 1, 4))
M = (RNG.uniform(size=(20, 1, 4)) > 0.3).astype(np.float64)


def _masked_module() -> object:
    import torch

    torch.manual_seed(0)

    class Masked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return self.fc(features * mask)  # type: ignore[no-any-return]

    return Masked()


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> zkml.ExportedModel:
    import torch

    d = tmp_path_factory.mktemp("masked")
    ex = (torch.tensor(X[0], dtype=torch.float32), torch.tensor(M[0], dtype=torch.float32))
    return zkml.export(_masked_module(), ex, d / "masked.onnx")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def private_keys(masked: zkml.ExportedModel) -> zkml.Keys:
    circuit = zkml.compile_model(masked, {"features": X[:16], "mask": M[:16]},
                                 preset="private-input")
    return zkml.setup(circuit)


@pytest.fixture(scope="module")
def public_keys(masked: zkml.ExportedModel) -> zkml.Keys:
    circuit = zkml.compile_model(masked, (X[:16], M[:16]), preset="public")
    return zkml.setup(circuit)


def _reference(exported: zkml.ExportedModel, *values: np.ndarray) -> np.ndarray:
    feed = [np.asarray(v).reshape(i.shape) for v, i in zip(values, exported.inputs, strict=True)]
    return run_onnx(Path(exported.onnx_path).read_bytes(), feed).reshape(-1)


def _tolerance(circuit: zkml.Circuit) -> float:
    """Quantisation error: what calibration measured, with headroom, plus one output step."""
    return 4 * circuit.quantization.max_abs_error + 2.0 ** -circuit.output_scales[0]


def test_export_names_every_input_after_forward_arguments(masked: zkml.ExportedModel) -> None:
    assert [(i.name, i.shape, i.dtype) for i in masked.inputs] == [
        ("features", [1, 4], "float32"), ("mask", [1, 4], "float32")]
    assert masked.input_shape == [1, 4]  # the first input, for one-input readers
    again = zkml.ExportedModel.model_validate_json(masked.model_dump_json())
    assert again.inputs == masked.inputs


def test_private_input_proves_every_input_form_to_the_same_outputs(
        private_keys: zkml.Keys) -> None:
    exported = private_keys.circuit.exported
    expected = _reference(exported, X[17], M[17])
    forms = [
        {"features": X[17], "mask": M[17]},  # by name
        (X[17].tolist(), M[17].reshape(-1).tolist()),  # graph order, nested or flat
        np.concatenate([X[17].reshape(-1), M[17].reshape(-1)]),  # one packed row
    ]
    outs = []
    for value in forms:
        bundle = zkml.prove(private_keys, value)
        assert zkml.verify(bundle, private_keys)
        assert len(bundle.instances) == 3  # private inputs: only the outputs are public
        outs.append(zkml.decoded_outputs(bundle))
    for got in outs:
        np.testing.assert_allclose(got, expected, atol=_tolerance(private_keys.circuit))
        assert got == outs[0]  # same input, same circuit: the same field elements
    # the mask matters: zeroing it changes what is proven
    masked_out = zkml.prove(private_keys, {"features": X[17], "mask": np.zeros((1, 4))})
    np.testing.assert_allclose(zkml.decoded_outputs(masked_out),
                               _reference(exported, X[17], np.zeros((1, 4))),
                               atol=_tolerance(private_keys.circuit))


def test_quick_tuning_takes_several_inputs(masked: zkml.ExportedModel) -> None:
    """`tune="quick"` on a two-input model: samples given by name, a layout no costlier than
    ezkl's defaults, and a proof whose outputs match onnxruntime."""
    circuit = zkml.compile_model(masked, {"features": X[:16], "mask": M[:16]}, tune="quick",
                                 eval_inputs={"features": X[16:], "mask": M[16:]})
    assert circuit.logrows < 15  # ezkl's default settings put this model at logrows 15
    keys = zkml.setup(circuit)
    bundle = zkml.prove(keys, {"features": X[18], "mask": M[18]})
    assert zkml.verify(bundle, keys)
    np.testing.assert_allclose(zkml.decoded_outputs(bundle), _reference(masked, X[18], M[18]),
                               atol=_tolerance(circuit))


def test_bad_inputs_name_the_input(private_keys: zkml.Keys) -> None:
    with pytest.raises(InputError, match="missing 'mask'"):
        zkml.prove(private_keys, {"features": X[1]})
    with pytest.raises(InputError, match="unknown 'extra'"):
        zkml.prove(private_keys, {"features": X[1], "mask": M[1], "extra": [1]})
    with pytest.raises(InputShapeError, match="graph input 'mask'"):
        zkml.prove(private_keys, {"features": X[1], "mask": [1, 0, 1]})
    with pytest.raises(InputError, match="takes 2 inputs"):
        zkml.prove(private_keys, [X[1]])
    with pytest.raises(InputShapeError, match="2 samples given where one"):
        zkml.prove(private_keys, {"features": X[1:3], "mask": M[1:3]})


def test_public_preset_exposes_each_input_before_the_outputs(
        public_keys: zkml.Keys, tmp_path: Path) -> None:
    c = public_keys.circuit
    bundle = zkml.prove(public_keys, [X[18], M[18]])
    assert zkml.verify(bundle, public_keys)
    assert bundle.output_instance_offset == 8 and len(bundle.instances) == 11
    public_in = dequantize([int(v) for v in bundle.instances[:8]], c.input_scale)
    np.testing.assert_allclose(public_in, np.concatenate([X[18].ravel(), M[18].ravel()]),
                               atol=2.0 ** -c.input_scale)
    np.testing.assert_allclose(zkml.decoded_outputs(bundle), _reference(c.exported, X[18], M[18]),
                               atol=_tolerance(c))
    verifier = zkml.build_verifier(public_keys)
    pkg = zkml.publish(public_keys, tmp_path / "pkg", verifier=verifier)
    assert pkg.layout.output_offset == 8 and pkg.layout.num_outputs == 3
    assert pkg.layout.input_commitment_index is None
    assert pkg.visibility["input_visibility.features"] == "public"
    assert pkg.visibility["input_visibility.mask"] == "public"
    assert zkml.verify(bundle, package=tmp_path / "pkg")


def test_committed_input_commits_to_every_input_with_one_salted_hash(
        masked: zkml.ExportedModel, tmp_path: Path) -> None:
    """committed-input on features + mask: one hiding commitment covers both inputs and the
    salt; the opening checks, and changing either input (or the salt) breaks the match."""
    from zkml.proof.commitment import CommitmentOpening
    from zkml.proof.prove import prove_with_opening

    circuit = zkml.compile_model(masked, {"features": X[:16], "mask": M[:16]},
                                 preset="committed-input")
    keys = zkml.setup(circuit)
    value = {"features": X[19], "mask": M[19]}
    bundle, opening = prove_with_opening(keys, value)
    again, _ = prove_with_opening(keys, value)
    assert zkml.verify(bundle, keys) and zkml.verify(again, keys)
    assert bundle.input_commitment and bundle.input_commitment != again.input_commitment
    assert len(bundle.instances) == 1 + 3  # one commitment for both inputs, then the outputs
    np.testing.assert_allclose(zkml.decoded_outputs(bundle), _reference(masked, X[19], M[19]),
                               atol=_tolerance(circuit))
    assert isinstance(opening, CommitmentOpening) and len(opening.input) == 8
    assert zkml.check_commitment(bundle, opening)
    flipped = list(opening.input)
    flipped[4 + int(np.argmax(M[19].reshape(-1)))] = 0.0  # one mask value, the second input
    assert not zkml.check_commitment(bundle, opening.model_copy(update={"input": flipped}))
    assert not zkml.check_commitment(again, opening)


def test_split_proving_takes_several_inputs(masked: zkml.ExportedModel) -> None:
    split = zkml.compile_model(masked, {"features": X[:8], "mask": M[:8]}, segments=2)
    assert [i.name for i in split.segments[0].exported.inputs] == ["features", "mask"]
    # private inputs: neither input is committed at the boundary (tests/integration/
    # test_split_layers.py proves and verifies a split two-input model)
    assert not {"features", "mask"} & set(split.boundaries[0])


def test_batch_of_multi_input_rows(private_keys: zkml.Keys, tmp_path: Path) -> None:
    rows = [
        {"id": "by-name", "input": {"features": X[0].tolist(), "mask": M[0].tolist()}},
        {"id": "in-order", "input": [X[1].ravel().tolist(), M[1].ravel().tolist()]},
        {"id": "ezkl", "input": {"input_data": [X[2].ravel().tolist(), M[2].ravel().tolist()]}},
        {"id": "no-mask", "input": {"features": X[3].tolist()}},
    ]
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = zkml.prove_batch(private_keys, src, tmp_path / "out", workers=1, verify=True)
    assert (res.proved, res.failed) == (3, 1)
    bad = res.entries["no-mask"]
    assert bad.status == "error" and bad.error_type == "InputError" and "'mask'" in (bad.error
                                                                                      or "")
    for i, rid in enumerate(("by-name", "in-order", "ezkl")):
        e = res.entries[rid]
        assert e.status == "ok" and e.verified
        bundle = zkml.ProofBundle.model_validate_json(Path(e.bundle or "").read_text())
        np.testing.assert_allclose(zkml.decoded_outputs(bundle),
                                   _reference(private_keys.circuit.exported, X[i], M[i]),
                                   atol=_tolerance(private_keys.circuit))


# An ONNX graph no zkml code wrote: int64 token ids + float positions, through the CLI -------

@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    d = tmp_path_factory.mktemp("tokens")
    torch.manual_seed(1)

    class Tok(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, ids: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
            return self.head((self.emb(ids) + pos).mean(1))  # type: ignore[no-any-return]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Tok(), (torch.tensor([[1, 2, 3]]), torch.zeros(1, 3, 4)),
                          str(d / "tok.onnx"), input_names=["ids", "pos"],
                          output_names=["logits"], opset_version=17, dynamo=False)
    rng = np.random.default_rng(1)
    with (d / "cal.jsonl").open("w") as f:
        for _ in range(12):
            f.write(json.dumps({"ids": rng.integers(0, 10, (1, 3)).tolist(),
                                "pos": rng.uniform(-1, 1, (1, 3, 4)).round(3).tolist()}) + "\n")
    ids, pos = [4, 0, 9], rng.uniform(-1, 1, 12).round(3)
    (d / "in.json").write_text(json.dumps({"input_data": [ids, pos.tolist()]}))
    return d


def _zkml(*args: str, cwd: Path) -> str:
    r = subprocess.run([ZKML, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _compile_prove_verify(d: Path, inp: str, *, cwd: Path
                          ) -> tuple[zkml.ProofBundle, zkml.Circuit]:
    """`zkml compile`, `setup`, `prove INP`, `verify` on build dir ``d``; the bundle and
    circuit, the bundle checked valid by the CLI."""
    _zkml("compile", "--dir", str(d), cwd=cwd)
    _zkml("setup", "--dir", str(d), cwd=cwd)
    _zkml("prove", "--dir", str(d), inp, "-o", str(d / "bundle.json"), cwd=cwd)
    verdict = json.loads(_zkml("verify", str(d / "bundle.json"), "--keys", str(d / "keys.json"),
                               "--json", cwd=cwd))
    assert verdict["valid"] is True
    return (zkml.ProofBundle.model_validate_json((d / "bundle.json").read_text()),
            zkml.Circuit.model_validate_json((d / "circuit.json").read_text()))


def test_token_ids_and_positions_through_the_cli(tokens: Path) -> None:
    d = tokens / "build"
    doc = json.loads(_zkml("import", "tok.onnx", "--input", "in.json", "--calibration",
                           "cal.jsonl", "--dir", str(d), "--json", cwd=tokens))
    assert [(i["name"], i["shape"], i["dtype"]) for i in doc["inputs"]] == [
        ("ids", [1, 3], "int64"), ("pos", [1, 3, 4], "float32")]
    assert doc["calibration_samples"] == 12
    bundle, circuit = _compile_prove_verify(d, "in.json", cwd=tokens)
    data = json.loads((tokens / "in.json").read_text())["input_data"]
    ref = run_onnx((tokens / "tok.onnx").read_bytes(),
                   [np.array(data[0]).reshape(1, 3), np.array(data[1]).reshape(1, 3, 4)])
    np.testing.assert_allclose(zkml.decoded_outputs(bundle), ref.reshape(-1),
                               atol=_tolerance(circuit))
    # load_onnx takes the same model in Python, inputs by name; ids stay integers
    ex = zkml.load_onnx(tokens / "tok.onnx", {"ids": [[4, 0, 9]], "pos": np.zeros((1, 3, 4))})
    assert [i.dtype for i in ex.inputs] == ["int64", "float32"]
    with pytest.raises(InputError, match="'ids' is int64: give whole numbers"):
        zkml.load_onnx(tokens / "tok.onnx", {"ids": [[0.5, 0, 9]], "pos": np.zeros((1, 3, 4))})


def test_a_two_input_torch_module_through_zkml_export(tmp_path: Path) -> None:
    (tmp_path / "masked.py").write_text(
        "import torch\n\n\nclass Masked(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        torch.manual_seed(0)\n        self.fc = torch.nn.Linear(4, 3)\n\n"
        "    def forward(self, features, mask):\n        return self.fc(features * mask)\n\n\n"
        "def net():\n    return Masked()\n")
    # the example by forward argument, in another order than forward's: names decide
    (tmp_path / "ex.json").write_text(json.dumps({"mask": M[0].tolist(),
                                                  "features": X[0].tolist()}))
    np.savez(tmp_path / "cal.npz", features=X[:12], mask=M[:12])
    d = tmp_path / "build"
    doc = json.loads(_zkml("export", "masked.py:net", "--example", "ex.json", "--calibration",
                           "cal.npz", "--dir", str(d), "--json", cwd=tmp_path))
    assert [(i["name"], i["shape"]) for i in doc["inputs"]] == [("features", [1, 4]),
                                                                 ("mask", [1, 4])]
    # calibration stored as packed rows, each input's values in turn
    cal = np.load(d / "calibration.npy")
    np.testing.assert_array_equal(cal, np.hstack([X[:12].reshape(12, 4), M[:12].reshape(12, 4)]))
    (tmp_path / "in.json").write_text(json.dumps({"features": X[15].tolist(),
                                                  "mask": M[15].tolist()}))
    bundle, circuit = _compile_prove_verify(d, "in.json", cwd=tmp_path)
    ref = run_onnx((d / "model.onnx").read_bytes(), [X[15], M[15]])
    np.testing.assert_allclose(zkml.decoded_outputs(bundle), ref.reshape(-1),
                               atol=_tolerance(circuit))
