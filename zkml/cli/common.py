"""What every `zkml` sub-command shares: options (defined once), output, errors, progress."""

from __future__ import annotations

import contextlib
import functools
import json
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from zkml import _progress
from zkml.chain import DEFAULT_KEY_ENV
from zkml.errors import ZkmlError

__all__ = ["DirOpt", "JsonOpt", "RpcOpt", "KeyEnvOpt", "emit", "fail", "err", "out",
           "setup_cli", "handle_errors", "DEFAULT_KEY_ENV"]

P = ParamSpec("P")
R = TypeVar("R")

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

DirOpt = Annotated[Path, typer.Option("--dir", "-d", help="Build directory of the model.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
RpcOpt = Annotated[
    str | None,
    typer.Option("--rpc-url", envvar="ZKML_RPC_URL",
                 help="JSON-RPC URL of the chain; default: the embedded in-process EVM."),
]
KeyEnvOpt = Annotated[
    str,
    typer.Option("--key-env", help="Environment variable holding the sender's private key "
                 "(never pass a key on the command line)."),
]


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
        out.print(human)


def fail(e: ZkmlError) -> typer.Exit:
    err.print(f"error ({type(e).__name__}): {e}", markup=False, highlight=False, style="red")
    return typer.Exit(2)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a sub-command: progress and warnings on stderr, and any :class:`ZkmlError` turned
    into one red line and exit code 2 (typer reads the signature through ``__wrapped__``)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        setup_cli()
        try:
            return command(*args, **kwargs)
        except ZkmlError as e:
            raise fail(e) from e

    return run
