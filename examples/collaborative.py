"""A collaborative model: two parties, two folders, two caches, one verified inference.

    .venv/bin/python examples/collaborative.py [--dir build/collab-demo]

Alice (a hospital) trains a breast-cancer MLP on her patients (scikit-learn's bundled WDBC
data) and keeps its first layers as a feature extractor (30 -> 16 -> 8). Bob (a lab) trains
a classifier head (8 -> 2) on the 8-number embeddings Alice shares with their labels: he
never sees her weights, she never sees his. Every step below is a separate process with the
party's own folder and zkml cache (``ZKML_CACHE_DIR``); what crosses between them:

- alice -> bob, privately: the training embeddings (to train his head), the calibration
  activations (``next_calibration.npy``) and, per inference, the hop (her proof and the
  activations as field elements);
- to everyone (``public/``): each party's draft and contribution (verifying key, settings,
  weight commitment), the agreed SRS, the assembled model and each inference's bundle.

It ends on-chain: anyone deploys the model's CollabVerifier on a local anvil node, registers
it in an InferenceRegistry and submits the bundle, which is recorded with each segment
credited to its party's address (tests/integration/test_collab.py then checks that no file in
one party's folder, or in public/, holds the other party's weights).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the address each party is credited under on-chain (declared at finalize)
OWNERS = {"alice": "0x00000000000000000000000000000000000a11ce",
          "bob": "0x0000000000000000000000000000000000000b0b"}
ZKML = str(Path(sys.executable).with_name("zkml"))


def _train_alice(out: Path, channel: Path) -> None:
    """Alice: train the whole MLP on her data, keep the extractor, share embeddings."""
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT))
    from circuits.breast_cancer import load_data, train

    x_tr, x_te, y_tr, _ = load_data()
    net = train(x_tr, y_tr)
    extractor = torch.nn.Sequential(*list(net.net)[:4]).eval()  # 30 -> 16 -> 8, ReLUs
    torch.onnx.export(extractor, (torch.zeros(1, 30),), out / "extractor.onnx", input_names=["x"],
                      output_names=["features"], dynamo=False)
    np.save(out / "calibration.npy", x_tr[:64].reshape(-1, 1, 30))
    (out / "patient.json").write_text(json.dumps(x_te[0].tolist()))
    with torch.no_grad():
        emb = extractor(torch.tensor(x_tr, dtype=torch.float32)).numpy()
    np.savez(channel / "embeddings.npz", x=emb, y=y_tr)


def _train_bob(out: Path, channel: Path) -> None:
    """Bob: train his head on the embeddings Alice shared (her weights never reach him)."""
    import numpy as np
    import torch

    data = np.load(channel / "embeddings.npz")
    torch.manual_seed(1)
    head = torch.nn.Sequential(torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    x = torch.tensor(data["x"], dtype=torch.float32)
    y = torch.tensor(data["y"], dtype=torch.long)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(x), y).backward()  # type: ignore[no-untyped-call]
        opt.step()
    torch.onnx.export(head.eval(), (torch.zeros(1, 8),), out / "head.onnx",
                      input_names=["features"], output_names=["logits"], dynamo=False)


def _srs(logrows: int, target: Path) -> None:
    """A development SRS for the agreed logrows, made once and published (UNSAFE: use the
    public Powers-of-Tau file in production)."""
    import zkml

    shutil.copyfile(zkml.dev_srs(logrows).path, target)


def run(who: Path, *args: str, python: bool = False) -> str:
    """One step, in ``who``'s folder with ``who``'s own cache."""
    env = {**os.environ, "ZKML_CACHE_DIR": str(who / "cache")}
    cmd = [sys.executable, str(Path(__file__).resolve()), *args] if python else [ZKML, *args]
    print(f"[{who.name}] " + " ".join(["zkml" if not python else "python", *args[:6]]),
          flush=True)
    res = subprocess.run(cmd, cwd=who, env=env, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"[{who.name}] failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    return res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description="A collaborative model, two parties.")
    ap.add_argument("--dir", type=Path, default=Path("build/collab-demo"))
    ap.add_argument("--no-chain", action="store_true",
                    help="stop after the off-chain verification (no anvil node)")
    ap.add_argument("step", nargs="*", help=argparse.SUPPRESS)  # a party's own python step
    a = ap.parse_args()
    if a.step:
        name, *rest = a.step
        {"train-alice": lambda: _train_alice(Path(rest[0]), Path(rest[1])),
         "train-bob": lambda: _train_bob(Path(rest[0]), Path(rest[1])),
         "srs": lambda: _srs(int(rest[0]), Path(rest[1]))}[name]()
        return
    w = a.dir.resolve()
    shutil.rmtree(w, ignore_errors=True)
    alice, bob, channel, public = (w / n for n in ("alice", "bob", "channel", "public"))
    for d in (alice, bob, channel, public):
        d.mkdir(parents=True)
    run(alice, "train-alice", str(alice), str(channel), python=True)
    run(bob, "train-bob", str(bob), str(channel), python=True)
    run(alice, "collab", "join", "extractor.onnx", "--party-dir", "zkml", "--name", "alice",
        "--position", "0", "--parties", "2", "--calibration", "calibration.npy")
    shutil.copyfile(alice / "zkml" / "draft.json", public / "alice.draft.json")
    shutil.copyfile(alice / "zkml" / "next_calibration.npy", channel / "calibration.npy")
    scale = json.loads((public / "alice.draft.json").read_text())["output_scale"]
    run(bob, "collab", "join", "head.onnx", "--party-dir", "zkml", "--name", "bob",
        "--position", "1", "--parties", "2", "--calibration", str(channel / "calibration.npy"),
        "--input-scale", str(scale))
    shutil.copyfile(bob / "zkml" / "draft.json", public / "bob.draft.json")
    logrows = json.loads(run(public, "collab", "agree", "alice.draft.json", "bob.draft.json",
                             "--json"))["logrows"]
    run(alice, "srs", str(logrows), str(public / "kzg.srs"), python=True)
    for who in (alice, bob):
        run(who, "collab", "finalize", "--party-dir", "zkml", "--logrows", str(logrows),
            "--srs", str(public / "kzg.srs"), "--owner", OWNERS[who.name])
        shutil.copytree(who / "zkml" / "contribution", public / f"{who.name}.contribution")
    run(public, "collab", "assemble", "alice.contribution", "bob.contribution", "--srs",
        "kzg.srs", "-o", "model")
    run(alice, "collab", "prove", "--party-dir", "zkml", "--model", str(public / "model"),
        "--input", "patient.json", "-o", str(channel / "hop.json"))
    run(bob, "collab", "prove", "--party-dir", "zkml", "--model", str(public / "model"),
        "--hop", str(channel / "hop.json"), "-o", str(public / "bundle.json"))
    out = json.loads(run(public, "collab", "verify", "bundle.json", "--model", "model",
                         "--srs", "kzg.srs", "--json"))
    print(f"verified: {out['valid']}; outputs (malignant, benign logits) {out['outputs']}")
    if not a.no_chain:
        _onchain(public)
    print(f"public files: {public}; alice's weights stay in {alice}, bob's in {bob}")


def _onchain(public: Path) -> None:
    """Anyone deploys the model's CollabVerifier on a local anvil node, registers it and
    submits the bundle: the registry records the inference, crediting alice and bob."""
    from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil

    os.environ.setdefault("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)  # anvil's well-known dev key
    node = Anvil()
    try:
        rpc = ["--rpc-url", node.url, "--registry", "registry.json"]
        run(public, "registry", "deploy", *rpc)
        dep = json.loads(run(public, "collab", "deploy", "--model", "model", "--srs",
                             "kzg.srs", *rpc, "--json"))
        for c in dep["contributors"]:
            print(f"  segment {c['position']} credited to {c['address']}")
        rec = json.loads(run(public, "collab", "submit", "bundle.json", "--model", "model",
                             *rpc, "--json"))
        print(f"recorded on-chain: inference {rec['inference_id']} (gas {rec['gas_used']:,})")
    finally:
        node.stop()


if __name__ == "__main__":
    main()
