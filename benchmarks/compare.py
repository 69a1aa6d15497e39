"""Side-by-side comparison, in ONE run, for every reference model:
(a) ezkl's default flow (PyRunArgs defaults, same visibility, calibrate "resources"),
(b) zkml tuned, (c) onnxruntime float inference. Each proving run is its own subprocess, so
peak RSS is per run.

    .venv/bin/python benchmarks/compare.py                 # all models (tens of minutes)
    .venv/bin/python benchmarks/compare.py --models tiny-mlp --quick --out /tmp/cmp

Writes OUT/compare.json, OUT/prove_time.png, OUT/prove_vs_logrows.png and (unless --no-md)
the comparison section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
# LeNet-size runs take minutes per proof: fewer accuracy samples and warm-path repetitions.
BIG_MODELS = {"lenet5"}


def _eval_samples(work: Path) -> np.ndarray:
    evals = np.load(work / "eval.npy")
    return evals[:4] if work.name in BIG_MODELS else evals
VIS = {"input_visibility": "private", "param_visibility": "fixed", "output_visibility": "public"}
QUICK_GRID = {"decomp": [(256, 4)], "num_inner_cols": [2], "scales": [None]}


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _current_rss() -> int:
    """Resident memory now. The baseline for "RSS added": the peak so far would include
    transient import memory that later allocations reuse, and under-count what proving adds."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _peak_rss()


def _dequant(felts: list[str], scale: int) -> list[float]:
    from zkml._utils import dequantize, felt_from_le_hex

    return dequantize((felt_from_le_hex(v) for v in felts), scale)


# Children ----------------------------------------------------------------------------------

def child_default(work: Path) -> dict[str, Any]:
    """ezkl's own flow, called directly (not through zkml)."""
    import ezkl

    cal = work / "cal.json"
    settings, compiled = work / "default_settings.json", work / "default.compiled"
    ra = ezkl.PyRunArgs()
    for k, v in VIS.items():
        setattr(ra, k, v)
    t0 = time.perf_counter()
    ezkl.gen_settings(model=str(work / "model.onnx"), output=str(settings), py_run_args=ra)
    ezkl.calibrate_settings(data=str(cal), model=str(work / "model.onnx"),
                            settings=str(settings), target="resources")
    ezkl.compile_circuit(model=str(work / "model.onnx"), compiled_circuit=str(compiled),
                         settings_path=str(settings))
    compile_s = time.perf_counter() - t0
    s = json.loads(settings.read_text())
    k = s["run_args"]["logrows"]
    srs = work.parent / f"srs-{k}.srs"
    if not srs.exists():
        ezkl.gen_srs(srs_path=str(srs), logrows=k)
    vk, pk = work / "default_vk.key", work / "default_pk.key"
    timed = _run_child("default_prove", work, str(srs))
    ok = ezkl.verify(proof_path=str(work / "default_proof.json"), settings_path=str(settings),
                     vk_path=str(vk), srs_path=str(srs))
    # accuracy on the eval samples (witness only)
    evals = _eval_samples(work)
    ref = np.load(work / "eval_ref.npy")
    errs, agree = [], 0
    for i, x in enumerate(evals):
        (work / "e.json").write_text(json.dumps({"input_data": [x.reshape(-1).tolist()]}))
        w = ezkl.gen_witness(data=str(work / "e.json"), model=str(compiled),
                             output=str(work / "e_w.json"))
        got = np.array(_dequant(w["outputs"][0], s["model_output_scales"][0]))
        errs.append(float(np.max(np.abs(got - ref[i]))))
        agree += int(np.argmax(got) == np.argmax(ref[i]))
    return {"logrows": k, "rows": s["num_rows"], "compile_s": compile_s, **timed,
            "verified": bool(ok),
            "max_abs_error": max(errs), "argmax_agreement": agree / len(evals),
            "pk_bytes": pk.stat().st_size}


def child_default_prove(work: Path, srs: Path) -> dict[str, Any]:
    """Setup + witness + proof of ezkl's default circuit, alone in a fresh process."""
    import ezkl

    compiled = work / "default.compiled"
    vk, pk = work / "default_vk.key", work / "default_pk.key"
    base_rss = _current_rss()
    t0 = time.perf_counter()
    ezkl.setup(model=str(compiled), vk_path=str(vk), pk_path=str(pk), srs_path=str(srs))
    # zkml.setup also writes the Solidity verifier (it reads the exact proof length from it):
    # the same work here, so setup time and memory compare like for like
    asyncio_gen_verifier(ezkl, vk, work / "default_settings.json",
                         work / "default_verifier.sol", srs)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ezkl.gen_witness(data=str(work / "input.json"), model=str(compiled),
                     output=str(work / "default_witness.json"))
    ezkl.prove(witness=str(work / "default_witness.json"), model=str(compiled),
               pk_path=str(pk), proof_path=str(work / "default_proof.json"), srs_path=str(srs))
    prove_s = time.perf_counter() - t0
    rss = _peak_rss()
    return {"setup_s": setup_s, "prove_s": prove_s, "peak_rss": rss,
            "base_rss": base_rss, "prove_rss": rss - base_rss}


