"""Security suite, trust at the edges: what a user reads is what was proven, every public file
is free of private values, and anyone can verify on their own machine.

Regression tests for the cases found by trying the landed code as a new user: edited outputs
accepted on-chain, a patient's features in keys.json, absolute paths that broke off-chain
verification elsewhere, two unrelated "model ids", stale keys used silently, calibration data
reshaped by element count, an unknown bundle format verifying as valid.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zkml
from zkml._utils import FIELD_MODULUS
from zkml.chain import registry as R

from .conftest import Pipeline
from .test_security import FIGURES_ENV, ROOT, Figures

ZKML = str(Path(sys.executable).with_name("zkml"))

#: Files the prover keeps to themselves (SECURITY.md "Private files"); every other file under
#: the build dir, the package and the cache is scanned.
PRIVATE_NAMES = {"model.onnx", "model.compiled", "pk.key", "calibration.npy", "eval.npy"}


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Figures:
    """This module's figures go to the same file as test_security's ($ZKML_SECURITY_FIGURES)."""
    target = os.environ.get(FIGURES_ENV)
    return Figures(ROOT / target if target else
                   tmp_path_factory.mktemp("trust") / "security_figures.json")


def _edited_outputs(b: zkml.ProofBundle) -> zkml.ProofBundle:
    """The attack: leave the proof and instances alone, change what the reader is shown."""
    return b.model_copy(update={"outputs": [1.0 - v for v in b.outputs]})


# 1. Outputs bound everywhere ------------------------------------------------------------

def test_edited_outputs_rejected_locally_and_on_chain(
        tiny: Pipeline, bundle: zkml.ProofBundle, embedded: zkml.Chain,
        embedded_deployment: zkml.Deployment) -> None:
    bad = _edited_outputs(bundle)
    v = zkml.verify_detailed(bad, tiny.keys)
    assert not v.valid and v.reason is not None and v.reason.startswith("outputs:")
    assert zkml.verify(bad, tiny.keys) is False
    onchain = zkml.verify_onchain(embedded, embedded_deployment, bad, measure_gas=False)
    assert not onchain.valid and onchain.reason is not None
    assert onchain.reason.startswith("outputs:")
    # the untouched bundle still passes both, and what it shows is what the instances say
    assert zkml.verify(bundle, tiny.keys)
    assert zkml.decoded_outputs(bundle) == bundle.outputs
    assert zkml.decoded_outputs(bad) == bundle.outputs


def test_edited_outputs_rejected_by_registry_and_records_show_instances(
        tiny: Pipeline, embedded: zkml.Chain, embedded_deployment: zkml.Deployment,
        figures: Figures) -> None:
    b = zkml.prove(tiny.keys, tiny.zoo.test_inputs[3])
    reg = R.deploy_registry(embedded)
    model = R.register_model(embedded, reg, tiny.keys, embedded_deployment)
    with pytest.raises(zkml.RegistryError) as e:
        R.submit_inference(embedded, reg, model.onchain_model_id, _edited_outputs(b))
    assert e.value.reason == "bundle mismatch" and "outputs" in str(e.value)
    assert R.audit_log(embedded, reg) == []  # nothing was sent
    R.submit_inference(embedded, reg, model.onchain_model_id, b)
    [record] = R.audit_log(embedded, reg)
    assert record.decoded_outputs == zkml.decoded_outputs(b)
    check = R.check_bundle(embedded, reg, model, _edited_outputs(b), tiny.keys)
    assert check.recorded and not check.outputs_match and not check.ok
    assert R.check_bundle(embedded, reg, model, b, tiny.keys).ok
    figures.record("edited outputs (instances untouched): local, verifier call, registry submit, "
            "registry check", 4, 4)


def test_verifier_contract_itself_rejects_out_of_field_instances(
        bundle: zkml.ProofBundle, embedded: zkml.Chain,
        embedded_deployment: zkml.Deployment) -> None:
    """verify_onchain refuses an aliased bundle before calling; the contract must too."""
    from zkml.chain.evm import Reverted

    c = embedded.contract(embedded_deployment.address, embedded_deployment.abi)
    proof = bytes.fromhex(bundle.proof[2:])
    aliased = [int(v) + FIELD_MODULUS for v in bundle.instances]
    rejected = 0
    try:
        rejected = int(not embedded.call(c.functions.verifyProof(proof, aliased)))
    except Reverted:
        rejected = 1
    assert rejected == 1
    assert zkml.verify_onchain(embedded, embedded_deployment,
                               bundle.model_copy(update={"instances": [str(v) for v in aliased]}),
                               measure_gas=False).valid is False


# 5. Stale and foreign artifacts ---------------------------------------------------------

def test_unknown_bundle_format_is_refused(tiny: Pipeline, bundle: zkml.ProofBundle,
                                          tmp_path: Path) -> None:
    p = tmp_path / "future.json"
    p.write_text(json.dumps({**bundle.model_dump(), "format": "zkml-proof-bundle/9"}))
    with pytest.raises(zkml.BundleError, match="prove again"):
        zkml.load_bundle(p)
    with pytest.raises(zkml.BundleError):
        zkml.verify(p, tiny.keys)
    v = zkml.verify_detailed(bundle.model_copy(update={"format": "zkml-proof-bundle/9"}),
                             tiny.keys)
    assert not v.valid and v.reason is not None and v.reason.startswith("format:")
    r = subprocess.run([ZKML, "verify", str(p), "--json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr + r.stdout
    assert "zkml-proof-bundle/9" in r.stdout + r.stderr


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 1), (2, 8), (0, 4)])
def test_calibration_of_another_shape_is_refused(tiny: Pipeline,
                                                 shape: tuple[int, ...]) -> None:
    """The tiny model takes (1, 4): (6, 4) means six samples; (2, 8) must not be reshaped."""
    if shape == (6, 4):
        from zkml.circuit.compile import as_samples

        assert as_samples(np.ones(shape), [1, 4]).shape == (6, 1, 4)
        return
    with pytest.raises(zkml.InputShapeError, match=r"\(n, 1, 4\)"):
        zkml.compile_model(tiny.exported, np.ones(shape))


def test_stale_keys_are_refused_by_the_cli(tmp_path: Path) -> None:
    d = tmp_path / "b"
    run = [ZKML]
    env = {**os.environ}
    for args in (["export", "tiny-mlp", "--dir", str(d)], ["compile", "--dir", str(d)],
                 ["setup", "--dir", str(d)]):
        assert subprocess.run(run + args, capture_output=True, env=env, timeout=300
                              ).returncode == 0, args
    inp = tmp_path / "x.json"
    inp.write_text("[[0.1, 0.2, 0.3, 0.4]]")
    assert subprocess.run([*run, "compile", "--dir", str(d), "--preset", "public"],
                          capture_output=True, timeout=300).returncode == 0
    r = subprocess.run([*run, "prove", "--dir", str(d), str(inp), "-o", str(tmp_path / "o.json")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "zkml setup --dir" in r.stderr and "preset public" in r.stderr
    assert not (tmp_path / "o.json").exists()


# 2. Publishable package, verified on another machine ------------------------------------

def _fresh_machine_verify(pkg: Path, bundle: Path, where: Path, *extra: str
                          ) -> subprocess.CompletedProcess[str]:
    """Run `zkml verify` in an empty folder with an empty cache: another machine."""
    env = {**os.environ, "ZKML_CACHE_DIR": str(where / "empty-cache")}
    return subprocess.run([ZKML, "verify", str(bundle), "--package", str(pkg), "--json",
                           *extra], capture_output=True, text=True, env=env, cwd=where,
                          timeout=300)


def test_package_verifies_on_another_machine(tiny: Pipeline, tiny_b: Pipeline,
                                             bundle: zkml.ProofBundle, bundle_b: zkml.ProofBundle,
                                             tmp_path: Path, figures: Figures) -> None:
    pkg = tmp_path / "pub" / "pkg"
    manifest = zkml.publish(tiny.keys, pkg, with_srs=True, labels=["a", "b"])
    assert manifest.vk_digest == tiny.keys.model_id and manifest.srs.included
    # relative paths only, no absolute path of this machine anywhere in the manifest
    text = (pkg / "package.json").read_text()
    assert str(Path.home()) not in text and "/tmp" not in text and str(tmp_path) not in text
    other = tmp_path / "other-machine"
    other.mkdir()
    shutil.copytree(pkg, other / "pkg")
    zkml.save_artifact(bundle, other / "bundle.json")
    zkml.save_artifact(_edited_outputs(bundle), other / "edited.json")
    zkml.save_artifact(bundle_b, other / "other-model.json")
    shutil.rmtree(tmp_path / "pub")  # nothing of the publisher's left to lean on

    ok = _fresh_machine_verify(other / "pkg", other / "bundle.json", other)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["valid"] is True
    assert json.loads(ok.stdout)["outputs"] == pytest.approx(bundle.outputs)

    edited = _fresh_machine_verify(other / "pkg", other / "edited.json", other)
    assert edited.returncode == 1 and json.loads(edited.stdout)["reason"].startswith("outputs")

    foreign = _fresh_machine_verify(other / "pkg", other / "other-model.json", other)
    assert foreign.returncode == 1
    assert json.loads(foreign.stdout)["reason"].startswith("model_id")

    vk = bytearray((other / "pkg" / "vk.key").read_bytes())
    vk[len(vk) // 2] ^= 1
    (other / "pkg" / "vk.key").write_bytes(bytes(vk))
    tampered = _fresh_machine_verify(other / "pkg", other / "bundle.json", other)
    assert tampered.returncode == 2 and "Traceback" not in tampered.stdout + tampered.stderr
    assert "does not match the package manifest" in tampered.stdout + tampered.stderr
    figures.record("bundle + package on a fresh machine: valid accepted; edited outputs, other "
            "model's bundle, tampered vk refused", 3, 3)


def test_package_without_its_dev_srs_says_how_to_get_it(tiny: Pipeline, bundle: zkml.ProofBundle,
                                                        tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    zkml.publish(tiny.keys, pkg)
    assert not (pkg / "srs").exists()
    zkml.save_artifact(bundle, tmp_path / "b.json")
    r = _fresh_machine_verify(pkg, tmp_path / "b.json", tmp_path)
    assert r.returncode == 2 and "--with-srs" in r.stdout + r.stderr


# 3. One model identity ------------------------------------------------------------------

def test_either_model_id_resolves_and_an_unknown_one_is_an_error(
        tiny: Pipeline, bundle: zkml.ProofBundle, embedded: zkml.Chain,
        embedded_deployment: zkml.Deployment) -> None:
    reg = R.deploy_registry(embedded)
    model = R.register_model(embedded, reg, tiny.keys, embedded_deployment)
    R.submit_inference(embedded, reg, model.onchain_model_id, bundle)
    by_vk = R.resolve_model(embedded, reg, tiny.keys.model_id)
    by_reg = R.resolve_model(embedded, reg, model.onchain_model_id)
    assert by_vk.form == "vk_digest" and by_reg.form == "registry_model_id"
    assert by_vk.registry_model_ids == by_reg.registry_model_ids == [model.onchain_model_id]
    assert by_reg.vk_digest == tiny.keys.model_id
    log_vk = R.audit_log(embedded, reg, model=tiny.keys.model_id)
    assert [r.inference_id for r in log_vk] == [
        r.inference_id for r in R.audit_log(embedded, reg, model=model.onchain_model_id)]
    assert len(log_vk) == 1
    for bad, reason in (("0x" + "ab" * 32, "unknown model"), ("0x73005c", "bad id"),
                        ("zzz", "bad id")):
        with pytest.raises(zkml.RegistryError) as e:
            R.audit_log(embedded, reg, model=bad)
        assert e.value.reason == reason
    with pytest.raises(zkml.RegistryError) as e:
        R.get_record(embedded, reg, "0xdeadbeef")
    assert e.value.reason == "bad id"


# 4. No private data at rest outside the prover's own files ------------------------------

def _needles(values: list[float], scale: int) -> tuple[set[str], set[bytes]]:
    text, raw = set(), set()
    for v in values:
        q = round(v * 2**scale)
        if abs(q) >= 1000:  # short integers occur everywhere by chance
            felt = q % FIELD_MODULUS
            text |= {str(q), str(felt), felt.to_bytes(32, "little").hex()}
            raw.add(felt.to_bytes(32, "little"))
        if abs(v) >= 1e-3:
            text |= {repr(v), f"{v:.6f}", f"{v:.5g}", repr(float(np.float32(v)))}
            raw |= {np.float32(v).tobytes(), np.float64(v).tobytes()}
    # a value with few digits ("1", "0.5") is everywhere by chance: only distinctive ones
    return {n for n in text if len(n.lstrip("-").replace(".", "").strip("0")) >= 4}, raw


def test_no_private_value_in_any_shared_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             figures: Figures) -> None:
    """The CLI flow writes into a build dir, a package and a fresh cache; every file there
    except the documented private ones is searched for the input, calibration samples, float
    reference outputs and weights (as floats, quantised integers and field elements, in text
    and in binary)."""
    import circuits
    from zkml.model.export import run_onnx

    cache = tmp_path / "cache"
    monkeypatch.setenv("ZKML_CACHE_DIR", str(cache))
    d, pkg = tmp_path / "build", tmp_path / "pkg"
    zoo = circuits.build("tiny-mlp")
    x = [float(v) for v in zoo.test_inputs[5].ravel()]
    inp = tmp_path / "private-input.json"
    inp.write_text(json.dumps([x]))
    steps = [["export", "tiny-mlp", "--dir", str(d)], ["compile", "--dir", str(d)],
             ["setup", "--dir", str(d)],
             ["prove", "--dir", str(d), str(inp), "-o", str(d / "bundle.json")],
             ["contract", "--dir", str(d), "--out-dir", str(d / "generated")],
             ["publish", "--dir", str(d), "--out", str(pkg), "--with-srs"],
             ["verify", str(d / "bundle.json"), "--package", str(pkg)]]
    outputs = []
    for args in steps:
        r = subprocess.run([ZKML, *args], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (args, r.stderr)
        outputs.append(r.stdout + r.stderr)
    onnx_bytes = (d / "model.onnx").read_bytes()
    cal = np.load(d / "calibration.npy")
    reference = [float(v) for v in run_onnx(onnx_bytes, np.asarray(x, np.float32).reshape(1, 4)
                                            ).ravel()]
    weights = [float(w) for p in zoo.model.parameters() for w in p.detach().ravel()]
    circuit = json.loads((d / "circuit.json").read_text())
    samples = [float(v) for v in cal[:16].ravel()] + x
    t1, r1 = _needles(samples, circuit["input_scale"])
    t2, r2 = _needles(weights, circuit["param_scale"])
    # the float reference only: quantised, it IS the public output the instances carry
    t3 = {n for n in _needles(reference, circuit["output_scales"][0])[0] if "." in n}
    needles, raw = t1 | t2 | t3, r1 | r2
    assert len(needles) > 100

    files = [p for root in (d, pkg, cache) for p in root.rglob("*")
             if p.is_file() and p.name not in PRIVATE_NAMES]
    assert {"keys.json", "circuit.json", "exported.json", "bundle.json", "package.json",
            "vk.key", "settings.json"} <= {p.name for p in files}
    leaks = []
    searched = 0
    for p in files:
        data = p.read_bytes()
        text = data.decode("latin-1")
        searched += 1
        leaks += [(str(p.relative_to(tmp_path)), n) for n in needles
                  if n in text and re.search(rf"(?<![0-9A-Za-z.]){re.escape(n)}(?![0-9A-Za-z])",
                                             text)]
        if p.suffix in {".json", ".sol", ".hex", ".txt"}:
            continue  # text: searched above as tokens
        leaks += [(str(p.relative_to(tmp_path)), n.hex()) for n in raw if n in data]
    # CLI output shows the public outputs, close to the float reference by design: search it
    # for the input, samples and weights only
    leaks += [("cli output", n) for n in t1 | t2 for o in outputs
              if re.search(rf"(?<![0-9A-Za-z.]){re.escape(n)}(?![0-9A-Za-z])", o)]
    for p in files:
        if p.suffix == ".json":
            assert "example_input" not in p.read_text() and "reference_output" not in \
                p.read_text(), p
    assert leaks == []
    figures.record("input/calibration/reference/weight values (text, quantised, field, float32/64 "
            f"bytes) searched in every shared file of build dir + package + cache "
            f"({searched} files) and CLI output", len(needles) * searched,
            len(needles) * searched - len(leaks))
