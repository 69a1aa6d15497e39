"""The child processes of the corpus benchmark (benchmarks/corpus.py), one per stage, so that
each stage's wall time and each prove's peak memory are that process's alone.

    python benchmarks/corpus_flows.py prepare NAME WORK       build the model's files
    python benchmarks/corpus_flows.py srs K [K ...]           dev SRS files ($ZKML_CACHE_DIR)
    python benchmarks/corpus_flows.py ezkl-compile WORK       ezkl's own flow, stage by stage
    python benchmarks/corpus_flows.py ezkl-setup WORK SRS
    python benchmarks/corpus_flows.py ezkl-prove WORK SRS TAG
    python benchmarks/corpus_flows.py ezkl-verify WORK SRS
    python benchmarks/corpus_flows.py cli PEAKFILE ARGS...    the zkml CLI: its wall and peak

Every child but ``cli`` prints one JSON line last. Peak memory of an ezkl stage is the
process's own VmHWM, read by the process itself as it ends (one image); of a zkml stage, the
``ru_maxrss`` of the `zkml` process and its reaped children, read by the ``cli`` launcher (a
bare interpreter: the rusage of a vfork'ed child starts at its parent's peak, so the parent
must be smaller than any child). Imports here are the standard library only: each child
loads what its stage needs, nothing more.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: ezkl's flow as the issue states it: PyRunArgs defaults but for the visibility, which is
#: zkml's default preset (private-input)
VIS = {"input_visibility": "private", "param_visibility": "fixed", "output_visibility": "public"}


def vm_hwm() -> int:
    """This process's peak resident memory so far, in bytes (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


# --------------------------------------------------------------------------- ezkl's own flow

def ezkl_compile(work: Path) -> dict[str, Any]:
    """gen_settings (PyRunArgs defaults, private/fixed/public), calibrate_settings(target
    "resources"), compile_circuit."""
    import ezkl

    out = work / "ezkl"
    onnx, settings = work / "model.onnx", out / "settings.json"
    t0 = time.perf_counter()
    ra = ezkl.PyRunArgs()
    for k, v in VIS.items():
        setattr(ra, k, v)
    ezkl.gen_settings(model=str(onnx), output=str(settings), py_run_args=ra)
    t1 = time.perf_counter()
    ezkl.calibrate_settings(data=str(work / "cal.json"), model=str(onnx),
                            settings=str(settings), target="resources")
    t2 = time.perf_counter()
    ezkl.compile_circuit(model=str(onnx), compiled_circuit=str(out / "model.compiled"),
                         settings_path=str(settings))
    t3 = time.perf_counter()
    s = json.loads(settings.read_text())
    return {"clock_s": t3 - t0, "gen_settings_s": t1 - t0, "calibrate_s": t2 - t1,
            "compile_circuit_s": t3 - t2, "logrows": s["run_args"]["logrows"],
            "rows": s["num_rows"], "input_scale": s["run_args"]["input_scale"],
            "param_scale": s["run_args"]["param_scale"], "peak_rss": vm_hwm()}


def ezkl_setup(work: Path, srs: Path) -> dict[str, Any]:
    """Keys, and the Solidity verifier: zkml setup writes one too (it reads the exact proof
    length from it), so setup compares like for like; its time is also given alone."""
    import ezkl

    sys.path.insert(0, str(HERE))
    from flows import asyncio_gen_verifier

    out = work / "ezkl"
    t0 = time.perf_counter()
    ezkl.setup(model=str(out / "model.compiled"), vk_path=str(out / "vk.key"),
               pk_path=str(out / "pk.key"), srs_path=str(srs))
    t1 = time.perf_counter()
    asyncio_gen_verifier(ezkl, out / "vk.key", out / "settings.json", out / "verifier.sol", srs)
    t2 = time.perf_counter()
    return {"clock_s": t2 - t0, "keys_s": t1 - t0, "verifier_s": t2 - t1,
            "pk_bytes": (out / "pk.key").stat().st_size, "peak_rss": vm_hwm()}


