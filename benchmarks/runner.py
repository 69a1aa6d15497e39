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
    """Write the files every flow reads for the zoo model ``name`` and time (c) onnxruntime.
    A zoo estimator (tree ensemble) also gets its accuracy table's files (estimator_files)."""
    import circuits
    import zkml

    zoo = circuits.build(name)
    work.mkdir(parents=True, exist_ok=True)
    ex = zkml.export(zoo.model, zoo.example_input, work / "model.onnx", name=name,
                     check_rows=zoo.check_rows)
    r = _write_work(work, ex, np.asarray(zoo.calibration, dtype=np.float64),
                    np.asarray(zoo.test_inputs[:16], dtype=np.float64), zoo.config.model_dump(),
                    zoo.description)
    if zoo.is_estimator and zoo.test_labels is not None:
        from circuits.trees import predict

        r["estimator"] = estimator_files(work, zoo.test_inputs, zoo.test_labels,
                                         predict(zoo, zoo.test_inputs))
    return r


def prepare_onnx(onnx: Path, inputs: Path, calibration: Path | None, work: Path
                 ) -> dict[str, Any]:
    """As :func:`prepare`, for any ONNX file: its input samples read as ``zkml import`` reads
    them (ezkl's input.json, a JSON list, .npy, .csv, .jsonl); calibration on ``calibration``
    (default: the inputs), held-out samples = the first 16 inputs, zkml's default settings."""
    import shutil

    import zkml
    from zkml.model.export import check_onnx
    from zkml.model.inputs import graph_inputs, read_samples

    declared = graph_inputs(check_onnx(onnx.read_bytes(), source=str(onnx)))
    if len(declared) != 1:
        raise SystemExit(f"{onnx} takes {len(declared)} inputs; zkml proves single-input "
                         "graphs: concatenate them into one tensor.")
    samples = read_samples(inputs, declared[0]).astype(np.float64)
    cal = (read_samples(calibration, declared[0]).astype(np.float64)
           if calibration is not None else samples)
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx, work / "model.onnx")
    ex = zkml.load_onnx(work / "model.onnx", samples[0], name=onnx.stem)
    return _write_work(work, ex, cal, samples[:16], zkml.CompileConfig().model_dump(),
                       f"{onnx.name} (ONNX file, {len(cal)} calibration samples)")


def _write_work(work: Path, ex: Any, cal: np.ndarray, evals: np.ndarray, config: dict[str, Any],
                description: str) -> dict[str, Any]:
    """The flows' files (calibration, eval samples and their float outputs, the proving input,
    the compile config) next to WORK/model.onnx, and the onnxruntime timing (c)."""
    from zkml.circuit.compile import calibration_subset
    from zkml.model.export import run_onnx

    np.save(work / "cal.npy", cal)
    # ezkl's flow calibrates on the same subset zkml calibrates on
    sub = cal[calibration_subset(cal, int(config["calibration_limit"]))]
    (work / "cal.json").write_text(json.dumps({"input_data": [sub.reshape(-1).tolist()]}))
    np.save(work / "eval.npy", evals)
    onnx_bytes = (work / "model.onnx").read_bytes()
    refs = np.stack([run_onnx(onnx_bytes, e.reshape(ex.input_shape)).reshape(-1)
                     for e in evals])
    np.save(work / "eval_ref.npy", refs)
    x = evals[0].reshape(ex.input_shape)
    (work / "input.json").write_text(json.dumps({"input_data": [x.reshape(-1).tolist()]}))
    (work / "meta.json").write_text(json.dumps({"config": config}))
    # (c) onnxruntime
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    first = sess.get_inputs()[0]
    feed = {first.name: x.astype(np.float32 if "float" in first.type else np.int64)}
    for _ in range(20):
        sess.run(None, feed)
    t0 = time.perf_counter()
    n = 500
    for _ in range(n):
        sess.run(None, feed)
    return {"description": description, "ort_s": (time.perf_counter() - t0) / n,
            "outputs": int(np.prod(ex.output_shape))}