def asyncio_gen_verifier(ezkl: Any, vk: Path, settings: Path, sol: Path, srs: Path) -> None:
    import asyncio

    async def run() -> None:
        await ezkl.create_evm_verifier(vk_path=str(vk), settings_path=str(settings),
                                       sol_code_path=str(sol), abi_path=str(sol) + ".abi",
                                       srs_path=str(srs))

    try:
        asyncio.run(run())
    except RuntimeError:
        pass  # the offline solc download fails after the .sol is written


def child_tune(work: Path, quick: bool, big: bool) -> dict[str, Any]:
    import zkml
    from zkml.tuning.tuner import DEFAULT_GRID, tune_cached

    meta = json.loads((work / "meta.json").read_text())
    ex = zkml.load_onnx(work / "model.onnx", np.load(work / "cal.npy")[0])
    grid = QUICK_GRID if quick else DEFAULT_GRID
    base = zkml.CompileConfig.model_validate(meta["config"])
    # LeNet-size models: each calibration and each measured proof takes minutes there.
    cfg, report = tune_cached(ex, np.load(work / "cal.npy"), _eval_samples(work),
                              base=base, grid=grid, measure_top=1 if (quick or big) else 2,
                              max_calibrations=4 if big else 10)
    # the time the search took when it ran (a re-run reads it from the cache)
    return {"config": cfg.model_dump(), "report": report, "tune_s": report["tune_seconds"]}


def child_tuned(work: Path) -> dict[str, Any]:
    """zkml with the tuned settings: the circuit from the tuner's cache; setup and prove in a
    fresh process with a fresh key cache (tuned_prove), so they are really measured."""
    warnings.simplefilter("ignore")
    import zkml
    from zkml.circuit.compile import evaluate

    cfg = zkml.CompileConfig.model_validate(json.loads((work / "tuned.json").read_text()))
    cal = np.load(work / "cal.npy")
    ex = zkml.load_onnx(work / "model.onnx", cal[0])
    t0 = time.perf_counter()
    circuit = zkml.compile_model(ex, cal, config=cfg)
    compile_s = time.perf_counter() - t0
    # the same SRS file as the default flow's when logrows match (fair, and made once)
    srs_src = work.parent / f"srs-{circuit.logrows}.srs"
    if not srs_src.exists():
        from zkml import _ezkl

        _ezkl.gen_srs(srs_src, circuit.logrows)
    zkml.save_artifact(circuit, work / "tuned_circuit.json")
    timed = _run_child("tuned_prove", work, str(srs_src))
    keys = zkml.load_artifact(zkml.Keys, work / "tuned_keys.json")
    bundle = zkml.load_bundle(work / "tuned_bundle.json")
    ok = zkml.verify(bundle, keys)
    report = evaluate(circuit, _eval_samples(work))
    return {"logrows": circuit.logrows, "rows": circuit.num_rows, "compile_s": compile_s,
            **timed, "verified": ok,
            "max_abs_error": report.max_abs_error, "output_range": report.output_range,
            "argmax_agreement": report.argmax_agreement,
            "pk_bytes": Path(keys.pk_path).stat().st_size}


def child_tuned_prove(work: Path, srs_path: str) -> dict[str, Any]:
    """zkml setup + prove of the tuned circuit, alone in a fresh process."""
    os.environ["ZKML_CACHE_DIR"] = str(work / "tuned-cache")
    import zkml
    from zkml._utils import sha256_file
    from zkml.proof.srs import SrsFile

    circuit = zkml.load_artifact(zkml.Circuit, work / "tuned_circuit.json")
    srs = SrsFile(Path(srs_path), circuit.logrows, sha256_file(srs_path), "dev-unsafe")
    x = np.array(json.loads((work / "input.json").read_text())["input_data"][0])
    base_rss = _current_rss()
    t0 = time.perf_counter()
    keys = zkml.setup(circuit, srs=srs)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    bundle = zkml.prove(keys, x.reshape(circuit.exported.input_shape))
    prove_s = time.perf_counter() - t0
    rss = _peak_rss()
    zkml.save_artifact(bundle, work / "tuned_bundle.json")
    zkml.save_artifact(keys, work / "tuned_keys.json")
    return {"setup_s": setup_s, "prove_s": prove_s, "peak_rss": rss, "base_rss": base_rss,
            "prove_rss": rss - base_rss}


