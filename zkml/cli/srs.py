"""`zkml srs ...`: the structured reference string (trusted setup) store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zkml.cli.common import JsonOpt, emit, handle_errors, need_file
from zkml.cli.output import spinner
from zkml.errors import SrsError

if TYPE_CHECKING:
    from zkml.proof.srs import SrsFile

app = typer.Typer(help="Manage the structured reference string (trusted setup) store.",
                  no_args_is_help=True)

LogrowsOpt = Annotated[int, typer.Option(help="The SRS's logrows (k), 1 to 26.")]


def _check_logrows(logrows: int) -> None:
    if not 1 <= logrows <= 26:
        raise SrsError(f"--logrows {logrows}: give the circuit's logrows, between 1 and 26 "
                       "(`zkml compile` prints it).")


def _facts(s: SrsFile) -> dict[str, object]:
    return {"logrows": s.logrows, "source": s.source, "sha256": s.sha256, "path": str(s.path)}


@app.command("import")
@handle_errors
def srs_import(file: Annotated[Path, typer.Argument(help="The downloaded kzg<k>.srs file.")],
               logrows: LogrowsOpt, as_json: JsonOpt = False) -> None:
    """Store a public Powers-of-Tau SRS file after checking its published sha256."""
    from zkml.proof.srs import import_srs

    _check_logrows(logrows)
    need_file(file, f"the public Powers-of-Tau file kzg{logrows}.srs", SrsError)
    s = import_srs(file, logrows)
    emit(_facts(s), as_json,
         f"imported public SRS logrows {s.logrows} (sha256 {s.sha256}) -> {s.path}")


@app.command("dev")
@handle_errors
def srs_dev(logrows: LogrowsOpt, as_json: JsonOpt = False) -> None:
    """Generate (once) a local test SRS. UNSAFE for production: its maker can forge proofs."""
    from zkml.proof.srs import dev_srs

    _check_logrows(logrows)
    s = dev_srs(logrows)
    emit(_facts(s), as_json,
         f"development SRS logrows {s.logrows} (UNSAFE for production) -> {s.path}")


#: the download runs in a child process: ezkl's network runtime can crash the interpreter at
#: exit after a failed download (a fatal error instead of exit code 2), and a child can be
#: bounded in time
_FETCH = """
import json, os, sys
try:
    from zkml.proof.srs import fetch_srs
    s = fetch_srs(int(sys.argv[1]))
    r = {"path": str(s.path)}
except Exception as e:
    r = {"error": str(e), "type": type(e).__name__}
sys.stdout.write(json.dumps(r) + "\\n")
sys.stdout.flush()
os._exit(0)
"""


def _fetch_in_child(logrows: int, timeout: float) -> None:
    try:
        r = subprocess.run([sys.executable, "-c", _FETCH, str(logrows)], timeout=timeout,
                           capture_output=True, text=True, check=False)
    except subprocess.TimeoutExpired:
        raise SrsError(f"the download did not finish within {timeout:g} s; retry with a larger "
                       f"--timeout, or download kzg{logrows}.srs yourself and run `zkml srs "
                       f"import kzg{logrows}.srs --logrows {logrows}`.") from None
    lines = r.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise SrsError(f"the download process failed (exit code {r.returncode}: {tail[:200]}); "
                       f"retry, or use `zkml srs import FILE --logrows {logrows}`.") from None
    if "error" in result:
        raise SrsError(result["error"] if result["type"] == "SrsError"
                       else f"{result['type']}: {result['error']}")


@app.command("fetch")
@handle_errors
def srs_fetch(
    logrows: LogrowsOpt,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 3600,
    as_json: JsonOpt = False,
) -> None:
    """Download the public SRS through ezkl (needs the internet) and check its sha256."""
    from zkml.proof.srs import list_srs

    _check_logrows(logrows)
    with spinner(f"Downloading public SRS for logrows {logrows}"):
        _fetch_in_child(logrows, timeout)
    s = next(s for s in list_srs() if s.source == "ppot" and s.logrows == logrows)
    emit(_facts(s), as_json, f"public SRS logrows {s.logrows} -> {s.path}")


@app.command("list")
@handle_errors
def srs_list(as_json: JsonOpt = False) -> None:
    """List the SRS files in the store."""
    from zkml.proof.srs import list_srs

    files = list_srs()
    emit({"srs": [_facts(s) for s in files]}, as_json,
         "\n".join(f"logrows {s.logrows:2d}  {s.source:10s}  {s.sha256[:16]}...  {s.path}"
                   for s in files) or "no SRS stored yet: `zkml srs import` or `zkml srs dev`")
