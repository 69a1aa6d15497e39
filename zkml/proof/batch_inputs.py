"""Reading a batch of inputs (`zkml prove-batch`): a .jsonl file, an .npy array or a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zkml.errors import InputError

__all__ = ["read_inputs"]


def read_inputs(source: str | Path) -> list[tuple[str, Any]]:
    """Read a batch: a .jsonl file (a list, or {"id": ..., "input": ...} per line), an .npy
    array (one input per row), or a directory of .json / .npy files (id = file stem).

    For a model with several graph inputs each input is one value per graph input: a dict
    by input name, a list in the graph's order, ezkl's {"input_data": [...]}, or a packed
    .npy row; it is checked when proved, so a bad row is that row's error
    (``zkml.model.inputs.coerce_inputs``).

    Raises:
        InputError: the source is missing or unreadable, or a .jsonl line is not JSON (its
            line number is named: fix it before any proof is made).
    """
    src = Path(source)
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix in {".json", ".npy"})
        if not files:
            raise InputError(f"{src}: no .json or .npy input files in this directory.")
        return [(p.stem, str(p)) for p in files]
    if not src.is_file():
        raise InputError(f"{src}: no such file or directory; give a .jsonl or .npy file, or "
                         "a directory of .json/.npy inputs.")
    if src.suffix == ".npy":
        try:
            arr = np.load(src, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"{src}: not a readable .npy array ({e}).") from e
        if arr.ndim == 0:
            raise InputError(f"{src}: a single number; give one input per row, shaped "
                             "(n, *input_shape).")
        return [(f"row-{i:05d}", arr[i]) for i in range(len(arr))]
    out: list[tuple[str, Any]] = []
    try:
        text = src.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{src}: not a readable .jsonl text file ({e}); give one JSON input "
                         "per line, a .npy file or a directory.") from e
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as e:
            raise InputError(f"{src}, line {n}: not JSON ({e}); each line must be a JSON list "
                             'or {"id": ..., "input": [...]}: fix or remove that line.') from e
        if isinstance(item, dict) and "input" in item:
            out.append((str(item.get("id", f"line-{n:05d}")), item["input"]))
        else:
            out.append((f"line-{n:05d}", item))
    ids = [i for i, _ in out]
    if len(set(ids)) != len(ids):
        raise InputError(f"{src}: input ids are not unique; give each line its own \"id\".")
    return out
