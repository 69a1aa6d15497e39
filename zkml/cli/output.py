"""The CLI's output: results on stdout, progress and errors on stderr, one error format.

Imports rich and nothing of typer, so the lean prover (zkml/cli/prover.py) reports with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.errors import MarkupError

from zkml import _progress
from zkml.errors import ZkmlError

__all__ = ["err", "out", "spinner", "setup_cli", "emit", "report_error", "report_internal",
           "debug", "exit_code_for"]

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


@contextlib.contextmanager
def spinner(message: str) -> Iterator[None]:
    t0 = time.perf_counter()
    with err.status(message + " ..."):
        yield
    err.print(f"[green]✓[/green] {message} [dim]({time.perf_counter() - t0:.2f}s)[/dim]")


def setup_cli() -> None:
    """Progress spinners on stderr; warnings (e.g. the dev SRS) shown once, in yellow."""
    _progress.set_reporter(spinner)
    warnings.simplefilter("default")
    warnings.showwarning = lambda msg, cat, *a, **k: err.print(f"[yellow]warning:[/yellow] {msg}")


def emit(data: dict[str, Any], as_json: bool, human: str) -> None:
    if as_json:
        out.print_json(json.dumps(data, default=str))
    else:
        try:
            out.print(human)
        except MarkupError:  # a name from the user's model that reads as a markup tag
            out.print(human, markup=False)


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.splitlines() if part.strip())


def report_error(message: str, type_name: str, as_json: bool, *, label: str | None = None
                 ) -> None:
    """The one error format: ``error (Type): message`` on stderr, or with ``--json``
    ``{"error": message, "type": Type}`` on stdout."""
    message = _one_line(message)
    if as_json:
        out.print_json(json.dumps({"error": message, "type": type_name}))
    else:
        err.print(f"error ({label or type_name}): {message}", markup=False, highlight=False,
                  style="red")


def report_internal(e: BaseException, as_json: bool = False) -> None:
    """An exception zkml did not anticipate: one line, no traceback (ZKML_DEBUG=1 shows it)."""
    name = type(e).__name__
    report_error(f"{str(e)[:300] or repr(e)} — please report this with the command you ran "
                 "(ZKML_DEBUG=1 shows the traceback)", name, as_json, label=f"internal, {name}")


def debug() -> bool:
    return os.environ.get("ZKML_DEBUG", "") == "1"


def exit_code_for(e: Exception, as_json: bool) -> int:
    """Report ``e`` as a command's error in the one format and give the exit code (2);
    with ZKML_DEBUG=1 an unexpected exception is raised again (its traceback shown)."""
    if isinstance(e, ZkmlError):
        report_error(str(e), type(e).__name__, as_json)
    elif debug():
        raise e
    else:
        report_internal(e, as_json)
    return 2
