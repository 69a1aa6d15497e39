"""The salted input of the ``committed-input`` preset: a hiding input commitment.

ezkl's ``hashed`` input visibility publishes one Poseidon hash of the quantised graph input.
Over the model's own input that hash is deterministic: the same input always gives the same
commitment, and anyone who can enumerate the plausible inputs (a few binary features, a small
image set) finds the one used by hashing each. So the graph is wrapped: its single input becomes
a flat ``(1, n + SALT_ELEMENTS)`` tensor ``[x..., salt...]``; a ``Slice`` keeps the first ``n``
values and a ``Reshape`` gives the model its original input shape. The salt is never read by
the model (outputs are unchanged), but ezkl's one Poseidon hash covers ``x`` and the salt, so
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

import numpy as np

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


def salted_onnx(onnx_bytes: bytes, input_shape: Sequence[int]) -> bytes:
    """The graph with its input replaced by ``[x..., salt...]`` of shape (1, n + S).

    Raises:
        CompileError: the graph takes a non-float input (a salt must be written as a float),
            or not exactly one input.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_model_from_string(onnx_bytes)
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise CompileError(f"the committed-input preset salts a single graph input; this "
                           f"graph takes {len(inputs)}.")
    original = inputs[0]
    elem = original.type.tensor_type.elem_type
    if elem not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
        raise CompileError(
            f"the committed-input preset needs a float model input to carry its salt; "
            f"{original.name!r} is {TensorProto.DataType.Name(elem).lower()}: cast the input "
            "inside the model (export it with a float input), or use preset private-input."
        )
    n = int(np.prod(list(input_shape)))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                default=13)
    shape_name, sliced = f"{_INPUT}_shape", f"{_INPUT}_model_part"
    new_inits = [numpy_helper.from_array(np.array(list(input_shape), np.int64), shape_name)]
    if opset >= 10:
        names = [f"{_INPUT}_{k}" for k in ("starts", "ends", "axes")]
        new_inits += [numpy_helper.from_array(np.array([v], np.int64), name)
                      for v, name in zip((0, n, 1), names, strict=True)]
        slice_node = helper.make_node("Slice", [_INPUT, *names], [sliced])
    else:  # Slice took attributes before opset 10
        slice_node = helper.make_node("Slice", [_INPUT], [sliced], starts=[0], ends=[n],
                                      axes=[1])
    reshape = helper.make_node("Reshape", [sliced, shape_name], [original.name])
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend([slice_node, reshape, *nodes])
    graph.initializer.extend(new_inits)
    kept = [i for i in graph.input if i.name != original.name]
    del graph.input[:]
    graph.input.extend([helper.make_tensor_value_info(_INPUT, elem, [1, n + SALT_ELEMENTS]),
                        *kept])
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
