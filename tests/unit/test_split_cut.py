"""Where a graph can be cut, layers cut into channel groups, and how blocks are grouped
(no ezkl: pure ONNX, onnxruntime and arithmetic)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from zkml.circuit.cut import _named, _partition, cut_points, segment_model
from zkml.circuit.cut_layers import split_layers, splittable_channels
from zkml.errors import CompileError
from zkml.model.export import run_onnx, run_onnx_all


def _graph(residual: bool) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, 4], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Constant", [], ["c"], value=shape),
        helper.make_node("Reshape", ["b", "c"], ["d"]),
        helper.make_node("MatMul", ["d", "w"], ["e"]),
        helper.make_node("Add", ["e", "a" if residual else "e"], ["y"]),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                          initializer=[w])
    return onnx.shape_inference.infer_shapes(helper.make_model(g))


def test_cut_points_list_the_computed_tensors_crossing() -> None:
    points = cut_points(_graph(residual=False))
    # no point right after the Constant node: it computes nothing the input flows through
    assert points == [(1, ["a"]), (2, ["b"]), (4, ["d"]), (5, ["e"])]


def test_a_residual_connection_is_carried_across_the_points_it_spans() -> None:
    # "a" is used again by the final Add: every point it spans carries it too
    assert cut_points(_graph(residual=True)) == [(1, ["a"]), (2, ["a", "b"]), (4, ["a", "d"]),
                                                  (5, ["a", "e"])]
    assert cut_points(_graph(residual=True), max_tensors=1) == [(1, ["a"])]


def test_a_private_input_is_never_committed_at_a_boundary() -> None:
    # relu(x) and its reshape need no weight to compute from a guessed x: not a boundary
    # when the input is private; the MatMul's output needs the weights: it may be
    w = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, 4], dtype=np.int64), "shape")
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "shape"],
                                                                  ["s"]),
         helper.make_node("MatMul", ["s", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=[w, shape])
    model = onnx.shape_inference.infer_shapes(helper.make_model(g))
    assert cut_points(model) == [(1, ["r"]), (2, ["s"]), (3, ["m"])]
    assert cut_points(model, hide_inputs=True) == [(3, ["m"])]


def _chain(model: onnx.ModelProto, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Run ``model`` segment by segment, cut at every point; returns (output, segments)."""
    points = cut_points(model)
    names = [[model.graph.input[0].name], *(t for _, t in points), [model.graph.output[0].name]]
    values: list[np.ndarray] = [x]
    for i in range(len(names) - 1):
        seg = segment_model(model, names[i], names[i + 1])
        onnx.checker.check_model(seg)
        assert [v.name for v in seg.graph.input] == names[i]
        values = run_onnx_all(seg.SerializeToString(), values)
        assert len(values) == len(names[i + 1])
    return values[0], len(names) - 1


def test_segments_chained_through_carried_tensors_compute_the_model() -> None:
    model = _graph(residual=True)
    x = np.arange(4, dtype=np.float32).reshape(1, 4) - 1.5
    out, k = _chain(model, x)
    assert k == 5
    np.testing.assert_allclose(out, run_onnx(model.SerializeToString(), x), rtol=1e-6)


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 6, 3, padding=1)
        self.fc = torch.nn.Linear(6 * 4 * 4, 12)
        self.head = torch.nn.Linear(12, 3, bias=False)  # exported as MatMul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(torch.relu(self.conv(x)).flatten(1))
        return self.head(torch.relu(z) + z)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> onnx.ModelProto:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("net") / "net.onnx"
    torch.onnx.export(_Net().eval(), torch.randn(1, 2, 4, 4), str(path), dynamo=False,
                      opset_version=13)
    return _named(onnx.shape_inference.infer_shapes(onnx.load(str(path))))


def test_conv_gemm_and_matmul_split_into_channel_groups_compute_the_same(
        net: onnx.ModelProto) -> None:
    by_op = {n.op_type: n for n in net.graph.node}
    assert [splittable_channels(net, by_op[op]) for op in ("Conv", "Gemm", "MatMul", "Relu")] \
        == [6, 12, 3, 0]
    groups = {by_op["Conv"].name: 4, by_op["Gemm"].name: 5, by_op["MatMul"].name: 3}
    cut = split_layers(net, groups)
    onnx.checker.check_model(cut)
    ops = [n.op_type for n in cut.graph.node]
    assert ops.count("Conv") == 4 and ops.count("Gemm") == 5 and ops.count("MatMul") == 3
    assert ops.count("Concat") == 3
    x = np.random.default_rng(1).normal(size=(1, 2, 4, 4)).astype(np.float32)
    ref = run_onnx(net.SerializeToString(), x)
    np.testing.assert_allclose(run_onnx(cut.SerializeToString(), x), ref, rtol=1e-5,
                               atol=1e-6)
    # and cut at every point inside the groups too (the model input carried past the conv)
    out, k = _chain(cut, x)
    assert k > len(cut_points(net)) + 1
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # the conv's input carried past its groups is the model input: not when that is private
    assert any("input" in t for _, t in cut_points(cut))
    assert not any("input" in t for _, t in cut_points(cut, hide_inputs=True))
    # the original weights are gone: no initializer is stored twice
    assert not {t.name for t in net.graph.initializer
                if t.name.endswith("weight")} & {t.name for t in cut.graph.initializer}


def test_a_layer_is_not_split_into_more_groups_than_channels(net: onnx.ModelProto) -> None:
    by_op = {n.op_type: n for n in net.graph.node}
    with pytest.raises(CompileError, match=r"3 output channels\) cannot be split into 4"):
        split_layers(net, {by_op["MatMul"].name: 4})
    with pytest.raises(CompileError, match="no layer named 'nope'"):
        split_layers(net, {"nope": 2})
    with pytest.raises(CompileError, match="cannot be split"):
        split_layers(net, {by_op["Relu"].name: 2})


def test_partition_minimises_the_largest_group() -> None:
    rows = [100, 10, 10, 100, 50, 50]
    starts = _partition(rows, 3)
    groups = [sum(rows[a:b]) for a, b in zip([0, *starts], [*starts, len(rows)], strict=True)]
    assert max(groups) == 110 and sum(groups) == sum(rows) and len(groups) == 3
    assert _partition([5, 5], 2) == [1]
    assert _partition([1, 2, 3], 3) == [1, 2]


def test_partition_charges_each_group_the_checks_at_its_two_ends() -> None:
    rows = [10, 10, 10, 10]
    # by rows alone the middle cut is best (20 | 20); but boundary 2 carries a big tensor
    # (checks of 50 rows on each side: 70 | 70), so a cut at 1 or 3 wins (15 | 35)
    edges = [0, 5, 50, 5, 0]
    assert _partition(rows, 2) == [2]
    assert _partition(rows, 2, edges) in ([1], [3])
    starts = _partition(rows, 2, edges)
    cost = max(sum(rows[:starts[0]]) + edges[0] + edges[starts[0]],
               sum(rows[starts[0]:]) + edges[starts[0]] + edges[4])
    assert cost == 35
