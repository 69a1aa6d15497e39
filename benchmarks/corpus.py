"""Public corpus benchmark (issue #22): zkml's default path vs ezkl's own flow, per model.

    nice -n 10 .venv/bin/python benchmarks/corpus.py                # every model (see --list)
    .venv/bin/python benchmarks/corpus.py --models sk-linreg op-maxpool --out /tmp/c --no-md
    .venv/bin/python benchmarks/corpus.py --models rnn --merge      # re-run some, keep the rest
    .venv/bin/python benchmarks/corpus.py --md-from benchmarks/results/corpus.json

The models (benchmarks/corpus_models.py) are built here from installed packages: torch nets,
estimators on scikit-learn's bundled data through hummingbird-ml (each tree strategy for
sklearn, XGBoost and LightGBM), the op corpus and the zoo (circuits/), and ONNX files from
onnx's own backend tests. Each gets seeded calibration samples and one input to prove.

Flows, every stage a fresh process (benchmarks/corpus_flows.py), each flow with its own fresh
ZKML_CACHE_DIR, both reading the same development SRS files made before any clock starts:
  ezkl   ezkl called directly: gen_settings (PyRunArgs defaults, input private / params fixed
         / output public) + calibrate_settings("resources") + compile_circuit; setup (+ the
         Solidity verifier, as zkml setup writes one); gen_witness + prove; verify.
  zkml   the README's CLI path: zkml import model.onnx --input input.json --calibration
         cal.npy; zkml compile --tune quick; zkml setup; zkml prove; zkml verify.

Measures: each stage's process wall time; first proof = ezkl's in-process stage clocks
(compile + setup + prove) plus one interpreter start, as one ezkl script would run, against
the sum of zkml's CLI processes (import + compile + setup + prove, each paying its own start);
prove = the median of --rounds warm prove processes per flow (one when zkml's first prove
took under 0.6x ezkl's), run alternately (ezkl, zkml, ezkl, ...) when both first proves took
under --cheap seconds (else the first), wall against wall; peak memory = the median of
those processes' peaks (corpus_flows.py says how each is read). Writes
OUT/corpus.json, OUT/corpus.png and (unless --no-md) the corpus section of RESULTS.md.
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
FLOWS = HERE / "corpus_flows.py"
sys.path.insert(0, str(HERE))


# --------------------------------------------------------------------------- one stage

def stage(args: list[str], env: dict[str, str], timeout: float, cli: Path | None = None
          ) -> dict[str, Any]:
    """Run one child (``corpus_flows.py ARGS``; with ``cli``, the zkml CLI with ``--json``,
    its peak written to that file); its wall time, its JSON, its peak, or its error."""
    cmd = [sys.executable, str(FLOWS), *(["cli", str(cli), *args, "--json"] if cli else args)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=max(timeout, 5.0))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {max(timeout, 5.0):.0f} s"}
    r: dict[str, Any] = {"wall_s": time.perf_counter() - t0}
    out = proc.stdout.strip()
    try:  # the CLI prints one JSON document; a child prints one JSON line last
        r.update(json.loads(out if cli else out.splitlines()[-1]))
    except (json.JSONDecodeError, IndexError):
        pass
    if cli is not None and cli.exists():
        measured = json.loads(cli.read_text())  # the launcher's: its own start left out
        r["peak_rss"], r["wall_s"] = measured["peak_rss"], measured["wall_s"]
        r["inner_s"] = _inner_seconds(proc.stderr)
    if proc.returncode != 0 or (cli is not None and "error" in r):
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        r["error"] = str(r.get("error") or (lines[-1] if lines else f"exit {proc.returncode}"))
        r["error"] = r["error"][:400]
        r["exit"] = proc.returncode
    return r


def _inner_seconds(stderr: str) -> float | None:
    """The seconds zkml's own progress lines give to the witness and the proof ("✓ Proving
    (logrows 9) (0.13s)"): a prove's work without the process start, imports and loading,
    to explain a ratio (other stages' lines nest, so they are not summed)."""
    import re

    found = re.findall(r"^✓ (?:Generating witness|Proving)\b.*\(([\d.]+)s\)\s*$", stderr,
                       re.M)
    return sum(float(m) for m in found) if found else None


# --------------------------------------------------------------------------- the flows

def _srs(store: Path, logrows: int, env: dict[str, str]) -> Path:
    """The shared dev SRS for ``logrows``, made now (off every clock) if missing."""
    path = store / "srs" / f"dev-{logrows}" / "kzg.srs"
    if not path.exists():
        r = stage(["srs", str(logrows)], {**env, "ZKML_CACHE_DIR": str(store)}, 1800)
        if "error" in r:
            raise RuntimeError(f"dev SRS {logrows}: {r['error']}")
    return path


def _bytecode() -> list[str]:
    """Compile zkml's package and these scripts to bytecode now, as `pip install` does for an
    installed package: every CLI process then reads it, whatever PYTHONDONTWRITEBYTECODE says
    (with it set and no bytecode, each `zkml` process compiled zkml's modules anew)."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("zkml")
    assert spec is not None and spec.submodule_search_locations
    dirs = [Path(next(iter(spec.submodule_search_locations))), HERE]
    for d in dirs:
        compileall.compile_dir(str(d), quiet=1)
    return [str(d) for d in dirs]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "ZKML_CACHE_DIR": str(cache), "PYTHONWARNINGS": "ignore"}


def _fresh(d: Path) -> Path:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def run_ezkl(work: Path, store: Path, timeout: float, cheap: float) -> dict[str, Any]:
    end = time.monotonic() + timeout
    env = _env(_fresh(work / "ezkl") / "cache")
    f: dict[str, Any] = {"stages": {}}

    def go(name: str, *args: str) -> dict[str, Any] | None:
        r = stage(list(args), env, end - time.monotonic())
        f["stages"][name] = r
        if "error" in r:
            f["error"], f["failed_stage"] = f"{name}: {r['error']}", name
            return None
        return r

    c = go("compile", "ezkl-compile", str(work))
    if c is None:
        return f
    f.update(logrows=c["logrows"], rows=c["rows"])
    srs = _srs(store, c["logrows"], env)
    if go("setup", "ezkl-setup", str(work), str(srs)) is None:
        return f
    p1 = go("prove", "ezkl-prove", str(work), str(srs), "1")
    if p1 is None:
        return f
    f["_warm"] = (lambda tag: stage(["ezkl-prove", str(work), str(srs), tag], env,
                                    end - time.monotonic()))
    v = go("verify", "ezkl-verify", str(work), str(srs))
    if v is None:
        return f
    st = f["stages"]
    startup = st["compile"]["wall_s"] - st["compile"]["clock_s"]  # interpreter + import ezkl
    f["first_proof_s"] = startup + sum(st[s]["clock_s"] for s in ("compile", "setup", "prove"))
    f["outputs"], f["verified"] = v["outputs"], v["verified"]
    f["proved"] = bool(v["verified"])
    return f


def run_zkml(work: Path, store: Path, timeout: float, cheap: float) -> dict[str, Any]:
    end = time.monotonic() + timeout
    z = _fresh(work / "zkml")
    (z / "cache").mkdir()
    (z / "cache" / "srs").symlink_to(store / "srs", target_is_directory=True)
    env, d = _env(z / "cache"), z / "build"
    f: dict[str, Any] = {"stages": {}}

    def go(name: str, *args: str) -> dict[str, Any] | None:
        r = stage(list(args), env, end - time.monotonic(), cli=z / f"{name}.peak")
        f["stages"][name] = r
        if "error" in r:
            f["error"], f["failed_stage"] = f"{name}: {r['error']}", name
            return None
        return r

    inp = str(work / "input.json")
    if go("import", "import", str(work / "model.onnx"), "--input", inp, "--calibration",
          str(work / "cal.npy"), "--dir", str(d)) is None:
        return f
    c = go("compile", "compile", "--dir", str(d), "--tune", "quick")
    if c is None:
        return f
    f.update(logrows=c.get("logrows"), rows=c.get("num_rows"),
             quantization=c.get("quantization"), choice=c.get("choice"))
    _srs(store, int(c["logrows"]), env)
    if go("setup", "setup", "--dir", str(d)) is None:
        return f
    p1 = go("prove", "prove", "--dir", str(d), inp, "-o", str(z / "bundle.json"))
    if p1 is None:
        return f
    f["_warm"] = (lambda tag: stage(["prove", "--dir", str(d), inp, "-o",
                                     str(z / f"bundle-{tag}.json")], env,
                                    end - time.monotonic(), cli=z / f"prove-{tag}.peak"))
    v = go("verify", "verify", str(z / "bundle.json"))
    if v is None:
        return f
    st = f["stages"]
    f["first_proof_s"] = sum(st[s]["wall_s"] for s in ("import", "compile", "setup", "prove"))
    f["outputs"], f["verified"] = v.get("outputs"), bool(v.get("valid"))
    f["proved"] = f["verified"]
    return f


def warm_proves(row: dict[str, Any], rounds: int, cheap: float) -> None:
    """Prove ``rounds`` more times in each flow, alternating (ezkl, zkml, ezkl, ...), when
    both first proves took under ``cheap`` seconds: a slow minute of the machine then falls
    on both flows, and the medians below leave one-off noise out."""
    e, z = row["ezkl"], row["zkml"]
    warm = [f.pop("_warm", None) for f in (e, z)]
    first = [f["stages"].get("prove", {}) for f in (e, z)]
    if None in warm or any("error" in p or p.get("wall_s", cheap) >= cheap for p in first):
        return
    # far from the goal's line (a first-prove ratio under 0.6), one warm prove each is plenty
    if first[1]["wall_s"] < 0.6 * first[0]["wall_s"]:
        rounds = 1
    for i in range(1, rounds + 1):
        for f, run in zip((e, z), warm, strict=True):
            assert run is not None
            f["stages"][f"warm{i}"] = run(f"w{i}")


def _finish(row: dict[str, Any], ref: list[float]) -> None:
    """Prove time, peak and error of each flow; the ratios zkml / ezkl."""
    e, z = row["ezkl"], row["zkml"]
    for f in (e, z):
        f.pop("_warm", None)
    warm = [[st for name, st in sorted(f["stages"].items()) if name.startswith("warm")
             and "error" not in st] for f in (e, z)]
    row["prove_warm"] = bool(warm[0] and warm[1])
    row["prove_basis"] = (f"median of {len(warm[0])} warm prove processes per flow, "
                          "interleaved" if row["prove_warm"] else "first prove process")
    for f, proves in zip((e, z), warm, strict=True):
        st = f["stages"]
        if row["prove_warm"]:
            f["prove_s"] = statistics.median([p["wall_s"] for p in proves])
            f["prove_peak_rss"] = statistics.median([p["peak_rss"] for p in proves])
        elif "prove" in st and "error" not in st["prove"]:
            f["prove_s"] = st["prove"]["wall_s"]
            f["prove_peak_rss"] = st["prove"]["peak_rss"]
        out = f.get("outputs")
        if out is not None and len(out) == len(ref):
            f["max_abs_error"] = max((abs(a - b) for a, b in zip(out, ref, strict=True)),
                                     default=0.0)
    for key, name in (("prove_s", "prove_ratio"), ("prove_peak_rss", "memory_ratio"),
                      ("first_proof_s", "first_proof_ratio")):
        if e.get(key) and z.get(key) is not None:
            row[name] = z[key] / e[key]
    # what an output error is measured against: the outputs' spread, or their size when
    # there is one output (a regressor's prediction)
    row["output_scale"] = max([1.0, max(ref) - min(ref), *(abs(v) for v in ref)]) if ref else 1.0


def run_model(name: str, out: Path, store: Path, timeout: float, cheap: float,
              rounds: int = 3, keep_keys: bool = False) -> dict[str, Any]:
    import corpus_models

    m = corpus_models.by_name(name)
    work = out / "work" / "corpus" / name
    row: dict[str, Any] = {"covers": list(m.covers), "source": m.source,
                           "date": time.strftime("%Y-%m-%d %H:%M")}
    prep = stage(["prepare", name, str(work)], _env(store), 600)
    if "error" in prep:
        row["error"] = f"build: {prep['error']}"
        return row
    row["model"] = {k: v for k, v in prep.items() if k != "wall_s"}
    row["ezkl"] = run_ezkl(work, store, timeout, cheap)
    row["zkml"] = run_zkml(work, store, timeout, cheap)
    warm_proves(row, rounds, cheap)
    _finish(row, json.loads((work / "ref.json").read_text()))
    row["load_avg_1min"] = os.getloadavg()[0]  # the machine may be shared: how busy it was
    if not keep_keys:  # a full run's proving keys are 16-18 GB: the row no longer needs them
        for pk in work.rglob("pk.key"):
            pk.unlink()
    return row


# --------------------------------------------------------------------------- the command

def main() -> None:
    import corpus_models
    import corpus_report

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="*", default=None, help="model names (default: all)")
    ap.add_argument("--list", action="store_true", help="list the models and exit")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--no-md", action="store_true", help="do not touch RESULTS.md")
    ap.add_argument("--md-from", type=Path, default=None,
                    help="redraw the plot and rewrite the RESULTS.md section (unless --no-md) "
                    "from a corpus.json")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of OUT/corpus.json this run does not re-run")
    ap.add_argument("--flow-timeout", type=float, default=600.0,
                    help="seconds one flow of one model may take (default 600)")
    ap.add_argument("--budget", type=float, default=3600.0,
                    help="start no model after this many seconds (default 3600)")
    ap.add_argument("--cheap", type=float, default=30.0,
                    help="prove --rounds more times per flow, interleaved, when both first "
                    "proves took under this (s)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="warm prove processes per flow (default 3; their median counts; one "
                    "when zkml's first prove took under 0.6x ezkl's)")
    ap.add_argument("--keep-keys", action="store_true",
                    help="keep each model's proving keys under OUT/work (default: deleted once "
                    "its row is written; a full run's keys take 16-18 GB)")
    ap.add_argument("--srs-logrows", type=int, default=17,
                    help="dev SRS files made before any clock for logrows 8..N (default 17)")
    ap.add_argument("--srs-store", type=Path, default=None,
                    help="zkml cache holding them (default $ZKML_CACHE_DIR, else ~/.cache/zkml)")
    a = ap.parse_args()
    if a.list:
        for m in corpus_models.MODELS:
            print(f"{m.name:28} {', '.join(m.covers):32} {m.source}")
        return
    if a.md_from is not None:
        summary = json.loads(a.md_from.read_text())
        plot = a.md_from.parent / "corpus.png"
        corpus_report.write_plot(summary, plot)
        if not a.no_md:
            corpus_report.write_md(summary, os.path.relpath(plot, HERE))
        print(corpus_report.markdown(summary, str(plot)))
        return
    names = a.models or [m.name for m in corpus_models.MODELS]
    unknown = [n for n in names if n not in {m.name for m in corpus_models.MODELS}]
    if unknown:  # before anything runs
        ap.error(f"no corpus model {', '.join(unknown)} (see --list)")
    store = (a.srs_store or Path(os.environ.get("ZKML_CACHE_DIR")
                                 or Path.home() / ".cache" / "zkml")).resolve()
    store.mkdir(parents=True, exist_ok=True)
    print(f"dev SRS 8..{a.srs_logrows} in {store} (made once, before any clock)", flush=True)
    for k in range(8, a.srs_logrows + 1):
        _srs(store, k, _env(store))
    compiled = _bytecode()
    print(f"bytecode of {', '.join(compiled)} compiled (before any clock)", flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    summary = corpus_report.new_summary(a.out / "corpus.json" if a.merge else None, names,
                                        len(corpus_models.MODELS))
    started = time.monotonic()
    for name in names:
        if time.monotonic() - started > a.budget:
            summary["skipped"].append(name)
            continue
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        try:
            row = run_model(name, a.out, store, a.flow_timeout, a.cheap, a.rounds, a.keep_keys)
        except (RuntimeError, OSError, ValueError, KeyError) as e:  # that model's row only
            row = {"error": f"harness: {type(e).__name__}: {e}"}
        row["model_wall_s"] = time.monotonic() - t0
        summary["models"][name] = row
        print(corpus_report.one_line(name, row), flush=True)
        corpus_report.save(summary, a.out / "corpus.json")  # a crash keeps what ran
    summary["run_wall_s"] = time.monotonic() - started
    corpus_report.save(summary, a.out / "corpus.json")
    corpus_report.write_plot(summary, a.out / "corpus.png")
    if not a.no_md:
        corpus_report.write_md(summary, os.path.relpath(a.out / "corpus.png", HERE))
    print(corpus_report.markdown(summary, str(a.out / "corpus.png")))


if __name__ == "__main__":
    main()
