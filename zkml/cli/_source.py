"""Where `zkml export` gets a model from: a zoo name, or FILE.py:FUNCTION returning a torch
module (with its example and calibration inputs, one array or several by argument name) or
a ``circuits.ZooModel``."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zkml.cli.common import need_file
from zkml.errors import ExportError, InputError, InputShapeError, ZkmlError, ZkmlValueError

__all__ = ["load_source", "Source"]


@dataclass
class Source:
    """What `zkml export` writes a build directory from."""

    name: str
    model: Any
    example: Any
    calibration: Any  # (n, *example.shape)
    held_out: Any
    zoo: dict[str, Any] | None = None  # a ZooModel's preset and compile config
    note: str | None = None


def _user_module(file: Path) -> Any:
    """Import ``file`` under a name of its own (no clash with another module or file)."""
    digest = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
    name = f"zkml_user_{digest}_{''.join(c if c.isalnum() else '_' for c in file.stem)}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ExportError(f"{file}: cannot be imported as a Python module; give a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    sys.path.insert(0, str(file.resolve().parent))  # its sibling modules, as `python FILE`
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        del sys.modules[name]
        raise ExportError(f"{file}: importing it raised {type(e).__name__}: "
                          f"{str(e)[:200]}; fix the file (`python {file}` shows the "
                          "traceback).") from e
    finally:
        sys.path.remove(str(file.resolve().parent))
    return module


def _call_user_function(spec: str) -> Any:
    file_part, fn = spec.rsplit(":", 1)
    file = need_file(Path(file_part), "a Python file: FILE.py:FUNCTION", ExportError)
    module = _user_module(file)
    target = getattr(module, fn, None)
    if not callable(target):
        defined = sorted(k for k, v in vars(module).items()
                         if callable(v) and not k.startswith("_")
                         and getattr(v, "__module__", None) == module.__name__)
        raise ExportError(f"{file} has no function {fn!r}" + (
            f" (it defines: {', '.join(defined[:10])})" if defined else "")
            + "; give FILE.py:FUNCTION, FUNCTION taking no arguments.")
    sys.path.insert(0, str(file.resolve().parent))
    try:
        return target()
    except (Exception, SystemExit) as e:
        raise ExportError(f"{file}:{fn}() raised {type(e).__name__}: {str(e)[:200]}; it "
                          "must take no arguments and return the model.") from e
    finally:
        sys.path.remove(str(file.resolve().parent))


def _read_example(path: Path) -> Any:
    """One input (batch dimension included) from a .npy or .json file; for a model whose
    forward takes several tensors, a dict by argument name (a .json object or a .npz)."""
    import numpy as np

    from zkml._ezkl.formats import input_file_values, read_input_data

    need_file(path, "--example: a .npy, .npz or .json file of one input", InputError)
    try:
        if path.suffix.lower() == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return _named_arrays({k: z[k] for k in z.files}, f"--example {path}")
        elif path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict) and input_file_values(data) is None:  # by name
                return _named_arrays(data, f"--example {path}")
            arr = np.asarray(read_input_data(data, str(path)))
        else:
            raise InputError(f"--example {path}: give a .npy, .npz or .json file of one input.")
    except (OSError, ValueError, TypeError) as e:
        raise InputError(f"--example {path}: not a readable array of numbers ({e}).") from e
    if arr.dtype.kind not in "iufb" or arr.ndim == 0:
        raise InputError(f"--example {path}: not an array of numbers (dtype {arr.dtype}, "
                         f"shape {arr.shape}); give one input, batch dimension included.")
    return arr


def _named_arrays(data: dict[str, Any], what: str) -> dict[str, Any]:
    """{forward argument: array} of a model with several inputs."""
    import numpy as np

    if not data:
        raise InputError(f"{what}: no inputs; give one array per forward argument, by name.")
    out = {}
    for name, value in data.items():
        arr = np.asarray(value)
        if arr.dtype.kind not in "iufb" or arr.ndim == 0:
            raise InputError(f"{what}: input {name!r} is not an array of numbers (dtype "
                             f"{arr.dtype}, shape {arr.shape}).")
        out[str(name)] = arr
    return out


def _ordered(model: Any, example: dict[str, Any], what: str) -> tuple[Any, ...]:
    """The named example inputs in the order of the module's forward arguments."""
    import inspect

    try:
        params = [p.name for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if set(example) != set(params[:len(example)]) or len(example) > len(params):
        raise InputError(f"{what}: inputs {sorted(example)} are not forward's arguments "
                         f"({', '.join(params) or 'unknown'}); name each array after its "
                         "argument.")
    return tuple(example[name] for name in params[:len(example)])


def _read_calibration(path: Path, example: Any) -> Any:
    """Samples shaped (n, *example.shape), from a .npy file."""
    import numpy as np

    need_file(path, "--calibration: a .npy of samples shaped (n, *input_shape)", InputError)
    if path.suffix.lower() != ".npy":
        raise InputError(f"--calibration {path}: give a .npy of samples shaped (n, "
                         f"{', '.join(map(str, example.shape))}).")
    try:
        cal = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"--calibration {path}: not a readable .npy array ({e}).") from e
    if cal.ndim == 0 or cal.dtype.kind not in "iufb" or cal[0].size != example.size:
        raise InputShapeError(
            f"--calibration {path} has shape {cal.shape} ({cal.dtype}); give samples shaped "
            f"(n, {', '.join(map(str, example.shape))}) like --example.")
    return cal.reshape(len(cal), *example.shape)


