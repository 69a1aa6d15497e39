"""Stage 1: a PyTorch module (or an ONNX file, or an estimator) -> a checked ONNX graph with
a float reference output.

Parsing and describing a graph live in ``zkml.model.graph``, the float reference in
``zkml.model.reference`` (both re-exported here, where callers have always found them);
estimators in ``zkml.model.trees``, which this module dispatches to and which never imports it.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zkml._utils import atomic_write_bytes
from zkml.errors import ExportError, InputError
from zkml.model.graph import (
    ORT_MIN_OPSET,
    UPGRADE_OPSET,
    check_onnx,
    default_opset,
    describe,
    upgrade_opset,
)
from zkml.model.reference import run_onnx, run_onnx_all

if TYPE_CHECKING:
    import torch

    from zkml.artifacts import ExportedModel
    from zkml.model.trees import Estimator  # estimators: zkml/model/trees.py

__all__ = ["export", "load_onnx", "check_onnx", "run_onnx", "run_onnx_all", "default_opset",
           "upgrade_opset", "ORT_MIN_OPSET", "UPGRADE_OPSET"]


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
    exported = describe(data, [x.numpy() for x in xs] if several else xs[0].numpy(), path,
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

    Returns:
        The :class:`ExportedModel` artifact. Its float reference comes from onnxruntime or,
        for a graph onnxruntime refuses (an int8 MatMul, say), from onnx's reference
        evaluator (``reference`` says which); a graph neither runs still loads, with
        ``reference="none"`` and a ``NoReferenceWarning`` (ezkl may prove it; there will be
        no accuracy report).

    Raises:
        ExportError: the file is missing or not ONNX.
        InputError: the example input is not finite numbers or does not fit the graph's
            declared inputs (an input missing, unknown or misshaped is named). Never raised
            for what the graph does.

    Example:
        >>> exported = zkml.load_onnx("model.onnx", np.zeros((1, 30)))
        >>> exported = zkml.load_onnx("lm.onnx", {"ids": [[3, 1, 4]], "pos": np.zeros((1, 3))})
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ExportError(f"{path}: cannot read the ONNX file ({e.strerror}).") from e
    return describe(data, example_input, path, name)
