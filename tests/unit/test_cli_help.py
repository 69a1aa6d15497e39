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
