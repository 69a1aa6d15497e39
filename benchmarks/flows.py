"""The two flows compared, as the children compare.py runs (each in its own process):
(a) ezkl's default flow, called directly (not through zkml), and (b) zkml with the tuner's
settings. The ``*_prove`` children run setup + prove alone in a fresh process, so peak RSS is
per run."""

from __future__ import annotations

import json
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from measure import current_rss, peak_rss
from runner import run_child

# circuits.BIG, copied: importing circuits here would load torch into every child's memory.
# LeNet-size runs take minutes per proof: fewer accuracy samples and warm-path repetitions.
BIG_MODELS = {"lenet5"}
VIS = {"input_visibility": "private", "param_visibility": "fixed", "output_visibility": "public"}
QUICK_GRID = {"decomp": [(256, 4)], "num_inner_cols": [2], "scales": [None]}


def eval_samples(work: Path) -> np.ndarray:
    evals = np.load(work / "eval.npy")
    return evals[:4] if work.name in BIG_MODELS else evals


def _dequant(felts: list[str], scale: int) -> list[float]:
    from zkml._utils import dequantize, felt_from_le_hex

    return dequantize((felt_from_le_hex(v) for v in felts), scale)


def decode_classes(work: Path, compiled: str | Path, scale: int,
                   input_range: tuple[float, float] | None = None) -> dict[str, Any]:
    """The class each held-out row of WORK/acc_x.npy gets from ``compiled``'s witness (what a
    proof of that row would publish), -1 where the circuit refuses the row: a witness that
    fails, or (zkml) a row outside the circuit's accepted input range. {} without the file."""
    path = work / "acc_x.npy"
    if not path.exists():
        return {}
    import ezkl

    preds = []
    for x in np.load(path):
        if input_range is not None and not input_range[0] <= x.min() <= x.max() <= input_range[1]:
            preds.append(-1)
            continue
        (work / "acc.json").write_text(json.dumps({"input_data": [x.reshape(-1).tolist()]}))
        try:
            w = ezkl.gen_witness(data=str(work / "acc.json"), model=str(compiled),
                                 output=str(work / "acc_w.json"))
        except RuntimeError:  # the witness overflows a range check: this row cannot be proven
            preds.append(-1)
            continue
        preds.append(int(np.argmax(_dequant(w["outputs"][0], scale))))
    return {"decoded": {"pred": preds}}


# (a) ezkl's default flow -------------------------------------------------------------------

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
    timed = run_child("default_prove", work, str(srs))
    ok = ezkl.verify(proof_path=str(work / "default_proof.json"), settings_path=str(settings),
                     vk_path=str(vk), srs_path=str(srs))
    # accuracy on the eval samples (witness only)
    evals = eval_samples(work)
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
            "pk_bytes": pk.stat().st_size,
            **decode_classes(work, compiled, s["model_output_scales"][0])}


def child_default_prove(work: Path, srs: Path) -> dict[str, Any]:
    """Setup + witness + proof of ezkl's default circuit, alone in a fresh process."""
    import ezkl

    compiled = work / "default.compiled"
    vk, pk = work / "default_vk.key", work / "default_pk.key"
    base_rss = current_rss()
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
    rss = peak_rss()
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


# (b) zkml tuned ----------------------------------------------------------------------------

def child_tune(work: Path, quick: bool, big: bool) -> dict[str, Any]:
    import zkml
    from zkml.tuning.cached import tune_cached
    from zkml.tuning.tuner import DEFAULT_GRID, TuneTask

    meta = json.loads((work / "meta.json").read_text())
    ex = zkml.load_onnx(work / "model.onnx", np.load(work / "cal.npy")[0])
    grid = QUICK_GRID if quick else DEFAULT_GRID
    base = zkml.CompileConfig.model_validate(meta["config"])
    # LeNet-size models: each calibration and each measured proof takes minutes there.
    task = TuneTask.of(ex, np.load(work / "cal.npy"), eval_samples(work), base=base)
    cfg, report = tune_cached(task, grid=grid, measure_top=1 if (quick or big) else 2,
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
    timed = run_child("tuned_prove", work, str(srs_src))
    keys = zkml.load_artifact(zkml.Keys, work / "tuned_keys.json")
    bundle = zkml.load_bundle(work / "tuned_bundle.json")
    ok = zkml.verify(bundle, keys)
    report = evaluate(circuit, eval_samples(work))
    return {"logrows": circuit.logrows, "rows": circuit.num_rows, "compile_s": compile_s,
            **timed, "verified": ok,
            "max_abs_error": report.max_abs_error, "output_range": report.output_range,
            "argmax_agreement": report.argmax_agreement,
            "pk_bytes": Path(keys.pk_path).stat().st_size,
            **decode_classes(work, circuit.compiled_path, circuit.output_scales[0],
                             circuit.input_range)}


def child_tuned_prove(work: Path, srs_path: str) -> dict[str, Any]:
    """zkml setup + prove of the tuned circuit, alone in a fresh process."""
    os.environ["ZKML_CACHE_DIR"] = str(work / "tuned-cache")
    import zkml
    from zkml._utils import sha256_file
    from zkml.proof.srs import SrsFile

    circuit = zkml.load_artifact(zkml.Circuit, work / "tuned_circuit.json")
    srs = SrsFile(Path(srs_path), circuit.logrows, sha256_file(srs_path), "dev-unsafe")
    x = np.array(json.loads((work / "input.json").read_text())["input_data"][0])
    base_rss = current_rss()
    t0 = time.perf_counter()
    keys = zkml.setup(circuit, srs=srs)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    bundle = zkml.prove(keys, x.reshape(circuit.exported.input_shape))
    prove_s = time.perf_counter() - t0
    rss = peak_rss()
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