def ezkl_prove(work: Path, srs: Path, tag: str) -> dict[str, Any]:
    """gen_witness + prove of the one input, alone in this process."""
    import ezkl

    out = work / "ezkl"
    witness, proof = out / f"witness-{tag}.json", out / f"proof-{tag}.json"
    t0 = time.perf_counter()
    ezkl.gen_witness(data=str(work / "input.json"), model=str(out / "model.compiled"),
                     output=str(witness))
    t1 = time.perf_counter()
    ezkl.prove(witness=str(witness), model=str(out / "model.compiled"),
               pk_path=str(out / "pk.key"), proof_path=str(proof), srs_path=str(srs))
    t2 = time.perf_counter()
    return {"clock_s": t2 - t0, "witness_s": t1 - t0, "proof_s": t2 - t1,
            "peak_rss": vm_hwm()}


def ezkl_verify(work: Path, srs: Path) -> dict[str, Any]:
    """verify the first proof; its outputs (the witness's, dequantised at the settings' output
    scales) against the float reference."""
    import ezkl

    out = work / "ezkl"
    t0 = time.perf_counter()
    ok = ezkl.verify(proof_path=str(out / "proof-1.json"), settings_path=str(out /
                     "settings.json"), vk_path=str(out / "vk.key"), srs_path=str(srs))
    clock = time.perf_counter() - t0
    scales = json.loads((out / "settings.json").read_text())["model_output_scales"]
    felts = json.loads((out / "witness-1.json").read_text())["outputs"]
    outputs = [float(ezkl.felt_to_float(f, scale)) for col, scale in zip(felts, scales,
                                                                         strict=False)
               for f in col]
    return {"clock_s": clock, "verified": bool(ok), "outputs": outputs, "peak_rss": vm_hwm()}


# --------------------------------------------------------------------------- the others

def prepare(name: str, work: Path) -> dict[str, Any]:
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    import warnings

    warnings.simplefilter("ignore")
    import corpus_models

    t0 = time.perf_counter()
    info = corpus_models.write_work(corpus_models.by_name(name), work)
    return {**info, "build_s": time.perf_counter() - t0}


def srs(logrows: list[int]) -> dict[str, Any]:
    """This machine's dev SRS for each logrows, in $ZKML_CACHE_DIR (made once, then reused:
    every flow of every model reads the same files)."""
    from zkml.proof.srs import dev_srs

    return {"srs": {k: str(dev_srs(k).path) for k in logrows}}


def cli(peak_file: Path, args: list[str]) -> int:
    """Run the `zkml` console script (the one a user runs, next to this interpreter) as a
    child of this small process; write its wall time and peak memory to ``peak_file``. The
    peak is the child's ``ru_maxrss`` from wait4: the largest resident set of the process
    and of its reaped children (`zkml prove` forks: its child runs the CLI's checks, the
    process itself the proof). This launcher imports nothing else, so the vfork'ed
    child's count cannot start from a bigger parent."""
    exe = str(Path(sys.executable).with_name("zkml"))
    t0 = time.perf_counter()
    pid = os.posix_spawn(exe, [exe, *args], dict(os.environ))
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    peak_file.write_text(json.dumps({"peak_rss": usage.ru_maxrss * 1024, "wall_s": wall}))
    return os.waitstatus_to_exitcode(status)


def main() -> None:
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "cli":
        sys.exit(cli(Path(args[0]), args[1:]))
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("ezkl").setLevel(logging.CRITICAL)
    if cmd == "prepare":
        res = prepare(args[0], Path(args[1]))
    elif cmd == "srs":
        res = srs([int(k) for k in args])
    elif cmd == "ezkl-compile":
        res = ezkl_compile(Path(args[0]))
    elif cmd == "ezkl-setup":
        res = ezkl_setup(Path(args[0]), Path(args[1]))
    elif cmd == "ezkl-prove":
        res = ezkl_prove(Path(args[0]), Path(args[1]), args[2])
    elif cmd == "ezkl-verify":
        res = ezkl_verify(Path(args[0]), Path(args[1]))
    else:
        raise SystemExit(f"unknown child {cmd!r}")
    print(json.dumps(res, default=str), flush=True)
    sys.stderr.flush()
    # ezkl's Rust threads may log while Python finalises (compare.py saw a fatal PyGILState
    # error): the result is out, so skip interpreter teardown
    os._exit(0)


if __name__ == "__main__":
    main()
