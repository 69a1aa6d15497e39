"""Rows of a candidate segment, before any calibration: its blocks' computing rows (ezkl's
layout) plus the range checks of the tensors entering and leaving it.

ezkl range-checks every input and output value of a circuit, committed boundaries included
(measured on ezkl 23.0.5, decomp 256^4, 2 columns: a 784-value Flatten with committed input
and output lays out in 6,272 rows, 392 without the checks). Those checks belong to the
segment's two ends, not to each block inside it: laying every block out with its own checks
would charge a tensor passed between two blocks of the same segment twice. So blocks are laid
out without them (``ignore_range_check_inputs_outputs``) and each segment is charged
``values x rows per value`` at its boundaries, the cost per value measured once per setting.
"""

from __future__ import annotations

import math
import shutil
from typing import TYPE_CHECKING, Any

from zkml import cache
from zkml._utils import digest_of, sha256_bytes
from zkml.circuit.compile import CompileConfig
from zkml.circuit.layout import estimate_rows_of

if TYPE_CHECKING:
    import onnx

__all__ = ["block_rows", "check_rows_per_value", "tensor_values"]

#: layouts already made in this process (planning tries several channel-group counts; the
#: blocks outside the rewritten layer are the same each time)
_SEEN: dict[str, float] = {}


def _layout(model: onnx.ModelProto, preset: str, config: CompileConfig,
            overrides: dict[str, Any]) -> int:
    import onnx

    data = model.SerializeToString()
    key = digest_of("block-rows/2", sha256_bytes(data), overrides, preset, config.model_dump())
    if key not in _SEEN:
        work = cache.private_workdir("cut")
        try:
            path = work / "block.onnx"
            onnx.save(model, str(path))
            if len(_SEEN) > 4096:
                _SEEN.clear()
            _SEEN[key] = estimate_rows_of(path, preset=preset, config=config,
                                          overrides=overrides)[0]
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return int(_SEEN[key])


def check_rows_per_value(preset: str, config: CompileConfig) -> float:
    """Rows ezkl spends range-checking one committed input or output value."""
    from onnx import TensorProto, helper

    n = 1024
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    base = {"input_visibility": "polycommit", "output_visibility": "polycommit",
            "scale_rebase_multiplier": 1}
    checked = _layout(model, preset, config, {**base, "ignore_range_check_inputs_outputs": False})
    bare = _layout(model, preset, config, {**base, "ignore_range_check_inputs_outputs": True})
    return max(checked - bare, 0) / (2 * n)


def block_rows(blocks: list[onnx.ModelProto], preset: str, config: CompileConfig
               ) -> list[int]:
    """Each block's computing rows (range checks of its inputs and outputs left out), laid
    out as a segment would be: committed boundaries (the model's own input and output with
    the preset's visibility) rescaled to the input scale (zkml.circuit.split)."""
    rows = []
    last = len(blocks) - 1
    for k, block in enumerate(blocks):
        rows.append(_layout(block, preset, config, {
            "scale_rebase_multiplier": 1, "ignore_range_check_inputs_outputs": True,
            **({"input_visibility": "polycommit"} if k else {}),
            **({"output_visibility": "polycommit"} if k < last else {})}))
    return rows


def tensor_values(model: onnx.ModelProto, names: list[str]) -> int:
    """How many values the named tensors hold (0 for one of unknown shape)."""
    g = model.graph
    dims = {vi.name: vi.type.tensor_type.shape.dim for vi in [*g.value_info, *g.input,
                                                               *g.output]}
    total = 0
    for name in names:
        d = dims.get(name)
        if d is not None and all(x.HasField("dim_value") for x in d):
            total += math.prod(x.dim_value for x in d)
    return total
