"""Stage 1: a PyTorch module -> a checked ONNX graph with a float reference output."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnxruntime as ort

from zkml._utils import atomic_write_bytes, sha256_bytes

if TYPE_CHECKING:
    import torch

    from zkml.model.trees import Estimator  # estimators: zkml/model/trees.py
from zkml.artifacts import ExportedModel, InputSpec
from zkml.errors import ExportError, InputError

__all__ = ["export", "load_onnx", "check_onnx", "run_onnx", "run_onnx_all"]

def check_onnx(data: bytes, *, source: str = "model") -> onnx.ModelProto:
    """Parse an ONNX graph; raise ExportError if it is not ONNX at all.

    Which operators can be proven is ezkl's call, made when the circuit is laid out
    (``UnsupportedOpError`` names the node then): onnx's strict checks reject some graphs ezkl
    runs fine (an Equal on floats, an int8 MatMul), so they describe the graph here and never
    refuse it.
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


#: onnxruntime runs no default-domain opset below this; older graphs are converted on import
ORT_MIN_OPSET = 7
UPGRADE_OPSET = 13


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


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
              "tensor(float16)": np.float16, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
              "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


def run_onnx(onnx_bytes: bytes, inputs: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Float reference: run the graph with onnxruntime on one input (an array: the graph's
    first input) or one value per graph input (a list or tuple, in the graph's order), each fed
    in the dtype the graph declares (an int64 index input gets int64, not float).

    Raises:
        InputError: a list of another length than the graph's inputs.
    """
    return run_onnx_all(onnx_bytes, inputs)[0]


def run_onnx_all(onnx_bytes: bytes, inputs: np.ndarray | Sequence[np.ndarray]
                 ) -> list[np.ndarray]:
    """:func:`run_onnx`, every graph output (in the graph's order)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    declared = sess.get_inputs()
    values = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    if len(values) != len(declared):
        raise InputError(f"{len(values)} values for a graph of {len(declared)} inputs "
                         f"({', '.join(d.name for d in declared)}).")
    feed: dict[str, Any] = {d.name: np.asarray(v).astype(_ORT_TYPES.get(d.type, np.float32))
                           for d, v in zip(declared, values, strict=True)}
    return [np.asarray(o, dtype=np.float64) for o in sess.run(None, feed)]


def export(
    model: torch.nn.Module | Estimator,
    example_input: Any,
    path: str | Path,
    *,
    name: str | None = None,
    check_rows: Any = None,
) -> ExportedModel:
    """Export ``model`` to ONNX at ``path``, checked by running it on ``example_input``.

    Args:
        model: a PyTorch module, or a fitted scikit-learn, XGBoost or LightGBM estimator
            (``zkml.model.trees.SUPPORTED``; the ``trees`` extra).
        example_input: one input of the shape the circuit will accept (batch dimension
            included), as a tensor, array or nested list; for a module whose forward takes
            several tensors, a tuple of them (the graph inputs are named after forward's
            arguments). Integer tensors (token ids) stay integer inputs.
        path: where to write the ``.onnx`` file (written atomically).
        name: a label for reports; defaults to the file stem.
        check_rows: estimators only: held-out rows the graph must match ``predict_proba``
            (or ``predict``) on; default: the example row and perturbations of it.

    Returns:
        The :class:`ExportedModel` artifact.

    Raises:
        InputError: the example input is not finite numbers.
        ExportError: torch could not export the model or the graph fails onnx.checker; an
            estimator of an unsupported type, or whose graph disagrees with it.
        UnsupportedOpError: the graph uses operators ezkl cannot compile.

    Example:
        >>> exported = zkml.export(net, torch.zeros(1, 4), "build/net.onnx")
        >>> two = zkml.export(masked, (torch.zeros(1, 4), torch.ones(1, 4)), "build/m.onnx")
    """
    import torch  # imported here: proving and verifying never need it

    # --- estimators (scikit-learn, XGBoost, LightGBM): zkml/model/trees.py ---
    if not isinstance(model, torch.nn.Module):
        from zkml.model.trees import export_estimator

        return export_estimator(model, example_input, path, name=name, check_rows=check_rows)
    if check_rows is not None:
        raise ExportError("check_rows is for estimators; a torch module is exported as is.")
    # --- end estimators ---
    several = isinstance(example_input, tuple) or (
        isinstance(example_input, list) and len(example_input) > 1
        and all(isinstance(v, torch.Tensor) for v in example_input))
    xs = [_tensor(v, torch) for v in (example_input if several else [example_input])]
    several = len(xs) > 1  # a 1-tuple is the one input, as torch.onnx.export reads it
    names = _input_names(model, len(xs)) if several else ["input"]
    model = model.eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                tuple(xs),
                buf,  # type: ignore[arg-type]  # torch accepts file objects
                input_names=names,
                output_names=["output"],
                opset_version=18,  # ezkl's tract is tested up to opset 18
                dynamo=False,
            )
    except Exception as e:
        raise ExportError(
            f"torch could not export the model to ONNX: {str(e).splitlines()[0][:200]}"
        ) from e
    path = Path(path)
    data = buf.getvalue()
    exported = _describe(data, [x.numpy() for x in xs] if several else xs[0].numpy(), path,
                         name)
    atomic_write_bytes(path, data)
    return exported


def _tensor(value: Any, torch: Any) -> Any:
    """One example input as a tensor: integer and boolean inputs (token ids, masks) keep
    their dtype; everything else is float32."""
    raw = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    x = torch.as_tensor(raw if raw.dtype.kind in "iub" else raw.astype(np.float32))
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise InputError("example_input contains NaN or infinity; give finite numbers.")
    return x


def _input_names(model: Any, n: int) -> list[str]:
    """The graph inputs' names: the forward arguments' (``features``, ``mask``), so inputs can
    be given by name later; ``input_0``... when forward's signature does not say."""
    import inspect

    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[:n] if len(positional) >= n else [f"input_{i}" for i in range(n)]


def load_onnx(path: str | Path, example_input: Any, *, name: str | None = None) -> ExportedModel:
    """Use an existing ONNX file (exported elsewhere) as the first pipeline artifact.

    Args:
        path: the ``.onnx`` file; it is checked, not copied (compile re-checks its sha256).
        example_input: one input of the shape the model takes, batch dimension included; for
            a graph with several inputs, one value per input: a dict by input name, a list or
            tuple in the graph's order, or one packed row (``zkml.model.inputs``).
        name: a label for reports; defaults to the file stem.

    Raises:
        ExportError: the file is missing, not ONNX, or fails onnx.checker.
        UnsupportedOpError: the graph uses operators ezkl cannot compile.
        InputError: the example input is not finite numbers or does not fit the graph (an
            input missing, unknown or misshaped is named).

    Example:
        >>> exported = zkml.load_onnx("model.onnx", np.zeros((1, 30)))
        >>> exported = zkml.load_onnx("lm.onnx", {"ids": [[3, 1, 4]], "pos": np.zeros((1, 3))})
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ExportError(f"{path}: cannot read the ONNX file ({e.strerror}).") from e
    return _describe(data, example_input, path, name)


def _describe(data: bytes, example: Any, path: Path, name: str | None) -> ExportedModel:
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
        reference = run_onnx(data, feed)
    except Exception as e:  # onnxruntime raises its own types for shape/type mismatches
        shapes = ", ".join(str(tuple(np.shape(v))) for v in
                           (feed if isinstance(feed, list) else [feed]))
        raise InputError(
            f"the example input {shapes} does not fit the graph's input(s): "
            f"{str(e).splitlines()[0][:200]}"
        ) from e
    inputs = [InputSpec(name=d.name, shape=list(d.shape), dtype=d.dtype) for d in declared]
    if len(declared) == 1:  # the example's shape, as before several inputs were known
        inputs = [inputs[0].model_copy(update={"shape": first_shape})]
    return ExportedModel(
        name=name or path.stem,
        onnx_path=str(path.resolve()),
        onnx_sha256=sha256_bytes(data),
        input_shape=first_shape,
        input_dtype=declared[0].dtype,
        output_shape=_shape(graph.graph.output[0]) or list(reference.shape),
        ops=sorted({n.op_type for n in graph.graph.node}),
        inputs=inputs,
    )
