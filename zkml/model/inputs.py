"""Reading a user's input files for an ONNX graph: ezkl's input.json, .npy, .csv, .jsonl.

Whatever the file holds, each sample is reshaped to the graph's declared input shape (symbolic
dimensions read as 1, as ezkl does), never by guessing: a sample must have exactly that many
values, and a file of several samples must split evenly into them.

A graph with several inputs takes one value per graph input (:func:`coerce_inputs`): a dict
``{input_name: value}``, a list or tuple in the graph's order (ezkl's ``input_data``), or a
numpy array of *packed* rows, each the concatenation of the inputs' flattened values in the
graph's order (how calibration samples of such a model are stored in one ``.npy``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from zkml._ezkl import formats as _ezkl_formats
from zkml.errors import InputError, InputShapeError, ZkmlValueError

if TYPE_CHECKING:  # onnx takes ~0.5 s to import: `zkml prove` never needs it
    import onnx

__all__ = ["GraphInput", "graph_inputs", "read_samples", "read_input_samples", "DTYPES",
           "coerce_inputs", "unpack"]

#: ONNX tensor element types (``onnx.TensorProto`` values, fixed by the ONNX spec) zkml feeds
#: to onnxruntime and ezkl, by numpy name
DTYPES: dict[int, str] = {
    1: "float32",   # FLOAT
    11: "float64",  # DOUBLE
    10: "float16",  # FLOAT16
    7: "int64",     # INT64
    6: "int32",     # INT32
    5: "int16",     # INT16
    3: "int8",      # INT8
    2: "uint8",     # UINT8
    9: "bool",      # BOOL
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


def declared_inputs(model: onnx.ModelProto) -> Iterator[tuple[Any, list[int | None] | None]]:
    """Each real graph input (initializers listed as inputs, as IR 3 graphs do, left out) with
    its declared dimensions: None for a symbolic one; None for the shape when none is given."""
    inits = {i.name for i in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        t = vi.type.tensor_type
        yield vi, ([d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                    for d in t.shape.dim] if t.HasField("shape") else None)


def graph_inputs(model: onnx.ModelProto) -> list[GraphInput]:
    """The graph's real inputs, symbolic dimensions set to 1 (ezkl's convention).

    Raises:
        ZkmlValueError: an input of an element type zkml cannot feed (e.g. a string).
    """
    out = []
    for vi, shape in declared_inputs(model):
        t = vi.type.tensor_type
        dims = [1 if d is None else d for d in shape or []]
        if t.elem_type not in DTYPES:
            import onnx

            raise ZkmlValueError(
                f"graph input {vi.name!r} has ONNX element type "
                f"{onnx.TensorProto.DataType.Name(t.elem_type)}, which cannot be proven: "
                "give the model numeric or boolean inputs.")
        out.append(GraphInput(vi.name, dims, DTYPES[t.elem_type]))
    return out


def _jsonl(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """(line number, sample) for each non-blank line of a .jsonl file; a line is a sample or
    ``{"input": sample, ...}`` (batch files carry an id beside it)."""
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as e:
            raise InputError(f"{path}:{n}: not JSON ({e}).") from e
        yield n, item["input"] if isinstance(item, dict) and "input" in item else item


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
        for n, value in _jsonl(path, text):
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


# Several graph inputs ----------------------------------------------------------------------

class Spec(Protocol):
    """A graph input as :class:`GraphInput` and ``zkml.artifacts.InputSpec`` describe it."""

    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> list[int]: ...
    @property
    def dtype(self) -> str: ...


def _size(spec: Spec) -> int:
    return int(np.prod(spec.shape))


def _names(specs: Sequence[Spec]) -> str:
    return ", ".join(repr(s.name) for s in specs)


def _per_input(value: Any, spec: Spec) -> np.ndarray:
    """One graph input's samples, (n, size): one sample in the input's shape (batch dimension
    optional), samples stacked on a first axis, or a flat list of n * size values (ezkl)."""
    if isinstance(value, (str, bytes)):
        raise InputError(f"graph input {spec.name!r}: give numbers, not a string.")
    try:
        raw = np.asarray(value)
        arr = raw.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"graph input {spec.name!r} is not an array of numbers of one "
                         f"rectangular shape ({e}).") from e
    if raw.dtype.kind == "b" and spec.dtype != "bool":
        raise InputError(f"graph input {spec.name!r} is {spec.dtype}: give numbers, not "
                         "booleans.")
    one, size = tuple(spec.shape), _size(spec)
    forms = [one] + ([one[1:]] if len(one) > 1 and one[0] == 1 else [])
    if arr.size and arr.shape in forms:
        n = 1
    elif arr.ndim >= 2 and arr.shape[0] > 0 and (arr.shape[1:] in forms
                                                 or arr.shape[1:] == (size,)):
        n = arr.shape[0]
    elif arr.ndim == 1 and arr.size and arr.size % size == 0:
        n = arr.size // size
    else:
        raise InputShapeError(
            f"graph input {spec.name!r}: values of shape {arr.shape} do not fit its shape "
            f"{one} ({size} values a sample); give one sample of that shape, or n of them "
            "stacked on a first axis.")
    if not np.isfinite(arr).all():
        raise InputError(f"graph input {spec.name!r} contains NaN or infinity; give finite "
                         "numbers.")
    if np.dtype(spec.dtype).kind in "iub" and not np.array_equal(arr, np.round(arr)):
        raise InputError(f"graph input {spec.name!r} is {spec.dtype}: give whole numbers, "
                         "not fractions.")
    return arr.reshape(n, size)


def _by_name(value: dict[str, Any], specs: Sequence[Spec]) -> list[Any]:
    missing = [s.name for s in specs if s.name not in value]
    extra = sorted(set(value) - {s.name for s in specs})
    if missing or extra:
        what = "; ".join(
            ([f"missing {', '.join(repr(m) for m in missing)}"] if missing else [])
            + ([f"unknown {', '.join(repr(x) for x in extra)}"] if extra else []))
        raise InputError(f"inputs by name: {what}; the model takes {_names(specs)}.")
    return [value[s.name] for s in specs]


def coerce_inputs(value: Any, specs: Sequence[Spec], *, one: bool = False) -> np.ndarray:
    """Samples of a graph with several inputs, packed: (n, total values), each row the
    concatenation of the inputs' flattened values in the graph's order (float64).

    Args:
        value: a dict ``{input_name: value}``, ezkl's ``{"input_data": [...]}``, a list or
            tuple of one value per graph input (each one sample or n stacked), a list of such
            dicts (one per sample), or a numpy array of packed rows.
        specs: the graph's inputs, in order.
        one: exactly one sample is expected (a proof's input).

    Returns:
        The packed samples, (n, sum of the inputs' sizes).

    Raises:
        InputError: an input missing, unknown or of the wrong count (named), not numbers,
            NaN/inf, or fractional for an integer input.
        InputShapeError: an input's values do not fit its shape, the inputs hold different
            numbers of samples, or several samples where one was expected.

    Example:
        >>> coerce_inputs({"features": x, "mask": m}, exported.inputs, one=True)
    """
    total = sum(_size(s) for s in specs)
    if isinstance(value, dict) and not set(value) <= {s.name for s in specs}:
        ezkl = _ezkl_formats.input_file_values(value)  # ezkl's input.json, not inputs by name
        value = value if ezkl is None else ezkl
    parts: list[Any] | None = None
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        rows = np.concatenate([coerce_inputs(v, specs) for v in value])
    elif isinstance(value, dict):
        parts = _by_name(value, specs)
    elif isinstance(value, (list, tuple)):
        if len(value) != len(specs):
            raise InputError(
                f"the model takes {len(specs)} inputs ({_names(specs)}): give one value per "
                f"input in that order, or a dict by name; got {len(value)} value(s).")
        parts = list(value)
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InputError(f"inputs are not numbers ({e}); give one value per graph input "
                             f"({_names(specs)}).") from e
        if arr.size == 0 or arr.size % total or (arr.ndim > 1 and arr.shape[-1] != total
                                                 and arr.size != total):
            raise InputShapeError(
                f"an array of shape {arr.shape} is not packed rows of this model's "
                f"{len(specs)} inputs ({_names(specs)}: {total} values a sample); give one "
                "value per input (a list, tuple or dict by name) instead.")
        parts = unpack(arr.reshape(-1, total), specs, cast=False)
    if parts is not None:
        cols = [_per_input(p, s) for p, s in zip(parts, specs, strict=True)]
        counts = {s.name: len(c) for s, c in zip(specs, cols, strict=True)}
        if len(set(counts.values())) > 1:
            raise InputShapeError(
                "the inputs hold different numbers of samples ("
                + ", ".join(f"{k!r}: {v}" for k, v in counts.items()) + "); give each input "
                "the same number.")
        rows = np.hstack(cols)
    if one and len(rows) != 1:
        raise InputShapeError(f"{len(rows)} samples given where one input is expected (one "
                              f"value per graph input: {_names(specs)}).")
    return rows


def unpack(rows: np.ndarray, specs: Sequence[Spec], *, cast: bool = True) -> list[np.ndarray]:
    """Packed rows (n, total) -> one array per graph input, (n, *shape), in its dtype."""
    out, start = [], 0
    for s in specs:
        part = rows[:, start:start + _size(s)].reshape((len(rows), *s.shape))
        out.append(part.astype(np.dtype(s.dtype)) if cast else part)
        start += _size(s)
    return out


def read_input_samples(path: str | Path, specs: Sequence[Spec]) -> np.ndarray:
    """Samples for a graph's inputs from a file: for one input, :func:`read_samples`; for
    several, packed rows (see :func:`coerce_inputs`).

    Files for several inputs: ezkl's input.json (``input_data``: one flat list per input, n
    samples each), a JSON dict by input name or list of such dicts, .jsonl (one sample a line:
    a dict by name, ``{"input": ...}``, or a list of one value per input), .npy or .csv of
    packed rows.

    Raises:
        InputShapeError: the values do not fit the inputs (the input is named).
        InputError: unreadable, not numbers, NaN/inf, an input missing or unknown.
    """
    if len(specs) == 1:
        gi = specs[0]
        return read_samples(path, GraphInput(gi.name, list(gi.shape), gi.dtype))
    p = Path(path)
    if p.suffix.lower() == ".jsonl":
        try:
            text = p.read_text()
        except FileNotFoundError as e:
            raise InputError(f"{p}: no such input file.") from e
        except (OSError, ValueError) as e:
            raise InputError(f"{p}: not a readable .jsonl file ({e}).") from e
        rows = []
        for n, item in _jsonl(p, text):
            try:
                rows.append(coerce_inputs(item, specs, one=True))
            except InputError as e:
                raise type(e)(f"{p}:{n}: {e}") from e
        if not rows:
            raise InputError(f"{p}: no samples in this file.")
        return np.concatenate(rows)
    if p.suffix.lower() in (".npy", ".csv"):  # packed rows: an array, never one per input
        try:
            raw: Any = np.asarray(_load(p), dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InputError(f"{p}: not rows of numbers of one length ({e}).") from e
    else:
        raw = _load_json(p)
    try:
        return coerce_inputs(raw, specs)
    except InputError as e:
        raise type(e)(f"{p}: {e}") from e


def _load_json(p: Path) -> Any:
    try:
        return json.loads(p.read_text())
    except FileNotFoundError as e:
        raise InputError(f"{p}: no such input file.") from e
    except (OSError, ValueError) as e:
        raise InputError(f"{p}: not JSON ({e}); give ezkl's input.json, a JSON dict by input "
                         "name, .jsonl, or .npy / .csv of packed rows.") from e
