"""ezkl's calls: the only module that imports ezkl.

Every call uses keyword arguments (the bundled stubs have wrong positional orders), coroutines
are awaited on a private event loop, and ezkl's bare ``RuntimeError``s and Rust panics (pyo3's
``PanicException`` derives from ``BaseException``) are translated into typed zkml errors that
name the stage and what to do.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import ezkl

from zkml._ezkl.formats import EZKL_VERSION
from zkml._ezkl.run import (
    WitnessRangeError,
    WitnessShapeError,
    gen_witness,
    prove,
    quiet,
    short,
    translate,
)
from zkml._utils import felt_from_le_hex, felt_to_le_hex
from zkml.errors import (
    CompileError,
    ContractError,
    ProveError,
    SetupError,
    SrsError,
    UnsupportedOpError,
)

__all__ = [
    "EZKL_VERSION",
    "WitnessRangeError",
    "WitnessShapeError",
    "gen_settings",
    "calibrate",
    "compile_circuit",
    "normalize_settings",
    "gen_srs",
    "get_srs",
    "setup",
    "gen_witness",
    "prove",
    "verify",
    "create_evm_verifier",
    "calibrate_segment",
]

T = TypeVar("T")

# ezkl logs through Python logging (pyo3-log) under "ezkl": calibration tables and failed
# forward passes with intermediate values. Those can echo private data, so they are off
# unless a user lowers this logger's level on purpose.
logging.getLogger("ezkl").setLevel(logging.CRITICAL)


def _run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one of ezkl's coroutines to completion from synchronous code.

    ``asyncio.run`` refuses to start while the calling thread already runs an event loop (a
    Jupyter kernel, an async web app), so in that case the coroutine gets a fresh loop on a
    worker thread and this call blocks until it is done.
    """
    import asyncio  # 30 ms to import: only the EVM coroutines need it

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="zkml-ezkl") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


_UNIMPLEMENTED = re.compile(r'node #(\d+) "([^"]*)" Unimplemented\((\w+)\)')


