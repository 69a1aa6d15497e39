"""Reading a user's input files for an ONNX graph: ezkl's input.json, .npy, .csv, .jsonl.

Whatever the file holds, each sample is reshaped to the graph's declared input shape (symbolic
dimensions read as 1, as ezkl does), never by guessing: a sample must have exactly that many
values, and a file of several samples must split evenly into them.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from zkml._ezkl import formats as _ezkl_formats
from zkml.errors import InputError, InputShapeError, ZkmlValueError

__all__ = ["GraphInput", "graph_inputs", "read_samples", "DTYPES"]

#: ONNX tensor element types zkml feeds to onnxruntime and ezkl, by numpy name
DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT16: "int16",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.BOOL: "bool",
}


@dataclass(frozen=True)
class GraphInput:
    """One input a graph declares (its initializers excluded)."""

    name: str
    shape: list[int]
    dtype: str

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


def graph_inputs(model: onnx.ModelProto) -> list[GraphInput]:
    """The graph's real inputs, symbolic dimensions set to 1 (ezkl's convention).

    Raises:
        ZkmlValueError: an input of an element type zkml cannot feed (e.g. a string).
    """
    inits = {i.name for i in model.graph.initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                for d in t.shape.dim]
        if t.elem_type not in DTYPES:
            raise ZkmlValueError(
                f"graph input {vi.name!r} has ONNX element type "
                f"{onnx.TensorProto.DataType.Name(t.elem_type)}, which cannot be proven: "
                "give the model numeric or boolean inputs.")
        out.append(GraphInput(vi.name, dims, DTYPES[t.elem_type]))
    return out


def _load(path: Path) -> Any:
    """The raw contents of an input file: an array or nested lists of numbers."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        text = path.read_text()
    except FileNotFoundError as e:
        raise InputError(f"{path}: no such input file.") from e
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable {suffix or 'input'} file ({e}).") from e
    if suffix == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r and not r[0].startswith("#")]
        try:
            return [[float(v) for v in r] for r in rows]
        except ValueError:  # a header row
            try:
                return [[float(v) for v in r] for r in rows[1:]]
            except ValueError as e:
                raise InputError(f"{path}: not a CSV of numbers ({e}).") from e
    if suffix == ".jsonl":
        samples = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as e:
                raise InputError(f"{path}:{n}: not JSON ({e}).") from e
            value = item["input"] if isinstance(item, dict) and "input" in item else item
            try:  # each line is one sample, nested or flat
                samples.append(np.asarray(value, dtype=np.float64).reshape(-1))
            except (TypeError, ValueError) as e:
                raise InputError(f"{path}:{n}: not a list of numbers ({e}).") from e
        if len({s.size for s in samples}) > 1:
            raise InputShapeError(f"{path}: lines hold different numbers of values "
                                  f"({sorted({s.size for s in samples})}).")
        return samples
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InputError(f"{path}: not JSON ({e}); give ezkl's input.json, a JSON list, "
                         ".npy, .csv or .jsonl.") from e
    if isinstance(data, dict):
        values = _ezkl_formats.read_input_data(data, str(path))
        if isinstance(values, list) and len(values) > 1 and all(
                isinstance(v, list) for v in values):
            raise InputError(
                f"{path}: input_data holds {len(values)} tensors, one per graph input; this "
                "graph takes one input: give one flat list (several samples: .npy, .csv or "
                ".jsonl).")
        return values[0] if isinstance(values, list) and len(values) == 1 else values
    return data


def read_samples(path: str | Path, graph_input: GraphInput) -> np.ndarray:
    """Samples for ``graph_input`` from a file, shaped (n, *graph_input.shape).

    A file holds one sample (any nesting, exactly ``size`` values) or several (a .npy/.csv
    row, a .jsonl line or a JSON list item each, ``size`` values each).

    Raises:
        InputShapeError: the values do not split into samples of the declared shape.
        InputError: unreadable, not numbers, NaN/inf.
    """
    p = Path(path)
    raw = _load(p)
    dtype = np.dtype(graph_input.dtype)
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"{p}: the values are not numbers of one rectangular shape ({e}).") \
            from e
    size = graph_input.size
    if arr.size == 0 or arr.size % size:
        raise InputShapeError(
            f"{p}: {arr.size} values do not split into samples of the graph input "
            f"{graph_input.name!r} {tuple(graph_input.shape)} ({size} values each).")
    n = arr.size // size
    per_row = arr.reshape(arr.shape[0], -1).shape[1] if arr.ndim > 1 else arr.size
    if n > 1 and per_row != size:
        raise InputShapeError(
            f"{p}: {arr.shape[0]} rows of {per_row} values; each sample of "
            f"{graph_input.name!r} needs {size} values {tuple(graph_input.shape)}.")
    if not np.isfinite(arr).all():
        raise InputError(f"{p}: contains NaN or infinity; give finite numbers.")
    if dtype.kind in "iub" and not np.array_equal(arr, np.round(arr)):
        raise InputError(f"{p}: graph input {graph_input.name!r} is {graph_input.dtype}; the "
                         "file holds fractional values.")
    return arr.reshape((n, *graph_input.shape)).astype(dtype)
