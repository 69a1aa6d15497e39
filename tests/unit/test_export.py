from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import zkml
from zkml.model.export import check_onnx, run_onnx


def _graph_with(op: str) -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    node = helper.make_node(op, ["x"], ["y"])
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 18)])
    return model.SerializeToString()


def test_export_matches_torch_and_keeps_no_private_value(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    x = torch.randn(1, 3)
    ex = zkml.export(net, x, tmp_path / "m.onnx")
    assert ex.input_shape == [1, 3] and ex.output_shape == [1, 2]
    assert set(ex.ops) <= {"Gemm", "Relu", "MatMul", "Add"}
    ref = run_onnx((tmp_path / "m.onnx").read_bytes(), x.numpy())
    np.testing.assert_allclose(ref.ravel(), net(x).detach().numpy().ravel(), rtol=1e-5)
    # the artifact may be shared: neither the example input nor the reference output is in it
    dumped = ex.model_dump_json()
    assert "example_input" not in dumped and "reference_output" not in dumped
    assert f"{float(x[0, 0]):.5f}"[:7] not in dumped
    assert (tmp_path / "m.onnx").read_bytes()[:2] != b""


def test_malformed_onnx_is_rejected() -> None:
    with pytest.raises(zkml.ExportError, match="not a valid ONNX model"):
        check_onnx(b"\x08\x07garbage not protobuf", source="bad.onnx")


def test_truncated_onnx_is_rejected() -> None:
    data = _graph_with("Relu")
    with pytest.raises(zkml.ExportError):
        check_onnx(data[: len(data) // 2], source="cut.onnx")


@pytest.mark.parametrize("op", ["Hardmax", "Det", "LSTM"])
def test_no_hand_written_op_list_refuses_a_graph(op: str) -> None:
    """ezkl decides what it can prove, at layout (tests/integration/test_byom.py): Hardmax
    and LSTM prove, Det fails there with its node named. Parsing never refuses an op."""
    model = check_onnx(_graph_with(op), source="m.onnx")
    assert [n.op_type for n in model.graph.node] == [op]


def test_supported_graph_passes() -> None:
    model = check_onnx(_graph_with("Relu"))
    assert isinstance(model, onnx.ModelProto)


def test_nan_example_input_rejected(tmp_path: Path) -> None:
    net = torch.nn.Linear(2, 1)
    with pytest.raises(zkml.InputError, match="NaN or infinity"):
        zkml.export(net, [[float("nan"), 1.0]], tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
