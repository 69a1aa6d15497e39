from __future__ import annotations

from pathlib import Path

import pytest

import zkml
from zkml import _utils
from zkml._utils import FIELD_MODULUS


def test_error_hierarchy_has_builtin_mixins() -> None:
    assert issubclass(zkml.InputRangeError, zkml.InputError)
    assert issubclass(zkml.InputError, ValueError)
    assert issubclass(zkml.BundleError, ValueError)
    assert issubclass(zkml.ArtifactError, FileNotFoundError)
    for name in zkml.errors.__all__:
        assert issubclass(getattr(zkml, name), zkml.ZkmlError)


def test_public_api_is_explicit() -> None:
    for name in zkml.__all__:
        assert hasattr(zkml, name), name
    assert "_ezkl" not in zkml.__all__


@pytest.mark.parametrize("value", [0, 1, 12345, FIELD_MODULUS - 1])
def test_felt_le_hex_round_trip(value: int) -> None:
    assert _utils.felt_from_le_hex(_utils.felt_to_le_hex(value)) == value


def test_negative_outputs_decode_from_field() -> None:
    # ezkl encodes -1595 at scale 13 as p - 1595
    assert _utils.dequantize([FIELD_MODULUS - 1595, 8192], 13) == [-1595 / 8192, 1.0]


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    _utils.atomic_write_json(target, {"x": 1})

    class Boom:
        pass

    with pytest.raises(TypeError):
        _utils.atomic_write_json(target, {"x": Boom()})
    assert target.read_text().strip() == '{\n  "x": 1\n}'
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_digest_is_order_insensitive_for_dicts() -> None:
    assert _utils.digest_of({"a": 1, "b": 2}) == _utils.digest_of({"b": 2, "a": 1})
    assert _utils.digest_of({"a": 1}) != _utils.digest_of({"a": 2})
