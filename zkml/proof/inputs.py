"""Checking one inference input against the circuit before anything is proved: dtype, shape,
finiteness, range; one array per graph input."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from zkml import _ezkl
from zkml.artifacts import Keys
from zkml.errors import InputError, InputRangeError, InputShapeError
from zkml.model.inputs import coerce_inputs, unpack

__all__ = ["check_input", "check_inputs"]


def check_inputs(keys: Keys, value: Any) -> list[np.ndarray]:
    """Validate one inference input against the circuit, one array per graph input (each in
    its input's shape, float64): dtype, shape, finiteness, range.

    ``value`` for a model with several graph inputs: a dict by input name, a list or tuple in
    the graph's order, one packed row, or a path to a .json (ezkl's ``input_data``: one list
    per input, or a dict by name) or .npy (a packed row) file.

    Raises:
        InputError: as :func:`check_input`; for several inputs, the one missing, unknown,
            misshaped or fractional (for an integer input) is named.
    """
    exported = keys.circuit.exported
    if len(exported.inputs) == 1:
        return [check_input(keys, value)]
    if isinstance(value, (str, bytes, Path)):
        path = Path(os.fsdecode(value))
        value = _load_input_file(path, raw=True)
    row = coerce_inputs(value, exported.inputs, one=True)
    _check_range(keys, row)
    return [p[0].astype(np.float64) for p in unpack(row, exported.inputs, cast=False)]


def _check_range(keys: Keys, arr: np.ndarray) -> None:
    lo, hi = keys.circuit.input_range
    bad = np.flatnonzero((arr < lo) | (arr > hi))
    if bad.size:
        raise InputRangeError(
            f"{bad.size} input value(s) lie outside the calibrated range [{lo:.4g}, {hi:.4g}] "
            f"(first at flat index {int(bad[0])}); normalise the input like the calibration "
            "data, or recompile with calibration samples that cover it."
        )


def check_input(keys: Keys, value: Any) -> np.ndarray:
    """Validate one inference input against the circuit: dtype, shape, finiteness, range.

    For a model with one graph input; :func:`check_inputs` takes any number.

    Raises:
        InputError: wrong dtype, NaN/inf (``InputShapeError``: wrong size, or a model with
            several inputs; ``InputRangeError``: outside the calibrated range).
    """
    circuit = keys.circuit
    if len(circuit.exported.inputs) > 1:
        raise InputShapeError(
            f"the model takes {len(circuit.exported.inputs)} inputs "
            f"({', '.join(i.name for i in circuit.exported.inputs)}): validate them with "
            "check_inputs (one value per input).")
    shape = circuit.exported.input_shape
    if isinstance(value, (str, bytes, Path)):
        value = _load_input_file(Path(os.fsdecode(value)))
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise InputError(f"input is not an array of numbers: {e}") from e
    declared = circuit.exported.input_dtype
    if arr.dtype.kind not in "iuf" and not (arr.dtype.kind == "b" and declared == "bool"):
        raise InputError(
            f"input has dtype {arr.dtype}; give real numbers (float or int), not "
            f"{'booleans' if arr.dtype.kind == 'b' else 'this type'}."
        )
    arr = arr.astype(np.float64)
    if np.dtype(declared).kind in "iub" and np.isfinite(arr).all() and \
            not np.array_equal(arr, np.round(arr)):
        raise InputError(f"the model's input is {declared}: give whole numbers, not "
                         "fractions.")
    size = int(np.prod(shape))
    if arr.size != size:
        raise InputShapeError(
            f"input has shape {tuple(arr.shape)} ({arr.size} values) but the model takes "
            f"{tuple(shape)} ({size} values)."
        )
    if not np.isfinite(arr).all():
        raise InputError("input contains NaN or infinity; give finite numbers.")
    _check_range(keys, arr)
    return arr.reshape(shape)


def _load_input_file(path: Path, *, raw: bool = False) -> Any:
    """A .npy array, or a JSON file's value (``input_data`` unwrapped unless ``raw``: a dict
    by input name is a multi-input model's value as it stands)."""
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        data = json.loads(path.read_text())
        if raw:
            return data
    except FileNotFoundError as e:
        raise InputError(f"{path}: no such input file.") from e
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a JSON or .npy input file ({e}).") from e
    return _ezkl.read_input_data(data, str(path))
