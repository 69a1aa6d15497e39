"""The committed-input preset's hiding input commitment (issue #15): Poseidon(input, salt) with
a fresh random salt per proof, the private opening, `zkml commitment check`, and batch
submission with each data owner's consent, on the real pipeline and the embedded EVM."""

from __future__ import annotations

import itertools
import json
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from typer.testing import CliRunner

import zkml
from zkml import _ezkl
from zkml._utils import FIELD_MODULUS
from zkml.chain import consent as C
from zkml.chain import registry as R
from zkml.chain.consent_batch import all_recorded, consent_required, submit_batch_with_consent
from zkml.cli.main import app
from zkml.model.salt import SALT_ELEMENTS
from zkml.proof.commitment import CommitmentOpening, commitment_of, load_opening

from .conftest import Anvil, Pipeline, build_pipeline, tiny_zoo

#: files the prover keeps to itself (SECURITY.md "Private files"); everything else is public
PRIVATE_NAMES = {"model.onnx", "model.compiled", "pk.key", "calibration.npy", "eval.npy"}
#: anvil's dev keys for accounts 5 and 6 (the "test test ... junk" mnemonic; public knowledge)
OWNER_KEYS = {"alice": "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
              "bob": "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"}


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return build_pipeline(tiny_zoo(), tmp_path_factory.mktemp("commitment"),
                          preset="committed-input")


def _opening_edit(o: CommitmentOpening, **update: object) -> CommitmentOpening:
    return o.model_copy(update=update)


def _salt_needles(o: CommitmentOpening) -> set[str]:
    """The salt as written anywhere: integer, the float fed to ezkl, field element LE hex."""
    out = set()
    for k in o.salt:
        out |= {str(k), repr(k / 2**o.input_scale), k.to_bytes(32, "little").hex()}
    return out


def _found(needle: str, text: str) -> bool:
    return needle in text and re.search(
        rf"(?<![0-9A-Za-z.]){re.escape(needle)}(?![0-9A-Za-z])", text) is not None


def test_same_input_twice_gives_unlinkable_commitments(committed: Pipeline, tmp_path: Path
                                                       ) -> None:
    x = committed.zoo.test_inputs[0]
    o1, o2 = tmp_path / "b1.opening.json", tmp_path / "b2.opening.json"
    b1 = zkml.prove(committed.keys, x, opening_path=o1)
    b2 = zkml.prove(committed.keys, x, opening_path=o2)
    assert zkml.verify(b1, committed.keys) and zkml.verify(b2, committed.keys)
    assert b1.outputs == b2.outputs
    assert b1.input_commitment == b1.instances[0] and b1.output_instance_offset == 1
    assert b1.input_commitment != b2.input_commitment  # same data, different commitments
    assert stat.S_IMODE(o1.stat().st_mode) == 0o600
    # each opening opens its own proof only
    assert zkml.check_commitment(b1, o1) and zkml.check_commitment(b2, o2)
    assert not zkml.check_commitment(b1, o2) and not zkml.check_commitment(b2, o1)
    op = load_opening(o1)
    assert op.input_commitment == b1.input_commitment and len(op.salt) == SALT_ELEMENTS
    # a wrong salt, an edited input: no match
    wrong_salt = _opening_edit(op, salt=[op.salt[0] ^ 1, *op.salt[1:]])
    edited = _opening_edit(op, input=[op.input[0] + 2.0 ** -op.input_scale, *op.input[1:]])
    assert not zkml.check_commitment(b1, wrong_salt)
    assert not zkml.check_commitment(b1, edited)
    # the commitment is bound by the proof: another proof's commitment breaks it
    forged = b1.model_copy(update={"instances": [b2.instances[0], *b1.instances[1:]],
                                   "input_commitment": b2.input_commitment})
    assert zkml.verify(forged, committed.keys) is False
    # the bundle carries neither the salt nor the input
    text = b1.model_dump_json()
    assert not [n for n in _salt_needles(op) if _found(n, text)]
    scale = op.input_scale
    quantised = {str(round(v * 2**scale) % FIELD_MODULUS) for v in op.input}
    assert not quantised & set(b1.instances)


