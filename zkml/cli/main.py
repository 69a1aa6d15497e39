"""The `zkml` command line: a thin wrapper on the Python API, one module per command group.

Artifacts live in a build directory (``--dir``, default ``build/<model>``) as JSON files
(exported.json, circuit.json, keys.json, verifier.json, deployment.json) next to the files they
describe. Progress goes to stderr, results to stdout (``--json`` for machine-readable output).
Command modules import the library lazily, inside each command, so ``zkml --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from zkml.cli import chain, demo, model, proof, registry, srs
from zkml.cli.common import err

app = typer.Typer(
    help="zkml: prove ML inferences with zero-knowledge proofs and verify them on-chain.\n\n"
    "Stages: export -> \\[tune] -> compile -> srs -> setup -> prove -> verify -> contract -> "
    "deploy -> verify-onchain -> registry; prove-batch for many inputs. `zkml demo` runs the "
    "main job end to end.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for group in (model, proof, chain, demo):
    app.registered_commands.extend(group.app.registered_commands)
app.add_typer(srs.app, name="srs")
app.add_typer(registry.app, name="registry")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
