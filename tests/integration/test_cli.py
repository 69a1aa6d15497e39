"""The CLI, stage by stage, as a user runs it (in-process through typer's runner)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from zkml.cli import app


def _run(*args: str) -> tuple[int, str]:
    """Exit code and stdout (progress and errors go to stderr: checked via output)."""
    res = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout if "--json" in args else res.output


def test_cli_pipeline(tmp_path: Path) -> None:
    d = str(tmp_path / "tiny")
    assert _run("export", "tiny-mlp", "--dir", d)[0] == 0
    code, out = _run("compile", "--dir", d, "--json")
    assert code == 0 and json.loads(out)["logrows"] <= 12
    code, out = _run("setup", "--dir", d, "--json")
    assert code == 0 and len(json.loads(out)["model_id"]) == 64
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps([[0.1, -0.2, 0.3, 0.4]]))
    bundle = str(tmp_path / "bundle.json")
    code, out = _run("prove", "--dir", d, str(inp), "-o", bundle, "--json")
    assert code == 0 and len(json.loads(out)["outputs"]) == 2
    assert _run("verify", bundle)[0] == 0
    # tamper with the public output: exit code 1, not a crash
    b = json.loads(Path(bundle).read_text())
    b["instances"][-1] = str(int(b["instances"][-1]) + 1)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(b))
    code, out = _run("verify", str(bad))
    assert code == 1 and "INVALID" in out
    code, out = _run("contract", "--dir", d, "--out-dir", str(tmp_path / "sol"), "--json")
    assert code == 0 and json.loads(out)["runtime_size"] > 0
    assert list((tmp_path / "sol").glob("Verifier_*.sol"))
    code, out = _run("verify-onchain", bundle, "--dir", d, "--json")
    assert code == 0 and json.loads(out)["valid"] is True
    code, out = _run("verify-onchain", str(bad), "--dir", d)
    assert code == 1 and "REJECTED" in out


def test_cli_bad_input_is_a_clean_error(tmp_path: Path) -> None:
    d = str(tmp_path / "tiny")
    _run("export", "tiny-mlp", "--dir", d)
    _run("compile", "--dir", d)
    _run("setup", "--dir", d)
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps([[0.1, 0.2]]))
    code, out = _run("prove", "--dir", d, str(inp))
    assert code == 2
    assert "InputShapeError" in out and "but the model takes (1, 4)" in out
    code, out = _run("setup", "--dir", str(tmp_path / "missing"))
    assert code == 2 and "run the stage that writes it first" in out
