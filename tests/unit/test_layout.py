"""The package layout is part of the design: layering, the one ezkl adapter, a light import."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "zkml"
ADAPTER = PKG / "_ezkl"

#: keys that only occur in ezkl's own files (settings, proof, witness, input): reading or
#: writing them belongs to the adapter.
EZKL_FORMAT_KEYS = {
    "run_args", "model_output_scales", "model_instance_shapes", "module_sizes",
    "required_lookups", "required_range_checks", "input_data", "hex_proof",
    "pretty_public_inputs", "processed_inputs", "processed_outputs", "model_input_scales",
}
#: modules that `import zkml` and `zkml --help` must not load
HEAVY = {"torch", "onnx", "onnxruntime", "web3", "eth_account", "ezkl", "sklearn", "ray"}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if ADAPTER not in p.parents)


def test_import_linter_contracts_hold(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    # its cache goes to tmp_path: by default it writes .import_linter_cache/ into the checkout
    r = subprocess.run([str(exe), "--cache-dir", str(tmp_path / "cache")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_adapter_imports_ezkl_or_touches_its_formats(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] != "ezkl" for a in node.names), path
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "ezkl", path
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert node.value not in EZKL_FORMAT_KEYS, (
                f"{path.relative_to(ROOT)}:{node.lineno} uses ezkl's file key {node.value!r}: "
                "read or write ezkl formats through zkml._ezkl")


def test_no_module_is_past_the_size_one_reader_holds() -> None:
    big = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 450}
    assert not big, f"split these modules along their seams: {big}"


def _loaded_by(code: str) -> set[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    r = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"],
                       capture_output=True, text=True, env=env, timeout=60, check=True)
    return set(json.loads(r.stdout.strip().splitlines()[-1]))


def test_import_zkml_loads_no_heavy_dependency() -> None:
    assert not _loaded_by("import zkml") & HEAVY
    assert not _loaded_by("import zkml.cli.main") & HEAVY


def test_the_prove_command_loads_no_graph_library() -> None:
    """`zkml prove` is a process per proof: onnx (~0.5 s, issue #22's corpus) and torch are
    the export stage's, never the prover's."""
    loaded = _loaded_by("import zkml.cli.main\nimport zkml.cli.proof\nimport zkml.proof.prove")
    assert not loaded & {"onnx", "onnxruntime", "torch", "ml_dtypes"}


def test_the_lean_prover_loads_ezkl_and_nothing_heavy() -> None:
    """zkml/cli/prover.py: `zkml prove`'s witness, proof, bundle and report are made in a
    process holding ezkl and the standard library (issue #22: the prove peak is ezkl's
    own); the console script forks it before loading anything else."""
    assert not _loaded_by("import zkml.cli.entry") & {"typer", "rich", "pydantic", "numpy"}
    loaded = _loaded_by("import zkml.cli.prover, zkml.proof.job, zkml._ezkl.run, "
                        "zkml.proof.assemble, zkml._ezkl.formats, zkml._utils")
    assert "ezkl" in loaded
    assert not loaded & {"numpy", "pydantic", "pydantic_core", "typer", "rich", "onnx"}


def test_a_public_name_loads_its_stage_on_first_use() -> None:
    loaded = _loaded_by("import zkml\nzkml.ProofBundle\nzkml.ZkmlError")
    assert "pydantic" in loaded and not loaded & HEAVY
    assert "web3" in _loaded_by("import zkml\nzkml.connect")


#: modules `import zkml` may load (8 today: the facade, errors, version and their stdlib needs)
IMPORT_BUDGET = 25


def test_import_zkml_is_light() -> None:
    """`import zkml` is fast (~10 ms on the 2-core dev machine) because it loads almost
    nothing: the budget is on what it loads, not on the clock, which a loaded machine moves."""
    code = ("import json, sys; before = set(sys.modules); import zkml; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True, timeout=60)
    loaded = json.loads(r.stdout)
    assert "zkml" in loaded and "zkml.errors" in loaded
    assert len(loaded) <= IMPORT_BUDGET, f"import zkml loads {len(loaded)} modules: {loaded}"


def _private_names_imported(path: Path) -> list[str]:
    """``from zkml.x import _name`` where ``_name`` is not itself a module: another module's
    private function, class or value (a private *module*, such as zkml._ezkl, is fine)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zkml"):
            base = ROOT / Path(*(node.module or "").split("."))
            for alias in node.names:
                name = alias.name
                if name.startswith("_") and not name.startswith("__") and not (
                        (base / name).is_dir() or (base / f"{name}.py").is_file()):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{name}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = [f for p in sorted(PKG.rglob("*.py")) for f in _private_names_imported(p)]
    assert not found, f"make these public or move them to a shared module: {found}"
