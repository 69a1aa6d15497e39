"""The two-party collaborative model the collab tests share (test_collab.py off-chain,
test_collab_chain.py on-chain): alice (Linear 4-8 + ReLU) and bob (Linear 8-2) split a 4-8-2
MLP; a third folder holds a bob with other weights of the same shape (mallory)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zkml import _ezkl, collab
from zkml.collab.formats import CollabBundle, CollabModel, Hop

__all__ = ["World", "build_world"]


@dataclass
class World:
    root: Path
    model: CollabModel
    srs: Path
    bundles: list[CollabBundle]
    hops: list[Hop]
    mallory: Hop
    floats: list[np.ndarray]


def _export(m: torch.nn.Module, n: int, path: Path) -> None:
    torch.onnx.export(m, (torch.zeros(1, n),), path, input_names=["x"], output_names=["y"],
                      dynamo=False)


def build_world(w: Path) -> World:
    """Join, finalize and assemble the two parties (and mallory) in ``w``; two inferences."""
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU()).eval()
    b = torch.nn.Sequential(torch.nn.Linear(8, 2)).eval()
    m = torch.nn.Sequential(torch.nn.Linear(8, 2)).eval()  # mallory: bob's shape, other weights
    for net, n, name in ((a, 4, "a"), (b, 8, "b"), (m, 8, "m")):
        _export(net, n, w / f"{name}.onnx")
    cal = np.random.default_rng(0).uniform(-1, 1, (16, 4))
    da = collab.join(w / "a.onnx", cal, w / "alice", name="alice", position=0, parties=2)
    acts = np.load(w / "alice" / "next_calibration.npy")
    db = collab.join(w / "b.onnx", acts, w / "bob", name="bob", position=1, parties=2,
                     input_scale=da.output_scale)
    collab.join(w / "m.onnx", acts, w / "mallory", name="bob", position=1, parties=2,
                input_scale=da.output_scale)
    logrows = max(da.logrows, db.logrows)
    srs = w / "kzg.srs"
    _ezkl.gen_srs(srs, logrows)
    for p in ("alice", "bob", "mallory"):
        collab.finalize(w / p, logrows=logrows, srs_path=srs)
    model = collab.assemble([w / "alice" / "contribution", w / "bob" / "contribution"],
                            w / "model", srs)
    hops, bundles, floats = [], [], []
    for x in cal[:2]:
        h0 = collab.prove_hop(w / "alice", model, value=x)
        hops.append(h0)
        bundles.append(collab.finish(collab.prove_hop(w / "bob", model, hop=h0), model))
        with torch.no_grad():
            floats.append(b(a(torch.tensor(x, dtype=torch.float32)[None])).numpy().ravel())
    # mallory proves "bob's" segment with her weights: she has her own keys, not in the model
    mallory = _mallory_hop(w, model, hops[0])
    return World(w, model, srs, bundles, hops, mallory, floats)


def _mallory_hop(w: Path, model: CollabModel, hop: Hop) -> Hop:
    """Mallory's proof of segment 1 on alice's hop, made with her own keys and weights."""
    other = model.model_copy(update={"contributions": [
        model.contributions[0],
        collab.Contribution.model_validate_json(
            (w / "mallory" / "contribution" / "contribution.json").read_text())]})
    return collab.prove_hop(w / "mallory", other, hop=hop.model_copy(
        update={"model_id": other.model_id}))
