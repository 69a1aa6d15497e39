"""The `zkml` console script. Standard library only until the command is known: `zkml prove`
forks the lean prover (zkml/cli/prover.py) before typer, rich, pydantic or numpy load, so the
process that makes the proof never holds them."""

from __future__ import annotations

import sys

__all__ = ["console"]


def console() -> None:
    """:func:`zkml.cli.main.main` in a process of its own (exit code 0 ok, 1 invalid or
    rejected, 2 error)."""
    from zkml.cli.prover import claim_process, exit_now, fork_prover

    claim_process()
    fork_prover(sys.argv[1:])  # returns in the CLI's process only
    from zkml.cli.main import main

    try:
        main()
    except SystemExit as e:
        code = e.code
    exit_now(code if isinstance(code, int) else (0 if code is None else 1))
