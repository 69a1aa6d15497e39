"""The op-coverage corpus (circuits/corpus.py): every entry, a tiny seeded model built in code,
is exported, compiled, set up, proven and verified, and its proven outputs are checked against
onnxruntime on the exported graph. Each entry's measured status is asserted both ways: an "ok"
entry that starts failing, and an "unsupported"/"wrong" entry that starts working, both fail
here until circuits/corpus.py (and docs/op-coverage.md) are updated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import zkml
from circuits import corpus
from zkml.model.export import run_onnx

pytestmark = pytest.mark.timeout(900)


def _needs(entry: corpus.Entry) -> None:
    if entry.name == "random-forest":
        pytest.importorskip("sklearn")
        pytest.importorskip("hummingbird")


@pytest.mark.parametrize("entry", corpus.ENTRIES, ids=lambda e: e.name)
def test_entry(entry: corpus.Entry, tmp_path: Path) -> None:
    _needs(entry)
    result = corpus.run(entry, tmp_path)
    assert result.status == entry.expected_status, (
        f"{entry.name}: documented {entry.expected!r}, measured {result.status} "
        f"{result.detail}: update circuits/corpus.py and regenerate docs/op-coverage.md")
    if result.status == "ok":
        assert result.verified
        assert result.logrows is not None and result.logrows <= 14, result.logrows
        assert result.max_abs_error is not None
        assert result.max_abs_error <= (0.0 if entry.exact else entry.tolerance)
    elif result.status == "wrong":
        assert result.verified, "a 'wrong' entry still verifies; only its outputs are off"


def test_pipeline_spelled_out(tmp_path: Path) -> None:
    """The steps corpus.run takes, written out once on an integer-input entry (embedding ids),
    so the corpus runner itself is checked against the public pipeline."""
    entry = corpus.by_name("embedding")
    model, example = entry.build()
    assert example.dtype == np.int64
    exported = zkml.export(model, example, tmp_path / "m.onnx")
    calibration = corpus.calibration(entry, example)
    assert calibration.shape == (corpus.CALIBRATION_EXTRA + 1, *example.shape)
    assert calibration.dtype == np.int64 and calibration.min() >= 0
    assert entry.id_range is not None and calibration.max() < entry.id_range
    circuit = zkml.compile_model(exported, calibration)
    keys = zkml.setup(circuit)
    bundle = zkml.prove(keys, example)
    assert zkml.verify(bundle, keys)
    reference = run_onnx(Path(exported.onnx_path).read_bytes(), example).ravel()
    np.testing.assert_allclose(zkml.decoded_outputs(bundle), reference, atol=entry.tolerance)


def test_entries_are_seeded() -> None:
    """Building an entry twice gives the same weights and example (the table is reproducible)."""
    import torch

    for name in ("gemm", "self-attention", "batchnorm"):
        entry = corpus.by_name(name)
        (m1, x1), (m2, x2) = entry.build(), entry.build()
        np.testing.assert_array_equal(x1, x2)
        for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True):
            assert torch.equal(a, b)


def test_table_lists_every_entry() -> None:
    results = [corpus.Result(e.name, ["Op"], status=e.expected_status, detail="d")
               for e in corpus.ENTRIES]
    text = corpus.table(results)
    for entry in corpus.ENTRIES:
        assert f"| {entry.name} |" in text
    assert text.count("\n| ") == len(corpus.ENTRIES) + 1  # rows + header
