"""The float reference: what an ONNX graph computes in floating point, against which the
circuit's fixed-point outputs are measured (the accuracy report) and exports are checked.

onnxruntime runs the graph first (fast). Its strict type checker refuses some graphs that ezkl
proves (an int8 MatMul, Cast chains through small integer types, ops it lacks): then onnx's
reference evaluator (``onnx.reference.ReferenceEvaluator``, pure numpy) runs it. When neither
can, :class:`~zkml.errors.NoReferenceError` names both engines' errors: the graph is the
problem, never the input, and ezkl may still prove it.

Only a real input problem is blamed on the input, and it is found here, before any engine
runs: another number of values than the graph has inputs, values that are not numbers, or a
shape other than the one an input declares (its rank, or a fixed dimension; a symbolic
dimension takes any size). An engine's failure after those checks is the graph's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from zkml.errors import ExportError, InputError, InputShapeError, NoReferenceError
from zkml.model.inputs import declared_inputs

__all__ = ["run_onnx", "run_onnx_all", "float_reference", "FloatReference",
           "NoReferenceWarning", "ONNXRUNTIME", "ONNX_REFERENCE", "NO_REFERENCE"]

log = logging.getLogger("zkml.model")

#: the engines, first choice first, and what ``ExportedModel.reference`` records when neither
#: runs the graph
ONNXRUNTIME = "onnxruntime"
ONNX_REFERENCE = "onnx-reference"
NO_REFERENCE = "none"

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
              "tensor(float16)": np.float16, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
              "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


class NoReferenceWarning(UserWarning):
    """A graph was imported without a float reference (see NoReferenceError): proofs still
    work; the accuracy report will be missing."""


@dataclass(frozen=True)
class FloatReference:
    """The graph's outputs in float64 (the graph's order), the engine that computed them, and
    the error of each engine tried before it (empty when onnxruntime ran it)."""

    outputs: list[np.ndarray]
    engine: str
    refused: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Declared:
    """One graph input as declared: ``dims`` None when the graph declares no shape, a None
    dimension when it is symbolic."""

    name: str
    dims: tuple[int | None, ...] | None
    dtype: Any


def run_onnx(onnx_bytes: bytes, inputs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """The float reference of the graph's first output, on one input (an array: the graph's
    first input) or one value per graph input (a list or tuple, in the graph's order), each
    fed in the dtype the graph declares (an int64 index input gets int64, not float).

    Args:
        onnx_bytes: the serialized ONNX graph.
        inputs: the value of the graph's one input, or one value per input.

    Returns:
        The first output, as float64.

    Raises:
        InputError: a list of another length than the graph's inputs, or values that are not
            numbers.
        InputShapeError: a value whose shape is not the one its input declares.
        NoReferenceError: neither onnxruntime nor onnx's reference evaluator runs the graph.
    """
    return run_onnx_all(onnx_bytes, inputs)[0]


def run_onnx_all(onnx_bytes: bytes, inputs: np.ndarray | Sequence[np.ndarray]
                 ) -> list[np.ndarray]:
    """:func:`run_onnx`, every graph output (in the graph's order); raises as it does."""
    return float_reference(onnx_bytes, inputs).outputs


def float_reference(onnx_bytes: bytes, inputs: np.ndarray | Sequence[np.ndarray]
                    ) -> FloatReference:
    """Run the graph with onnxruntime or, if onnxruntime cannot, onnx's reference evaluator.

    Args:
        onnx_bytes: the serialized ONNX graph.
        inputs: as for :func:`run_onnx`.

    Returns:
        The outputs, the engine that computed them and why the engines before it could not.

    Raises:
        InputError: a list of another length than the graph's inputs, or values that are not
            numbers.
        InputShapeError: a value whose shape is not the one its input declares.
        ExportError: the bytes are not an ONNX graph.
        NoReferenceError: neither engine runs the graph (each one's error in ``reasons``).
    """
    values = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    refused: dict[str, str] = {}
    session = None
    model: onnx.ModelProto | None = None
    try:
        session = _ort_session(onnx_bytes)
        declared = [_Declared(i.name, _ort_dims(i.shape), _ORT_TYPES.get(i.type, np.float32))
                    for i in session.get_inputs()]
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for a bad graph
        refused[ONNXRUNTIME] = _first_line(e)
        model = _parse(onnx_bytes)
        declared = _proto_inputs(model)
    feed = _feed(declared, values)
    if session is not None:
        try:
            return FloatReference(_floats(session.run(None, feed)), ONNXRUNTIME)
        except Exception as e:  # noqa: BLE001 - the inputs fit: the graph is the problem
            refused[ONNXRUNTIME] = _first_line(e)
    try:
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(model if model is not None else _parse(onnx_bytes))
        result = evaluator.run(None, feed)
        outputs = _floats(list(result.values()) if isinstance(result, dict) else result)
    except Exception as e:  # noqa: BLE001 - the evaluator raises anything for an op it lacks
        refused[ONNX_REFERENCE] = _first_line(e)
    else:
        log.info("float reference by onnx's reference evaluator (onnxruntime: %s)",
                 refused[ONNXRUNTIME])
        return FloatReference(outputs, ONNX_REFERENCE, refused)
    raise NoReferenceError(
        f"no float reference could be computed for this graph (onnxruntime: "
        f"{refused[ONNXRUNTIME]}; onnx reference: {refused[ONNX_REFERENCE]}): proofs still "
        "work; the accuracy report will be missing (compare proven outputs with your own "
        "framework's).", refused)


def _ort_session(onnx_bytes: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])


def _parse(onnx_bytes: bytes) -> onnx.ModelProto:
    try:
        return onnx.load_model_from_string(onnx_bytes)
    except Exception as e:  # onnx raises many unrelated types for a bad file
        raise ExportError(f"not a valid ONNX model ({_first_line(e)}); re-export it.") from e


def _ort_dims(shape: Any) -> tuple[int | None, ...] | None:
    if shape is None:
        return None
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


def _proto_inputs(model: onnx.ModelProto) -> list[_Declared]:
    """The graph's inputs as the proto declares them (initializers listed as inputs, as IR 3
    graphs do, are left out: onnxruntime leaves them out too)."""
    out = []
    for vi, shape in declared_inputs(model):
        t = vi.type.tensor_type
        dims = None if shape is None else tuple(shape)
        try:
            dtype: Any = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
        except (KeyError, ValueError):
            dtype = np.float32
        out.append(_Declared(vi.name, dims, dtype))
    return out


def _feed(declared: list[_Declared], values: list[Any]) -> dict[str, np.ndarray]:
    """Each value in its input's declared dtype, once its count, type and shape are checked:
    the only failures that are the input's fault."""
    if len(values) != len(declared):
        raise InputError(f"{len(values)} values for a graph of {len(declared)} inputs "
                         f"({', '.join(d.name for d in declared)}).")
    feed = {}
    for d, v in zip(declared, values, strict=True):
        arr = np.asarray(v)
        if arr.dtype.kind not in "biuf":
            raise InputError(f"the value for input {d.name!r} is not numbers "
                             f"({arr.dtype}); give numbers.")
        if d.dims is not None and (len(arr.shape) != len(d.dims) or any(
                want is not None and want != got for want, got in zip(d.dims, arr.shape,
                                                                       strict=True))):
            shown = "(" + ", ".join("?" if w is None else str(w) for w in d.dims) + ")"
            raise InputShapeError(
                f"the value of shape {tuple(arr.shape)} for input {d.name!r} does not fit the "
                f"graph's input {shown} (? = any size): give a value of that shape.")
        feed[d.name] = arr.astype(d.dtype)
    return feed


def _floats(outputs: Sequence[Any]) -> list[np.ndarray]:
    return [np.asarray(o, dtype=np.float64) for o in outputs]


_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : ")


def _first_line(e: BaseException) -> str:
    """The error's first line, without onnxruntime's status prefix (which names it)."""
    text = str(e).strip()
    first = text.splitlines()[0] if text else ""
    line = _ORT_PREFIX.sub("", first)
    named = line != first  # onnxruntime's prefix is followed by its status name
    line = line[:300].rstrip(". ")
    if not line:
        return type(e).__name__
    return line if named else f"{type(e).__name__}: {line}"
