"""Side-by-side comparison, in ONE run, for every reference model:
(a) ezkl's default flow (PyRunArgs defaults, same visibility, calibrate "resources"),
(b) zkml tuned, (c) onnxruntime float inference. Each proving run is its own subprocess, so
peak RSS is per run.

    .venv/bin/python benchmarks/compare.py                 # all models (tens of minutes)
    .venv/bin/python benchmarks/compare.py --models tiny-mlp --quick --out /tmp/cmp
    .venv/bin/python benchmarks/compare.py --models bc-random-forest --merge   # re-run some
    .venv/bin/python benchmarks/compare.py --onnx model.onnx --input input.json  # any model

--onnx runs the same comparison on any single-input ONNX file: --input holds one or more
samples (ezkl's input.json, a JSON list, .npy, .csv or .jsonl, as `zkml import` reads them),
--calibration optionally more; it writes to build/compare/<model> unless --out says otherwise
and never touches RESULTS.md.

Writes OUT/compare.json, OUT/prove_time.png, OUT/prove_vs_logrows.png and (unless --no-md)
the comparison section of benchmarks/RESULTS.md.
"""

# The command line only. The parts, importable because this script's folder is first on
# sys.path (the children are this script again, with --child):
#   flows.py   the children: (a) ezkl's default flow and (b) zkml tuned
#   runner.py  the parent: prepare each model, time (c) onnxruntime, run the children
#   measure.py RSS and verifier gas
#   report.py  compare.json, the plots, the RESULTS.md section

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from flows import (
    BIG_MODELS,
    child_default,
    child_default_prove,
    child_tune,
    child_tuned,
    child_tuned_prove,
    child_warm,
)
from report import markdown, write_results_md
from runner import run

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--onnx", type=Path, default=None, help="compare on this ONNX file")
    ap.add_argument("--input", type=Path, default=None, help="--onnx: its input sample(s)")
    ap.add_argument("--calibration", type=Path, default=None,
                    help="--onnx: calibration samples (default: --input)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the models of OUT/compare.json that this run does not re-run")
    ap.add_argument("--out", type=Path, default=None, help="default: benchmarks/results")
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
    if a.onnx is not None:
        if a.input is None or a.models:
            ap.error("--onnx needs --input FILE (and no --models)")
        for flag, path in (("--onnx", a.onnx), ("--input", a.input),
                           ("--calibration", a.calibration)):
            if path is not None and not path.is_file():
                ap.error(f"{flag} {path}: no such file")
        out = a.out or Path("build") / "compare" / a.onnx.stem
        summary = run([], out, a.quick, onnx=(a.onnx, a.input, a.calibration), merge=a.merge)
        print(markdown(summary, str(out)))
        return
    if a.input is not None or a.calibration is not None:
        ap.error("--input and --calibration go with --onnx")
    import circuits

    out = a.out or HERE / "results"
    models = a.models or list(circuits.ZOO)
    summary = run(models, out, a.quick, merge=a.merge)
    if not a.no_md:
        rel = os.path.relpath(out, HERE)
        write_results_md(summary, rel)
    print(markdown(summary, str(out)))


if __name__ == "__main__":
    main()
