"""Reach = ezkl's reach: a hummingbird GEMM-strategy tree ensemble with an int8 MatMul, which
onnxruntime's type checker refuses, imports with its float reference from onnx's reference
evaluator, then compiles, proves and verifies (issue 22)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ZKML = str(Path(sys.executable).with_name("zkml"))
pytestmark = pytest.mark.timeout(600)

#: rows of iris the test imports and proves (one of each class)
ROWS = [0, 60, 120]


def _zkml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZKML, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _int8_path_counts(model: onnx.ModelProto) -> int:
    """hummingbird's GEMM trees count each leaf's satisfied conditions with a MatMul of a
    {-1, 0, 1} path matrix by the cast condition bits. hummingbird 0.4.12 under torch 2.13
    casts the bits to float; the graphs of the issue carry them as int8 (a Cast chain bool ->
    int8, an int8 MatMul, a Cast back to float): this makes that graph from hummingbird's.
    Returns how many MatMuls became int8."""
    inits = {i.name: i for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    nodes, changed = [], 0
    for n in model.graph.node:
        nodes.append(n)
        if n.op_type != "MatMul" or n.input[0] not in inits:
            continue
        w = numpy_helper.to_array(inits[n.input[0]])
        bits = producer.get(n.input[1])
        if bits is None or bits.op_type != "Cast" or not set(np.unique(w)) <= {-1.0, 0.0, 1.0}:
            continue
        inits[n.input[0]].CopyFrom(numpy_helper.from_array(w.astype(np.int8), n.input[0]))
        for a in bits.attribute:
            if a.name == "to":
                a.i = TensorProto.INT8
        counts = n.output[0]
        n.output[0] = f"{counts}_int8"
        nodes.append(helper.make_node("Cast", [f"{counts}_int8"], [counts],
                                      to=TensorProto.FLOAT, name=f"{n.name}_to_float"))
        changed += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.value_info[:]  # the old types of the changed tensors
    return changed


@pytest.fixture(scope="module")
def gemm_forest(tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[Path, np.ndarray, np.ndarray]:
    """A 3-tree random forest on iris through hummingbird's GEMM strategy, exported with the
    TorchScript exporter at opset 17, its path counts int8; ROWS and their predict_proba."""
    pytest.importorskip("hummingbird.ml")
    import torch
    from hummingbird.ml import convert
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    d = tmp_path_factory.mktemp("reach")
    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inner = convert(forest, "torch", x[:1],
                        extra_config={"tree_implementation": "gemm"}).model

        class Probabilities(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, features: torch.Tensor) -> torch.Tensor:
                return self.inner(features)[1]  # type: ignore[no-any-return]

        assert any(type(m).__name__.startswith("GEMM") for m in inner.modules())
        torch.onnx.export(Probabilities().eval(), (torch.from_numpy(x[:1]),),
                          str(d / "forest.onnx"), input_names=["input"],
                          output_names=["output"], opset_version=17, dynamo=False)
    model = onnx.load(d / "forest.onnx")
    assert _int8_path_counts(model) == 1  # the trees are batched in one MatMul
    onnx.save(model, d / "forest.onnx")
    rows = x[ROWS]
    (d / "input.json").write_text(json.dumps({"input_data": [rows[0].tolist()]}))
    np.save(d / "cal.npy", x[::5])
    for i, r in enumerate(rows):
        (d / f"row{i}.json").write_text(json.dumps({"input_data": [r.tolist()]}))
    return d, rows, forest.predict_proba(rows)


def test_onnxruntime_refuses_the_gemm_forest(
        gemm_forest: tuple[Path, np.ndarray, np.ndarray]) -> None:
    """The scenario: onnxruntime's type checker, not ezkl, refuses the graph."""
    import onnxruntime as ort

    d, _, _ = gemm_forest
    with pytest.raises(Exception, match=r"tensor\(int8\).*MatMul"):
        ort.InferenceSession(str(d / "forest.onnx"), providers=["CPUExecutionProvider"])


