"""Stage 1: a PyTorch module -> a checked ONNX graph with a float reference output."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnxruntime as ort

from zkml._utils import atomic_write_bytes, sha256_bytes

if TYPE_CHECKING:
    import torch

    from zkml.model.trees import Estimator  # estimators: zkml/model/trees.py
from zkml.artifacts import ExportedModel
from zkml.errors import ExportError, InputError

__all__ = ["export", "load_onnx", "check_onnx", "run_onnx"]

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


def _shape(value_info: onnx.ValueInfoProto) -> list[int]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else 1 for d in dims]


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
              "tensor(float16)": np.float16, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
              "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


def run_onnx(onnx_bytes: bytes, inputs: np.ndarray) -> np.ndarray:
    """Float reference: run the graph on one input with onnxruntime, fed in the dtype the
    graph declares (an int64 index input gets int64, not float)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    first = sess.get_inputs()[0]
    out = sess.run(None, {first.name: inputs.astype(_ORT_TYPES.get(first.type, np.float32))})
    return np.asarray(out[0], dtype=np.float64)


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
        model: a PyTorch module taking one tensor input, or a fitted scikit-learn, XGBoost
            or LightGBM estimator (``zkml.model.trees.SUPPORTED``; the ``trees`` extra).
        example_input: one input of the shape the circuit will accept (batch dimension
            included), as a tensor, array or nested list.
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
    """
    import torch  # imported here: proving and verifying never need it

    # --- estimators (scikit-learn, XGBoost, LightGBM): zkml/model/trees.py ---
    if not isinstance(model, torch.nn.Module):
        from zkml.model.trees import export_estimator

        return export_estimator(model, example_input, path, name=name, check_rows=check_rows)
    if check_rows is not None:
        raise ExportError("check_rows is for estimators; a torch module is exported as is.")
    # --- end estimators ---
    raw = example_input.detach().cpu().numpy() if isinstance(example_input, torch.Tensor) \
        else np.asarray(example_input)
    # integer and boolean inputs (token ids, masks) keep their dtype; everything else is float
    x = torch.as_tensor(raw if raw.dtype.kind in "iub" else raw.astype(np.float32))
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise InputError("example_input contains NaN or infinity; give finite numbers.")
    model = model.eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (x,),
                buf,  # type: ignore[arg-type]  # torch accepts file objects
                input_names=["input"],
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
    exported = _describe(data, x.numpy(), path, name)
    atomic_write_bytes(path, data)
    return exported


def load_onnx(path: str | Path, example_input: Any, *, name: str | None = None) -> ExportedModel:
    """Use an existing ONNX file (exported elsewhere) as the first pipeline artifact.

    Args:
        path: the ``.onnx`` file; it is checked, not copied (compile re-checks its sha256).
        example_input: one input of the shape the model takes, batch dimension included.
        name: a label for reports; defaults to the file stem.

    Raises:
        ExportError: the file is missing, not ONNX, or fails onnx.checker.
        UnsupportedOpError: the graph uses operators ezkl cannot compile.
        InputError: the example input is not finite numbers or does not fit the graph.

    Example:
        >>> exported = zkml.load_onnx("model.onnx", np.zeros((1, 30)))
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ExportError(f"{path}: cannot read the ONNX file ({e.strerror}).") from e
    try:
        x = np.asarray(example_input, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"example_input is not an array of numbers: {e}") from e
    if not np.isfinite(x).all():
        raise InputError("example_input contains NaN or infinity; give finite numbers.")
    return _describe(data, x, path, name)


def _describe(data: bytes, x: np.ndarray, path: Path, name: str | None) -> ExportedModel:
    from zkml.model.inputs import graph_inputs

    graph = check_onnx(data, source=name or str(path))
    declared = graph_inputs(graph)
    if len(declared) != 1:
        raise ExportError(
            f"{name or path} takes {len(declared)} inputs "
            f"({', '.join(i.name for i in declared)}); zkml proves single-input graphs so "
            "far: concatenate the inputs into one tensor and split it inside the model.")
    if x.size == declared[0].size and tuple(x.shape) != tuple(declared[0].shape):
        x = x.reshape(declared[0].shape)  # a flat example for a (1, n) graph
    try:
        reference = run_onnx(data, x)
    except Exception as e:  # onnxruntime raises its own types for shape/type mismatches
        raise InputError(
            f"the example input {tuple(x.shape)} does not fit the graph's input: "
            f"{str(e).splitlines()[0][:200]}"
        ) from e
    return ExportedModel(
        name=name or path.stem,
        onnx_path=str(path.resolve()),
        onnx_sha256=sha256_bytes(data),
        input_shape=list(x.shape),
        input_dtype=declared[0].dtype,
        output_shape=_shape(graph.graph.output[0]) or list(reference.shape),
        ops=sorted({n.op_type for n in graph.graph.node}),
    )