def child_warm(work: Path, reps: int = 5) -> dict[str, Any]:
    """Warm path: zkml.prove with cached artifacts vs bare ezkl (witness + prove), same files."""
    os.environ["ZKML_CACHE_DIR"] = str(work / "tuned-cache")
    warnings.simplefilter("ignore")
    import ezkl

    import zkml

    keys = zkml.load_artifact(zkml.Keys, work / "tuned_keys.json")
    x = np.array(json.loads((work / "input.json").read_text())["input_data"][0])
    x = x.reshape(keys.circuit.exported.input_shape)
    c = keys.circuit

    def bare() -> None:
        ezkl.gen_witness(data=str(work / "input.json"), model=c.compiled_path,
                         output=str(work / "warm_w.json"), vk_path=keys.vk_path,
                         srs_path=keys.srs_path)
        ezkl.prove(witness=str(work / "warm_w.json"), model=c.compiled_path,
                   pk_path=keys.pk_path, proof_path=str(work / "warm_p.json"),
                   srs_path=keys.srs_path)

    def ours() -> None:
        zkml.prove(keys, x)

    times: dict[str, list[float]] = {"bare": [], "zkml": []}
    ours()
    bare()  # warm both
    for _ in range(reps):  # interleaved, so drift hits both equally
        for name, fn in (("bare", bare), ("zkml", ours)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    b, z = statistics.median(times["bare"]), statistics.median(times["zkml"])
    return {"bare_s": b, "zkml_s": z, "overhead": z / b - 1, "reps": reps}


# Parent ------------------------------------------------------------------------------------

def _run_child(mode: str, work: Path, *extra: str, timeout: int = 3600) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--work", str(work),
           *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} child failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _prepare(name: str, work: Path) -> dict[str, Any]:
    import circuits
    import zkml
    from zkml.circuit.compile import _calibration_subset
    from zkml.model.export import run_onnx

    zoo = circuits.build(name)
    work.mkdir(parents=True, exist_ok=True)
    ex = zkml.export(zoo.model, zoo.example_input, work / "model.onnx", name=name)
    cal = np.asarray(zoo.calibration, dtype=np.float64)
    np.save(work / "cal.npy", cal)
    # ezkl's flow calibrates on the same subset zkml calibrates on
    sub = cal[_calibration_subset(cal, zoo.config.calibration_limit)]
    (work / "cal.json").write_text(json.dumps({"input_data": [sub.reshape(-1).tolist()]}))
    evals = np.asarray(zoo.test_inputs[:16], dtype=np.float64)
    np.save(work / "eval.npy", evals)
    onnx_bytes = (work / "model.onnx").read_bytes()
    refs = np.stack([run_onnx(onnx_bytes, e.reshape(ex.input_shape)).reshape(-1)
                     for e in evals])
    np.save(work / "eval_ref.npy", refs)
    x = evals[0].reshape(ex.input_shape)
    (work / "input.json").write_text(json.dumps({"input_data": [x.reshape(-1).tolist()]}))
    (work / "meta.json").write_text(json.dumps({"config": zoo.config.model_dump()}))
    # (c) onnxruntime
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: x.astype(np.float32)}
    for _ in range(20):
        sess.run(None, feed)
    t0 = time.perf_counter()
    n = 500
    for _ in range(n):
        sess.run(None, feed)
    return {"description": zoo.description, "ort_s": (time.perf_counter() - t0) / n,
            "outputs": int(np.prod(ex.output_shape))}


