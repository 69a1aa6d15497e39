"""Security suite: tampering, aliasing, binding, leaks, secrets. Each check runs locally and
on-chain. Figures (cases / rejected) go to a temporary file, or to the file named by
$ZKML_SECURITY_FIGURES (relative to the checkout), e.g. build/security_figures.json for
SECURITY.md."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zkml
from zkml._utils import FIELD_MODULUS
from zkml.chain import registry as R
from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil

from .conftest import Pipeline, build_pipeline, tiny_zoo

ROOT = Path(__file__).resolve().parents[2]
#: names the file the figures are written to (relative to the checkout); unset: a temp file
FIGURES_ENV = "ZKML_SECURITY_FIGURES"


class Figures:
    """This module's figures, merged into the JSON file at ``path`` as each is recorded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.figures: dict[str, dict[str, int]] = {}

    def record(self, name: str, cases: int, rejected: int) -> None:
        self.figures[name] = {"cases": cases, "rejected": rejected}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.path.write_text(json.dumps({**old, **self.figures}, indent=2, sort_keys=True))


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Figures:
    target = os.environ.get(FIGURES_ENV)
    return Figures(ROOT / target if target else
                   tmp_path_factory.mktemp("security") / "security_figures.json")


@dataclass
class Node:
    chain: zkml.Chain
    verifier: zkml.Deployment
    registry: R.RegistryDeployment  # type: ignore[name-defined]
    model: zkml.artifacts.ModelRegistration


