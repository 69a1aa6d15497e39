"""The `zkml` command line: a thin wrapper on the Python API, one module per command group.

Artifacts live in a build directory (``--dir``, default ``build/<model>``) as JSON files
(exported.json, circuit.json, keys.json, verifier.json, deployment.json) next to the files they
describe. Progress goes to stderr, results to stdout (``--json`` for machine-readable output).
Command modules import the library lazily, inside each command, so ``zkml --help`` stays fast.

Exit codes: 0 ok/valid, 1 invalid/rejected, 2 error. Errors are one line, never a traceback:
:func:`zkml.cli.common.handle_errors` inside each command, :func:`main` around the whole app
(usage errors, and the JSON form of every error when ``--json`` is given).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from zkml.cli.common import ClickException, internal
from zkml.cli.output import debug, err, report_error

#: top-level commands -> the module that defines them (merged into the root app)
COMMANDS: dict[str, str] = {
    "export": "model", "compile": "model", "tune": "model",
    "import": "importer", "inspect": "importer",
    "setup": "proof", "prove": "proof", "verify": "proof", "prove-batch": "proof",
    "publish": "package",
    "contract": "chain", "deploy": "chain", "verify-onchain": "chain",
    "demo": "demo",
    "index": "serve", "serve": "serve",
}
#: command groups (`zkml srs import`, ...) -> their module
GROUPS: dict[str, str] = {
    "srs": "srs", "registry": "registry", "consent": "consent", "commitment": "commitment",
    "split": "split", "claim": "claim", "collab": "collab",
}
_MERGED = ("model", "importer", "proof", "package", "chain", "demo", "serve")


def build_app(command: str | None = None) -> typer.Typer:
    """The `zkml` app; with ``command`` (a top-level command or group name), only the module
    that defines it is imported and registered: one command's process does not import and
    build the other 60 (about 0.1 s of every `zkml` process). ``--help`` builds them all."""
    import importlib

    root = typer.Typer(
        help="zkml: prove ML inferences with zero-knowledge proofs and verify them on-chain.\n\n"
        "Stages: export -> \\[tune] -> compile -> srs -> setup -> prove -> verify -> contract -> "
        "deploy -> verify-onchain -> registry; prove-batch for many inputs. `zkml demo` runs the "
        "main job end to end.\n\n"
        "Exit codes: 0 ok / valid; 1 invalid / rejected (verify, verify-onchain, registry submit "
        "and check, prove-batch with failed inputs); 2 error (bad arguments, missing files, "
        "unreachable chain...: one line saying what to do, never a traceback).\n\n"
        "Every command takes --json: results, and errors as {\"error\": ..., \"type\": ...}, on "
        "stdout. ZKML_DEBUG=1 shows the traceback of an internal error.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.callback()(_root)
    if command in COMMANDS:
        names = [COMMANDS[command]]
    elif command in GROUPS:
        names = [GROUPS[command]]
    else:
        names = [*_MERGED, *GROUPS.values()]
    for name in names:
        module = importlib.import_module(f"zkml.cli.{name}")
        if name == "collab":
            importlib.import_module("zkml.cli.collab_chain")  # adds `collab deploy|submit`
        if name in _MERGED:
            root.registered_commands.extend(module.app.registered_commands)
        else:
            group = next(g for g, m in GROUPS.items() if m == name)
            root.add_typer(module.app, name=group)
    return root


def __getattr__(name: str) -> typer.Typer:
    # `zkml.cli.main.app`: the whole app, built on first use (tests drive it with CliRunner)
    if name == "app":
        globals()["app"] = full = build_app()
        return full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def version_text() -> str:
    """zkml's version and the pinned ezkl's, read from package metadata (ezkl not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    from zkml.version import __version__

    try:
        ezkl = version("ezkl")
    except PackageNotFoundError:
        ezkl = "not installed"
    return f"zkml {__version__} (ezkl {ezkl})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit(0)


def _root(
    version: Annotated[bool | None, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the versions of zkml and ezkl and exit.")] = None,
) -> None:
    pass


def _usage_error(e: ClickException, as_json: bool) -> int:
    """A usage error: click's usual message on stderr, or one JSON line with ``--json``."""
    if as_json:
        ctx = getattr(e, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        report_error(e.format_message() + hint, type(e).__name__, True)
        return 2
    try:
        from typer import rich_utils

        rich_utils.rich_format_error(e)  # what typer prints in standalone mode
    except ImportError:  # pragma: no cover - typer without rich
        e.show()
    return 2


def _split_tune_value(args: list[str]) -> list[str]:
    """A bare ``--tune`` (followed by an option or nothing) -> ``--tune thorough``: what it
    meant before ``--tune MODE`` took a value; ``--tune=quick`` is left to the parser."""
    out: list[str] = []
    for i, a in enumerate(args):
        out.append(a)
        if a == "--tune" and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append("thorough")
    return out


def main() -> None:
    """The `zkml` entry point: exit code 0 ok, 1 invalid/rejected, 2 error."""
    args = _split_tune_value(sys.argv[1:])
    as_json = "--json" in args
    command = next((a for a in args if not a.startswith("-")), None)
    try:
        code = build_app(command)(args=args, prog_name="zkml", standalone_mode=False)
    except ClickException as e:
        code = _usage_error(e, as_json)
    except typer.Abort:
        report_error("aborted", "Abort", as_json)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # raised outside any command (parsing, typer itself)
        if debug():
            raise
        internal(e, as_json)
        code = 2
    if code == 130:  # typer turns Ctrl-C into Exit(130)
        err.print("interrupted")
    sys.exit(code if isinstance(code, int) else 0)
