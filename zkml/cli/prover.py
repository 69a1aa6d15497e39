"""The lean prover: `zkml prove`'s witness and proof in a process holding ezkl alone.

Asked to prove, the `zkml` console script forks before it loads anything (:func:`fork_prover`):

- the child is the CLI, as for any command (typer, rich, pydantic, numpy: about 100 MB): it
  checks the arguments, the keys and the input, writes ezkl's input file in its private work
  folder, sends the job to its parent through a pipe (:func:`hand_off`) and exits;
- the parent loads ezkl meanwhile (on the other core), then waits for the child. Given a
  job, it makes the witness and the proof, the child's memory free by then, so the proof's
  peak memory and time are ezkl's own, and writes the bundle, the opening and the report with
  the standard library (:func:`finish_prove`). Given none (bad arguments, ``--help``, an
  error the child reported), it ends with the child's exit code.

The user sees one `zkml` process: its pid, its output, its exit code. Only as the console
script on POSIX (never inside a Python process that called :func:`zkml.cli.main.main`, such
as a test) and not with ``ZKML_LEAN_PROVER=0``; otherwise the job runs in the CLI's own
process and finishes the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from zkml.proof.job import ProveJob

__all__ = ["claim_process", "fork_prover", "handoff_pending", "hand_off", "exit_now",
           "finish_prove", "run_handoff"]

_own_process = False
#: the child's end of the pipe its parent, the lean prover, reads the job from
_handoff_fd: int | None = None


def claim_process() -> None:
    """Called by the `zkml` console script: this process is the CLI's own (it may fork the
    lean prover, and end without the interpreter's teardown)."""
    global _own_process
    _own_process = True


def fork_prover(args: list[str]) -> None:
    """With `zkml prove` (the first argument that is not an option) in the CLI's own process
    on POSIX: fork. The child returns, to run the CLI; the parent becomes the lean prover
    and never returns. Otherwise returns at once."""
    global _handoff_fd
    command = next((a for a in args if not a.startswith("-")), None)
    if not (_own_process and command == "prove" and os.name == "posix"
            and os.environ.get("ZKML_LEAN_PROVER") != "0"):
        return
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _handoff_fd = write_end
        return
    os.close(write_end)
    _lead(pid, read_end)


def handoff_pending() -> bool:
    """True in the CLI child of :func:`fork_prover`: a parent waits for the job."""
    return _handoff_fd is not None


def hand_off(job: ProveJob, then: dict[str, Any]) -> NoReturn:
    """Send ``job`` and ``then`` (what to do with the result: bundle and opening paths,
    --json) to the waiting lean prover, and end the CLI child."""
    assert _handoff_fd is not None
    # a pipe, not a file: the job holds the private input (the opening's values and salt)
    with os.fdopen(_handoff_fd, "wb") as f:
        f.write(json.dumps({"job": job.as_dict(), "then": then}).encode())
    exit_now(0)


def _lead(pid: int, read_end: int) -> NoReturn:
    # Ctrl-C reaches both processes: the child reports it and exits 130, which is passed on
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):  # a failure to load ezkl is the job's to report
        import zkml._ezkl.run  # noqa: F401  (loads ezkl while the child checks the input)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if data and code != 0:  # a job, but the child did not end well: its input goes too
        from zkml.proof.job import ProveJob, discard_job

        with contextlib.suppress(Exception):
            discard_job(ProveJob(**json.loads(data)["job"]))
    if not data or code != 0:  # no job: bad arguments, --help, an error the child reported
        exit_now(code if code >= 0 else 128 - code)
    run_handoff(json.loads(data))


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


def _fewer_malloc_arenas() -> None:
    """One glibc malloc arena per CPU instead of up to eight: ezkl's prover threads otherwise
    keep freed memory in arenas of their own. Measured on this project's corpus machine, the
    same proof's peak memory fell 2-3% (LeNet-5 at logrows 17: 1.30 -> 1.26 GB; a 784-56-10
    MLP: 341 -> 334 MB) in the same time. Not where glibc is absent, nor when
    MALLOC_ARENA_MAX is set: the user's choice stands."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, max(1, len(os.sched_getaffinity(0))))  # M_ARENA_MAX


def run_handoff(spec: dict[str, Any]) -> NoReturn:
    """The lean prover's work on a job from :func:`hand_off`: the witness and the proof, then
    the bundle, the opening and the report; or the job's error, with the one-line message
    and exit code any command gives (zkml.cli.output.exit_code_for)."""
    from zkml import _progress
    from zkml.proof.job import ProveJob, run_job

    job, then = ProveJob(**spec["job"]), spec["then"]
    _progress.set_reporter(_plain_step)
    _fewer_malloc_arenas()  # this process is zkml's own: its allocator may be tuned
    code = 0
    try:
        run_job(job)  # removes the work folder if it fails
        finish_prove(job, then)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130
    except Exception as e:  # noqa: BLE001  (the one error format, exit 2)
        from zkml.cli.output import exit_code_for

        code = exit_code_for(e, bool(then["as_json"]))
    exit_now(code)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    from zkml._utils import atomic_write_bytes

    # the temp file is created 0600 and the rename keeps it; stated for the opening anyway
    atomic_write_bytes(path, (json.dumps(doc, indent=2) + "\n").encode())
    os.chmod(path, 0o600)


def finish_prove(job: ProveJob, then: dict[str, Any]) -> None:
    """After the job ran (in the lean prover or the CLI's process): the bundle, the opening
    and the report, with the standard library (no pydantic, rich, numpy or keys artifact).

    Raises:
        ProveError: ezkl's proof file is unreadable or short of instances.
    """
    from zkml.proof.assemble import opening_path_for
    from zkml.proof.job import job_documents

    output, as_json = Path(then["output"]), bool(then["as_json"])
    bundle, opening = job_documents(job)
    _write_json(output, bundle)
    where = None
    if opening is not None:
        where = Path(then["opening"]) if then["opening"] else opening_path_for(output)
        _write_json(where, opening)
    outputs = bundle["outputs"]
    if as_json:
        sys.stdout.write(json.dumps(
            {"bundle": str(output), "outputs": outputs, "vk_digest": bundle["model_id"],
             "input_commitment": bundle["input_commitment"],
             "opening": str(where) if where else None}, indent=2) + "\n")
    else:
        sys.stdout.write(
            f"outputs {[round(v, 6) for v in outputs]}\n  bundle: {output} "
            f"({len(bundle['proof']) // 2 - 1} byte proof)\n"
            + (f"  opening (PRIVATE, input + salt): {where}\n" if where else ""))
    sys.stdout.flush()
