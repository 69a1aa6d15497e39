"""A proven accuracy and fairness claim, end to end, with the zkml CLI.

    .venv/bin/python examples/claim_breast_cancer.py [--dir build/claim-demo] [--limit N]

The model: the zoo's breast-cancer MLP (scikit-learn's bundled WDBC data, 30 features, label
1 = benign), compiled with the committed-input preset. The evaluation set: its 114 held-out
rows. The public group attribute is DERIVED from a feature (WDBC has no demographic column):
``size`` = "large" when the standardised mean radius is above 0, else "small"; it shows how
a group column is declared, not a real fairness audit.

Steps (each one printed as the command a user types):
1. the model owner builds the model: export, compile --preset committed-input, setup;
2. the data owner commits the labelled set: a public root (publish it first) and a PRIVATE
   opening (features, labels, salts);
3. the prover proves every sample: the claim holds the proofs and the metrics computed from
   the proven outputs;
4. anyone checks the claim with the model's verification package and the published root.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import subprocess
import sys
from pathlib import Path

ZKML = str(Path(sys.executable).with_name("zkml"))


def zkml(*args: str) -> None:
    print("$ zkml " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run([ZKML, *args], check=True)


def write_set(path: Path, limit: int | None) -> int:
    """The held-out rows as the CSV a data owner would hold: features, label, group."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from circuits.breast_cancer import load_data

    _, x_te, _, y_te = load_data()
    rows = list(zip(x_te, y_te, strict=True))[:limit]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{i}" for i in range(30)] + ["size", "label"])
        for x, y in rows:
            w.writerow([f"{v:.6f}" for v in x] + ["large" if x[0] > 0 else "small", int(y)])
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description="A proven claim on the breast-cancer MLP.")
    ap.add_argument("--dir", type=Path, default=Path("build/claim-demo"))
    ap.add_argument("--limit", type=int, default=None, help="use the first N held-out rows")
    a = ap.parse_args()
    d, b = a.dir, a.dir / "model"
    d.mkdir(parents=True, exist_ok=True)
    zkml("export", "breast-cancer", "--dir", str(b))
    zkml("compile", "--dir", str(b), "--preset", "committed-input")
    zkml("setup", "--dir", str(b))
    zkml("publish", "--dir", str(b), "--out", str(d / "package"))
    n = write_set(d / "eval.csv", a.limit)
    print(f"# {d / 'eval.csv'}: {n} labelled samples (PRIVATE: the data owner's)")
    opening = d / "set.opening.json"
    opening.unlink(missing_ok=True)  # a re-run commits afresh (the old root is unpublished)
    zkml("claim", "commit", str(d / "eval.csv"), "--dir", str(b), "--group-column", "size",
         "-o", str(d / "set.json"), "--opening", str(opening))
    zkml("claim", "prove", "--dir", str(b), "--opening", str(opening), "-o", str(d / "claim"))
    zkml("claim", "verify", str(d / "claim"), "--package", str(d / "package"), "--set",
         str(d / "set.json"))
    print(f"# publish {d / 'set.json'} (before proving), {d / 'claim'}/ and "
          f"{d / 'package'}/; keep {opening} private")


if __name__ == "__main__":
    main()
