"""`zkml srs ...`: the structured reference string (trusted setup) store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkml.cli.common import (
    handle_errors,
    out,
)

app = typer.Typer(help="Manage the structured reference string (trusted setup) store.",
                  no_args_is_help=True)


@app.command("import")
@handle_errors
def srs_import(
    file: Path,
    logrows: Annotated[int, typer.Option(help="The SRS's logrows (k).")],
) -> None:
    """Store a public Powers-of-Tau SRS file after checking its published sha256."""
    from zkml.proof.srs import import_srs

    s = import_srs(file, logrows)
    out.print(f"imported public SRS logrows {s.logrows} (sha256 {s.sha256}) -> {s.path}")


@app.command("dev")
@handle_errors
def srs_dev(logrows: Annotated[int, typer.Option(help="logrows (k).")]) -> None:
    """Generate (once) a local test SRS. UNSAFE for production: its maker can forge proofs."""
    from zkml.proof.srs import dev_srs

    s = dev_srs(logrows)
    out.print(f"development SRS logrows {s.logrows} (UNSAFE for production) -> {s.path}")


@app.command("fetch")
@handle_errors
def srs_fetch(logrows: Annotated[int, typer.Option(help="logrows (k).")]) -> None:
    """Download the public SRS through ezkl (needs the internet) and check its sha256."""
    from zkml.proof.srs import fetch_srs

    s = fetch_srs(logrows)
    out.print(f"public SRS logrows {s.logrows} -> {s.path}")


@app.command("list")
def srs_list() -> None:
    """List the SRS files in the store."""
    from zkml.proof.srs import list_srs

    for s in list_srs():
        out.print(f"logrows {s.logrows:2d}  {s.source:10s}  {s.sha256[:16]}...  {s.path}")