def _gas(work: Path, chain: Any) -> dict[str, int | None]:
    import zkml
    from zkml import _solc
    from zkml._utils import felt_from_le_hex

    out: dict[str, int | None] = {}
    # (a) the default flow's verifier, compiled with the same pinned solc
    src = (work / "default_verifier.sol").read_text()
    art = next(iter(_solc.compile_standard({"V.sol": src})["contracts"]["V.sol"].values()))
    addr, _, _ = chain.deploy(art["abi"], "0x" + art["evm"]["bytecode"]["object"])
    proof = json.loads((work / "default_proof.json").read_text())
    inst = [felt_from_le_hex(v) for col in proof["instances"] for v in col]
    fn = chain.w3.eth.contract(address=addr, abi=art["abi"]).functions.verifyProof(
        bytes(proof["proof"]), inst)
    out["default"] = int(chain.transact(fn, gas=5_000_000)["gasUsed"])
    keys = zkml.load_artifact(zkml.Keys, work / "tuned_keys.json")
    os.environ["ZKML_CACHE_DIR"] = str(work / "tuned-cache")
    dep = zkml.deploy_verifier(chain, zkml.build_verifier(keys, allow_oversize=True))
    res = zkml.verify_onchain(chain, dep, zkml.load_bundle(work / "tuned_bundle.json"))
    out["tuned"] = res.gas_used
    return out


