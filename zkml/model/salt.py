"""The salted input of the ``committed-input`` preset: a hiding input commitment.

ezkl's ``hashed`` input visibility publishes one Poseidon hash of the quantised graph input.
Over the model's own input that hash is deterministic: the same input always gives the same
commitment, and anyone who can enumerate the plausible inputs (a few binary features, a small
image set) finds the one used by hashing each. So the graph is wrapped: its inputs become one
flat ``(1, n + SALT_ELEMENTS)`` tensor ``[x1..., x2..., salt...]`` (n = all inputs' values);
per graph input a ``Slice`` takes its values and a ``Reshape`` gives it its original shape.
The salt is never read by the model (outputs are unchanged), but ezkl's one Poseidon hash
covers the inputs and the salt, so
each proof, with a fresh random salt, commits to its input with a value nobody can invert or
link without the salt.

Measured on ezkl 23.0.5 (4-8-2 MLP, decomp 256^4, input scale 11): ezkl range-checks every
graph input with the circuit's decomposition (``base**legs``), the sliced-off salt included,
even though it enters no op: a quantised value of magnitude 2**32 - 128 or more fails witness
generation ("decomposition error ... too large"), anything below passes. ezkl quantises input
floats as ``round(v * 2**scale)``. So each salt element carries a random integer ``k < 2**24``
written as the float ``k / 2**scale`` (exact in float32 and float64, so no rounding on any
path), and ``SALT_ELEMENTS = 6`` elements give 144 random bits. The decomposition must then
hold 2**25 (true for every decomposition the tuner tries: 16384^2 is 2**28). A field element
written directly into input.json is range-checked the same way, so it cannot carry more.
Calibration runs with a zero salt, so the salt does not move the calibrated input scale.

The user's input shape is unchanged everywhere else (bundles, layouts, batch input readers):
the salt is added when ezkl's input file is written and nowhere else.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from zkml.errors import CompileError, ZkmlValueError

__all__ = [
    "SALT_ELEMENTS",
    "SALT_ELEMENT_BITS",
    "SALT_BITS",
    "salted_onnx",
    "check_decomposition",
    "zero_salt",
    "draw_salt",
    "salt_values",
]

SALT_ELEMENTS = 6
SALT_ELEMENT_BITS = 24
SALT_BITS = SALT_ELEMENTS * SALT_ELEMENT_BITS
_INPUT = "zkml_salted_input"


def check_decomposition(decomp_base: int, decomp_legs: int) -> None:
    """Refuse a decomposition too narrow for the salt (ezkl range-checks every input value).

    Raises:
        CompileError: ``decomp_base ** decomp_legs`` is below 2**25.
    """
    if decomp_base**decomp_legs < 2 ** (SALT_ELEMENT_BITS + 1):
        raise CompileError(
            f"the committed-input preset needs decomp_base ** decomp_legs >= 2**"
            f"{SALT_ELEMENT_BITS + 1} to carry its random salt; {decomp_base}^{decomp_legs} "
            "is smaller: raise decomp_base or decomp_legs (e.g. 256^4, the default)."
        )


def salted_onnx(onnx_bytes: bytes, input_shapes: Sequence[Sequence[int]]) -> bytes:
    """The graph with its inputs replaced by one ``[x1..., x2..., salt...]`` of shape
    (1, n1 + n2 + ... + S): one Poseidon hash covers every input and the salt.

    Args:
        onnx_bytes: the user's graph.
        input_shapes: the shape of each graph input, in the graph's order.

    Raises:
        CompileError: a graph input is not float (a salt must be written as a float), or the
            shapes do not match the graph's inputs.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_model_from_string(onnx_bytes)
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != len(input_shapes):
        raise CompileError(f"the graph takes {len(inputs)} inputs, the export describes "
                           f"{len(input_shapes)}: export the model again.")
    floats = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16)
    for original in inputs:
        elem = original.type.tensor_type.elem_type
        if elem not in floats:
            raise CompileError(
                f"the committed-input preset needs float model inputs to carry its salt; "
                f"{original.name!r} is {TensorProto.DataType.Name(elem).lower()}: cast the "
                "input inside the model (export it with a float input), or use preset "
                "private-input."
            )
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                default=13)
    sizes = [int(np.prod(list(shape))) for shape in input_shapes]
    new_inits: list[Any] = []
    new_nodes: list[Any] = []
    offset = 0
    for k, (original, shape, n) in enumerate(zip(inputs, input_shapes, sizes, strict=True)):
        tag = f"{_INPUT}_{k}"
        shape_name, sliced = f"{tag}_shape", f"{tag}_model_part"
        new_inits.append(numpy_helper.from_array(np.array(list(shape), np.int64), shape_name))
        if opset >= 10:
            names = [f"{tag}_{v}" for v in ("starts", "ends", "axes")]
            new_inits += [numpy_helper.from_array(np.array([v], np.int64), name)
                          for v, name in zip((offset, offset + n, 1), names, strict=True)]
            new_nodes.append(helper.make_node("Slice", [_INPUT, *names], [sliced]))
        else:  # Slice took attributes before opset 10
            new_nodes.append(helper.make_node("Slice", [_INPUT], [sliced], starts=[offset],
                                              ends=[offset + n], axes=[1]))
        new_nodes.append(helper.make_node("Reshape", [sliced, shape_name], [original.name]))
        offset += n
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend([*new_nodes, *nodes])
    graph.initializer.extend(new_inits)
    replaced = {i.name for i in inputs}
    kept = [i for i in graph.input if i.name not in replaced]
    elem = inputs[0].type.tensor_type.elem_type
    del graph.input[:]
    graph.input.extend([helper.make_tensor_value_info(_INPUT, elem,
                                                      [1, offset + SALT_ELEMENTS]), *kept])
    return bytes(model.SerializeToString())


def zero_salt() -> list[float]:
    """The salt of calibration and accuracy samples: zeros (they are never committed)."""
    return [0.0] * SALT_ELEMENTS


def draw_salt() -> list[int]:
    """A fresh random salt: ``SALT_ELEMENTS`` integers below 2**SALT_ELEMENT_BITS."""
    return [secrets.randbits(SALT_ELEMENT_BITS) for _ in range(SALT_ELEMENTS)]


def salt_values(salt: Sequence[int], input_scale: int) -> list[float]:
    """The floats written into ezkl's input file: ezkl quantises each back to ``k`` exactly.

    Raises:
        ZkmlValueError: a salt value is out of range (not from :func:`draw_salt`).
    """
    if len(salt) != SALT_ELEMENTS or any(not 0 <= int(k) < 2**SALT_ELEMENT_BITS for k in salt):
        raise ZkmlValueError(f"a salt is {SALT_ELEMENTS} integers in [0, 2**{SALT_ELEMENT_BITS}).")
    return [int(k) / 2**input_scale for k in salt]
