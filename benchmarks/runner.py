"""The parent side of compare.py: per model, prepare the work directory and time onnxruntime
(c), run each flow's children as subprocesses of compare.py, measure gas, and keep the
summary up to date."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from measure import verify_gas
from report import write_plots, write_summary

COMPARE = Path(__file__).resolve().parent / "compare.py"


def run_child(mode: str, work: Path, *extra: str, timeout: int = 3600) -> dict[str, Any]:
    """Run ``compare.py --child MODE`` in a fresh process; return the JSON it prints last."""
    cmd = [sys.executable, str(COMPARE), "--child", mode, "--work", str(work), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} child failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def prepare(name: str, work: Path) -> dict[str, Any]:
    """Write the files every flow reads (model.onnx, calibration, eval samples and their float
    outputs, the proving input, the zoo config) and time (c) onnxruntime."""
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


def run(models: list[str], out: Path, quick: bool) -> dict[str, Any]:
    """Compare the flows on each model in turn; write OUT/compare.json and the plots."""
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
            r: dict[str, Any] = prepare(name, work)
            big = name in circuits.BIG
            tuned = run_child("tune", work, *(["--quick"] if quick else []),
                              *(["--big"] if big else []))
            (work / "tuned.json").write_text(json.dumps(tuned["config"]))
            r["tune"] = {"message": tuned["report"]["message"], "tune_s": tuned["tune_s"],
                         "config": tuned["config"],
                         "beat_default": tuned["report"]["beat_default"]}
            r["default"] = run_child("default", work)
            r["tuned"] = run_child("tuned", work)
            r["warm"] = run_child("warm", work)
            r["gas"] = verify_gas(work, chain)
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
            write_summary(results, out, partial=name != models[-1])  # a crash keeps what ran
    summary = write_summary(results, out, partial=False)
    write_plots(summary, out)
    return summary
