"""Proven claims (issue #23) on real proofs: a committed set, a claim, and every way to cheat.

Each cheat is made as an adversary would: after the edit the claim is made self-consistent
again (bundle digests, proofs root, metrics recomputed), so only the check that the proofs
and the committed root enforce can catch it.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import circuits
import zkml
from tests.integration.conftest import Anvil, Pipeline, build_pipeline
from zkml import claims
from zkml._utils import sha256_file
from zkml.claims.merkle import proof_leaf, proofs_root

N = 8


@dataclass
class Made:
    p: Pipeline
    root: Path
    public: claims.SetCommitment
    private: claims.SetOpening
    claim: claims.Claim
    package: Path
    data: Path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    root = tmp_path_factory.mktemp("claim")
    p = build_pipeline(circuits.build("tiny-mlp"), root, preset="committed-input")
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(N, 4))
    with torch.no_grad():
        y = p.zoo.model(torch.tensor(x, dtype=torch.float32)).argmax(1).numpy()
    y[0] = 1 - y[0]  # one wrong label: accuracy below 1
    data = root / "eval.jsonl"
    data.write_text("".join(json.dumps({"input": x[i].tolist(), "label": int(y[i]),
                                        "sex": "fm"[i % 2]}) + "\n" for i in range(N)))
    public, private = claims.commit_set(p.keys, claims.read_labelled(data, group_column="sex"))
    claims.write_set_opening(private, root / "set.opening.json")
    claim = claims.prove_claim(p.keys, private, root / "claim", workers=1)
    return Made(p, root, public, private, claim, root / "pkg", data)


@pytest.fixture(scope="module")
def pkg(made: Made) -> Path:
    zkml.publish(made.p.keys, made.package)
    return made.package


def test_claim_verifies_and_its_metrics_are_the_proven_outputs(made: Made, pkg: Path) -> None:
    v = claims.verify_claim(made.root / "claim", package=pkg, commitment=made.public)
    assert v.valid and v.reasons == [] and v.proofs_checked == N
    # recomputed here from the bundles alone: argmax of the outputs the instances encode
    preds, labels = [], []
    for e in made.claim.entries:
        b = zkml.load_bundle(made.root / "claim" / e.bundle)
        assert b.input_commitment == e.input_commitment
        preds.append(int(np.argmax(zkml.decoded_outputs(b))))
        labels.append(e.label)
    assert made.claim.metrics.correct == sum(a == b for a, b in zip(preds, labels, strict=True))
    assert made.claim.metrics.accuracy < 1.0  # the flipped label is counted
    assert v.metrics == made.claim.metrics
    assert [g.group for g in made.claim.metrics.groups] == ["f", "m"]


def test_the_opening_is_private_and_the_claim_folder_holds_no_feature(made: Made) -> None:
    opening = made.root / "set.opening.json"
    assert stat.S_IMODE(opening.stat().st_mode) == 0o600
    public_files = [made.root / "claim" / "claim.json",
                    *sorted((made.root / "claim" / "proofs").iterdir())]
    assert not any(f.name.endswith(".opening.json") for f in public_files)
    text = "\n".join(f.read_text() for f in public_files)
    tokens = set(re.findall(r"[0-9A-Za-z]+", text))
    for s in made.private.samples:
        for v in s.input:
            assert repr(v) not in text  # no feature value in any public file
        # whole tokens only: a 7-digit salt element occurs by chance inside long hex or
        # decimal field elements (CI saw it once), a leaked salt is a number of its own
        assert not {str(k) for k in s.salt} & tokens


def test_the_auditor_opens_every_leaf(made: Made) -> None:
    assert claims.open_set(made.public, made.private, made.claim) == []
    s0 = made.private.samples[0]
    bad = made.private.model_copy(update={"samples": [
        s0.model_copy(update={"salt": [k ^ 1 for k in s0.salt]}), *made.private.samples[1:]]})
    assert claims.open_set(made.public, bad) == [
        "sample 0: features and salt do not open its commitment"]


def _tampered(made: Made, tmp_path: Path, edit: Any) -> claims.ClaimVerification:
    """Copy the claim, let ``edit(claim_dict, folder)`` cheat, reseal it, verify it."""
    d = tmp_path / "claim"
    shutil.copytree(made.root / "claim", d)
    c = json.loads((d / "claim.json").read_text())
    edit(c, d)
    for e in c["entries"]:
        e["bundle_sha256"] = sha256_file(d / e["bundle"])
    c["samples"] = len(c["entries"])
    c["proofs_root"] = proofs_root([proof_leaf(e["index"], e["bundle_sha256"])
                                    for e in c["entries"]])
    groups = [e["group"] for e in c["entries"]]
    c["metrics"] = claims.compute_metrics([e["prediction"] for e in c["entries"]],
                                          [e["label"] for e in c["entries"]], groups,
                                          1).model_dump()
    (d / "claim.json").write_text(json.dumps(c))
    return claims.verify_claim(d, package=made.package, commitment=made.public)


def _reasons(v: claims.ClaimVerification) -> str:
    assert not v.valid
    return " | ".join(v.reasons)


def test_a_dropped_sample_is_rejected(made: Made, pkg: Path, tmp_path: Path) -> None:
    def drop(c: dict[str, Any], d: Path) -> None:  # drop a wrong prediction, renumber
        del c["entries"][0]
        for k, e in enumerate(c["entries"]):
            e["index"] = k
    r = _reasons(_tampered(made, tmp_path, drop))
    assert f"the set committed {N} samples, the claim has {N - 1}" in r
    assert "set root differs" in r


def test_a_sample_proved_twice_is_rejected(made: Made, pkg: Path, tmp_path: Path) -> None:
    def double(c: dict[str, Any], d: Path) -> None:  # sample 1's proof stands in for sample 0
        e0, e1 = c["entries"][0], c["entries"][1]
        shutil.copy(d / e1["bundle"], d / e0["bundle"])
        e0.update(input_commitment=e1["input_commitment"], prediction=e1["prediction"])
    r = _reasons(_tampered(made, tmp_path, double))
    assert "samples 0 and 1: one proof (one committed input) used twice" in r
    assert "set root differs" in r


def test_swapped_samples_are_rejected(made: Made, pkg: Path, tmp_path: Path) -> None:
    def swap(c: dict[str, Any], d: Path) -> None:  # two samples trade places (and groups)
        a, b = c["entries"][2], c["entries"][3]
        for k in ("index",):
            a[k], b[k] = b[k], a[k]
        c["entries"][2], c["entries"][3] = b, a
    assert "set root differs" in _reasons(_tampered(made, tmp_path, swap))


def test_a_label_changed_after_commitment_is_rejected(made: Made, pkg: Path,
                                                      tmp_path: Path) -> None:
    def relabel(c: dict[str, Any], d: Path) -> None:  # "fix" the wrong label: accuracy 100%
        c["entries"][0]["label"] = c["entries"][0]["prediction"]
    v = _tampered(made, tmp_path, relabel)
    assert "a sample, label or group was changed after the set was committed" in _reasons(v)


def test_a_group_changed_after_commitment_is_rejected(made: Made, pkg: Path,
                                                      tmp_path: Path) -> None:
    def regroup(c: dict[str, Any], d: Path) -> None:
        c["entries"][0]["group"] = "m" if c["entries"][0]["group"] == "f" else "f"
    assert "set root differs" in _reasons(_tampered(made, tmp_path, regroup))


def test_a_proof_of_another_model_is_rejected(made: Made, pkg: Path, tmp_path: Path,
                                              bundle: zkml.ProofBundle) -> None:
    def other(c: dict[str, Any], d: Path) -> None:
        (d / c["entries"][4]["bundle"]).write_text(bundle.model_dump_json())
    r = _reasons(_tampered(made, tmp_path, other))
    assert "sample 4: proof rejected (model_id" in r


def test_an_edited_output_is_rejected(made: Made, pkg: Path, tmp_path: Path) -> None:
    def edit_out(c: dict[str, Any], d: Path) -> None:  # flip the proven prediction of sample 0
        f = d / c["entries"][0]["bundle"]
        b = json.loads(f.read_text())
        off = b["output_instance_offset"]
        b["instances"][off], b["instances"][off + 1] = b["instances"][off + 1], \
            b["instances"][off]
        f.write_text(json.dumps(b))
        c["entries"][0]["prediction"] = 1 - c["entries"][0]["prediction"]
    assert "sample 0: proof rejected" in _reasons(_tampered(made, tmp_path, edit_out))


def test_an_edited_metric_or_prediction_is_rejected(made: Made, pkg: Path,
                                                    tmp_path: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(made.root / "claim", d)
    c = json.loads((d / "claim.json").read_text())
    c["metrics"]["accuracy"] = 1.0
    c["metrics"]["groups"][0]["selection_rate"] = 0.5
    (d / "claim.json").write_text(json.dumps(c))
    r = _reasons(claims.verify_claim(d, package=pkg))
    assert "metric accuracy: the claim says 1.0, the proofs give" in r
    assert "metric groups:" in r
    c = json.loads((made.root / "claim" / "claim.json").read_text())
    c["entries"][5]["prediction"] = 1 - c["entries"][5]["prediction"]
    (d / "claim.json").write_text(json.dumps(c))
    assert "sample 5: the claim says prediction" in _reasons(claims.verify_claim(d, package=pkg))


def test_a_bundle_path_outside_the_claim_is_refused(made: Made, pkg: Path,
                                                    tmp_path: Path) -> None:
    def escape(c: dict[str, Any], d: Path) -> None:
        shutil.copy(d / c["entries"][0]["bundle"], tmp_path / "x.json")
        c["entries"][0]["bundle"] = "../x.json"
    r = _reasons(_tampered(made, tmp_path, escape))  # a genuine proof, outside the folder
    assert "sample 0: bundle '../x.json' missing or outside the claim's folder" in r


def test_another_published_set_is_rejected(made: Made, pkg: Path) -> None:
    other = made.public.model_copy(update={"root": "0x" + "11" * 32})
    r = _reasons(claims.verify_claim(made.root / "claim", package=pkg, commitment=other))
    assert "another evaluation set" in r


def test_resume_keeps_proofs_and_replaces_a_stale_one(made: Made, tmp_path: Path) -> None:
    d = tmp_path / "c"
    shutil.copytree(made.root / "claim", d)
    stale = d / "proofs" / "sample-000003.bundle.json"
    b = json.loads(stale.read_text())
    b["input_commitment"] = "7"  # as if proved with another salt
    stale.write_text(json.dumps(b))
    kept = (d / "proofs" / "sample-000004.bundle.json").read_bytes()
    proved: list[str] = []
    c = claims.prove_claim(made.p.keys, made.private, d, workers=1,
                           on_result=lambda e, k, n: proved.append(e.input_id)
                           if e.status == "ok" else None)
    assert proved == ["sample-000003"]
    assert (d / "proofs" / "sample-000004.bundle.json").read_bytes() == kept
    assert claims.verify_claim(d, keys=made.p.keys, commitment=made.public).valid
    assert c.metrics == made.claim.metrics


def test_a_claim_needs_the_committed_input_preset(tiny: Pipeline, made: Made) -> None:
    with pytest.raises(zkml.ZkmlValueError, match="compile with `--preset committed-input`"):
        claims.commit_set(tiny.keys, claims.read_labelled(made.data))
    with pytest.raises(zkml.ZkmlValueError, match="the set was committed for model"):
        claims.prove_claim(tiny.keys, made.private, made.root / "x")


def test_cli_commit_prove_verify_open(made: Made, tmp_path: Path) -> None:
    """The CLI path a user follows, on the module's committed-input build (keys.json)."""
    from typer.testing import CliRunner

    from zkml.artifacts import save_artifact
    from zkml.cli.main import app

    d = tmp_path / "build"
    save_artifact(made.p.keys, d / "keys.json")
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, list(args), catch_exceptions=False)
        assert res.exit_code == code, res.output
        return res.stdout

    csv = tmp_path / "eval.csv"
    rows = [json.loads(line) for line in made.data.read_text().splitlines()]
    csv.write_text("a,b,c,d,sex,label\n" + "".join(
        ",".join(map(str, [*r["input"], r["sex"], r["label"]])) + "\n" for r in rows))
    s, o, c = tmp_path / "set.json", tmp_path / "set.opening.json", tmp_path / "claim"
    out = json.loads(run("claim", "commit", str(csv), "--dir", str(d), "--group-column", "sex",
                         "-o", str(s), "--opening", str(o), "--json"))
    assert out["samples"] == N and out["root"] == json.loads(s.read_text())["root"]
    run("claim", "commit", str(csv), "--dir", str(d), "-o", str(s), "--opening", str(o),
        code=2)  # never overwrites the opening of a set that may be published
    out = json.loads(run("claim", "prove", "--dir", str(d), "--opening", str(o), "-o", str(c),
                         "--workers", "1", "--json"))
    assert out["samples"] == N and out["accuracy"] == made.claim.metrics.accuracy
    v = json.loads(run("claim", "verify", str(c), "--keys", str(d / "keys.json"), "--set",
                       str(s), "--json"))
    assert v["valid"] and v["proofs_checked"] == N
    assert v["metrics"]["accuracy"] == made.claim.metrics.accuracy
    assert json.loads(run("claim", "open", str(s), str(o), "--claim", str(c), "--json"))["open"]
    # the claim of another commitment of the same data: valid alone, not for this set
    v = json.loads(run("claim", "verify", str(made.root / "claim"), "--keys",
                       str(d / "keys.json"), "--set", str(s), "--json", code=1))
    assert "the claim's set root is not the published commitment's: another evaluation " \
           "set" in v["reasons"]
    claim = json.loads((c / "claim.json").read_text())
    claim["metrics"]["accuracy"] = 1.0
    (c / "claim.json").write_text(json.dumps(claim))
    text = run("claim", "verify", str(c), "--keys", str(d / "keys.json"), code=1)
    assert "INVALID" in text and "metric accuracy: the claim says 1.0" in text