def test_the_gemm_forest_imports_with_the_fallback_reference_and_proves(
        gemm_forest: tuple[Path, np.ndarray, np.ndarray]) -> None:
    from zkml.model.reference import float_reference

    d, rows, proba = gemm_forest
    r = _zkml("import", "forest.onnx", "--input", "input.json", "--calibration", "cal.npy",
              "--dir", "F", "--json", cwd=d)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reference"] == "onnx-reference"
    assert "does not fit" not in r.stderr and "warning" not in r.stderr
    graph = (d / "F" / "model.onnx").read_bytes()
    for row, want in zip(rows, proba, strict=True):
        got = float_reference(graph, row.reshape(1, -1))
        assert got.engine == "onnx-reference" and "int8" in got.refused["onnxruntime"]
        np.testing.assert_allclose(got.outputs[0].ravel(), want, atol=1e-6)
    for args in (("compile", "--dir", "F"), ("setup", "--dir", "F"),
                 ("prove", "--dir", "F", "row0.json", "-o", "row0.bundle.json")):
        r = _zkml(*args, cwd=d)
        assert r.returncode == 0, (args, r.stderr)
    r = _zkml("verify", "row0.bundle.json", "--json", cwd=d)
    assert r.returncode == 0 and json.loads(r.stdout)["valid"] is True, r.stdout + r.stderr
    # compile's accuracy report ran the same fallback reference on the calibration samples.
    # (Its figures are ezkl's business: it proves this GEMM graph's one-hot leaves at 2^-13
    # of their value, the float-cast graph too; compile warns that the outputs differ.)
    report = json.loads((d / "F" / "circuit.json").read_text())["quantization"]
    assert report["samples"] >= 3 and report["output_range"] == pytest.approx(1.0)


def test_a_graph_no_reference_runs_imports_compiles_and_proves(tmp_path: Path) -> None:
    """A Relu declared in the ai.onnx.ml domain: onnxruntime and onnx's reference evaluator
    both refuse the graph, ezkl lays it out. The user is told plainly at each step and goes
    on: import (reference "none"), compile (accuracy NOT CHECKED; the quick tuner keeps
    ezkl's defaults, having nothing to judge a candidate by), setup, prove, verify; the
    proven outputs are relu(x @ W) as numpy computes them."""
    from zkml.errors import NoReferenceError
    from zkml.model.reference import float_reference

    w = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]),
         helper.make_node("Relu", ["h"], ["y"], domain="ai.onnx.ml")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (tmp_path / "model.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(NoReferenceError) as refused:
        float_reference(model.SerializeToString(), np.ones((1, 4), np.float32))
    assert set(refused.value.reasons) == {"onnxruntime", "onnx-reference"}
    x = [0.5, -0.2, 0.1, 0.9]
    (tmp_path / "input.json").write_text(json.dumps({"input_data": [x]}))
    np.save(tmp_path / "cal.npy", np.random.default_rng(1).uniform(-1, 1, size=(16, 1, 4)))
    r = _zkml("import", "model.onnx", "--input", "input.json", "--calibration", "cal.npy",
              "--dir", "B", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reference"] == "none"
    assert "no float reference could be computed" in r.stderr
    r = _zkml("compile", "--dir", "B", "--tune", "quick", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "quantization: NOT CHECKED: no float reference runs this graph" in r.stdout
    assert "no float reference to judge a candidate's accuracy by" in r.stdout
    assert "were not compared with the model's" in r.stderr
    report = json.loads((tmp_path / "B" / "circuit.json").read_text())["quantization"]
    assert report["samples"] >= 2 and report["max_abs_error"] is None
    for args in (("setup", "--dir", "B"), ("prove", "--dir", "B", "input.json", "-o", "b.json")):
        r = _zkml(*args, cwd=tmp_path)
        assert r.returncode == 0, (args, r.stderr)
    r = _zkml("verify", "b.json", "--json", cwd=tmp_path)
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["valid"] is True, r.stdout + r.stderr
    want = np.maximum(np.array([x], np.float32) @ w, 0).ravel()
    np.testing.assert_allclose(out["outputs"], want, atol=1e-2)
