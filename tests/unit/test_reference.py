"""The float reference reaches as far as ezkl: onnxruntime first, onnx's reference evaluator for
a graph onnxruntime refuses, and a graph neither runs is imported all the same, with a plain
warning. Only a real input problem is blamed on the input."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import zkml
from zkml.model.reference import NoReferenceWarning, float_reference, run_onnx

ZKML = str(Path(sys.executable).with_name("zkml"))
W = np.array([[1, 0, -1], [0, 1, 1], [1, 1, 0], [-1, 0, 1]], dtype=np.int8)


def _int8_matmul() -> bytes:
    """x (1, 4) float -> Greater(x, 0) -> Cast int8 -> MatMul int8 weights -> Cast float: the
    Cast chain and int8 MatMul of hummingbird's GEMM trees, which onnxruntime refuses."""
    nodes = [helper.make_node("Greater", ["x", "zero"], ["b"]),
             helper.make_node("Cast", ["b"], ["i"], to=TensorProto.INT8),
             helper.make_node("MatMul", ["i", "w"], ["m"]),
             helper.make_node("Cast", ["m"], ["y"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(
        nodes, "int8", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(np.zeros((1, 4), np.float32), "zero"),
         numpy_helper.from_array(W, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]
                             ).SerializeToString()


def _custom_op() -> bytes:
    """A node of a custom domain: no engine here knows it."""
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example", name="frob")
    graph = helper.make_graph(
        [node], "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]).SerializeToString()


X = np.array([[0.5, -1.0, 2.0, 0.25]], dtype=np.float32)


def test_onnxruntime_refuses_the_int8_graph_and_the_fallback_computes_it() -> None:
    data = _int8_matmul()
    with pytest.raises(Exception, match="tensor\\(int8\\)"):
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    ref = float_reference(data, X)
    assert ref.engine == "onnx-reference" and "int8" in ref.refused["onnxruntime"]
    want = (X > 0).astype(np.float64) @ W.astype(np.float64)
    np.testing.assert_array_equal(ref.outputs[0], want)
    np.testing.assert_array_equal(run_onnx(data, X), want)


def test_onnxruntime_stays_the_first_choice() -> None:
    m = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])]),
        opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    ref = float_reference(m, np.vstack([X, -X]))  # a symbolic batch takes any size
    assert ref.engine == "onnxruntime" and not ref.refused
    np.testing.assert_array_equal(ref.outputs[0], np.maximum(np.vstack([X, -X]), 0))


def test_a_graph_onnxruntime_refuses_loads_with_its_reference_engine(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(_int8_matmul())
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoReferenceWarning)
        exported = zkml.load_onnx(tmp_path / "m.onnx", X)
    assert exported.reference == "onnx-reference" and exported.output_shape == [1, 3]
    assert "MatMul" in exported.ops


@pytest.mark.parametrize("graph", [_int8_matmul, _custom_op], ids=["fallback", "no-engine"])
def test_a_real_input_mismatch_still_names_the_input(tmp_path: Path, graph: object) -> None:
    """Checked before any engine runs, so also for graphs onnxruntime refuses."""
    (tmp_path / "m.onnx").write_bytes(graph())  # type: ignore[operator]
    with pytest.raises(zkml.InputShapeError, match="for input 'x' does not fit the graph's "
                       "input \\(1, 4\\)"):
        zkml.load_onnx(tmp_path / "m.onnx", np.zeros((2, 3)))
    with pytest.raises(zkml.InputShapeError, match="input 'x'"):
        run_onnx(graph(), np.zeros((1, 5), np.float32))  # type: ignore[operator]
    with pytest.raises(zkml.InputError, match="not numbers"):
        run_onnx(graph(), np.array([["a", "b", "c", "d"]]))  # type: ignore[operator]
    with pytest.raises(zkml.InputError, match="2 values for a graph of 1 inputs"):
        run_onnx(graph(), [X, X])  # type: ignore[operator]


def test_no_engine_runs_it_so_no_reference_and_the_graph_is_blamed(tmp_path: Path) -> None:
    data = _custom_op()
    with pytest.raises(zkml.NoReferenceError) as e:
        run_onnx(data, X)
    assert isinstance(e.value, zkml.ExportError)
    assert set(e.value.reasons) == {"onnxruntime", "onnx-reference"}
    assert "Frobnicate" in e.value.reasons["onnxruntime"]
    assert "Frobnicate" in e.value.reasons["onnx-reference"]
    (tmp_path / "m.onnx").write_bytes(data)
    with pytest.warns(NoReferenceWarning) as caught:
        exported = zkml.load_onnx(tmp_path / "m.onnx", X)
    assert exported.reference == "none" and exported.output_shape == [1, 4]
    message = str(caught[0].message)
    assert message.startswith("no float reference could be computed for this graph")
    assert "proofs still work; the accuracy report will be missing" in message
    assert "input" not in message.lower()


def test_the_cli_imports_a_graph_without_reference_with_a_plain_warning(tmp_path: Path
                                                                        ) -> None:
    (tmp_path / "m.onnx").write_bytes(_custom_op())
    (tmp_path / "in.json").write_text(json.dumps({"input_data": [X.ravel().tolist()]}))
    r = subprocess.run([ZKML, "import", "m.onnx", "--input", "in.json", "--dir", "d"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    warning = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1, r.stderr
    assert "no float reference could be computed for this graph (onnxruntime:" in warning[0]
    assert "; onnx reference:" in warning[0] and "proofs still work" in warning[0]
    assert "input" not in warning[0].lower() and "error" not in r.stderr.split("warning:")[0]
    saved = json.loads((tmp_path / "d" / "exported.json").read_text())
    assert saved["reference"] == "none"
    old = {k: v for k, v in saved.items() if k != "reference"}  # a file from before the field
    assert zkml.ExportedModel.model_validate(old).reference == "onnxruntime"


def test_the_cli_says_where_the_reference_came_from(tmp_path: Path) -> None:
    (tmp_path / "m.onnx").write_bytes(_int8_matmul())
    (tmp_path / "in.json").write_text(json.dumps({"input_data": [X.ravel().tolist()]}))
    r = subprocess.run([ZKML, "import", "m.onnx", "--input", "in.json", "--dir", "d",
                        "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reference"] == "onnx-reference"
    assert "warning" not in r.stderr
    r = subprocess.run([ZKML, "import", "m.onnx", "--input", "in.json", "--dir", "d"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "onnx's reference evaluator" in r.stderr, r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"input_data": [[1.0, 2.0, 3.0]]}))
    r = subprocess.run([ZKML, "import", "m.onnx", "--input", str(bad), "--dir", "d"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "error (Input" in r.stderr, r.stderr
    assert onnx.load(tmp_path / "d" / "model.onnx").graph.node[2].op_type == "MatMul"
