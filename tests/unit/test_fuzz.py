"""Bounded fuzzing of the loaders: malformed input must give a typed error, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zkml
from zkml.model.export import check_onnx
from zkml.proof.verify import parse_instances, proof_bytes

from .test_bundle import GOOD

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(blob=st.binary(max_size=400))
def test_bundle_loader_on_random_bytes(tmp_path: Path, blob: bytes) -> None:
    p = tmp_path / "b.json"
    p.write_bytes(blob)
    try:
        b = zkml.load_bundle(p)
    except zkml.BundleError:
        return
    assert isinstance(b, zkml.ProofBundle)  # whatever loads is a whole, validated bundle


@FUZZ
@given(key=st.sampled_from(sorted(GOOD)), value=_json)
def test_bundle_loader_on_mutated_fields(tmp_path: Path, key: str, value: object) -> None:
    p = tmp_path / "b.json"
    p.write_text(json.dumps({**GOOD, key: value}))
    try:
        b = zkml.load_bundle(p)
    except zkml.BundleError:
        return
    # whatever loads must either parse exactly as written or raise BundleError
    try:
        instances = parse_instances(b)
    except zkml.BundleError:
        pass
    else:
        assert instances == [int(v) for v in b.instances] and min(instances, default=0) >= 0
    try:
        raw = proof_bytes(b)
    except zkml.BundleError:
        pass
    else:
        assert raw == bytes.fromhex(b.proof.removeprefix("0x"))


def _valid_onnx() -> bytes:
    import io

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.onnx.export(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU()),
                      (torch.zeros(1, 3),), buf, dynamo=False, opset_version=18)
    return buf.getvalue()


VALID = _valid_onnx()


@FUZZ
@given(data=st.data())
def test_onnx_loader_on_mutated_models(data: st.DataObject) -> None:
    blob = bytearray(VALID)
    how = data.draw(st.sampled_from(["flip", "truncate", "random"]))
    if how == "flip":
        for i in data.draw(st.lists(st.integers(0, len(blob) - 1), min_size=1, max_size=8)):
            blob[i] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    else:
        blob = bytearray(data.draw(st.binary(max_size=300)))
    try:
        model = check_onnx(bytes(blob))
    except zkml.ExportError:
        return
    assert isinstance(model, onnx.ModelProto)  # anything accepted is a checked graph


def test_load_onnx_wrong_file(tmp_path: Path) -> None:
    f = tmp_path / "weights.csv"
    f.write_text("a,b\n1,2\n")
    try:
        zkml.load_onnx(f, [[0.0, 0.0, 0.0]])
    except zkml.ExportError as e:
        assert "is not a valid ONNX model" in str(e)
    else:
        raise AssertionError("a CSV file was accepted as ONNX")


def test_load_onnx_missing_file(tmp_path: Path) -> None:
    try:
        zkml.load_onnx(tmp_path / "nope.onnx", [[0.0]])
    except zkml.ExportError as e:
        assert "cannot read the ONNX file" in str(e)
    else:
        raise AssertionError


def test_load_onnx_wrong_example_shape(tmp_path: Path) -> None:
    f = tmp_path / "m.onnx"
    f.write_bytes(VALID)
    ok = zkml.load_onnx(f, [[0.1, 0.2, 0.3]])
    assert ok.input_shape == [1, 3] and ok.output_shape == [1, 2]
    try:
        zkml.load_onnx(f, [[0.1, 0.2]])
    except zkml.InputError as e:
        assert "does not fit the graph's input" in str(e)
    else:
        raise AssertionError
