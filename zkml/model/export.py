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
from zkml.artifacts import ExportedModel
from zkml.errors import ExportError, InputError, UnsupportedOpError

__all__ = ["export", "load_onnx", "check_onnx", "SUPPORTED_OPS", "run_onnx"]

#: ONNX operators ezkl 23 compiles (from its tract-based graph loader). Anything else is
#: reported by name before compilation, where ezkl would fail late and obscurely.
SUPPORTED_OPS: frozenset[str] = frozenset(
    """Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool
    BatchNormalization Cast Ceil Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos
    Cosh CumSum DepthToSpace Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor
    Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalMaxPool Greater
    GreaterOrEqual HardSigmoid HardSwish Identity InstanceNormalization IsInf IsNaN
    LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax LpNormalization MatMul Max
    MaxPool Mean Min Mod Mul Neg Not OneHot Or PRelu Pad Pow Range Reciprocal ReduceL1
    ReduceL2 ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum
    ReduceSumSquare Relu Reshape Resize Round ScatterElements ScatterND Selu Shape Sigmoid Sign
    Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan
    Tanh Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor""".split()
)


def check_onnx(data: bytes, *, source: str = "model") -> onnx.ModelProto:
    """Parse and check an ONNX graph; raise ExportError / UnsupportedOpError if unusable."""
    try:
        model = onnx.load_model_from_string(data)
        onnx.checker.check_model(model, full_check=True)
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except Exception as e:  # onnx raises many unrelated types for a bad file
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ExportError(
            f"{source} is not a valid ONNX model ({first}); re-export it with torch.onnx.export."
        ) from e
    unsupported = sorted({n.op_type for n in model.graph.node} - SUPPORTED_OPS)
    if unsupported:
        raise UnsupportedOpError(
            f"{source} uses ONNX operators ezkl cannot compile: {', '.join(unsupported)}. "
            "Replace them with supported layers (e.g. Linear, Conv, ReLU, pooling) "
            "and export again.",
            unsupported,
        )
    return model


def _shape(value_info: onnx.ValueInfoProto) -> list[int]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else 1 for d in dims]


def run_onnx(onnx_bytes: bytes, inputs: np.ndarray) -> np.ndarray:
    """Float reference: run the graph on one input with onnxruntime."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = sess.run(None, {name: inputs.astype(np.float32)})[0]
    return np.asarray(out, dtype=np.float64)


def export(
    model: torch.nn.Module,
    example_input: Any,
    path: str | Path,
    *,
    name: str | None = None,
) -> ExportedModel:
    """Export ``model`` to ONNX at ``path`` and compute its float reference output.

    Args:
        model: a PyTorch module taking one tensor input.
        example_input: one input of the shape the circuit will accept (batch dimension
            included), as a tensor, array or nested list.
        path: where to write the ``.onnx`` file (written atomically).
        name: a label for reports; defaults to the file stem.

    Returns:
        The :class:`ExportedModel` artifact.

    Raises:
        InputError: the example input is not finite numbers.
        ExportError: torch could not export the model or the graph fails onnx.checker.
        UnsupportedOpError: the graph uses operators ezkl cannot compile.

    Example:
        >>> exported = zkml.export(net, torch.zeros(1, 4), "build/net.onnx")
    """
    import torch  # imported here: proving and verifying never need it

    x = torch.as_tensor(np.asarray(example_input, dtype=np.float32))
    if not torch.isfinite(x).all():
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
    x = np.asarray(example_input, dtype=np.float32)
    if not np.isfinite(x).all():
        raise InputError("example_input contains NaN or infinity; give finite numbers.")
    return _describe(data, x, path, name)


def _describe(data: bytes, x: np.ndarray, path: Path, name: str | None) -> ExportedModel:
    graph = check_onnx(data, source=name or str(path))
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
        output_shape=_shape(graph.graph.output[0]),
        ops=sorted({n.op_type for n in graph.graph.node}),
        example_input=[float(v) for v in x.reshape(-1)],
        reference_output=[float(v) for v in reference.flatten()],
    )
