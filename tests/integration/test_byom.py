"""Bring your own model: ONNX graphs no zkml code wrote, with ezkl-style input files, through
`zkml import | inspect | compile | setup | prove | verify`. What ezkl proves, zkml proves."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import zkml

from .conftest import Pipeline

ZKML = str(Path(sys.executable).with_name("zkml"))
pytestmark = pytest.mark.timeout(600)


def _zkml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZKML, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Graphs of kinds a stranger brings: an LSTM, an embedding over int64 token ids, and an
    operator ezkl has no implementation for."""
    import torch

    d = tmp_path_factory.mktemp("byom")
    torch.manual_seed(0)

    class Lstm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 4, batch_first=True)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)
            return self.head(out[:, -1])  # type: ignore[no-any-return]

    class Bag(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.head(self.emb(ids).mean(1))  # type: ignore[no-any-return]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Lstm(), (torch.randn(1, 5, 3),), str(d / "lstm.onnx"),
                          input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
        torch.onnx.export(Bag(), (torch.tensor([[1, 2, 3]]),), str(d / "bag.onnx"),
                          input_names=["ids"], output_names=["y"], opset_version=17,
                          dynamo=False)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    det = helper.make_node("Det", ["x"], ["y"], name="my_det")
    onnx.save(helper.make_model(helper.make_graph([det], "g", [x], [y]),
                                opset_imports=[helper.make_opsetid("", 18)]), d / "det.onnx")
    rng = np.random.default_rng(0)
    # ezkl's input.json: one FLAT list per graph input, for a (1, 5, 3) graph
    (d / "lstm_input.json").write_text(json.dumps(
        {"input_data": [rng.uniform(-1, 1, 15).round(3).tolist()]}))
    np.save(d / "lstm_cal.npy", rng.uniform(-1, 1, (12, 15)))  # flat rows: reshaped per sample
    (d / "bag_input.json").write_text(json.dumps({"input_data": [[1, 2, 3]]}))
    (d / "bag_cal.jsonl").write_text("[[4, 5, 6]]\n[[7, 8, 9]]\n{\"input\": [0, 1, 2]}\n")
    (d / "bag_cal.csv").write_text("a,b,c\n4,5,6\n7,8,9\n0,1,2\n")
    return d


def test_lstm_with_a_flat_ezkl_input_proves_and_verifies(graphs: Path) -> None:
    """zkml's old op list refused LSTM, which ezkl 23 proves."""
    steps = [("import", "lstm.onnx", "--input", "lstm_input.json", "--calibration",
              "lstm_cal.npy", "--dir", "L"), ("compile", "--dir", "L"), ("setup", "--dir", "L"),
             ("prove", "--dir", "L", "lstm_input.json", "-o", "lstm.bundle.json")]
    for args in steps:
        r = _zkml(*args, cwd=graphs)
        assert r.returncode == 0, (args, r.stderr)
    r = _zkml("verify", "lstm.bundle.json", "--json", cwd=graphs)
    assert r.returncode == 0 and json.loads(r.stdout)["valid"] is True
    exported = json.loads((graphs / "L" / "exported.json").read_text())
    assert exported["input_shape"] == [1, 5, 3] and "LSTM" in exported["ops"]
    assert np.load(graphs / "L" / "calibration.npy").shape == (12, 1, 5, 3)
    # the proven outputs are the float model's, within the quantisation error
    from zkml.model.export import run_onnx

    x = np.asarray(json.loads((graphs / "lstm_input.json").read_text())["input_data"][0])
    ref = run_onnx((graphs / "lstm.onnx").read_bytes(), x.reshape(1, 5, 3)).ravel()
    got = json.loads(r.stdout)["outputs"]
    assert np.allclose(got, ref, atol=0.02)


@pytest.mark.parametrize("calibration", ["bag_cal.jsonl", "bag_cal.csv"])
def test_int64_token_ids_prove_with_their_dtype(graphs: Path, calibration: str) -> None:
    d = f"B-{calibration.split('.')[-1]}"
    for args in (("import", "bag.onnx", "--input", "bag_input.json", "--calibration",
                  calibration, "--dir", d), ("compile", "--dir", d), ("setup", "--dir", d),
                 ("prove", "--dir", d, "bag_input.json", "-o", f"{d}.json")):
        r = _zkml(*args, cwd=graphs)
        assert r.returncode == 0, (args, r.stderr)
    exported = zkml.load_artifact(zkml.ExportedModel, graphs / d / "exported.json")
    assert exported.input_dtype == "int64"
    assert np.load(graphs / d / "calibration.npy").dtype == np.int64
    assert zkml.verify(graphs / f"{d}.json")
    frac = graphs / "frac.json"
    frac.write_text('{"input_data": [[1.5, 2, 3]]}')
    r = _zkml("prove", "--dir", d, str(frac), "-o", "never.json", cwd=graphs)
    assert r.returncode == 2 and "whole numbers" in r.stderr
    assert not (graphs / "never.json").exists()


def test_import_without_calibration_says_what_range_it_accepts(graphs: Path) -> None:
    r = _zkml("import", "bag.onnx", "--input", "bag_input.json", "--dir", "B0", cwd=graphs)
    assert r.returncode == 0
    assert "calibrated on the 1 given input(s) only" in r.stderr and "--range" in r.stderr
    r = _zkml("import", "bag.onnx", "--input", "bag_input.json", "--range", "0,9", "--dir",
              "B1", "--json", cwd=graphs)
    assert r.returncode == 0 and json.loads(r.stdout)["note"] is None
    cal = np.load(graphs / "B1" / "calibration.npy")
    assert cal.min() == 0 and cal.max() == 9 and len(cal) > 10


def test_an_op_ezkl_cannot_prove_is_named_with_its_node(graphs: Path, tmp_path: Path) -> None:
    exported = zkml.load_onnx(graphs / "det.onnx", np.eye(2).reshape(1, 2, 2))
    with pytest.raises(zkml.UnsupportedOpError) as e:
        zkml.compile_model(exported, np.ones((4, 1, 2, 2)))
    assert e.value.ops == ["Det"] and e.value.nodes == ["my_det"]
    assert "'my_det'" in str(e.value) and "operator Det" in str(e.value)
    r = _zkml("inspect", "det.onnx", "--json", cwd=graphs)
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["provable"] is False and "my_det" in report["status"]["Det"]


def test_inspect_estimates_what_compile_then_measures(graphs: Path) -> None:
    r = _zkml("inspect", "lstm.onnx", "--json", cwd=graphs)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["provable"] and report["status"]["LSTM"] == "ok"
    assert report["parameters"] == 4 * 4 * (3 + 4) + 2 * 4 * 4 + 4 * 2 + 2
    assert report["inputs"] == [{"name": "x", "shape": [1, 5, 3], "dtype": "float32"}]
    est = report["estimate"]
    assert 0 < est["prove_seconds"] and 0 < est["proving_key_gb"] < est["peak_memory_gb"]
    assert 2 ** report["logrows"] >= report["rows"]


@pytest.mark.parametrize("content,fragment", [
    ('{"input_data": [[1, 2]]}', "do not split into samples"),
    ('{"data": [1, 2, 3]}', "input_data"),
    ("[[1, 2, 3], [4, 5]]", "not numbers of one rectangular shape"),
    ('{"input_data": [[1, 2, 3], [4, 5, 6]]}', "one per graph input"),
])
def test_bad_input_files_are_named_errors(graphs: Path, content: str, fragment: str) -> None:
    bad = graphs / "bad_input.json"
    bad.write_text(content)
    r = _zkml("import", "bag.onnx", "--input", str(bad), "--dir", "Bx", cwd=graphs)
    assert r.returncode == 2 and fragment in r.stderr and "Traceback" not in r.stderr


def test_a_failed_calibration_is_retried_wider_then_named(tiny: Pipeline,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """ezkl's calibration can fail on a setting that a wider one passes: the compile retries
    with calibration's own scale search, doubled lookup margins and more rows, and when every
    setting fails, the error lists them all."""
    from zkml import _ezkl
    from zkml.circuit.compile import CompileConfig

    pipe = tiny
    real = _ezkl.calibrate
    calls: list[dict[str, object]] = []

    def flaky(*args: object, **kw: object) -> None:
        calls.append(kw)
        if len(calls) == 1:
            raise zkml.CompileError("calibration failed: lookup out of range (injected)")
        real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(_ezkl, "calibrate", flaky)
    cfg = CompileConfig(scales=[7], lookup_margin=1.5, max_logrows=12)  # a fresh cache key
    circuit = zkml.compile_model(pipe.exported, pipe.zoo.calibration, config=cfg)
    assert len(calls) == 2
    assert zkml.verify(zkml.prove(zkml.setup(circuit), pipe.zoo.test_inputs[0]))
    assert calls[0] == {"max_logrows": 12, "scales": [7], "lookup_margin": 1.5,
                        "rebase_multipliers": None}
    assert calls[1] == {"max_logrows": 14, "scales": None, "lookup_margin": 3.0,
                        "rebase_multipliers": None}

    def broken(*args: object, **kw: object) -> None:
        raise zkml.CompileError("calibration failed: nothing fits (injected)")

    monkeypatch.setattr(_ezkl, "calibrate", broken)
    with pytest.raises(zkml.CompileError) as e:
        zkml.compile_model(pipe.exported, pipe.zoo.calibration,
                           config=CompileConfig(scales=[8], max_logrows=12))
    msg = str(e.value)
    assert msg.count("nothing fits") == 3 and "max_logrows 16" in msg and "zkml inspect" in msg


def test_a_circuit_far_from_the_float_model_is_flagged_at_compile(tmp_path: Path) -> None:
    """ezkl 23 proves a bilinear Resize as nearest-neighbour (docs/op-coverage.md): the proof
    verifies, for other numbers than the float model's; compile says so."""
    import torch

    from zkml.circuit.compile import UnfaithfulCircuitWarning

    net = torch.nn.Upsample(scale_factor=2, mode="bilinear")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 1, 2, 2)).astype(np.float32)
    exported = zkml.export(net, x, tmp_path / "up.onnx")
    cal = x + rng.normal(scale=0.3, size=(8, 1, 1, 2, 2))
    with pytest.warns(UnfaithfulCircuitWarning, match="differ from the float model"):
        zkml.compile_model(exported, cal)
    nearest = zkml.export(torch.nn.Upsample(scale_factor=2, mode="nearest"), x,
                          tmp_path / "near.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnfaithfulCircuitWarning)
        zkml.compile_model(nearest, cal)


def test_an_opset_6_graph_is_converted_on_import_and_proves(tmp_path: Path) -> None:
    """Graphs exported years ago (opset 6: onnxruntime runs 7+, e.g. onnx's own pytorch test
    models) are converted by onnx's version converter on import, then prove as usual; the
    library's load_onnx says how to convert instead of an onnxruntime NOT_IMPLEMENTED."""
    from onnx import numpy_helper

    from zkml.model.export import run_onnx

    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.normal(size=(3, 4)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(size=(4,)).astype(np.float32), "b")
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"]),
             helper.make_node("Relu", ["g"], ["y"])]
    # IR 3: initializers are listed as graph inputs too, as exporters of that time did
    graph = helper.make_graph(nodes, "old", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
        helper.make_tensor_value_info("w", TensorProto.FLOAT, [3, 4]),
        helper.make_tensor_value_info("b", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w, b])
    old = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)], ir_version=3)
    onnx.save(old, tmp_path / "old.onnx")
    x = rng.uniform(-1, 1, (2, 3)).round(3)
    (tmp_path / "in.json").write_text(json.dumps({"input_data": [x.ravel().tolist()]}))
    with pytest.raises(zkml.ExportError, match="opset 6, older than onnxruntime runs"):
        zkml.load_onnx(tmp_path / "old.onnx", x)
    r = _zkml("import", "old.onnx", "--input", "in.json", "--range", "-1,1", "--dir", "O",
              cwd=tmp_path)
    assert r.returncode == 0 and "converted to opset 13" in r.stderr, r.stderr
    converted = onnx.load(tmp_path / "O" / "model.onnx")
    assert [o.version for o in converted.opset_import if o.domain == ""] == [13]
    for args in (("compile", "--dir", "O"), ("setup", "--dir", "O"),
                 ("prove", "--dir", "O", "in.json", "-o", "b.json")):
        r = _zkml(*args, cwd=tmp_path)
        assert r.returncode == 0, (args, r.stderr)
    r = _zkml("verify", "b.json", "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["valid"] is True
    ref = run_onnx((tmp_path / "O" / "model.onnx").read_bytes(), x.astype(np.float32))
    assert np.allclose(json.loads(r.stdout)["outputs"], ref.ravel(), atol=0.02)
