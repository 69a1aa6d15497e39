"""Claims without proofs: the Merkle trees, the metrics (against sklearn) and the set readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix

from zkml.claims import DecisionRule, compute_metrics, predict, read_labelled
from zkml.claims.merkle import (
    inclusion_path,
    proof_leaf,
    proofs_root,
    root_from_path,
    set_leaf,
    set_root,
)
from zkml.errors import InputError, ZkmlValueError


def _leaves(n: int, label: int = 0) -> list[bytes]:
    return [set_leaf(i, 10**20 + i, label, "g" if i % 2 else None) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9])
def test_every_leaf_has_a_path_to_the_root(n: int) -> None:
    leaves = _leaves(n)
    root = set_root(leaves)
    for i in range(n):
        assert root_from_path(leaves[i], n, inclusion_path(leaves, i)) == root
    wrong = set_leaf(0, 1, 0, None)
    assert root_from_path(wrong, n, inclusion_path(leaves, 0)) != root


def test_roots_bind_count_order_label_group_and_domain() -> None:
    leaves = _leaves(5)
    root = set_root(leaves)
    assert set_root(leaves[:4]) != root                            # a dropped sample
    assert set_root([*leaves, leaves[-1]]) != root                 # a doubled last leaf
    assert set_root([leaves[1], leaves[0], *leaves[2:]]) != root   # swapped
    assert set_leaf(0, 5, 1, None) != set_leaf(0, 5, 0, None)      # label
    assert set_leaf(0, 5, 1, "a") != set_leaf(0, 5, 1, "b")        # group
    assert set_leaf(0, 5, 1, None) != set_leaf(0, 5, 1, "")        # no group vs empty group
    assert set_leaf(0, 5, 1, None) != set_leaf(1, 5, 1, None)      # position
    assert proofs_root(leaves) != root                             # domain separated
    assert proof_leaf(0, "00" * 32) != proof_leaf(1, "00" * 32)
    with pytest.raises(ZkmlValueError, match="empty set"):
        set_root([])


def test_metrics_match_sklearn_and_hand_counted_group_rates() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).tolist()
    p = rng.integers(0, 2, 200).tolist()
    g = rng.choice(["f", "m", "x"], 200).tolist()
    m = compute_metrics(p, y, g, positive_label=1)
    assert m.accuracy == pytest.approx(accuracy_score(y, p))
    assert m.confusion == confusion_matrix(y, p, labels=m.labels).tolist()
    sel, tpr = {}, {}
    for grp in ("f", "m", "x"):
        idx = [i for i in range(200) if g[i] == grp]
        sel[grp] = sum(p[i] == 1 for i in idx) / len(idx)
        pos = [i for i in idx if y[i] == 1]
        tpr[grp] = sum(p[i] == 1 for i in pos) / len(pos)
    assert [r.group for r in m.groups] == ["f", "m", "x"]
    assert {r.group: r.selection_rate for r in m.groups} == pytest.approx(sel)
    assert {r.group: r.true_positive_rate for r in m.groups} == pytest.approx(tpr)
    assert m.demographic_parity_difference == pytest.approx(max(sel.values())
                                                            - min(sel.values()))
    assert m.equal_opportunity_difference == pytest.approx(max(tpr.values())
                                                           - min(tpr.values()))
    assert compute_metrics(p, y, None, 1).groups == []


def test_a_group_without_positives_has_no_true_positive_rate() -> None:
    m = compute_metrics([1, 0, 1, 0], [0, 0, 1, 1], ["a", "a", "b", "b"], 1)
    a, b = m.groups
    assert a.true_positive_rate is None and b.true_positive_rate == 0.5
    assert m.equal_opportunity_difference is None  # one group with positives: no difference
    assert m.demographic_parity_difference == 0.0


def test_predict_rules() -> None:
    assert predict([0.1, 0.7, 0.7], DecisionRule()) == 1  # a tie: the lowest index
    assert predict([0.5], DecisionRule(kind="threshold", threshold=0.5)) == 1
    assert predict([0.49], DecisionRule(kind="threshold", threshold=0.5)) == 0
    with pytest.raises(ZkmlValueError, match="use argmax"):
        predict([0.1, 0.2], DecisionRule(kind="threshold", threshold=0.5))


def test_readers_agree_on_one_set(tmp_path: Path) -> None:
    x = np.arange(12, dtype=float).reshape(4, 3) / 7
    y = [0, 1, 1, 0]
    g = ["a", "b", "a", "b"]
    csv = tmp_path / "s.csv"
    csv.write_text("f1,f2,sex,f3,label\n" + "".join(
        f"{r[0]},{r[1]},{gg},{r[2]},{yy}\n" for r, yy, gg in zip(x, y, g, strict=True)))
    jl = tmp_path / "s.jsonl"
    jl.write_text("".join(json.dumps({"input": r.tolist(), "label": yy, "sex": gg}) + "\n"
                          for r, yy, gg in zip(x, y, g, strict=True)))
    npz = tmp_path / "s.npz"
    np.savez(npz, x=x, y=np.array(y), group=np.array(g))
    npy = tmp_path / "s.npy"
    np.save(npy, np.column_stack([x, y]))
    sets = [read_labelled(csv, group_column="sex"), read_labelled(jl, group_column="sex"),
            read_labelled(npz), read_labelled(npy)]
    for s in sets:
        assert s.labels == y and len(s) == 4
        assert np.allclose(np.stack(s.features), x)
    assert [s.groups for s in sets[:3]] == [g, g, g] and sets[3].groups is None


@pytest.mark.parametrize(("name", "text", "kw", "message"), [
    ("a.csv", "f1,label\n0.1,0.5\n", {}, "line 2: label '0.5' is not a class number"),
    ("a.csv", "f1,y\n0.1,1\n", {}, "no column 'label'"),
    ("a.csv", "f1,label\n0.1,1\n", {"group_column": "sex"}, "no column 'sex'"),
    ("a.csv", "f1,label\nabc,1\n", {}, "line 2: features are not numbers"),
    ("a.csv", "f1,label\n0.1\n", {}, "line 2: 1 cells, the header has 2"),
    ("a.csv", "f1,label\n", {}, "no samples"),
    ("a.jsonl", '{"input": [1], "label": 1}\nnot json\n', {}, "line 2: not JSON"),
    ("a.jsonl", '{"x": [1], "label": 1}\n', {}, 'expected {"input"'),
    ("a.jsonl", '{"input": [NaN], "label": 1}\n', {}, "NaN/infinity"),
    ("a.txt", "1", {}, "unknown format '.txt'"),
])
def test_bad_sets_name_file_and_line(tmp_path: Path, name: str, text: str, kw: dict[str, str],
                                     message: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(InputError) as e:
        read_labelled(p, **kw)
    assert message in str(e.value)
    assert str(p) in str(e.value)
