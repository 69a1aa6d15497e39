"""Time to first proof, in ONE run over small op-corpus models (circuits/corpus.py): how long
from an ONNX file and calibration samples to the first proof, per flow:

  ezkl      ezkl's own default flow: gen_settings + calibrate_settings("resources") + compile,
            setup (+ the Solidity verifier, as zkml.setup writes one), witness + prove;
  quick     zkml: compile_model(tune="quick") + setup + prove;
  thorough  zkml: compile_model(tune="thorough") (measures candidates, and their verifier gas
            on a local chain) + setup + prove.

    nice -n 10 .venv/bin/python benchmarks/first_proof.py              # ~15-25 min, 2 cores
    .venv/bin/python benchmarks/first_proof.py --models gemm --no-thorough --out /tmp/fp --no-md

Each flow runs in its own process with a fresh zkml cache (nothing tuned, compiled or set up
before), after its imports; every flow uses the same development SRS files, generated before
any timing (one-off per machine, not part of a flow). Writes OUT/first_proof.json and (unless
--no-md) the "Time to first proof" section of benchmarks/RESULTS.md. Stops by itself: a flow
has --flow-timeout seconds, and no model starts after --budget seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
#: small corpus entries (each proves in under ~2 s at zkml's defaults, docs/op-coverage.md):
#: linear, conv, normalisation, activations with and without lookup tables, pooling, a
#: residual block and a tree ensemble
ENTRIES = ("gemm", "matmul", "conv1d", "conv2d", "batchnorm", "layernorm", "relu", "sigmoid",
           "softmax", "maxpool", "residual", "random-forest")
START, END = "<!-- first-proof:start -->", "<!-- first-proof:end -->"


# --------------------------------------------------------------------------- the children

def _warm_imports() -> None:
    """What every flow imports anyway, loaded before its clock starts."""
    import ezkl  # noqa: F401
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    import zkml
    import zkml.pipeline  # noqa: F401


def child_ezkl(work: Path, srs_store: Path) -> dict[str, Any]:
    import ezkl

    from zkml.proof.srs import SRS_NAME

    vis = {"input_visibility": "private", "param_visibility": "fixed",
           "output_visibility": "public"}
    onnx_path, settings = work / "model.onnx", work / "ezkl_settings.json"
    compiled, vk, pk = work / "ezkl.compiled", work / "ezkl_vk.key", work / "ezkl_pk.key"
    t0 = time.perf_counter()
    ra = ezkl.PyRunArgs()
    for k, v in vis.items():
        setattr(ra, k, v)
    ezkl.gen_settings(model=str(onnx_path), output=str(settings), py_run_args=ra)
    ezkl.calibrate_settings(data=str(work / "cal.json"), model=str(onnx_path),
                            settings=str(settings), target="resources")
    ezkl.compile_circuit(model=str(onnx_path), compiled_circuit=str(compiled),
                         settings_path=str(settings))
    t1 = time.perf_counter()
    logrows = json.loads(settings.read_text())["run_args"]["logrows"]
    srs = srs_store / "srs" / f"dev-{logrows}" / SRS_NAME
    if not srs.exists():  # beyond --srs-logrows: made here, off the clock
        srs = work / f"srs-{logrows}.srs"
        ezkl.gen_srs(srs_path=str(srs), logrows=logrows)
        t1 = time.perf_counter()
    ezkl.setup(model=str(compiled), vk_path=str(vk), pk_path=str(pk), srs_path=str(srs))
    sys.path.insert(0, str(HERE))
    from flows import asyncio_gen_verifier

    asyncio_gen_verifier(ezkl, vk, settings, work / "ezkl_verifier.sol", srs)
    t2 = time.perf_counter()
    witness, proof = work / "ezkl_witness.json", work / "ezkl_proof.json"
    ezkl.gen_witness(data=str(work / "input.json"), model=str(compiled), output=str(witness))
    ezkl.prove(witness=str(witness), model=str(compiled), pk_path=str(pk),
               proof_path=str(proof), srs_path=str(srs))
    t3 = time.perf_counter()
    ok = ezkl.verify(proof_path=str(proof), settings_path=str(settings), vk_path=str(vk),
                     srs_path=str(srs))
    return {"logrows": logrows, "tune_s": t1 - t0, "setup_s": t2 - t1, "prove_s": t3 - t2,
            "first_proof_s": t3 - t0, "verified": bool(ok)}


def child_zkml(work: Path, mode: str) -> dict[str, Any]:
    import numpy as np

    import zkml

    cal = np.load(work / "cal.npy")
    x = cal[0]
    ex = zkml.load_onnx(work / "model.onnx", x)
    t0 = time.perf_counter()
    circuit = zkml.compile_model(ex, cal, tune=mode)  # tune, then compile (cached by tune)
    t1 = time.perf_counter()
    keys = zkml.setup(circuit)
    t2 = time.perf_counter()
    bundle = zkml.prove(keys, x)
    t3 = time.perf_counter()
    return {"logrows": circuit.logrows, "tune_s": t1 - t0, "setup_s": t2 - t1,
            "prove_s": t3 - t2, "first_proof_s": t3 - t0,
            "verified": bool(zkml.verify(bundle, keys)),
            "max_abs_error": circuit.quantization.max_abs_error,
            "output_range": circuit.quantization.output_range}


# --------------------------------------------------------------------------- the parent

def _run_child(flow: str, work: Path, srs_store: Path, timeout: float) -> dict[str, Any]:
    cache = work / f"cache-{flow}"
    if cache.is_symlink() or cache.exists():  # an earlier run's: nothing may be cached
        shutil.rmtree(cache)
    cache.mkdir(parents=True)
    if flow != "ezkl":  # zkml: sharing only the SRS files made beforehand
        (cache / "srs").symlink_to(srs_store / "srs", target_is_directory=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", flow, "--work", str(work),
           "--srs-store", str(srs_store)]
    env = {**os.environ, "ZKML_CACHE_DIR": str(cache), "PYTHONWARNINGS": "ignore"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1][:300] if proc.stderr else
                f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _prepare(name: str, work: Path) -> None:
    """WORK/model.onnx, the corpus calibration (cal.npy; cal.json for ezkl) and input.json."""
    import numpy as np

    import zkml
    from circuits import corpus

    entry = corpus.by_name(name)
    model, example = entry.build()
    work.mkdir(parents=True, exist_ok=True)
    zkml.export(model, example, work / "model.onnx", name=name)
    cal = corpus.calibration(entry, np.asarray(example))
    np.save(work / "cal.npy", cal)
    (work / "cal.json").write_text(json.dumps({"input_data": [cal.reshape(-1).tolist()]}))
    (work / "input.json").write_text(json.dumps(
        {"input_data": [np.asarray(example).reshape(-1).tolist()]}))


def _ratios(r: dict[str, Any], flow: str) -> None:
    e, f = r["ezkl"], r.get(flow, {})
    if "first_proof_s" in e and "first_proof_s" in f:
        r[f"{flow}_first_proof_ratio"] = f["first_proof_s"] / e["first_proof_s"]
        r[f"{flow}_prove_ratio"] = f["prove_s"] / e["prove_s"]


def summarise(models: dict[str, Any], flows: list[str]) -> dict[str, Any]:
    """Medians over the models every flow finished, and whether the goal was met."""
    out: dict[str, Any] = {}
    for flow in ["ezkl", *flows]:
        done = [r[flow] for r in models.values() if "first_proof_s" in r.get(flow, {})]
        if done:
            out[flow] = {k: statistics.median(d[k] for d in done)
                         for k in ("tune_s", "setup_s", "prove_s", "first_proof_s")}
            out[flow]["models"] = len(done)
    for flow in flows:
        fp = [r[f"{flow}_first_proof_ratio"] for r in models.values()
              if f"{flow}_first_proof_ratio" in r]
        pr = [r[f"{flow}_prove_ratio"] for r in models.values() if f"{flow}_prove_ratio" in r]
        if fp:
            out[flow]["median_first_proof_ratio"] = statistics.median(fp)
            out[flow]["median_prove_ratio"] = statistics.median(pr)
            out[flow]["goal_met"] = statistics.median(fp) <= 1.0 and statistics.median(pr) <= 0.1
    return out


def markdown(summary: dict[str, Any]) -> str:
    flows = summary["flows"]
    lines = [
        "## Time to first proof: ezkl's default flow vs zkml tune + setup + prove",
        "",
        f"Command: `{summary['command']}` ({summary['date']}; {summary['cpus']} cores; ezkl "
        f"{summary['ezkl']}). One run per cell, each flow in a fresh process with a fresh "
        "zkml cache, clocks started after imports; the same development SRS files for every "
        "flow, made beforehand. Models: small op-corpus entries (circuits/corpus.py), private "
        "input / fixed params / public output, calibrated on the example + 7 perturbations. "
        "tune = ezkl's gen_settings + calibrate + compile, or zkml's compile_model(tune=...); "
        "setup = keys + Solidity verifier; prove = witness + proof.",
        "",
        "| model | logrows ezkl / " + " / ".join(flows) + " | first proof ezkl / "
        + " / ".join(flows) + " (s) | prove ezkl / " + " / ".join(flows) + " (s) | "
        + " | ".join(f"{f} first-proof ratio | {f} prove ratio" for f in flows) + " |",
        "|---|---|---|---|" + "---|---|" * len(flows),
    ]

    def cell(r: dict[str, Any], key: str, fmt: str) -> str:
        return format(r[key], fmt) if key in r else "-"

    for name, r in summary["models"].items():
        fs = [r["ezkl"], *(r.get(f, {}) for f in flows)]
        load = f" (load {r['load_avg_1min']:.1f})" if "load_avg_1min" in r else ""
        lines.append(
            f"| {name}{load} | {' / '.join(cell(f, 'logrows', 'd') for f in fs)} | "
            f"{' / '.join(cell(f, 'first_proof_s', '.1f') for f in fs)} | "
            f"{' / '.join(cell(f, 'prove_s', '.2f') for f in fs)} | "
            + " | ".join(f"{cell(r, f + '_first_proof_ratio', '.2f')} | "
                         f"{cell(r, f + '_prove_ratio', '.3f')}" for f in flows) + " |")
    med = summary["medians"]
    lines += ["", "Medians (of the per-model figures; ratios are flow / ezkl on the same model):"]
    for f in ["ezkl", *flows]:
        m = med.get(f)
        if not m:
            continue
        extra = (f"; first-proof ratio **{m['median_first_proof_ratio']:.2f}**, prove ratio "
                 f"**{m['median_prove_ratio']:.3f}** -> goal (<= 1 and <= 0.1) **"
                 f"{'met' if m['goal_met'] else 'missed'}**" if "goal_met" in m else "")
        lines.append(f"- {f} ({m['models']} models): tune {m['tune_s']:.1f} s, setup "
                     f"{m['setup_s']:.1f} s, prove {m['prove_s']:.2f} s, first proof "
                     f"{m['first_proof_s']:.1f} s{extra}")
    errors = [f"{n} {f}: {r[f]['error']}" for n, r in summary["models"].items()
              for f in ["ezkl", *flows] if "error" in r.get(f, {})]
    if errors:
        lines += ["", "Failed runs: " + "; ".join(errors)]
    if summary.get("skipped"):
        lines += ["", f"Not run (budget spent): {', '.join(summary['skipped'])}"]
    return "\n".join(lines)


def write_md(summary: dict[str, Any]) -> None:
    from results_md import replace_section

    replace_section(START, END, markdown(summary), RESULTS_MD)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(ENTRIES), help="corpus entry names")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--no-thorough", action="store_true", help="ezkl and quick only")
    ap.add_argument("--no-md", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--budget", type=float, default=2400.0,
                    help="start no model after this many seconds (default 2400)")
    ap.add_argument("--flow-timeout", type=float, default=900.0)
    ap.add_argument("--srs-logrows", type=int, default=17,
                    help="development SRS files made beforehand for logrows 8..N (default 17)")
    ap.add_argument("--srs-store", type=Path, default=None,
                    help="zkml cache holding them (default: zkml's cache, $ZKML_CACHE_DIR)")
    ap.add_argument("--md-from", type=Path, default=None,
                    help="rewrite the RESULTS.md section from an existing first_proof.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        import logging
        import warnings

        warnings.simplefilter("ignore")
        logging.getLogger("ezkl").setLevel(logging.CRITICAL)
        _warm_imports()
        res = (child_ezkl(a.work, a.srs_store) if a.child == "ezkl"
               else child_zkml(a.work, a.child))
        print(json.dumps(res), flush=True)
        sys.stderr.flush()
        os._exit(0)  # skip teardown: ezkl's threads may log while Python finalises
    if a.md_from is not None:
        write_md(json.loads(a.md_from.read_text()))
        return
    sys.path.insert(0, str(HERE.parent))
    from circuits import corpus

    for name in a.models:
        corpus.by_name(name)  # an unknown name fails before anything runs
    flows = ["quick"] if a.no_thorough else ["quick", "thorough"]
    root = a.out / "work" / "first_proof"
    from zkml.cache import cache_root

    if a.srs_store is not None:
        os.environ["ZKML_CACHE_DIR"] = str(a.srs_store)
    srs_store = cache_root().resolve()
    from zkml.proof.srs import dev_srs

    for k in range(8, a.srs_logrows + 1):  # one-off, before any clock: every flow reads them
        dev_srs(k)
    from importlib.metadata import version

    started = time.monotonic()
    summary: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/first_proof.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
        "ezkl": version("ezkl"), "flows": flows, "models": {}, "skipped": [],
    }
    for name in a.models:
        if time.monotonic() - started > a.budget:
            summary["skipped"].append(name)
            continue
        work = root / name
        print(f"== {name}", flush=True)
        _prepare(name, work)
        r: dict[str, Any] = {"ezkl": _run_child("ezkl", work, srs_store, a.flow_timeout)}
        for flow in flows:
            r[flow] = _run_child(flow, work, srs_store, a.flow_timeout)
            _ratios(r, flow)
        r["load_avg_1min"] = os.getloadavg()[0]  # the machine may be shared: say how busy
        summary["models"][name] = r
        print(json.dumps({k: v for k, v in r.items() if k.endswith("ratio")}), flush=True)
        summary["medians"] = summarise(summary["models"], flows)
        a.out.mkdir(parents=True, exist_ok=True)
        tmp = a.out / "first_proof.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2))
        tmp.replace(a.out / "first_proof.json")
    summary["medians"] = summarise(summary["models"], flows)
    tmp = a.out / "first_proof.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(a.out / "first_proof.json")
    if not a.no_md:
        write_md(summary)
    print(markdown(summary))


if __name__ == "__main__":
    main()
