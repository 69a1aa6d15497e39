"""Inputs of graphs with several inputs: every accepted form gives the same packed samples,
and every bad one names the input at fault (no ezkl, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zkml.artifacts import ExportedModel, InputSpec
from zkml.errors import InputError, InputShapeError
from zkml.model.inputs import GraphInput, coerce_inputs, read_input_samples, unpack
from zkml.presets import PRESETS, get_preset, input_visibilities

SPECS = [GraphInput("ids", [1, 3], "int64"), GraphInput("pos", [1, 3, 2], "float32")]
IDS = np.array([[[4, 0, 9]], [[1, 2, 3]]])  # two samples, each (1, 3)
POS = np.arange(12, dtype=np.float64).reshape(2, 1, 3, 2) / 10
PACKED = np.hstack([IDS.reshape(2, -1), POS.reshape(2, -1)])


def test_every_form_packs_to_the_same_rows() -> None:
    forms = [
        {"ids": IDS, "pos": POS},
        (IDS, POS),
        [IDS.tolist(), POS.tolist()],
        [IDS.reshape(-1).tolist(), POS.reshape(-1).tolist()],  # ezkl: n samples, flat
        {"input_data": [IDS.reshape(-1).tolist(), POS.reshape(-1).tolist()]},
        [{"ids": IDS[i], "pos": POS[i]} for i in range(2)],
        PACKED,
    ]
    for value in forms:
        np.testing.assert_array_equal(coerce_inputs(value, SPECS), PACKED)


def test_one_sample_without_batch_dimension_and_unpack() -> None:
    row = coerce_inputs({"ids": [4, 0, 9], "pos": POS[0][0]}, SPECS, one=True)
    ids, pos = unpack(row, SPECS)
    assert ids.dtype == np.int64 and ids.shape == (1, 1, 3) and ids.tolist() == [[[4, 0, 9]]]
    assert pos.dtype == np.float32 and pos.shape == (1, 1, 3, 2)


@pytest.mark.parametrize(("value", "error", "fragment"), [
    ({"ids": IDS[0]}, InputError, "missing 'pos'"),
    ({"ids": IDS[0], "pos": POS[0], "mask": [1]}, InputError, "unknown 'mask'"),
    ([IDS[0]], InputError, "takes 2 inputs ('ids', 'pos')"),
    ({"ids": IDS[0], "pos": np.zeros(5)}, InputShapeError, "graph input 'pos'"),
    ({"ids": [[0.5, 1, 2]], "pos": POS[0]}, InputError, "'ids' is int64: give whole numbers"),
    ({"ids": IDS[0], "pos": np.full((1, 3, 2), np.nan)}, InputError, "'pos' contains NaN"),
    ({"ids": IDS, "pos": POS[0]}, InputShapeError, "'ids': 2, 'pos': 1"),
    ({"ids": "abc", "pos": POS[0]}, InputError, "'ids': give numbers, not a string"),
    ({"ids": [[True, False, True]], "pos": POS[0]}, InputError, "not booleans"),
    (np.zeros((2, 7)), InputShapeError, "not packed rows"),
])
def test_bad_inputs_name_the_input(value: object, error: type[Exception],
                                   fragment: str) -> None:
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        coerce_inputs(value, SPECS)


def test_one_sample_expected() -> None:
    with pytest.raises(InputShapeError, match="2 samples given where one"):
        coerce_inputs((IDS, POS), SPECS, one=True)


def test_files_of_every_kind(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(
        {"input_data": [IDS.reshape(-1).tolist(), POS.reshape(-1).tolist()]}))
    (tmp_path / "b.json").write_text(json.dumps({"ids": IDS.tolist(), "pos": POS.tolist()}))
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"id": "x", "input": {"ids": IDS[0].tolist(), "pos": POS[0].tolist()}})
        + "\n\n" + json.dumps([IDS[1].tolist(), POS[1].tolist()]) + "\n")
    np.save(tmp_path / "d.npy", PACKED)
    np.savetxt(tmp_path / "e.csv", PACKED, delimiter=",")
    for name in ("a.json", "b.json", "c.jsonl", "d.npy", "e.csv"):
        np.testing.assert_allclose(read_input_samples(tmp_path / name, SPECS), PACKED,
                                   err_msg=name)


def test_file_errors_name_file_line_and_input(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text(
        json.dumps({"ids": IDS[0].tolist(), "pos": POS[0].tolist()}) + "\n"
        + json.dumps({"ids": IDS[0].tolist()}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: inputs by name: missing 'pos'"):
        read_input_samples(tmp_path / "bad.jsonl", SPECS)
    (tmp_path / "short.json").write_text(json.dumps({"input_data": [[1, 2, 3], [0.1] * 5]}))
    with pytest.raises(InputShapeError, match=r"short.json: graph input 'pos'"):
        read_input_samples(tmp_path / "short.json", SPECS)
    with pytest.raises(InputError, match="no such input file"):
        read_input_samples(tmp_path / "missing.json", SPECS)


def test_one_input_files_read_as_before(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((3, 4)))
    got = read_input_samples(tmp_path / "x.npy", [GraphInput("x", [1, 4], "float32")])
    assert got.shape == (3, 1, 4)


def test_exported_model_keeps_one_input_artifacts_loading() -> None:
    old = {"name": "m", "onnx_path": "m.onnx", "onnx_sha256": "0" * 64, "input_shape": [1, 4],
           "input_dtype": "int64", "output_shape": [1, 2], "ops": ["Gemm"]}
    e = ExportedModel.model_validate_json(json.dumps(old))
    assert e.inputs == [InputSpec(name="input", shape=[1, 4], dtype="int64")]
    two = ExportedModel(**{**old, "inputs": [InputSpec(name="a", shape=[1, 4]),
                                             InputSpec(name="b", shape=[2], dtype="int64")]})
    assert [i.size for i in ExportedModel.model_validate_json(two.model_dump_json()).inputs] \
        == [4, 2]


def test_presets_apply_their_input_visibility_to_each_input() -> None:
    assert input_visibilities(get_preset("public"), ["a", "b"]) == {"a": "public",
                                                                     "b": "public"}
    assert input_visibilities(get_preset("private-input"), ["a", "b"]) == {"a": "private",
                                                                            "b": "private"}
    assert input_visibilities(get_preset("committed-input"), ["a", "b"]) == {"a": "hashed",
                                                                              "b": "hashed"}
    # one salted tensor carries every input: one commitment covers them all
    assert all(p.multi_input for p in PRESETS.values())


def test_dtypes_match_onnx_tensor_proto() -> None:
    """DTYPES spells onnx's element types as numbers (so `zkml prove` need not import onnx)."""
    import onnx

    from zkml.model.inputs import DTYPES

    for code, name in DTYPES.items():
        assert onnx.helper.tensor_dtype_to_np_dtype(code).name == name
