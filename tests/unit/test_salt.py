"""The committed-input preset's salt wrapper (zkml/model/salt.py), without ezkl: the wrapped
graph computes exactly what the model does, whatever the salt, and the salt's encoding is exact.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from zkml.errors import CompileError, ZkmlValueError
from zkml.model import salt as S
from zkml.model.export import run_onnx


def _graph(shape: list[int], elem: int = TensorProto.FLOAT, opset: int = 17) -> bytes:
    """x (shape) -> Flatten -> Gemm(4 -> 2) + Relu."""
    rng = np.random.default_rng(0)
    n = int(np.prod(shape))
    w = numpy_helper.from_array(rng.normal(size=(n, 2)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(size=(2,)).astype(np.float32), "b")
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "w", "b"], ["g"]),
             helper.make_node("Relu", ["g"], ["y"])]
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", elem, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                              [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return bytes(model.SerializeToString())


@pytest.mark.parametrize(("shape", "opset"), [([1, 4], 17), ([1, 2, 3], 13), ([1, 4], 9)])
def test_wrapped_graph_ignores_the_salt(shape: list[int], opset: int) -> None:
    original = _graph(shape, opset=opset)
    wrapped = S.salted_onnx(original, [shape])
    onnx.checker.check_model(onnx.load_model_from_string(wrapped), full_check=True)
    rng = np.random.default_rng(1)
    n = int(np.prod(shape))
    for _ in range(5):
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        salt = np.array(S.salt_values(S.draw_salt(), 11), np.float32)
        flat = np.concatenate([x.reshape(-1), salt]).reshape(1, n + S.SALT_ELEMENTS)
        assert np.array_equal(run_onnx(wrapped, flat), run_onnx(original, x))
    zero = np.concatenate([x.reshape(-1), S.zero_salt()]).reshape(1, -1)
    assert np.array_equal(run_onnx(wrapped, zero), run_onnx(original, x))


def test_salt_is_exact_and_wide_enough() -> None:
    assert S.SALT_BITS >= 128
    salts = [S.draw_salt() for _ in range(200)]
    assert all(len(s) == S.SALT_ELEMENTS and all(0 <= k < 2**24 for k in s) for s in salts)
    assert len({tuple(s) for s in salts}) == len(salts)
    for scale in (0, 7, 11, 13, 20):
        for s in salts[:20]:
            values = S.salt_values(s, scale)
            # ezkl quantises round(v * 2**scale) after a float32 round trip: both exact
            assert [round(float(np.float32(v)) * 2**scale) for v in values] == s
    with pytest.raises(ZkmlValueError, match="6 integers in"):
        S.salt_values([2**24] * S.SALT_ELEMENTS, 7)
    with pytest.raises(ZkmlValueError):
        S.salt_values([1, 2], 7)


def test_refusals() -> None:
    with pytest.raises(CompileError, match="needs float model inputs"):
        S.salted_onnx(_graph([1, 4], TensorProto.INT64), [[1, 4]])
    with pytest.raises(CompileError, match="the graph takes 1 inputs, the export describes 2"):
        S.salted_onnx(_graph([1, 4]), [[1, 4], [1, 4]])
    with pytest.raises(CompileError, match=r"16\^4 is smaller"):
        S.check_decomposition(16, 4)
    S.check_decomposition(16384, 2)  # ezkl's default, the tuner's narrowest: wide enough
    with pytest.raises(CompileError):
        S.check_decomposition(2**12, 2)


def test_two_inputs_share_one_salted_tensor() -> None:
    """features * mask -> Gemm: both inputs sliced from one flat tensor, salt ignored."""
    rng = np.random.default_rng(2)
    w = numpy_helper.from_array(rng.normal(size=(4, 2)).astype(np.float32), "w")
    nodes = [helper.make_node("Mul", ["features", "mask"], ["m"]),
             helper.make_node("MatMul", ["m", "w"], ["y"])]
    graph = helper.make_graph(
        nodes, "two", [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 4]),
                       helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w])
    original = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    wrapped = S.salted_onnx(original.SerializeToString(), [[1, 4], [1, 4]])
    model = onnx.load_model_from_string(wrapped)
    assert [i.name for i in model.graph.input] == ["zkml_salted_input"]
    f = rng.uniform(-1, 1, (1, 4)).astype(np.float32)
    m = (rng.uniform(size=(1, 4)) > 0.5).astype(np.float32)
    salt = np.array(S.salt_values(S.draw_salt(), 9), np.float32)
    flat = np.concatenate([f.reshape(-1), m.reshape(-1), salt]).reshape(1, -1)
    assert np.array_equal(run_onnx(wrapped, flat),
                          run_onnx(original.SerializeToString(), [f, m]))
