"""Cut inside a layer: one Gemm / MatMul / Conv rewritten as output-channel groups.

A layer whose rows alone exceed a segment's share (dense-784's 784x56 matmul, a wide conv)
cannot be balanced by cuts between layers. Rewritten as ``groups`` nodes that each compute a
slice of the output channels (columns of a weight matrix, filters of a conv) followed by one
``Concat``, the layer computes exactly the same tensor, and the places between the group nodes
become cut points: their boundary carries the layer's input and the groups done so far.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zkml.errors import CompileError

if TYPE_CHECKING:
    import onnx

__all__ = ["splittable_channels", "split_layers", "GROUP_SUFFIX"]

#: group nodes are named <layer>__zkml_g<k>
GROUP_SUFFIX = "__zkml_g"


def _attr(node: onnx.NodeProto, name: str, default: int | float) -> int | float:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            value: int | float = helper.get_attribute_value(a)
            return value
    return default


def _weights(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in model.graph.initializer}


def splittable_channels(model: onnx.ModelProto, node: onnx.NodeProto) -> int:
    """How many output channels ``node`` can be split into (0: not splittable).

    Splittable: a Gemm (no transA) or a MatMul whose weight is a 2-D initializer, and an
    ungrouped Conv whose filters are an initializer; the bias, if any, an initializer too.
    """
    from onnx import numpy_helper

    weights = _weights(model)
    if node.op_type not in ("Gemm", "MatMul", "Conv") or len(node.input) < 2:
        return 0
    w = weights.get(node.input[1])
    if w is None or (len(node.input) > 2 and node.input[2] and node.input[2] not in weights):
        return 0
    dims = list(w.dims)
    if node.op_type == "Conv":
        return dims[0] if int(_attr(node, "group", 1)) == 1 and len(dims) >= 3 else 0
    if len(dims) != 2 or (node.op_type == "Gemm" and int(_attr(node, "transA", 0))):
        return 0
    if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
        bias = numpy_helper.to_array(weights[node.input[2]])
        if bias.ndim > 1 and bias.shape[0] != 1:
            return 0  # a bias varying along rows would need the row dimension split too
    return int(dims[0] if node.op_type == "Gemm" and int(_attr(node, "transB", 0))
               else dims[1])


def split_layers(model: onnx.ModelProto, groups: dict[str, int]) -> onnx.ModelProto:
    """A copy of ``model`` with each named node rewritten as ``groups[name]`` channel groups.

    Raises:
        CompileError: a named node is missing or not splittable into that many groups.
    """
    import onnx
    from onnx import helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    if not groups:
        return out
    g = out.graph
    weights = _weights(out)
    ranks = {vi.name: len(vi.type.tensor_type.shape.dim)
             for vi in [*g.value_info, *g.input, *g.output]
             if vi.type.tensor_type.HasField("shape")}
    nodes: list[onnx.NodeProto] = []
    seen = set()
    for node in g.node:
        n = groups.get(node.name)
        if n is None:
            nodes.append(node)
            continue
        seen.add(node.name)
        channels = splittable_channels(out, node)
        if n < 2 or channels < n:
            raise CompileError(f"layer {node.name!r} ({node.op_type}, {channels} output "
                               f"channels) cannot be split into {n} groups.")
        w = numpy_helper.to_array(weights[node.input[1]])
        bias_name = node.input[2] if len(node.input) > 2 else ""
        bias = numpy_helper.to_array(weights[bias_name]) if bias_name else None
        trans_b = node.op_type == "Gemm" and bool(_attr(node, "transB", 0))
        # ezkl is safest with a non-negative Concat axis: a MatMul's output has its input's rank
        axis = 1 if node.op_type in ("Gemm", "Conv") else ranks.get(node.input[0], 2) - 1
        w_axis = 0 if node.op_type == "Conv" or trans_b else 1
        parts = []
        for k, idx in enumerate(np.array_split(np.arange(channels), n)):
            name = f"{node.name or node.output[0]}{GROUP_SUFFIX}{k}"
            w_k = numpy_helper.from_array(np.take(w, idx, axis=w_axis).copy(), f"{name}.w")
            g.initializer.append(w_k)
            inputs = [node.input[0], w_k.name]
            if bias is not None:
                b_k = bias[..., idx] if bias.ndim >= 1 and bias.shape[-1] == channels else bias
                b_t = numpy_helper.from_array(np.ascontiguousarray(b_k), f"{name}.b")
                g.initializer.append(b_t)
                inputs.append(b_t.name)
            part = helper.make_node(node.op_type, inputs, [f"{name}.y"], name=name)
            part.attribute.extend(node.attribute)
            nodes.append(part)
            parts.append(part.output[0])
        nodes.append(helper.make_node("Concat", parts, [node.output[0]], axis=axis,
                                      name=f"{node.name or node.output[0]}{GROUP_SUFFIX}concat"))
    missing = set(groups) - seen
    if missing:
        raise CompileError(f"no layer named {sorted(missing)[0]!r} in the graph to split.")
    del g.node[:]
    g.node.extend(nodes)
    used = {i for nd in g.node for i in nd.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    try:
        return onnx.shape_inference.infer_shapes(out)
    except Exception:  # noqa: BLE001 - shapes are only needed to qualify cut points
        return out