def test_brute_force_over_a_small_input_space_needs_the_salt(committed: Pipeline,
                                                             tmp_path: Path) -> None:
    """All 2**4 binary inputs of the 4-input model: without the salt none matches the
    commitment (neither hashed alone, the old unsalted commitment, nor with a zero salt);
    with the salt exactly the true input does."""
    secret = [1.0, 0.0, 1.0, 1.0]
    b = zkml.prove(committed.keys, np.array([secret]), opening_path=tmp_path / "o.json")
    o = load_opening(tmp_path / "o.json")
    target = int(b.input_commitment or "0")
    scale = o.input_scale
    candidates = [list(map(float, c)) for c in itertools.product([0.0, 1.0], repeat=4)]

    def unsalted(c: list[float]) -> int:
        return _ezkl.poseidon_hash([_ezkl.float_to_felt(v, scale) for v in c])

    assert [c for c in candidates if unsalted(c) == target] == []
    assert [c for c in candidates
            if commitment_of(c, [0] * SALT_ELEMENTS, scale) == target] == []
    assert [c for c in candidates if commitment_of(c, o.salt, scale) == target] == [secret]


def test_salted_circuit_computes_what_the_model_does(committed: Pipeline, tmp_path: Path
                                                     ) -> None:
    """The wrapper slices the salt off: at equal scales, committed-input and private-input
    circuits of one model give identical outputs; the float model agrees within the report."""
    p = committed
    cfg = p.zoo.config.model_copy(update={"scales": [p.circuit.input_scale]})
    outs = {}
    for preset in ("committed-input", "private-input"):
        c = zkml.compile_model(p.exported, p.zoo.calibration, preset=preset, config=cfg)
        keys = zkml.setup(c)
        outs[preset] = [zkml.prove(keys, x).outputs for x in p.zoo.test_inputs[:3]]
        assert c.quantization.argmax_agreement == 1.0
        assert c.quantization.max_abs_error < 0.01 * c.quantization.output_range
    assert outs["committed-input"] == outs["private-input"]