def gen_settings(onnx: Path, settings: Path, run_args: dict[str, Any]) -> None:
    """Lay the graph out: the first place ezkl (tract) meets every node of the model.

    Raises:
        UnsupportedOpError: ezkl has no implementation for a node's operator (named).
        CompileError: any other failure.
    """
    args = ezkl.PyRunArgs()
    for name, value in run_args.items():
        setattr(args, name, value)
    try:
        with quiet():
            ok = ezkl.gen_settings(model=str(onnx), output=str(settings), py_run_args=args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        m = _UNIMPLEMENTED.search(str(e))
        if m:
            index, node, op = m.groups()
            raise UnsupportedOpError(
                f"ezkl {EZKL_VERSION} cannot compile node #{index} {node!r}: operator {op} is "
                "not implemented in ezkl. Replace that layer with an equivalent made of "
                "supported ops (`zkml inspect MODEL.onnx` lists each op's status) and export "
                "again.", [op], nodes=[node]) from e
        raise CompileError(f"ezkl gen_settings failed: {short(e)}. Check that the ONNX "
                           "model is valid.") from e
    if not ok:
        raise CompileError("ezkl gen_settings returned failure; the ONNX graph may be invalid.")


def calibrate(
    data: Path,
    onnx: Path,
    settings: Path,
    *,
    max_logrows: int | None,
    scales: list[int] | None,
    lookup_margin: float = 2.0,
    rebase_multipliers: list[int] | None = None,
    what: str = "calibration",
) -> None:
    extra: dict[str, Any] = ({} if rebase_multipliers is None
                             else {"scale_rebase_multiplier": rebase_multipliers})
    with translate(
        what,
        CompileError,
        "Give calibration samples that cover the real input range, or raise max_logrows.",
    ):
        ok = ezkl.calibrate_settings(  # type: ignore[call-arg]  # stub is wrong
            data=str(data),
            model=str(onnx),
            settings=str(settings),
            target="resources",
            lookup_safety_margin=lookup_margin,
            scales=scales,
            max_logrows=max_logrows,
            **extra,
        )
    if not ok:
        raise CompileError(f"ezkl {what} found no settings that fit; raise max_logrows.")


def compile_circuit(onnx: Path, compiled: Path, settings: Path) -> None:
    with translate("circuit compilation", CompileError, "The settings may not match the model."):
        ok = ezkl.compile_circuit(
            model=str(onnx), compiled_circuit=str(compiled), settings_path=str(settings)
        )
    if not ok:
        raise CompileError("ezkl compile_circuit returned failure.")


def normalize_settings(settings: Path) -> None:
    """Make equal circuits have byte-equal settings (and so equal keys and model ids).

    ezkl writes a wall-clock timestamp, and serialises hash maps and sets in random order
    (key order, the list of required range checks and lookups), which can also change the
    order of table columns in the circuit.
    """
    data = json.loads(settings.read_text())
    data.pop("timestamp", None)
    for name in ("required_range_checks", "required_lookups"):
        if isinstance(data.get(name), list):
            data[name] = sorted(data[name], key=lambda v: json.dumps(v, sort_keys=True))
    settings.write_text(json.dumps(data, sort_keys=True))


def gen_srs(path: Path, logrows: int) -> None:
    with translate("SRS generation", SrsError, "Check disk space and the logrows value."):
        ezkl.gen_srs(srs_path=str(path), logrows=logrows)


def get_srs(path: Path, logrows: int) -> None:
    """Download the public SRS (needs the network)."""

    async def run() -> Any:
        return await ezkl.get_srs(  # type: ignore[call-arg]
            srs_path=str(path), logrows=logrows
        )

    with translate(
        "SRS download",
        SrsError,
        "This needs the internet; offline, use `zkml srs import FILE` or `zkml srs dev`.",
    ):
        ok = _run_coroutine(run)
    if not ok:
        raise SrsError("ezkl.get_srs reported failure.")


def setup(compiled: Path, vk: Path, pk: Path, srs: Path) -> None:
    with translate(
        "key setup", SetupError, "The SRS may be for another logrows, or memory ran out."
    ):
        ok = ezkl.setup(  # type: ignore[call-arg]
            model=str(compiled), vk_path=str(vk), pk_path=str(pk), srs_path=str(srs))
    if not ok:
        raise SetupError("ezkl setup returned failure.")


def verify(proof: Path, settings: Path, vk: Path, srs: Path) -> bool:
    """True if the proof verifies; False for any invalid proof (ezkl raises or panics then)."""
    try:
        with quiet():
            return bool(
                ezkl.verify(  # type: ignore[call-arg]
                    proof_path=str(proof),
                    settings_path=str(settings),
                    vk_path=str(vk),
                    srs_path=str(srs),
                )
            )
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - a rejected proof surfaces as RuntimeError or a panic
        return False


def create_evm_verifier(vk: Path, settings: Path, sol: Path, abi: Path, srs: Path) -> str:
    """Generate the Solidity verifier and return its source.

    ezkl writes the .sol file and then tries to download solc through svm, which fails offline;
    we compile with our pinned solc-js instead, so that download error is expected and ignored
    once the source exists.
    """

    async def run() -> Any:
        return await ezkl.create_evm_verifier(
            vk_path=str(vk),
            settings_path=str(settings),
            sol_code_path=str(sol),
            abi_path=str(abi),
            srs_path=str(srs),
            reusable=False,
        )

    try:
        with quiet():
            _run_coroutine(run)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        if not (sol.is_file() and "svm" in str(e)):
            raise ContractError(f"verifier generation failed: {short(e)}") from e
    if not sol.is_file() or os.path.getsize(sol) == 0:
        raise ContractError("ezkl produced no Solidity verifier.")
    return sol.read_text()


def calibrate_segment(data: Path, onnx: Path, settings: Path, *, max_logrows: int | None,
                      scales: list[int] | None, lookup_margin: float = 2.0) -> None:
    """Calibrate one segment of a split model (zkml.circuit.split).

    ``scale_rebase_multiplier=[1]``: with ezkl's default [1, 10] one segment's output scale
    can double (to 26, measured), and the next segment, calibrated at the previous output
    scale, would no longer read the same field elements.
    """
    calibrate(data, onnx, settings, max_logrows=max_logrows, scales=scales,
              lookup_margin=lookup_margin, rebase_multipliers=[1], what="segment calibration")


def float_to_felt(value: float, scale: int) -> int:
    """The field element ezkl's witness generation makes of one input float at ``scale``
    (``round(value * 2**scale)``, negatives as ``p - |x|``)."""
    with translate("input quantisation", ProveError, "Give a finite number."):
        # F64: no float32 round trip here; callers pass values already exact in the graph's
        # input dtype (what gen_witness's own round trip through the settings' type yields)
        return felt_from_le_hex(str(ezkl.float_to_felt(value, scale, ezkl.PyInputType.F64)))


def poseidon_hash(felts: list[int]) -> int:
    """ezkl's Poseidon hash of a message (what a ``hashed`` input's public instance is)."""
    with translate("Poseidon hash", ProveError, "Give field elements (0 <= v < p)."):
        out = ezkl.poseidon_hash([felt_to_le_hex(v) for v in felts])
    if len(out) != 1:
        raise ProveError(f"ezkl's poseidon_hash returned {len(out)} values, expected one.")
    return felt_from_le_hex(str(out[0]))


def commitment_points(values: int, vk: Path, settings: Path, srs: Path) -> int:
    """How many G1 points ezkl's KZG commitment of ``values`` field elements takes for this
    circuit (a tensor longer than a column is committed column by column). Counted by
    committing zeros: the same chunking ezkl's prover applies, with no formula copied here."""
    with translate("KZG commitment", ProveError, "Check the vk, settings and SRS files."):
        points = ezkl.kzg_commit(["00" * 32] * values, str(vk), str(settings), str(srs))
    return len(points)
