from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import zkml
import zkml.errors
from zkml import _utils
from zkml._utils import FIELD_MODULUS


def test_error_hierarchy_has_builtin_mixins() -> None:
    assert issubclass(zkml.InputRangeError, zkml.InputError)
    assert issubclass(zkml.InputError, ValueError)
    assert issubclass(zkml.BundleError, ValueError)
    assert issubclass(zkml.ArtifactError, FileNotFoundError)


@pytest.mark.parametrize("name", zkml.errors.__all__)
def test_every_error_is_a_documented_zkml_error(name: str) -> None:
    cls = getattr(zkml.errors, name)
    assert inspect.isclass(cls) and issubclass(cls, zkml.ZkmlError), name
    assert cls.__module__ == "zkml.errors"
    assert (cls.__doc__ or "").strip(), f"{name} has no docstring"
    assert getattr(zkml, name) is cls  # re-exported by the facade, the same class


def test_errors_all_is_exactly_the_error_classes() -> None:
    defined = {n for n, v in vars(zkml.errors).items()
               if inspect.isclass(v) and issubclass(v, BaseException)
               and v.__module__ == "zkml.errors" and not n.startswith("_")}
    assert len(zkml.errors.__all__) == len(set(zkml.errors.__all__))
    assert set(zkml.errors.__all__) == defined


def test_public_api_is_explicit() -> None:
    names = zkml.__all__
    assert len(names) == len(set(names)), "duplicates in zkml.__all__"
    assert set(names) == set(zkml._lazy_table()) | set(zkml.errors.__all__) | {"__version__"}
    assert not [n for n in names if n.startswith("_") and n != "__version__"]
    assert isinstance(zkml.__version__, str) and zkml.__version__


@pytest.mark.parametrize("name", sorted(zkml._lazy_table()))
def test_a_lazy_name_resolves_to_the_object_its_module_defines(name: str) -> None:
    module = importlib.import_module(zkml._lazy_table()[name])
    value = getattr(zkml, name)
    assert value is getattr(module, name)
    if inspect.isclass(value) or inspect.isfunction(value):
        # defined there, not re-exported from somewhere else under the facade's label
        assert value.__module__ == module.__name__, (name, value.__module__)
    assert name in getattr(module, "__all__", [name]), f"{module.__name__} does not export it"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'no_such_stage'"):
        zkml.no_such_stage  # noqa: B018
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


def test_feature_subpackages_load_on_first_use() -> None:
    import subprocess
    import sys

    code = ("import sys, zkml; before = {'zkml.claims', 'zkml.collab'} & set(sys.modules); "
            "f = zkml.claims.verify_claim, zkml.collab.verify_collab; "
            "print(sorted(before), f[0].__module__, f[1].__module__, 'claims' in dir(zkml))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "zkml.claims.verify", "zkml.collab.model", "True"]
