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


def test_every_command_is_in_the_table_that_loads_it_alone() -> None:
    """`zkml CMD` imports only CMD's module (zkml.cli.main.COMMANDS / GROUPS); a command
    missing from the table would be unknown to its own process."""
    from zkml.cli.main import COMMANDS, GROUPS, build_app

    full = build_app()
    commands = {c.name for c in full.registered_commands}
    groups = {g.name for g in full.registered_groups}
    assert commands == set(COMMANDS) and groups == set(GROUPS)
    for name in [*COMMANDS, *GROUPS]:
        alone = build_app(name)
        names = {c.name for c in alone.registered_commands} | {
            g.name for g in alone.registered_groups}
        assert name in names


def test_one_commands_process_builds_only_its_module() -> None:
    res = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["prove", "--help"])
    assert res.exit_code == 0 and "--opening" in res.output
    from zkml.cli.main import build_app

    assert {c.name for c in build_app("prove").registered_commands} == {
        "setup", "prove", "verify", "prove-batch"}
