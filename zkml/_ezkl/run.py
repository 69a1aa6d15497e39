"""The two ezkl calls of a proof (witness, then proof) and the error translation every call
shares, importing nothing but ezkl and zkml.errors: `zkml prove` runs them in a process image
of their own (zkml/cli/prover.py) whose peak memory is ezkl's and no more.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ezkl

from zkml.errors import ProveError, ZkmlError

__all__ = ["WitnessRangeError", "WitnessShapeError", "gen_witness", "prove", "quiet", "short",
           "translate"]


@contextlib.contextmanager
def translate(stage: str, exc: type[ZkmlError], hint: str) -> Iterator[None]:
    try:
        with quiet():
            yield
    except ZkmlError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        raise exc(f"{stage} failed: {short(e)}. {hint}") from e


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Capture what ezkl's Rust side prints on fds 1 and 2 (tables, logs, panic text).

    ezkl's calibration report and logs are noise to our users and may echo values; the text is
    kept only to enrich an error message if the call fails.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


class WitnessRangeError(ProveError):
    """Witness generation met a value outside the circuit's range checks (ezkl's
    "decomposition" / "too large" errors): the input, not the circuit, is out of range."""


class WitnessShapeError(ProveError):
    """ezkl could not reshape the input data to the circuit's input ("Cannot reshape")."""


def gen_witness(
    data: Path, compiled: Path, out: Path, vk: Path | None, srs: Path | None
) -> dict[str, Any]:
    """ezkl's witness of ``data``.

    Raises:
        WitnessRangeError: a value fell outside the circuit's range checks.
        WitnessShapeError: the data does not reshape to the circuit's input.
        ProveError: any other failure.
    """
    try:
        with translate(
            "witness generation",
            ProveError,
            "The input may lie outside the calibrated range; recompile with samples covering "
            "it.",
        ):
            w: dict[str, Any] = ezkl.gen_witness(
                data=str(data),
                model=str(compiled),
                output=str(out),
                vk_path=str(vk) if vk else None,
                srs_path=str(srs) if srs else None,
            )
    except ProveError as e:
        text = str(e)
        if "decomposition" in text or "too large" in text:
            raise WitnessRangeError(text) from e
        if "Cannot reshape" in text:
            raise WitnessShapeError(text) from e
        raise
    return w


def prove(witness: Path, compiled: Path, pk: Path, proof: Path, srs: Path) -> dict[str, Any]:
    with translate("proving", ProveError, "Check the proving key and SRS match the circuit."):
        p: dict[str, Any] = ezkl.prove(
            witness=str(witness),
            model=str(compiled),
            pk_path=str(pk),
            proof_path=str(proof),
            srs_path=str(srs),
        )
    return p