def run(models: list[str], out: Path, quick: bool) -> dict[str, Any]:
    import circuits
    import zkml
    from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil

    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    os.environ.setdefault("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)
    with Anvil() as node:
        chain = zkml.connect(node.url)
        for name in models:
            work = out / "work" / name
            print(f"== {name}", flush=True)
            r: dict[str, Any] = _prepare(name, work)
            big = name in circuits.BIG
            tuned = _run_child("tune", work, *(["--quick"] if quick else []),
                               *(["--big"] if big else []))
            (work / "tuned.json").write_text(json.dumps(tuned["config"]))
            r["tune"] = {"message": tuned["report"]["message"], "tune_s": tuned["tune_s"],
                         "config": tuned["config"],
                         "beat_default": tuned["report"]["beat_default"]}
            r["default"] = _run_child("default", work)
            r["tuned"] = _run_child("tuned", work)
            r["warm"] = _run_child("warm", work)
            cache_env = os.environ.get("ZKML_CACHE_DIR")
            r["gas"] = _gas(work, chain)
            if cache_env is None:
                os.environ.pop("ZKML_CACHE_DIR", None)
            else:
                os.environ["ZKML_CACHE_DIR"] = cache_env
            d, t = r["default"], r["tuned"]
            r["prove_ratio"] = t["prove_s"] / d["prove_s"]
            # RSS that setup + prove added over each fresh process's baseline (imports differ)
            r["rss_ratio"] = t["prove_rss"] / d["prove_rss"]
            r["zk_overhead"] = t["prove_s"] / r["ort_s"]
            r["accuracy_ok"] = (t["max_abs_error"] <= 0.01 * t["output_range"]
                                and (r["outputs"] == 1 or t["argmax_agreement"] == 1.0))
            results[name] = r
            print(json.dumps({k: r[k] for k in ("prove_ratio", "rss_ratio", "accuracy_ok")}),
                  flush=True)
            _summary(results, out, partial=name != models[-1])  # a crash keeps what ran
    summary = _summary(results, out, partial=False)
    _plots(summary, out)
    return summary


def _summary(results: dict[str, Any], out: Path, partial: bool) -> dict[str, Any]:
    import zkml

    summary = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "versions": {"ezkl": _version("ezkl"), "zkml": zkml.__version__,
                     "torch": _version("torch"), "onnxruntime": _version("onnxruntime")},
        "command": " ".join(["python", "benchmarks/compare.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d"),
        "models": results,
        "median_prove_ratio": statistics.median(r["prove_ratio"] for r in results.values()),
        "partial": partial,
    }
    tmp = out / "compare.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out / "compare.json")
    return summary


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


def _plots(summary: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = summary["models"]
    names = list(ms)
    xs = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(xs - 0.2, [ms[n]["default"]["prove_s"] for n in names], 0.4, label="ezkl default")
    ax.bar(xs + 0.2, [ms[n]["tuned"]["prove_s"] for n in names], 0.4, label="zkml tuned")
    ax.set_xticks(xs, names, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("prove time (s, log)")
    ax.set_title("Prove time per model")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "prove_time.png", dpi=120)
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, mark in (("default", "ezkl default", "o"), ("tuned", "zkml tuned", "s")):
        ax.scatter([ms[n][key]["logrows"] for n in names],
                   [ms[n][key]["prove_s"] for n in names], label=label, marker=mark)
    for n in names:
        ax.annotate(n, (ms[n]["tuned"]["logrows"], ms[n]["tuned"]["prove_s"]), fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("logrows")
    ax.set_ylabel("prove time (s, log)")
    ax.set_title("Prove time against logrows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "prove_vs_logrows.png", dpi=120)


def markdown(summary: dict[str, Any], plots: str) -> str:
    ms = summary["models"]
    lines = [
        "## Side-by-side: ezkl default flow vs zkml tuned vs onnxruntime",
        "",
        f"Command: `{summary['command']}` ({summary['date']}; {summary['machine']['cpus']} "
        f"cores; ezkl {summary['versions']['ezkl']}, torch {summary['versions']['torch']}, "
        f"onnxruntime {summary['versions']['onnxruntime']}). One run per cell; private input, "
        "fixed params, public output; setup = keys + Solidity verifier (zkml.setup writes both; "
        "the ezkl flow does the same calls); prove = witness + proof; RSS added = the "
        "process's peak resident memory minus its resident memory just before setup (each run "
        "its own process; process peaks in the next column); gas = verifyProof transaction on "
        "anvil.",
        "",
        "| model | logrows a / b | setup a / b (s) | prove a / b (s) | prove b/a | setup+prove "
        "RSS added a / b (MB) | RSS b/a | process peak a / b (MB) | max err a / b | accuracy ok"
        " | verify gas a / b | zk overhead b/ort | warm overhead |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in ms.items():
        d, t, g = r["default"], r["tuned"], r["gas"]
        lines.append(
            f"| {n} | {d['logrows']} / {t['logrows']} | {d['setup_s']:.2f} / {t['setup_s']:.2f}"
            f" | {d['prove_s']:.2f} / {t['prove_s']:.2f} | {r['prove_ratio']:.2f} | "
            f"{d['prove_rss'] / 1e6:.0f} / {t['prove_rss'] / 1e6:.0f} | {r['rss_ratio']:.2f} | "
            f"{d['peak_rss'] / 1e6:.0f} / {t['peak_rss'] / 1e6:.0f} | "
            f"{d['max_abs_error']:.3g} / {t['max_abs_error']:.3g} | "
            f"{'yes' if r['accuracy_ok'] else 'NO'} | {g['default']:,} / {g['tuned'] or 0:,} | "
            f"{r['zk_overhead']:.3g}x | {r['warm']['overhead']:+.1%} |")
    lines += [
        "",
        f"Median prove-time ratio tuned/default: **{summary['median_prove_ratio']:.2f}**.",
        "",
        "Tuner decisions:",
        "",
    ]
    for n, r in ms.items():
        cfg = r["tune"]["config"]
        lines.append(f"- {n}: decomp {cfg['decomp_base']}^{cfg['decomp_legs']}, cols "
                     f"{cfg['num_inner_cols']}, scales {cfg['scales'] or 'auto'} - "
                     f"{r['tune']['message']} (tuning took {r['tune']['tune_s']:.0f}s)")
    lines += ["", f"![prove time per model]({plots}/prove_time.png)",
              f"![prove time against logrows]({plots}/prove_vs_logrows.png)", ""]
    return "\n".join(lines)


def write_results_md(summary: dict[str, Any], plots: str) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start, end = "<!-- compare:start -->", "<!-- compare:end -->"
    block = f"{start}\n{markdown(summary, plots)}\n{end}"
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--quick", action="store_true", help="one-candidate grid (smoke runs)")
    ap.add_argument("--no-md", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--md-from", type=Path, default=None,
                    help="rewrite the RESULTS.md section from an existing compare.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--big", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("extra", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    if a.child:
        fn = {"default": lambda: child_default(a.work),
              "tune": lambda: child_tune(a.work, a.quick, a.big),
              "tuned": lambda: child_tuned(a.work),
              "warm": lambda: child_warm(a.work, 1 if a.work.name in BIG_MODELS else 5),
              "default_prove": lambda: child_default_prove(a.work, Path(a.extra[0])),
              "tuned_prove": lambda: child_tuned_prove(a.work, a.extra[0])}
        import logging

        logging.getLogger("ezkl").setLevel(logging.CRITICAL)
        print(json.dumps(fn[a.child](), default=str), flush=True)
        # ezkl's Rust threads may log while Python finalises (a fatal PyGILState error seen
        # in CI); the result is out, so skip interpreter teardown.
        sys.stderr.flush()
        os._exit(0)
    if a.md_from:
        summary = json.loads(a.md_from.read_text())
        write_results_md(summary, os.path.relpath(a.md_from.parent, HERE))
        return
    import circuits

    models = a.models or list(circuits.ZOO)
    summary = run(models, a.out, a.quick)
    if not a.no_md:
        rel = os.path.relpath(a.out, HERE)
        write_results_md(summary, rel)
    print(markdown(summary, str(a.out)))


if __name__ == "__main__":
    main()
