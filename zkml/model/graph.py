"""An ONNX graph, however it was made: parse it, bring an old opset up to date, and describe
it as the :class:`ExportedModel` artifact once its float reference has run on the example.

Shared by ``export`` (PyTorch modules, ONNX files) and ``trees`` (estimators); it imports
neither of them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from zkml._utils import sha256_bytes
from zkml.artifacts import ExportedModel, InputSpec
from zkml.errors import ExportError, InputError, NoReferenceError
from zkml.model.reference import NO_REFERENCE, NoReferenceWarning, float_reference

__all__ = ["check_onnx", "default_opset", "upgrade_opset", "describe", "ORT_MIN_OPSET",
           "UPGRADE_OPSET"]

#: onnxruntime runs no default-domain opset below this; older graphs are converted on import
ORT_MIN_OPSET = 7
UPGRADE_OPSET = 13


def check_onnx(data: bytes, *, source: str = "model") -> onnx.ModelProto:
    """Parse an ONNX graph; raise ExportError if it is not ONNX at all.

    Which operators can be proven is ezkl's call, made when the circuit is laid out
    (``UnsupportedOpError`` names the node then): onnx's strict checks reject some graphs ezkl
    runs fine (an Equal on floats, an int8 MatMul), so they describe the graph here and never
    refuse it.

    Args:
        data: the serialized graph.
        source: what to call it in the error (a path, a model name).

    Returns:
        The graph, with inferred shapes where onnx could infer them.

    Raises:
        ExportError: not ONNX, or a graph without nodes.
    """
    try:
        model = onnx.load_model_from_string(data)
        if not model.graph.node:
            raise ValueError("the graph has no nodes")
    except Exception as e:  # onnx raises many unrelated types for a bad file
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ExportError(
            f"{source} is not a valid ONNX model ({first}); re-export it with torch.onnx.export."
        ) from e
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shapes are a description; ezkl infers its own
        return model


def default_opset(model: onnx.ModelProto) -> int | None:
    """The graph's ai.onnx opset version (None if it declares none)."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return max(versions) if versions else None


def upgrade_opset(data: bytes) -> tuple[bytes, int | None]:
    """A graph older than onnxruntime runs, converted to opset ``UPGRADE_OPSET`` by onnx's
    version converter: ``(converted bytes, old opset)``; ``(data, None)`` when no conversion
    is needed.

    Raises:
        ExportError: the converter cannot convert this graph (the message names its opset).
    """
    model = onnx.load_model_from_string(data)
    old = default_opset(model)
    if old is None or old >= ORT_MIN_OPSET:
        return data, None
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(model, UPGRADE_OPSET)
    except Exception as e:  # the converter raises bare RuntimeErrors / C++ errors
        raise ExportError(
            f"the graph uses ONNX opset {old}, older than onnxruntime runs ({ORT_MIN_OPSET}+), "
            f"and onnx's version converter could not convert it "
            f"({str(e).splitlines()[0][:160] if str(e) else type(e).__name__}); re-export the "
            f"model with opset {UPGRADE_OPSET} or newer.") from e
    return bytes(converted.SerializeToString()), old


def _shape(value_info: onnx.ValueInfoProto) -> list[int]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else 1 for d in dims]


def describe(data: bytes, example: Any, path: Path, name: str | None) -> ExportedModel:
    """The :class:`ExportedModel` of the graph ``data`` (to live at ``path``), once its float
    reference has run on ``example``.

    A graph neither onnxruntime nor onnx's reference evaluator runs is still described (ezkl
    may prove it), with ``reference="none"`` and a :class:`NoReferenceWarning` saying why.

    Args:
        data: the serialized graph.
        example: one input (one graph input) or one value per input (a dict by name, a list
            in the graph's order, or a packed row: ``zkml.model.inputs``).
        path: where the graph is (or will be) stored; recorded resolved.
        name: a label for reports; defaults to the file stem.

    Returns:
        The artifact, ``reference`` naming the engine that ran the graph.

    Raises:
        ExportError: not ONNX, or an opset older than onnxruntime runs.
        InputError: the example is not finite numbers or does not fit the graph's inputs (the
            input is named).
    """
    from zkml.model.inputs import coerce_inputs, graph_inputs, unpack

    graph = check_onnx(data, source=name or str(path))
    opset = default_opset(graph)
    if opset is not None and opset < ORT_MIN_OPSET:
        raise ExportError(
            f"{path} uses ONNX opset {opset}, older than onnxruntime runs ({ORT_MIN_OPSET}+): "
            f"convert it first (`zkml import` does, or onnx.version_converter.convert_version("
            f"model, {UPGRADE_OPSET})).")
    declared = graph_inputs(graph)
    if len(declared) == 1:
        try:
            x = np.asarray(example, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InputError(f"example_input is not an array of numbers: {e}") from e
        if not np.isfinite(x).all():
            raise InputError("example_input contains NaN or infinity; give finite numbers.")
        if x.size == declared[0].size and tuple(x.shape) != tuple(declared[0].shape):
            x = x.reshape(declared[0].shape)  # a flat example for a (1, n) graph
        feed: np.ndarray | list[np.ndarray] = x
        first_shape = list(x.shape)
    else:
        feed = [p[0] for p in unpack(coerce_inputs(example, declared, one=True), declared)]
        first_shape = list(declared[0].shape)
    try:
        ref = float_reference(data, feed)
        engine, out_shape = ref.engine, list(ref.outputs[0].shape)
    except NoReferenceError as e:
        warnings.warn(NoReferenceWarning(str(e)), stacklevel=3)
        engine, out_shape = NO_REFERENCE, []
    inputs = [InputSpec(name=d.name, shape=list(d.shape), dtype=d.dtype) for d in declared]
    if len(declared) == 1:  # the example's shape, as before several inputs were known
        inputs = [inputs[0].model_copy(update={"shape": first_shape})]
    return ExportedModel(
        name=name or path.stem,
        onnx_path=str(path.resolve()),
        onnx_sha256=sha256_bytes(data),
        input_shape=first_shape,
        input_dtype=declared[0].dtype,
        output_shape=_shape(graph.graph.output[0]) or out_shape,
        ops=sorted({n.op_type for n in graph.graph.node}),
        inputs=inputs,
        reference=engine,
    )
