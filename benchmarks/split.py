"""Split proving benchmark (issue #16): K segments vs the monolithic proof, one run each.

For each model and K: compile + setup (cached), then one proof in a fresh process per
(K, workers) so the measures are that proof's alone: wall time, total CPU (parent + workers),
peak RSS of the largest worker (every segment proof, K = 1 included, runs in a pool worker),
and the verifyProof gas on anvil: one SplitVerifier call for K >= 1 (K = 1 is one segment
behind the SplitVerifier, so it shows the contract's own overhead), the bare ezkl verifier for
the monolithic baseline.

    nice -n 10 .venv/bin/python -m benchmarks.split --models lenet5,dense-784 --segments 0,1,2,4

K = 0 is the monolithic baseline: ``zkml.compile_model`` (the usual flow, its calibration
free to pick the scale rebase), proven in a pool worker like the segments.

Writes benchmarks/results/split.json and benchmarks/results/split.png.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


#: the privacy preset of every flow (--preset; default: each zoo model's own)
PRESET: str | None = None


class _WorkerPeak:
    """The largest VmHWM of this process's descendants, sampled every 50 ms while it runs.

    Not ``ru_maxrss``: Linux starts a forked child's peak at its parent's RSS at fork time and
    keeps it across exec, so a pool worker spawned by a driver holding 0.5 GB (torch loaded)
    reports at least 0.5 GB however little its proof uses. VmHWM is the worker's own image's
    peak (it restarts at exec).
    """

    def __init__(self) -> None:
        import threading

        self.peak_kb = 0
        self._before: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _WorkerPeak:
        self._before = self._descendants()  # only processes started from here on count
        self._thread.start()
        return self

    @staticmethod
    def _descendants() -> set[int]:
        import os

        todo, seen = [os.getpid()], set()
        while todo:  # through /proc/PID/task/TID/children (cheap)
            pid = todo.pop()
            for f in Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    kids = [int(k) for k in f.read_text().split()]
                except (OSError, ValueError):
                    continue
                todo.extend(k for k in kids if k not in seen)
                seen.update(kids)
        return seen

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import os

        mine = Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
        last: dict[int, int] = {}
        while True:
            for pid in self._descendants() - self._before:
                try:
                    # between fork and exec a child is still a copy of this process (its
                    # VmHWM is our RSS): only its exec'd image counts, and its latest figure
                    if Path(f"/proc/{pid}/cmdline").read_bytes() == mine:
                        continue
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            last[pid] = int(line.split()[1])
                except (OSError, ValueError):
                    continue
            self.peak_kb = max(last.values(), default=0)
            if self._stop.wait(0.1):
                return


def _mono(model: str, workdir: Path) -> dict[str, Any]:
    """The monolithic baseline (``zkml.compile_model``, the usual flow), proven in a pool
    worker like the segments, so peak RSS and CPU are measured the same way."""
    import zkml
    from zkml.chain.devnode import Anvil

    zoo, keys = _mono_keys(model, workdir)
    # a bundle left by an earlier run would be skipped (resume), not proven again
    shutil.rmtree(workdir / f"{model}-mono", ignore_errors=True)
    t0 = time.perf_counter()
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with _WorkerPeak() as peak:
        res = zkml.prove_batch(keys, [("x", zoo.test_inputs[0])], workdir / f"{model}-mono",
                               workers=1)
    wall = time.perf_counter() - t0
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert res.proved == 1, res.entries
    bundle = zkml.load_bundle(workdir / f"{model}-mono" / "x.bundle.json")
    with Anvil() as node:
        chain = zkml.connect(node.url)
        dep = zkml.deploy_verifier(chain, zkml.build_verifier(keys, allow_oversize=True))
        onchain = zkml.verify_onchain(chain, dep, bundle)
    assert onchain.valid and onchain.gas_used
    return {"model": model, "preset": keys.circuit.preset, "segments": 0, "workers": 1,
            "wall_s": wall,
            "cpu_s": (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
                      + kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime),
            "peak_rss_worker_gb": peak.peak_kb * 1024 / 1e9,
            "ru_maxrss_children_gb": kids1.ru_maxrss * 1024 / 1e9,
            "logrows": keys.circuit.logrows, "estimated_rows": [keys.circuit.num_rows],
            "outputs": bundle.outputs, "pk_bytes": Path(keys.pk_path).stat().st_size,
            "verify_gas": onchain.gas_used, "deploy_gas": dep.gas_used}


def _mono_keys(model: str, workdir: Path) -> Any:
    import circuits

    return circuits.prepare(model, workdir, preset=PRESET)


def _keys(model: str, k: int, workdir: Path) -> Any:
    import circuits
    import zkml

    zoo = circuits.build(model)
    exported = zkml.export(zoo.model, zoo.example_input, workdir / f"{model}.onnx", name=model)
    split = zkml.compile_model(exported, zoo.calibration, segments=k, config=zoo.config,
                               preset=PRESET or zoo.preset)
    return zoo, zkml.setup(split)


def _one(model: str, k: int, workers: int, workdir: Path) -> dict[str, Any]:
    """Run in a fresh process: one split proof, measured."""
    import zkml

    zoo, keys = _keys(model, k, workdir)
    t0 = time.perf_counter()
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with _WorkerPeak() as peak:
        bundle = zkml.prove(keys, zoo.test_inputs[0], workers=workers, reuse=False)
    wall = time.perf_counter() - t0
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
           + kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime)
    assert zkml.verify(bundle, keys)
    return {"model": model, "preset": keys.circuit.preset, "segments": k, "workers": workers,
            "wall_s": wall, "cpu_s": cpu,
            "peak_rss_worker_gb": peak.peak_kb * 1024 / 1e9,
            "ru_maxrss_children_gb": kids1.ru_maxrss * 1024 / 1e9, "logrows": keys.circuit.logrows,
            "estimated_rows": keys.circuit.estimated_rows, "outputs": bundle.outputs,
            "segment_rows": [c.num_rows for c in keys.circuit.segments],
            "layer_groups": keys.circuit.layer_groups,
            "boundary_tensors": [len(b) for b in keys.circuit.boundaries],
            "pk_bytes": sum(Path(s.pk_path).stat().st_size for s in keys.segments)}


def _gas(model: str, k: int, workdir: Path) -> dict[str, int]:
    import zkml
    from zkml.chain import split as S
    from zkml.chain.devnode import Anvil

    zoo, keys = _keys(model, k, workdir)
    bundle = zkml.prove(keys, zoo.test_inputs[0], workers=1, reuse=False)
    with Anvil() as node:
        chain = zkml.connect(node.url)
        dep = S.deploy_split_verifier(chain, keys, allow_oversize=True)
        res = S.verify_split_onchain(chain, dep, bundle)
    assert res.valid and res.gas_used
    return {"verify_gas": res.gas_used, "deploy_gas": dep.gas_used}


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flows = sorted({(r["model"], r.get("preset", "")) for r in rows})
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for m, preset in flows:
        for w, style in ((1, "-o"), (2, "--s")):
            sel = sorted((r for r in rows if r["model"] == m and r.get("preset", "") == preset
                          and (r["workers"] == w or r["segments"] == 0)),
                         key=lambda r: r["segments"])
            if len(sel) < 2:
                continue
            ks = [r["segments"] for r in sel]
            label = f"{m} {preset} w={w}".replace("  ", " ")
            axes[0].plot(ks, [r["peak_rss_worker_gb"] for r in sel], style, label=label)
            axes[1].plot(ks, [r["wall_s"] for r in sel], style, label=label)
            axes[2].plot(ks, [r["cpu_s"] for r in sel], style, label=label)
    for ax, title in zip(axes, ("peak RSS per worker (GB)", "wall time (s)", "total CPU (s)"),
                         strict=True):
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ks = sorted({r["segments"] for r in rows})
        ax.set_xticks(ks, ["mono" if k == 0 else str(k) for k in ks])
        ax.set_xlabel("segments K (mono = the monolithic compile_model proof)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="dense-784")
    ap.add_argument("--segments", default="0,1,2,4",
                    help="0 = the monolithic baseline (zkml.compile_model)")
    ap.add_argument("--workdir", default="build/bench-split")
    ap.add_argument("--one", nargs=3, metavar=("MODEL", "K", "WORKERS"), help=argparse.SUPPRESS)
    ap.add_argument("--gas", nargs=2, metavar=("MODEL", "K"), help=argparse.SUPPRESS)
    ap.add_argument("--mono", metavar="MODEL", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS / "split.json"))
    ap.add_argument("--plot-from", nargs="+", metavar="JSON",
                    help="only draw the plot (next to --out) from these result files")
    ap.add_argument("--preset", default=None,
                    help="privacy preset of every flow (default: each zoo model's own)")
    a = ap.parse_args()
    global PRESET
    PRESET = a.preset
    if a.plot_from:
        merged = [r for f in a.plot_from for r in json.loads(Path(f).read_text())]
        Path(a.out).write_text(json.dumps(merged, indent=2) + "\n")
        _plot(merged, Path(a.out).with_suffix(".png"))
        return
    child = bool(a.one or a.gas or a.mono)  # the driver passes children its own workdir
    workdir = Path(a.workdir) if child else Path(a.workdir) / (a.preset or "zoo-preset")
    workdir.mkdir(parents=True, exist_ok=True)
    if a.one:
        print(json.dumps(_one(a.one[0], int(a.one[1]), int(a.one[2]), workdir)))
        return
    if a.gas:
        print(json.dumps(_gas(a.gas[0], int(a.gas[1]), workdir)))
        return
    if a.mono:
        print(json.dumps(_mono(a.mono, workdir)))
        return
    rows = []
    for model in a.models.split(","):
        for k in (int(v) for v in a.segments.split(",")):
            if k == 0:  # the monolithic baseline
                rows.append(json.loads(_child(["--mono", model, "--workdir", str(workdir)])))
                print(json.dumps(rows[-1]), file=sys.stderr)
                continue
            gas = json.loads(_child(["--gas", model, str(k), "--workdir", str(workdir)]))
            for workers in (1, 2):
                if workers > k:
                    continue
                row = json.loads(_child(["--one", model, str(k), str(workers),
                                         "--workdir", str(workdir)]))
                row.update(gas)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    _plot(rows, out.with_suffix(".png"))


def _child(args: list[str]) -> str:
    extra = ["--preset", PRESET] if PRESET else []
    r = subprocess.run([sys.executable, "-m", "benchmarks.split", *args, *extra],
                       capture_output=True, text=True, check=False)
    if r.returncode:
        print(r.stderr[-3000:], file=sys.stderr)  # the child's traceback
        r.check_returncode()
    return r.stdout.strip().splitlines()[-1]


if __name__ == "__main__":
    main()