def estimator_files(work: Path, rows: np.ndarray, labels: np.ndarray,
                    predicted: np.ndarray) -> dict[str, Any]:
    """The held-out split for the accuracy table (WORK/acc_*.npy, read by the children, which
    decode each row's class from a witness of their circuit), and the float accuracies: the
    estimator's own, and its ONNX graph's under onnxruntime."""
    from zkml.model.export import run_onnx

    onnx_bytes = (work / "model.onnx").read_bytes()
    shape = rows.shape[1:]
    onnx_pred = np.array([int(np.argmax(run_onnx(onnx_bytes, r.reshape(shape)))) for r in rows])
    np.save(work / "acc_x.npy", np.asarray(rows, dtype=np.float64))
    np.save(work / "acc_y.npy", np.asarray(labels))
    np.save(work / "acc_est.npy", np.asarray(predicted))
    return {"rows": len(rows),
            "estimator_accuracy": float(np.mean(predicted == labels)),
            "onnx_accuracy": float(np.mean(onnx_pred == labels)),
            "onnx_agreement": float(np.mean(onnx_pred == predicted))}


def quantised_accuracy(work: Path, decoded: dict[str, Any]) -> dict[str, Any]:
    """Accuracy and agreement with the estimator of the classes a child decoded from its
    circuit's witnesses (a row the circuit refuses counts as wrong, and is counted)."""
    labels, est = np.load(work / "acc_y.npy"), np.load(work / "acc_est.npy")
    pred = np.array(decoded["pred"])
    return {"accuracy": float(np.mean(pred == labels)),
            "agreement": float(np.mean(pred == est)), "refused": int(np.sum(pred < 0))}


def run(models: list[str], out: Path, quick: bool, onnx: tuple[Path, Path, Path | None] | None
        = None, merge: bool = False) -> dict[str, Any]:
    """Compare the flows on each model in turn (or on ONE ONNX file: ``onnx`` = (model, inputs,
    calibration or None)); write OUT/compare.json and the plots. With ``merge``, the models
    already in OUT/compare.json and not re-run are kept."""
    import circuits
    import zkml
    from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil

    out.mkdir(parents=True, exist_ok=True)
    previous = out / "compare.json"
    results: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    if merge and previous.exists():
        old = json.loads(previous.read_text())
        results = {k: v for k, v in old["models"].items() if k not in models}
        history = old.get("history") or [{"command": old["command"], "date": old["date"],
                                           "models": list(old["models"])}]
    if onnx is not None:
        models = [onnx[0].stem]
    os.environ.setdefault("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)
    with Anvil() as node:
        chain = zkml.connect(node.url)
        for name in models:
            work = out / "work" / name
            print(f"== {name}", flush=True)
            r: dict[str, Any] = (prepare_onnx(onnx[0], onnx[1], onnx[2], work) if onnx
                                 else prepare(name, work))
            big = onnx is None and name in circuits.BIG
            tuned = run_child("tune", work, *(["--quick"] if quick else []),
                              *(["--big"] if big else []))
            (work / "tuned.json").write_text(json.dumps(tuned["config"]))
            r["tune"] = {"message": tuned["report"]["message"], "tune_s": tuned["tune_s"],
                         "config": tuned["config"],
                         "beat_default": tuned["report"]["beat_default"]}
            r["default"] = run_child("default", work)
            r["tuned"] = run_child("tuned", work)
            if "estimator" in r:  # the classes decoded from each circuit's witnesses
                for flow in ("default", "tuned"):
                    r["estimator"][flow] = quantised_accuracy(work, r[flow].pop("decoded"))
            r["warm"] = run_child("warm", work)
            r["gas"] = verify_gas(work, chain)
            d, t = r["default"], r["tuned"]
            r["prove_ratio"] = t["prove_s"] / d["prove_s"]
            # RSS that setup + prove added over each fresh process's baseline (imports differ)
            r["rss_ratio"] = t["prove_rss"] / d["prove_rss"]
            r["zk_overhead"] = t["prove_s"] / r["ort_s"]
            r["accuracy_ok"] = (t["max_abs_error"] <= 0.01 * t["output_range"]
                                and (r["outputs"] == 1 or t["argmax_agreement"] == 1.0))
            r["date"] = time.strftime("%Y-%m-%d")
            results[name] = r
            print(json.dumps({k: r[k] for k in ("prove_ratio", "rss_ratio", "accuracy_ok")}),
                  flush=True)
            # a crash keeps what ran
            write_summary(results, out, partial=name != models[-1], history=history,
                          ran=models)
    summary = write_summary(results, out, partial=False, history=history, ran=models)
    write_plots(summary, out)
    return summary
