"""A proven accuracy/fairness claim at scale (issue #23): commit, prove, verify, record.

    .venv/bin/python benchmarks/claims.py --samples 1000 --workers 2 --backend ray \
        --out benchmarks/results/claims.json

The breast-cancer MLP of the zoo (30-16-8-2, committed-input preset). WDBC has 569 rows, 114
held out from training: a set of N > 114 samples draws the held-out rows with replacement (a
bootstrap of the test split, each draw with its own salt and proof): a time and gas figure,
not a better accuracy estimate. The public group attribute is derived from a feature
(``size``: the standardised mean radius above 0 = "large", else "small"): WDBC has no
demographic column. Gas on the embedded EVM: commitSet + recordClaim vs N submitInference
calls (measured on ``--submit`` of them, the mean multiplied by N).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _peak_children() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def run(n: int, workers: int, backend: str, submit: int, work: Path) -> dict[str, Any]:
    import circuits
    import zkml
    from circuits.breast_cancer import load_data
    from zkml import claims
    from zkml.chain.claims import (
        commit_set_onchain,
        deploy_claim_registry,
        onchain_metrics,
        record_claim,
    )
    from zkml.chain.registry import deploy_registry, register_model, submit_inference

    _zoo, keys = circuits.prepare("breast-cancer", work, preset="committed-input")
    _, x_te, _, y_te = load_data()
    rng = np.random.default_rng(0)
    pick = np.arange(n) if n <= len(y_te) else rng.integers(0, len(y_te), n)
    rows = [{"input": x_te[i].tolist(), "label": int(y_te[i]),
             "size": "large" if x_te[i][0] > 0 else "small"} for i in pick]
    data = work / "eval.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out: dict[str, Any] = {"samples": n, "workers": workers, "backend": backend,
                           "model": "breast-cancer MLP 30-16-8-2", "logrows":
                           keys.circuit.logrows, "preset": keys.circuit.preset}
    t = time.perf_counter()
    public, private = claims.commit_set(keys, claims.read_labelled(data, group_column="size"))
    out["commit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    claim = claims.prove_claim(keys, private, work / "claim", workers=workers,
                               backend=backend)  # type: ignore[arg-type]
    out["prove_s"] = time.perf_counter() - t
    out["prove_s_per_sample"] = out["prove_s"] / n
    # a local pool's workers are this process's children; Ray's are the raylet's
    out["prove_peak_worker_bytes"] = _peak_children() if backend == "local" else None
    pkg = work / "pkg"
    zkml.publish(keys, pkg)
    t = time.perf_counter()
    v = claims.verify_claim(work / "claim", package=pkg, commitment=public)
    out["verify_s"] = time.perf_counter() - t
    assert v.valid, v.reasons
    m = claim.metrics
    out["metrics"] = {"accuracy": m.accuracy, "demographic_parity_difference":
                      m.demographic_parity_difference, "equal_opportunity_difference":
                      m.equal_opportunity_difference,
                      "groups": {g.group: {"samples": g.samples, "selection_rate":
                                           g.selection_rate, "true_positive_rate":
                                           g.true_positive_rate} for g in m.groups}}
    claim_bytes = (work / "claim" / "claim.json").read_bytes()
    proofs_bytes = sum(f.stat().st_size for f in (work / "claim" / "proofs").glob("*.bundle.json"))
    out["claim_json_bytes"], out["bundles_bytes"] = len(claim_bytes), proofs_bytes
    chain = zkml.connect()
    reg = deploy_registry(chain)
    registration = register_model(chain, reg, keys)
    creg = deploy_claim_registry(chain, reg)
    s = commit_set_onchain(chain, creg, public)
    import hashlib

    r = record_claim(chain, creg, registration.onchain_model_id, claim,
                     hashlib.sha256(claim_bytes).hexdigest())
    names, _ = onchain_metrics(m)
    gas = [submit_inference(chain, reg, registration.onchain_model_id,
                            zkml.load_bundle(work / "claim" / e.bundle)).gas_used
           for e in claim.entries[:submit]]
    out["gas"] = {"commit_set": s.gas_used, "record_claim": r.gas_used,
                  "metrics_on_chain": len(names), "claim_total": s.gas_used + r.gas_used,
                  "submit_inference_mean": float(np.mean(gas)), "submissions_measured":
                  len(gas), "n_submissions_total": float(np.mean(gas)) * n}
    out["gas"]["ratio_claim_over_submissions"] = (out["gas"]["claim_total"]
                                                  / out["gas"]["n_submissions_total"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", default="ray", choices=["local", "ray"])
    ap.add_argument("--submit", type=int, default=5, help="single submissions to measure gas")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zkml-claims-") as d:
        res = run(a.samples, a.workers, a.backend, a.submit, Path(d))
    res.update(wall_s=time.perf_counter() - t0, cpus=os.cpu_count(),
               python=platform.python_version(), date=time.strftime("%Y-%m-%d %H:%M"),
               command=" ".join(["python", *sys.argv]))
    text = json.dumps(res, indent=1, sort_keys=True)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