def test_cli_prove_writes_a_private_opening_and_check_opens_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI flow with a fresh cache: `prove` writes X.opening.json (0600) next to the
    bundle; `commitment check` says match / no match (exit 0 / 1); no file of the build dir or
    the cache but the private ones, and no CLI output, holds the salt or the input."""
    monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / "cache"))
    d = tmp_path / "build"
    zoo = tiny_zoo()
    x = [float(v) for v in zoo.test_inputs[3].ravel()]
    inp = tmp_path / "input.json"
    inp.write_text(json.dumps([x]))
    runner = CliRunner()
    outputs = []

    def run(*args: str, code: int = 0) -> str:
        """stdout (results); stderr (progress) is kept for the leak scan."""
        res = runner.invoke(app, list(args), catch_exceptions=False)
        assert res.exit_code == code, res.output
        outputs.append(res.output)
        return res.stdout

    run("export", "tiny-mlp", "--dir", str(d))
    run("compile", "--dir", str(d), "--preset", "committed-input")
    run("setup", "--dir", str(d))
    b1, b2 = d / "b1.json", d / "b2.json"
    out = json.loads(run("prove", "--dir", str(d), str(inp), "-o", str(b1), "--json"))
    assert out["opening"] == str(d / "b1.opening.json")
    run("prove", "--dir", str(d), str(inp), "-o", str(b2), "--opening", str(d / "o2.json"))
    o1, o2 = d / "b1.opening.json", d / "o2.json"
    assert stat.S_IMODE(o1.stat().st_mode) == 0o600
    assert json.loads(b1.read_text())["input_commitment"] != \
        json.loads(b2.read_text())["input_commitment"]
    assert "match" in run("commitment", "check", "--bundle", str(b1), "--opening", str(o1))
    res = run("commitment", "check", "--bundle", str(b1), "--opening", str(o2), "--json",
              code=1)
    assert json.loads(res)["match"] is False
    assert "NO MATCH" in run("commitment", "check", "--bundle", str(b2), "--opening", str(o1),
                             code=1)
    # the leak scan: the salts and the input, in every public file and the CLI output
    openings = [load_opening(o1), load_opening(o2)]
    scale = openings[0].input_scale
    needles = set().union(*(_salt_needles(o) for o in openings))
    for v in x:
        q = round(v * 2**scale)
        needles |= {repr(v), f"{v:.6f}", (q % FIELD_MODULUS).to_bytes(32, "little").hex()}
        if abs(q) >= 1000:
            needles |= {str(q), str(q % FIELD_MODULUS)}
    files = [p for root in (d, tmp_path / "cache") for p in root.rglob("*")
             if p.is_file() and p.name not in PRIVATE_NAMES
             and not p.name.endswith("opening.json") and p != o2]
    assert {"b1.json", "b2.json", "keys.json", "circuit.json", "settings.json"} <= \
        {p.name for p in files}
    leaks = [(p.name, n) for p in files for n in needles
             if _found(n, p.read_bytes().decode("latin-1"))]
    leaks += [("cli", n) for n in needles for o in outputs if _found(n, o)]
    assert leaks == []
    assert len(needles) >= 3 * 2 * SALT_ELEMENTS
    # the scan does find them where they are: the private openings
    private = o1.read_text() + o2.read_text()
    assert all(_found(str(k), private) for o in openings for k in o.salt)


def test_batch_openings_and_submission_with_each_owners_consent(
        committed: Pipeline, embedded: zkml.Chain, tmp_path: Path) -> None:
    """The processor proves a batch; two of three owners sign a consent for their bundle's
    commitment; the batch submission records those two with their owner and records nothing
    for the third; a re-run changes nothing."""
    out = tmp_path / "batch"
    items = [(f"p{i}", committed.zoo.test_inputs[i]) for i in range(3)]
    res = zkml.prove_batch(committed.keys, items, out, workers=1)
    assert res.proved == 3
    manifest = json.loads((out / "manifest.json").read_text())
    for e in manifest["entries"]:
        assert e["opening"] == str(out / f"{e['input_id']}.opening.json")
        assert zkml.check_commitment(e["bundle"], e["opening"])
        assert stat.S_IMODE(Path(e["opening"]).stat().st_mode) == 0o600
    reg = R.deploy_registry(embedded)
    model = R.register_model(embedded, reg, committed.keys, require_consent=True)
    assert consent_required(embedded, reg, model.onchain_model_id)
    owners = {"p0": "0x" + (6).to_bytes(32, "big").hex(),
              "p1": "0x" + (7).to_bytes(32, "big").hex()}
    cdir = tmp_path / "consents"
    cdir.mkdir()
    now = int(embedded.w3.eth.get_block("latest")["timestamp"])
    for i, key in owners.items():
        bundle = zkml.load_bundle(out / f"{i}.bundle.json")
        c = C.sign_consent(key, chain_id=reg.chain_id, registry=reg.address,
                           onchain_model_id=model.onchain_model_id,
                           input_commitment=bundle.input_commitment or "",
                           processor=embedded.account, purpose="batch audit",
                           expiry=now + 3600)
        zkml.save_artifact(c, cdir / f"consent-from-{i}.json")
    statuses = submit_batch_with_consent(embedded, reg, model.onchain_model_id,
                                         out / "manifest.json", cdir)
    assert statuses["p2"] == "no consent" and not all_recorded(statuses)
    recorded = json.loads((out / "manifest.json").read_text())["entries"]
    for e in recorded:
        i = e["input_id"]
        if i in owners:
            owner = Account.from_key(owners[i]).address
            assert statuses[i] == f"recorded with the consent of {owner}"
            assert C.data_owner_of(embedded, reg, e["inference_id"]) == owner
            bundle = zkml.load_bundle(e["bundle"])
            assert R.check_bundle(embedded, reg, model, bundle, committed.keys,
                                  data_owner=owner).ok
            # the plain statement id: no record (consented records are keyed by the owner too)
            assert not R.check_bundle(embedded, reg, model, bundle, committed.keys).recorded
        else:
            assert e.get("inference_id") is None
    assert len(R.audit_log(embedded, reg)) == 2
    again = submit_batch_with_consent(embedded, reg, model.onchain_model_id,
                                      out / "manifest.json", cdir)
    assert [s.split(" with")[0] for s in again.values()] == \
        ["already recorded", "already recorded", "no consent"]
    assert len(R.audit_log(embedded, reg)) == 2


def test_cli_batch_consent_flow_on_anvil(anvil: Anvil, committed: Pipeline, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented flow: prove the batch; each owner checks their opening and signs for
    their bundle; `prove-batch --submit --consent-dir` records the consented inputs, reports
    the others (exit 1), never submits without consent, and completes on a re-run."""
    chain = zkml.connect(anvil.url)  # the processor: the anvil fixture's ZKML_PRIVATE_KEY
    reg = R.deploy_registry(chain)
    model = R.register_model(chain, reg, committed.keys, require_consent=True)
    d, out, cdir = tmp_path / "build", tmp_path / "proofs", tmp_path / "consents"
    cdir.mkdir()
    zkml.save_artifact(committed.keys, d / "keys.json")
    zkml.save_artifact(model, d / "registration.json")
    zkml.save_artifact(reg, tmp_path / "registry.json")
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(json.dumps({"id": name, "input": x.tolist()}) + "\n" for name, x
                              in zip(OWNER_KEYS, committed.zoo.test_inputs[4:6], strict=True)))
    for name, key in OWNER_KEYS.items():
        monkeypatch.setenv(f"{name.upper()}_KEY", key)
    runner = CliRunner()
    common = ["--registry", str(tmp_path / "registry.json")]
    submit = ["prove-batch", "--dir", str(d), str(inputs), "--out", str(out), "--workers", "1",
              "--submit", "--rpc-url", anvil.url, *common]

    def run(*args: str, code: int = 0) -> str:
        res = runner.invoke(app, list(args), catch_exceptions=False)
        assert res.exit_code == code, res.output
        return res.output

    def sign(name: str, opening: str, code: int = 0) -> str:
        return run("consent", "sign", "--dir", str(d), "--bundle",
                   str(out / f"{name}.bundle.json"), "--opening", str(out / opening),
                   "--processor", chain.account, "--purpose", "audit", "--key-env",
                   f"{name.upper()}_KEY", "-o", str(cdir / f"{name}.json"), *common, code=code)

    # a consent-required model: no submission without --consent-dir, before any proof
    assert "only with the data owners' consent" in run(*submit, code=2)
    assert not out.exists()
    run("prove-batch", "--dir", str(d), str(inputs), "--out", str(out), "--workers", "1")
    # alice signs for her bundle; she refuses to sign a bundle that is not of her data
    assert "does not commit to the input and salt" in sign("alice", "bob.opening.json", 2)
    sign("alice", "alice.opening.json")
    res = runner.invoke(app, [*submit, "--consent-dir", str(cdir), "--json"])
    assert res.exit_code == 1, res.output
    statuses = json.loads(res.stdout)["submitted"]
    alice = Account.from_key(OWNER_KEYS["alice"]).address
    assert statuses == {"alice": f"recorded with the consent of {alice}", "bob": "no consent"}
    assert "bob: not recorded (no consent)" in res.output
    assert len(R.audit_log(chain, reg)) == 1
    sign("bob", "bob.opening.json")
    res = runner.invoke(app, [*submit, "--consent-dir", str(cdir), "--json"])
    assert res.exit_code == 0, res.output
    statuses = json.loads(res.stdout)["submitted"]
    assert statuses["alice"].startswith("already recorded")
    assert statuses["bob"].startswith("recorded with the consent of")
    assert len(R.audit_log(chain, reg)) == 2


def test_a_circuit_compiled_without_the_salt_is_named(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A committed-input circuit from before the salted commitment (simulated: compiled with
    the salt switched off) is refused with what to do, not ezkl's reshape error."""
    import dataclasses

    from zkml import presets

    zoo = tiny_zoo()
    ex = zkml.export(zoo.model, zoo.example_input, tmp_path / "m.onnx")
    salted = presets.PRESETS["committed-input"]
    monkeypatch.setitem(presets.PRESETS, "committed-input",
                        dataclasses.replace(salted, commits_input=False))
    keys = zkml.setup(zkml.compile_model(ex, zoo.calibration, preset="committed-input",
                                         config=zoo.config))
    monkeypatch.setitem(presets.PRESETS, "committed-input", salted)
    with pytest.raises(zkml.ProveError, match=r"takes no input salt: .* Compile it again"):
        zkml.prove(keys, zoo.test_inputs[0])
