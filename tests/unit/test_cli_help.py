from __future__ import annotations

from typer.testing import CliRunner

from zkml.cli.main import app

STAGES = ["export", "compile", "srs", "setup", "prove", "verify", "contract", "deploy",
          "verify-onchain", "demo"]


def test_help_lists_every_stage() -> None:
    res = CliRunner().invoke(app, ["--help"])
    assert res.exit_code == 0
    for stage in STAGES:
        assert f" {stage} " in res.output, stage


def test_compile_help_states_preset_guarantees() -> None:
    res = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["compile", "--help"])
    assert res.exit_code == 0
    assert "private-input" in res.output and "committed-input" in res.output
    assert "allow-unbound-model" in res.output


def test_srs_import_rejects_wrong_file(tmp_path: object) -> None:
    from pathlib import Path

    f = Path(str(tmp_path)) / "kzg9.srs"
    f.write_bytes(b"not an srs")
    res = CliRunner().invoke(app, ["srs", "import", str(f), "--logrows", "9"])
    assert res.exit_code == 2
    assert "is not the public Powers-of-Tau SRS for logrows 9" in res.output


def test_compile_help_fits_an_80_column_terminal() -> None:
    """Issue #22: the --preset help was a one-word-per-line column and a stray
    `[[quick|thorough]]` positional sat beside --tune."""
    res = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["compile", "--help"])
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "quick|thorough" not in res.output and "Arguments" not in res.output
    assert any("--preset" in line and "private-input," in line for line in lines)
    assert any("--tune" in line and "MODE" in line for line in lines)
