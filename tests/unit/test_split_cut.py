"""Where a graph can be cut, and how blocks are grouped (no ezkl: pure ONNX and arithmetic)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from zkml.split.cut import _partition, cut_points


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


def test_cut_points_are_single_computed_tensors() -> None:
    points = cut_points(_graph(residual=False))
    # before the Constant node "b" alone crosses; a constant never counts as crossing
    assert points == [(1, "a"), (2, "b"), (3, "b"), (4, "d"), (5, "e")]


def test_a_residual_connection_rules_out_the_points_it_spans() -> None:
    # "a" is used again by the final Add: between its producer and that Add, two tensors cross
    assert cut_points(_graph(residual=True)) == [(1, "a")]


def test_partition_minimises_the_largest_group() -> None:
    rows = [100, 10, 10, 100, 50, 50]
    starts = _partition(rows, 3)
    groups = [sum(rows[a:b]) for a, b in zip([0, *starts], [*starts, len(rows)], strict=True)]
    assert max(groups) == 110 and sum(groups) == sum(rows) and len(groups) == 3
    assert _partition([5, 5], 2) == [1]
    assert _partition([1, 2, 3], 3) == [1, 2]
