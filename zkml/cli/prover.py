"""The lean prover: `zkml prove`'s witness and proof in a process image holding ezkl alone.

`zkml prove` checks its arguments, the keys and the input with the whole CLI loaded (typer,
rich, pydantic, numpy: about 40 MB), writes ezkl's input file, then replaces its own process
image (``exec``) with ``python -m zkml.cli.prover HANDOFF``. That image imports the standard
library, ezkl and zkml's error and progress modules only, so the proof's peak memory is what
ezkl's own flow needs; the whole CLI is loaded again after the proof, when the memory the
proof used is free, to write the bundle and report. One process throughout (same pid, exit
code and output): nothing runs beside the proof.

The exec happens only when `zkml` runs as its own console script on POSIX (never inside a
Python process that called :func:`zkml.cli.main.main`, such as a test) and not with
``ZKML_LEAN_PROVER=0``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from zkml.proof.job import ProveJob

__all__ = ["allow_exec", "lean_prover_allowed", "exec_prover", "exit_now", "main",
           "finish_prove", "resume_prove"]

_own_process = False


def allow_exec() -> None:
    """Called by the `zkml` console script: this process is the CLI's own."""
    global _own_process
    _own_process = True


def lean_prover_allowed() -> bool:
    return _own_process and os.name == "posix" and os.environ.get("ZKML_LEAN_PROVER") != "0"


def exec_prover(job: ProveJob, then: dict[str, Any]) -> None:
    """Replace this process with the lean prover for ``job``; ``then`` is what the CLI does
    with the result (bundle and opening paths, --json). Returns only if exec failed (the
    caller then proves in this image)."""
    handoff = Path(job.work) / "handoff.json"  # the private work folder: it holds the input
    handoff.write_text(json.dumps({"job": job.as_dict(), "then": then}))
    sys.stdout.flush()
    sys.stderr.flush()
    # -P: no current directory on sys.path (`-m` would put it first), so a folder named
    # zkml where the user stands cannot shadow the installed package
    with contextlib.suppress(OSError):
        os.execv(sys.executable, [sys.executable, "-P", "-m", "zkml.cli.prover", str(handoff)])


def exit_now(code: int) -> NoReturn:
    """End the `zkml` process with ``code``: atexit handlers run (Ray's shutdown, logging),
    output is flushed, and the interpreter's teardown (about 0.1 s with ezkl loaded) is
    skipped. Inside another Python process (a test calling main()), a plain sys.exit."""
    if not _own_process:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def _plain_step(message: str) -> Iterator[None]:
    """The CLI's progress line without rich: the same ``✓ message (1.23s)`` on stderr."""
    t0 = time.perf_counter()
    tty = sys.stderr.isatty()
    if tty:
        sys.stderr.write(f"{message} ...\r")
        sys.stderr.flush()
    yield
    sys.stderr.write(("\x1b[K" if tty else "")
                     + f"✓ {message} ({time.perf_counter() - t0:.2f}s)\n")
    sys.stderr.flush()


def main(argv: list[str]) -> NoReturn:
    """The lean image: run the job, then load the CLI again to finish (or report)."""
    allow_exec()  # still the `zkml` process
    from zkml import _progress
    from zkml.proof.job import ProveJob, run_job

    spec = json.loads(Path(argv[0]).read_text())
    job = ProveJob(**spec["job"])
    _progress.set_reporter(_plain_step)
    error: BaseException | None = None
    try:
        run_job(job)
    except BaseException as e:  # noqa: BLE001  (reported below by the CLI's error handling)
        error = e
    resume_prove(job, spec["then"], error)


def finish_prove(job: ProveJob, then: dict[str, Any]) -> None:
    """After the job ran (here or in the lean prover): the bundle, the opening, the report.
    Loads neither the keys artifact nor numpy, typer or the other commands."""
    from zkml.artifacts import save_artifact
    from zkml.cli.output import emit
    from zkml.proof.commitment import opening_path_for, write_opening
    from zkml.proof.job import finish_job

    output, as_json = Path(then["output"]), bool(then["as_json"])
    bundle, secret = finish_job(job)
    save_artifact(bundle, output)
    where = None
    if secret is not None:
        where = write_opening(secret, Path(then["opening"]) if then["opening"]
                              else opening_path_for(output))
    emit({"bundle": str(output), "outputs": bundle.outputs, "vk_digest": bundle.model_id,
          "input_commitment": bundle.input_commitment,
          "opening": str(where) if where else None},
         as_json, f"outputs {[round(v, 6) for v in bundle.outputs]}\n  bundle: {output} "
         f"({len(bundle.proof) // 2 - 1} byte proof)"
         + (f"\n  opening (PRIVATE, input + salt): {where}" if where else ""))


def resume_prove(job: ProveJob, then: dict[str, Any], error: BaseException | None
                 ) -> NoReturn:
    """`zkml prove`'s end in the lean prover's image: the bundle and the report, or the
    job's error, with the one-line message and exit code a command gives
    (zkml.cli.output.exit_code_for, as zkml.cli.common.handle_errors does)."""
    from zkml.cli.output import err, exit_code_for, setup_cli

    setup_cli()
    as_json = bool(then["as_json"])
    code = 0
    try:
        if error is not None:  # run_job has removed the work folder
            raise error
        finish_prove(job, then)
    except KeyboardInterrupt:
        err.print("interrupted")
        code = 130
    except Exception as e:  # noqa: BLE001  (the one error format, exit 2)
        code = exit_code_for(e, as_json)
    exit_now(code)


if __name__ == "__main__":
    main(sys.argv[1:])