@pytest.fixture(scope="module")
def anvil_node(tiny: Pipeline) -> Iterator[Node]:
    """One anvil node for the module (tests using it are marked ``anvil``), with the verifier
    and the registry deployed; the dev key is in ZKML_PRIVATE_KEY until the module ends."""
    with pytest.MonkeyPatch.context() as mp, Anvil() as a:
        mp.setenv("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)
        chain = zkml.connect(a.url)
        verifier = zkml.deploy_verifier(chain, zkml.build_verifier(tiny.keys))
        reg = R.deploy_registry(chain)
        model = R.register_model(chain, reg, tiny.keys, verifier)
        yield Node(chain, verifier, reg, model)


def _with_proof(b: zkml.ProofBundle, raw: bytes) -> zkml.ProofBundle:
    return b.model_copy(update={"proof": "0x" + raw.hex()})


def _rejected_everywhere(b: zkml.ProofBundle, keys: zkml.Keys, node: Node) -> bool:
    local = zkml.verify(b, keys)
    chain = zkml.verify_onchain(node.chain, node.verifier, b, measure_gas=False).valid
    return not local and not chain


# 1. Proof tampering ---------------------------------------------------------------------

def test_bit_flip_in_every_proof_word_is_rejected(tiny: Pipeline, bundle: zkml.ProofBundle,
                                                  anvil_node: Node, figures: Figures) -> None:
    raw = bytes.fromhex(bundle.proof[2:])
    words = len(raw) // 32
    rejected = 0
    for w in range(words):
        flipped = bytearray(raw)
        flipped[w * 32 + (w % 32)] ^= 1 << (w % 8)  # a different byte and bit in each word
        rejected += _rejected_everywhere(_with_proof(bundle, bytes(flipped)), tiny.keys, anvil_node)
    figures.record("proof bit flip, one per 32-byte word (local + anvil)", words, rejected)
    assert rejected == words == len(raw) / 32


def test_random_bit_flips_are_rejected(tiny: Pipeline, bundle: zkml.ProofBundle,
                                       anvil_node: Node, figures: Figures) -> None:
    """Counted and recorded in the same test (no other test may depend on this one's run)."""
    seen: list[bool] = []

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def flips(data: st.DataObject) -> None:
        raw = bytearray(bytes.fromhex(bundle.proof[2:]))
        for pos in data.draw(st.lists(st.integers(0, len(raw) * 8 - 1), min_size=1,
                                      max_size=4, unique=True)):
            raw[pos // 8] ^= 1 << (pos % 8)
        rejected = _rejected_everywhere(_with_proof(bundle, bytes(raw)), tiny.keys, anvil_node)
        seen.append(rejected)
        assert rejected

    flips()
    figures.record("random multi-bit proof flips, hypothesis (local + anvil)", len(seen),
                   sum(seen))
    assert len(seen) >= 1 and all(seen)


def test_truncated_overlong_empty_proofs_rejected(tiny: Pipeline, bundle: zkml.ProofBundle,
                                                  anvil_node: Node, figures: Figures) -> None:
    raw = bytes.fromhex(bundle.proof[2:])
    variants = [raw[:n] for n in (0, 1, 31, 32, 64, len(raw) // 2, len(raw) - 32, len(raw) - 1)]
    variants += [raw + b"\0" * 32, raw + b"\x01" * 32, raw + raw, raw + b"\xff"]
    rejected = sum(_rejected_everywhere(_with_proof(bundle, v), tiny.keys, anvil_node)
                   for v in variants)
    figures.record("truncated / over-long / empty proofs (local + anvil)", len(variants),
                   rejected)
    assert rejected == len(variants)


# 2. Public instances --------------------------------------------------------------------

def _instance_variants(b: zkml.ProofBundle) -> list[list[str]]:
    inst = [int(v) for v in b.instances]
    out: list[list[int]] = []
    for i in range(len(inst)):
        for new in (inst[i] + 1, inst[i] + FIELD_MODULUS, FIELD_MODULUS,
                    (inst[i] - 1) % FIELD_MODULUS):
            out.append([*inst[:i], new, *inst[i + 1:]])
    out += [inst[:-1], [*inst, 0], [*inst, inst[-1]], []]
    return [[str(v) for v in case] for case in out]


def test_instance_tampering_rejected(tiny: Pipeline, bundle: zkml.ProofBundle,
                                     anvil_node: Node, figures: Figures) -> None:
    """Each forged bundle is made coherent where it can be (stored outputs = what the forged
    instances encode, output offset moved with a changed length), so the verifier contract
    and the registry contract are what judge it; the registry gets the raw call a submitter
    bypassing zkml's client would send."""
    from zkml.chain._registry_base import contract, send

    cases = _instance_variants(bundle)
    n_out = len(bundle.outputs)
    rejected = 0
    for inst in cases:
        bad = bundle.model_copy(update={"instances": inst,
                                        "output_instance_offset": max(len(inst) - n_out, 0)})
        if all(int(v) < FIELD_MODULUS for v in inst) and len(inst) >= n_out:
            bad = bad.model_copy(update={"outputs": zkml.decoded_outputs(bad)})
        ok_registry = True
        fn = contract(anvil_node.chain, anvil_node.registry).functions.submitInference(
            bytes.fromhex(anvil_node.model.onchain_model_id[2:]),
            bytes.fromhex(bad.proof[2:]), [int(v) for v in inst])
        try:
            send(anvil_node.chain, anvil_node.registry, fn, "submitInference")
        except zkml.RegistryError as e:
            ok_registry = False
            assert e.reason in {"invalid proof", "instance out of field", "layout mismatch"}
        rejected += _rejected_everywhere(bad, tiny.keys, anvil_node) and not ok_registry
    figures.record("instance +1, -1, +p, =p, wrong length (local + verifier + registry on "
                   "anvil)", len(cases), rejected)
    assert rejected == len(cases)


def test_out_of_field_instance_is_never_reduced(tiny: Pipeline, bundle: zkml.ProofBundle
                                                ) -> None:
    aliased = [str(int(v) + FIELD_MODULUS) for v in bundle.instances]
    bad = bundle.model_copy(update={"instances": aliased})
    assert zkml.verify(bad, tiny.keys) is False
    # the registry reports the field check itself, not an opaque proof failure
    assert R.instance_layout(tiny.keys).num_instances == len(aliased)


# 3. Model binding, per preset -----------------------------------------------------------

@pytest.mark.parametrize("preset", ["private-input", "committed-input", "public"])
def test_other_weights_rejected_per_preset(preset: str, tmp_path: Path, anvil_node: Node,
                                           figures: Figures) -> None:
    a = build_pipeline(tiny_zoo(0), tmp_path / "a", preset=preset)
    b = build_pipeline(tiny_zoo(1), tmp_path / "b", preset=preset)
    assert zkml.PRESETS[preset].binds_model
    x = a.zoo.test_inputs[0]
    proof_b = zkml.prove(b.keys, x)
    assert zkml.verify(proof_b, b.keys)
    relabelled = proof_b.model_copy(update={"model_id": a.keys.model_id,
                                            "settings_digest": a.circuit.settings_digest})
    local = zkml.verify(relabelled, a.keys)
    verifier_a = zkml.deploy_verifier(anvil_node.chain, zkml.build_verifier(a.keys))
    onchain = zkml.verify_onchain(anvil_node.chain, verifier_a, relabelled).valid
    # another owner: the same verifier may already be registered by the fixture's account
    owner = anvil_node.chain.with_account(anvil_node.chain.w3.eth.accounts[5])
    reg_model = R.register_model(owner, anvil_node.registry, a.keys, verifier_a)
    with pytest.raises(zkml.RegistryError) as e:
        R.submit_inference(anvil_node.chain, anvil_node.registry, reg_model.onchain_model_id,
                           proof_b)
    assert e.value.reason == "invalid proof"
    assert not local and not onchain
    figures.record(f"model B's proof for model A, preset {preset} (local, verifier, "
                   "registry)", 3, 3)


def test_private_params_do_not_bind_and_are_refused(tmp_path: Path) -> None:
    """Why zkml refuses param visibility 'private' by default: it really does not bind."""
    with pytest.raises(zkml.UnboundModelError):
        zkml.compile_model(tiny_zoo(0).model and zkml.export(
            tiny_zoo(0).model, tiny_zoo(0).example_input, tmp_path / "m.onnx"),
            tiny_zoo(0).calibration, config=zkml.CompileConfig(param_visibility="private"))
    cfg = zkml.CompileConfig(param_visibility="private", allow_unbound_model=True)
    pipes = []
    for seed in (0, 1):
        zoo = tiny_zoo(seed)
        ex = zkml.export(zoo.model, zoo.example_input, tmp_path / f"u{seed}.onnx")
        pipes.append(zkml.setup(zkml.compile_model(ex, zoo.calibration, config=cfg)))
    ka, kb = pipes
    proof_b = zkml.prove(kb, tiny_zoo(1).test_inputs[0])
    relabelled = proof_b.model_copy(update={"model_id": ka.model_id,
                                            "settings_digest": ka.circuit.settings_digest})
    # same verifying key for different weights: B's proof passes as A's
    assert ka.model_id == kb.model_id
    assert zkml.verify(relabelled, ka) is True


# 5. Privacy: nothing private in public artifacts ----------------------------------------

def _needles(values: list[float], scale: int) -> set[str]:
    out = set()
    for v in values:
        q = round(v * 2**scale)
        if abs(q) >= 1000:  # short integers occur everywhere by chance
            felt = q % FIELD_MODULUS
            out |= {str(q), str(felt), felt.to_bytes(32, "little").hex()}
        if abs(v) >= 1e-3:
            out |= {repr(v), f"{v:.6f}", f"{v:.5g}"}
    return out


def test_no_private_value_in_public_artifacts(tiny: Pipeline, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture,
                                              capfd: pytest.CaptureFixture[str],
                                              figures: Figures) -> None:
    import logging

    from typer.testing import CliRunner

    from zkml.cli.main import app

    caplog.set_level(logging.DEBUG)
    x = [float(v) for v in tiny.zoo.test_inputs[6].ravel()]
    inp = tmp_path / "secret_input.json"
    inp.write_text(json.dumps([x]))
    bundle_path = tmp_path / "bundle.json"
    keys_dir = tmp_path / "d"
    keys_dir.mkdir()
    zkml.save_artifact(tiny.keys, keys_dir / "keys.json")
    runner = CliRunner()
    res = runner.invoke(app, ["prove", "--dir", str(keys_dir), str(inp), "-o", str(bundle_path)])
    res2 = runner.invoke(app, ["verify", str(bundle_path)])
    assert res.exit_code == 0 and res2.exit_code == 0
    contract = zkml.build_verifier(tiny.keys)
    public = {
        "bundle": bundle_path.read_text(),
        "settings": Path(tiny.circuit.settings_path).read_text(),
        "verifier contract": Path(contract.sol_path).read_text(),
        "cli output": res.output + res2.output,
        "logs": caplog.text + "".join(capfd.readouterr()),
    }
    weights = [float(w) for p in tiny.zoo.model.parameters() for w in p.detach().ravel()]
    needles = _needles(x, tiny.circuit.input_scale) | _needles(weights, tiny.circuit.param_scale)
    assert len(needles) > 20
    # whole tokens only: a 4-digit number inside a hex proof is not a leak
    leaks = [(name, n) for name, text in public.items() for n in needles
             if re.search(rf"(?<![0-9A-Za-z.]){re.escape(n)}(?![0-9A-Za-z])", text)]
    assert leaks == []
    figures.record("input/weight values (float, quantised, field element) searched in "
                   "bundle, settings, verifier, CLI output, logs", len(needles) * len(public),
                   len(needles) * len(public) - len(leaks))


# 9. Secrets -----------------------------------------------------------------------------

def test_private_key_never_leaks(tiny: Pipeline, tmp_path: Path, anvil_node: Node,
                                 caplog: pytest.LogCaptureFixture, figures: Figures,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from typer.testing import CliRunner

    from zkml.cli.main import app

    caplog.set_level(logging.DEBUG)
    url = anvil_node.chain.label
    d = tmp_path / "d"
    d.mkdir()
    zkml.save_artifact(tiny.keys, d / "keys.json")
    zkml.save_artifact(zkml.build_verifier(tiny.keys), d / "verifier.json")
    runner = CliRunner()
    outs = [
        runner.invoke(app, ["deploy", "--dir", str(d), "--rpc-url", url]),
        runner.invoke(app, ["registry", "deploy", "--rpc-url", url, "--registry",
                            str(tmp_path / "reg.json")]),
        runner.invoke(app, ["registry", "register", "--dir", str(d), "--rpc-url", url,
                            "--registry", str(tmp_path / "reg.json")]),
    ]
    assert all(o.exit_code == 0 for o in outs), [o.output for o in outs]
    # a wrong key in the environment: the error must not echo it
    monkeypatch.setenv("ZKML_BAD_KEY", ANVIL_DEV_KEY[:-2] + "zz")
    bad = runner.invoke(app, ["deploy", "--dir", str(d), "--rpc-url", url, "--key-env",
                              "ZKML_BAD_KEY"])
    assert bad.exit_code == 2
    with pytest.raises(zkml.ChainError) as e:
        zkml.connect(url, key_env="ZKML_BAD_KEY")
    texts = [o.output for o in [*outs, bad]] + [caplog.text, str(e.value), repr(e.value),
                                               repr(anvil_node.chain)]
    texts += [p.read_text() for p in [*d.glob("*.json"), *tmp_path.glob("*.json")]]
    key = ANVIL_DEV_KEY.removeprefix("0x")
    forms = {key, key.upper(), key[:-2] + "zz", key[8:40]}
    hits = [t for t in texts for f in forms if f in t]
    assert hits == []
    figures.record("private key forms searched in CLI output, logs, errors, artifacts",
                   len(texts) * len(forms), len(texts) * len(forms) - len(hits))
