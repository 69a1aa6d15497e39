from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zkml
from zkml.proof.batch import read_inputs


def test_jsonl_with_and_without_ids(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text('{"id": "alice", "input": [[1, 2]]}\n[[3, 4]]\n\n[[5, 6]]\n')
    items = read_inputs(f)
    assert [i for i, _ in items] == ["alice", "line-00002", "line-00004"]
    assert items[0][1] == [[1, 2]] and items[2][1] == [[5, 6]]


def test_a_malformed_jsonl_line_is_named_before_any_proof(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text('[[1, 2]]\n[[3, 4]]\n\nnot json\n')
    with pytest.raises(zkml.InputError, match="line 4: not JSON"):
        read_inputs(f)


def test_npy_rows(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(12.0).reshape(3, 1, 4))
    items = read_inputs(tmp_path / "x.npy")
    assert [i for i, _ in items] == ["row-00000", "row-00001", "row-00002"]
    assert items[1][1].tolist() == [[4.0, 5.0, 6.0, 7.0]]


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps([[1, 2]]))
    np.save(tmp_path / "a.npy", np.zeros((1, 2)))
    (tmp_path / "notes.txt").write_text("ignored")
    assert [i for i, _ in read_inputs(tmp_path)] == ["a", "b"]


def test_duplicate_ids_refused(tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text('{"id": "x", "input": [1]}\n{"id": "x", "input": [2]}\n')
    with pytest.raises(zkml.InputError, match="ids are not unique"):
        read_inputs(f)


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(zkml.InputError, match="no such file or directory"):
        read_inputs(tmp_path / "nope.jsonl")