def test_the_example_runs_and_its_public_files_hold_no_private_value(tmp_path: Path) -> None:
    """examples/claim_breast_cancer.py, on 3 held-out rows: every public file it leaves
    (set commitment, claim folder, package) is scanned for the features of the PRIVATE set."""
    import subprocess
    import sys

    example = Path(__file__).resolve().parents[2] / "examples" / "claim_breast_cancer.py"
    res = subprocess.run([sys.executable, str(example), "--dir", str(tmp_path), "--limit",
                          "3"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "valid: 3 proofs" in res.stdout
    rows = (tmp_path / "eval.csv").read_text().splitlines()[1:]
    features = {v for r in rows for v in r.split(",")[:30]}
    public = [tmp_path / "set.json", *(tmp_path / "claim").rglob("*.json"),
              *(tmp_path / "package").rglob("*")]
    text = "\n".join(p.read_text(errors="ignore") for p in public if p.is_file())
    leaked = sorted(v for v in features if v.lstrip("-") in text and len(v) > 6)
    assert not leaked, f"private feature values in public files: {leaked[:5]}"
    assert stat.S_IMODE((tmp_path / "set.opening.json").stat().st_mode) == 0o600


#: anvil's second dev account: not the model's owner
OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def test_cli_on_chain_publish_record_check(made: Made, anvil: Anvil, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner publishes the set, proves, records the claim; anyone checks the file against
    the chain; a non-owner, a replay and an edited claim file are refused (exit 1)."""
    from typer.testing import CliRunner

    from zkml.artifacts import save_artifact
    from zkml.chain import registry as R
    from zkml.cli.main import app

    chain = zkml.connect(anvil.url)
    reg = R.deploy_registry(chain)
    registration = R.register_model(chain, reg, made.p.keys)
    d = tmp_path / "build"
    save_artifact(registration, d / "registration.json")
    save_artifact(reg, tmp_path / "registry.json")
    (tmp_path / "set.json").write_text(made.public.model_dump_json())
    monkeypatch.setenv("OTHER_KEY", OTHER_KEY)
    runner = CliRunner()
    creg = ["--claim-registry", str(tmp_path / "claim-registry.json"), "--rpc-url", anvil.url]

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, list(args), catch_exceptions=False)
        assert res.exit_code == code, res.output
        return res.stdout if "--json" in args else res.output

    run("claim", "deploy-registry", "--registry", str(tmp_path / "registry.json"), *creg)
    out = json.loads(run("claim", "publish-set", str(tmp_path / "set.json"), *creg, "--json"))
    assert out["set_root"] == made.public.root and out["gas_used"] > 0
    claim_dir = made.root / "claim"
    text = run("claim", "record", str(claim_dir), "--dir", str(d), *creg, "--key-env",
               "OTHER_KEY", code=1)
    assert "rejected (not model owner)" in text
    out = json.loads(run("claim", "record", str(claim_dir), "--dir", str(d), *creg, "--json"))
    assert out["claim_id"].startswith("0x")
    assert "rejected (claim already recorded)" in run("claim", "record", str(claim_dir),
                                                      "--dir", str(d), *creg, code=1)
    assert "rejected (set already committed)" in run("claim", "publish-set",
                                                     str(tmp_path / "set.json"), *creg, code=1)
    owner = chain.account
    check = ["claim", "check-onchain", "--model-id", registration.onchain_model_id,
             "--set-committer", owner, *creg]
    assert json.loads(run(*check[:2], str(claim_dir), *check[2:], "--json"))["recorded"]
    edited = tmp_path / "edited"
    shutil.copytree(claim_dir, edited)
    c = json.loads((edited / "claim.json").read_text())
    c["metrics"]["accuracy"] = 1.0
    (edited / "claim.json").write_text(json.dumps(c))
    out = json.loads(run(*check[:2], str(edited), *check[2:], "--json", code=1))
    assert not out["recorded"] and "accuracy" in out["reason"]
