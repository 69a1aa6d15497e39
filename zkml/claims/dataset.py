"""Reading a labelled evaluation set: features, an integer label and an optional group.

Formats (the label and group are named by column or key; the features are the rest):

- ``.csv``: a header row; every column other than the label and group is a numeric feature.
- ``.jsonl``: one object per line, ``{"input": [...], "label": 1, "group": "a"}``.
- ``.npz``: arrays ``x`` (n, ...), ``y`` (n,) and optionally ``group`` (n,).
- ``.npy``: a 2-D numeric array, one sample per row; the label is column ``label_column``
  (an index, default the last) and the group, if any, column ``group_column`` (an index).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zkml.errors import InputError

__all__ = ["LabelledSet", "read_labelled"]


@dataclass(frozen=True)
class LabelledSet:
    """An evaluation set in memory: PRIVATE features, labels and public groups."""

    features: list[np.ndarray]
    labels: list[int]
    groups: list[str] | None
    group_attribute: str | None

    def __len__(self) -> int:
        return len(self.labels)


def _label(v: Any, where: str) -> int:
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = math.nan
    if not math.isfinite(f) or f != int(f):
        raise InputError(f"{where}: label {str(v)[:40]!r} is not a class number; labels are "
                         "integers (0/1 for a binary model, or the output index for argmax).")
    return int(f)


def _floats(values: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: features are not numbers ({str(e)[:80]}).") from e
    if arr.size == 0 or not np.isfinite(arr).all():
        raise InputError(f"{where}: features are empty or hold NaN/infinity.")
    return arr


def _csv(path: Path, label: str, group: str | None) -> LabelledSet:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise InputError(f"{path}: empty CSV file; give a header row and one row per sample.")
    header = [h.strip() for h in rows[0]]
    for name, what in ((label, "--label-column"), (group, "--group-column")):
        if name is not None and name not in header:
            raise InputError(f"{path}: no column {name!r} ({what}); the header has "
                             f"{', '.join(header[:12])}.")
    li = header.index(label)
    gi = header.index(group) if group is not None else None
    keep = [k for k in range(len(header)) if k not in (li, gi)]
    feats, labels, groups = [], [], []
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputError(f"{path}, line {n}: {len(row)} cells, the header has "
                             f"{len(header)}.")
        feats.append(_floats([row[k] for k in keep], f"{path}, line {n}"))
        labels.append(_label(row[li], f"{path}, line {n}"))
        if gi is not None:
            groups.append(row[gi].strip())
    return LabelledSet(feats, labels, groups if gi is not None else None, group)


def _jsonl(path: Path, label: str, group: str | None) -> LabelledSet:
    feats, labels, groups = [], [], []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {n}"
        try:
            item = json.loads(line)
        except ValueError as e:
            raise InputError(f"{where}: not JSON ({e}).") from e
        if not isinstance(item, dict) or "input" not in item or label not in item:
            raise InputError(f'{where}: expected {{"input": [...], "{label}": ...}}.')
        feats.append(_floats(item["input"], where))
        labels.append(_label(item[label], where))
        if group is not None:
            if group not in item:
                raise InputError(f"{where}: no {group!r} key (--group-column).")
            groups.append(str(item[group]))
    return LabelledSet(feats, labels, groups if group is not None else None, group)


def _arrays(path: Path, label: str, group: str | None) -> LabelledSet:
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable numpy file ({e}).") from e
    if path.suffix == ".npz":
        if "x" not in data or "y" not in data:
            raise InputError(f"{path}: an .npz evaluation set holds arrays 'x' and 'y' (and "
                             f"optionally 'group'); it has {', '.join(data.files)}.")
        x, y = data["x"], data["y"]
        g = data["group"] if "group" in data.files else None
        if len(x) != len(y) or (g is not None and len(g) != len(y)):
            raise InputError(f"{path}: 'x', 'y' and 'group' differ in length.")
        return LabelledSet([_floats(r, f"{path}, sample {i}") for i, r in enumerate(x)],
                           [_label(v, f"{path}, sample {i}") for i, v in enumerate(y)],
                           None if g is None else [str(v) for v in g],
                           "group" if g is not None else None)
    if data.ndim != 2:
        raise InputError(f"{path}: an .npy evaluation set is 2-D (one sample per row, the label "
                         "in a column); use .npz (x, y, group) for other shapes.")
    try:
        li = int(label) if label != "label" else data.shape[1] - 1
        gi = int(group) if group is not None else None
    except ValueError as e:
        raise InputError(f"{path}: in an .npy set the label and group columns are indices "
                         "(e.g. --label-column -1 --group-column 0).") from e
    cols = data.shape[1]
    li, gi = li % cols, (gi % cols if gi is not None else None)
    keep = [k for k in range(cols) if k not in (li, gi)]
    return LabelledSet([_floats(r[keep], f"{path}, row {i}") for i, r in enumerate(data)],
                       [_label(r[li], f"{path}, row {i}") for i, r in enumerate(data)],
                       None if gi is None else [f"{float(r[gi]):g}" for r in data],
                       None if gi is None else f"column {gi}")


def read_labelled(path: str | Path, *, label_column: str = "label",
                  group_column: str | None = None) -> LabelledSet:
    """Read an evaluation set (.csv, .jsonl, .npz or .npy; see the module docstring).

    Raises:
        InputError: a missing or unreadable file, a missing column, a non-integer label,
            non-numeric or non-finite features, or an empty set (each names file and line).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file; give a labelled .csv, .jsonl, .npz or .npy set.")
    readers = {".csv": _csv, ".jsonl": _jsonl, ".npz": _arrays, ".npy": _arrays}
    if p.suffix not in readers:
        raise InputError(f"{p}: unknown format {p.suffix or '(none)'!r}; give .csv, .jsonl, "
                         ".npz or .npy.")
    try:
        s = readers[p.suffix](p, label_column, group_column)
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: unreadable ({e}).") from e
    if not len(s):
        raise InputError(f"{p}: no samples.")
    return s
