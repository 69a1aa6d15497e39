"""What private, committed weights cost (issue #24): a two-party collaborative model against
the same model proved by one party with fixed weights, side by side in one run.

    .venv/bin/python benchmarks/collab.py --anvil --out benchmarks/results/collab.json

The zoo's breast-cancer MLP (30-16-8-2): party A holds 30 -> 16 -> 8 (with its ReLUs), party B
holds 8 -> 2. Flows: ``fixed``: one circuit, weights fixed in the verifying key (preset
private-input, the zoo's config); ``collab``: two segments, params ``polycommit``, boundary
committed, each party's proof on its own (sequential here: in practice each on its machine).
Per flow: rows, logrows, proof bytes, prove seconds (median of ``--runs``), verify seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _gas(chain: Any, reg: Any, keys: Any, fixed_bundle: Any, work: Path, bundle: Any
         ) -> dict[str, Any]:
    """Register and submit one inference of each flow to one InferenceRegistry."""
    from zkml.chain import collab as C
    from zkml.chain import registry as R

    fixed = R.register_model(chain, reg, keys)
    owners = chain.w3.eth.accounts[:2]
    dep = C.deploy_collab_verifier(chain, work / "model", work / "kzg.srs", owners)
    collab = C.register_collab(chain, reg, dep, work / "model")
    return {"fixed_submit": R.submit_inference(chain, reg, fixed.onchain_model_id,
                                               fixed_bundle).gas_used,
            "collab_submit": C.submit_collab(chain, reg, collab.onchain_model_id,
                                             bundle).gas_used,
            "collab_deploy_total": dep.gas_used}


def _fixed(work: Path, x_tr: np.ndarray, xs: np.ndarray, runs: int) -> dict[str, Any]:
    import circuits
    import zkml

    _zoo, keys = circuits.prepare("breast-cancer", work / "fixed", preset="private-input")
    times, verify = [], []
    bundle = None
    for i in range(runs):
        t = time.perf_counter()
        bundle = zkml.prove(keys, xs[i])
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert zkml.verify(bundle, keys)
        verify.append(time.perf_counter() - t)
    assert bundle is not None
    return {"keys": keys, "bundle": bundle,
            "logrows": keys.circuit.logrows, "rows": keys.circuit.num_rows,
            "proof_bytes": len(bytes.fromhex(bundle.proof[2:])),
            "prove_s": statistics.median(times), "verify_s": statistics.median(verify)}


def _collab(work: Path, x_tr: np.ndarray, xs: np.ndarray, runs: int) -> dict[str, Any]:
    import torch

    import circuits
    from zkml import _ezkl, collab

    zoo = circuits.build("breast-cancer")
    layers = list(zoo.model.net)
    parts = [torch.nn.Sequential(*layers[:4]).eval(), torch.nn.Sequential(*layers[4:]).eval()]
    for k, (net, n) in enumerate(zip(parts, (30, 8), strict=True)):
        torch.onnx.export(net, (torch.zeros(1, n),), work / f"s{k}.onnx", input_names=["x"],
                          output_names=["y"], dynamo=False)
    cfg = zoo.config
    d0 = collab.join(work / "s0.onnx", x_tr[:64], work / "A", name="A", position=0, parties=2,
                     config=cfg)
    d1 = collab.join(work / "s1.onnx", np.load(work / "A" / "next_calibration.npy"),
                     work / "B", name="B", position=1, parties=2,
                     input_scale=d0.output_scale, config=cfg)
    logrows = max(d0.logrows, d1.logrows)
    srs = work / "kzg.srs"
    _ezkl.gen_srs(srs, logrows)
    for p in ("A", "B"):
        collab.finalize(work / p, logrows=logrows, srs_path=srs)
    model = collab.assemble([work / "A" / "contribution", work / "B" / "contribution"],
                            work / "model", srs)
    seg: list[list[float]] = [[], []]
    verify = []
    bundle = None
    for i in range(runs):
        t = time.perf_counter()
        h0 = collab.prove_hop(work / "A", model, value=xs[i])
        seg[0].append(time.perf_counter() - t)
        t = time.perf_counter()
        h1 = collab.prove_hop(work / "B", model, hop=h0)
        seg[1].append(time.perf_counter() - t)
        bundle = collab.finish(h1, model)
        t = time.perf_counter()
        assert collab.verify_collab(bundle, work / "model", srs).valid
        verify.append(time.perf_counter() - t)
    assert bundle is not None
    rows = [_ezkl.read_settings(work / p / "settings.json").num_rows for p in ("A", "B")]
    return {"bundle": bundle, "logrows": logrows, "rows": sum(rows), "rows_per_segment": rows,
            "weight_points": [len(c.weight_commitment) for c in model.contributions],
            "proof_bytes": sum(len(bytes.fromhex(s.proof[2:])) for s in bundle.segments),
            "prove_s": statistics.median(a + b for a, b in zip(*seg, strict=True)),
            "prove_s_per_segment": [statistics.median(s) for s in seg],
            "verify_s": statistics.median(verify)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--anvil", action="store_true", help="also measure gas on a local anvil")
    a = ap.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    from circuits.breast_cancer import load_data

    x_tr, x_te, _, _ = load_data()
    res: dict[str, Any] = {"model": "breast-cancer MLP 30-16-8-2", "runs": a.runs,
                           "date": time.strftime("%Y-%m-%d %H:%M"),
                           "command": " ".join(["python", *sys.argv])}
    with tempfile.TemporaryDirectory(prefix="zkml-collab-") as d:
        fixed = _fixed(Path(d), x_tr, x_te, a.runs)
        collab = _collab(Path(d), x_tr, x_te, a.runs)
        if a.anvil:  # gas on anvil (the embedded EVM's pairings take seconds each)
            import os

            import zkml
            from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil
            from zkml.chain.registry import deploy_registry

            os.environ.setdefault("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)
            node = Anvil()
            try:
                chain = zkml.connect(node.url)
                res["gas"] = _gas(chain, deploy_registry(chain), fixed["keys"], fixed["bundle"],
                                  Path(d), collab["bundle"])
            finally:
                node.stop()
            res["gas"]["chain"] = "anvil"
        for f in (fixed, collab):
            for transient in ("keys", "bundle"):
                f.pop(transient, None)
        res["fixed"], res["collab"] = fixed, collab
    res["ratios"] = {k: res["collab"][k] / res["fixed"][k]
                     for k in ("rows", "proof_bytes", "prove_s", "verify_s")}
    text = json.dumps(res, indent=1, sort_keys=True)
    print(text)
    if a.out:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