def load_source(spec: str, example: Path | None, calibration: Path | None) -> Source:
    """A zoo name, or ``FILE.py:FUNCTION`` returning a torch module (with ``--example``) or a
    ``circuits.ZooModel``."""
    import numpy as np

    if ":" not in spec:
        if spec.lower().endswith(".onnx"):
            raise ZkmlValueError(f"{spec} is an ONNX file: use `zkml import {spec} --input "
                                 "FILE`.")
        if spec.lower().endswith(".py"):
            raise ZkmlValueError(f"{spec}: name the function too: `zkml export {spec}:FUNCTION "
                                 "--example FILE`.")
        try:
            import circuits

            obj = circuits.build(spec)
        except KeyError as e:
            raise ZkmlValueError(f"{e.args[0]}; or give FILE.py:FUNCTION returning a torch "
                                 "nn.Module (with --example FILE).") from None
        except ImportError as e:
            raise ZkmlError(f"the zoo needs {e.name or 'a missing package'}: install the zoo "
                            "extra (pip install 'zkml[zoo]').") from e
    else:
        obj = _call_user_function(spec)
    zoo_cls = getattr(sys.modules.get("circuits"), "ZooModel", None)
    if zoo_cls is not None and isinstance(obj, zoo_cls):
        ex = _read_example(example) if example else obj.example_input
        cal = _read_calibration(calibration, ex) if calibration else obj.calibration
        return Source(obj.name, obj.model, ex, cal, obj.test_inputs[:16],
                       {"preset": obj.preset, "config": obj.config.model_dump()})
    fn = spec.rsplit(":", 1)[-1]
    if obj is None or isinstance(obj, (str, bytes, int, float, tuple, list, dict)):
        raise ExportError(f"{spec} returned {type(obj).__name__}; return a torch nn.Module "
                          "(or a circuits.ZooModel).")
    if example is None:
        raise ZkmlValueError(f"{fn}() returned a {type(obj).__name__}: pass --example FILE (a "
                             ".npy or .json of one input, batch dimension included) so zkml "
                             "knows its input shape.")
    ex = _read_example(example)
    note = None
    if isinstance(ex, dict):  # several forward arguments: packed after export
        ex = _ordered(obj, ex, f"--example {example}")
        if calibration:
            cal = _read_named_calibration(calibration)
        else:
            cal = {k: v[np.newaxis] for k, v in _read_example(example).items()}
            note = _EXAMPLE_ONLY
        return Source(Path(spec.rsplit(":", 1)[0]).stem, obj, ex, cal, cal, note=note)
    if calibration:
        cal = _read_calibration(calibration, ex)
    else:
        cal = ex[np.newaxis]
        note = _EXAMPLE_ONLY
    return Source(Path(spec.rsplit(":", 1)[0]).stem, obj, ex, cal, cal[:16], note=note)


_EXAMPLE_ONLY = ("calibrated on the --example input only: inputs far outside its values will be "
                 "refused at prove time; pass --calibration FILE (.npy of representative "
                 "samples; .npz by input name for several inputs) to widen the range.")


def _read_named_calibration(path: Path) -> dict[str, Any]:
    """Samples of a model with several inputs: a .npz, one array (n, *shape) per input."""
    import numpy as np

    need_file(path, "--calibration: a .npz of samples by input name", InputError)
    if path.suffix.lower() != ".npz":
        raise InputError(f"--calibration {path}: the model takes several inputs: give a .npz "
                         "with one array of samples (n, *shape) per input name.")
    try:
        with np.load(path, allow_pickle=False) as z:
            return _named_arrays({k: z[k] for k in z.files}, f"--calibration {path}")
    except (OSError, ValueError) as e:
        raise InputError(f"--calibration {path}: not a readable .npz ({e}).") from e


