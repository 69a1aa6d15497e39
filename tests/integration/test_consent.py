"""Data-owner consent (EIP-712) and InferenceRegistry.submitInferenceWithConsent, on the embedded
EVM and on anvil: every rejection is the registry's custom error, surfaced as a reason."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from typer.testing import CliRunner

import zkml
from zkml.artifacts import ModelRegistration, RegistryDeployment, save_artifact
from zkml.chain import consent as C
from zkml.chain import registry as R
from zkml.cli.main import app

from .conftest import Anvil, Pipeline, build_pipeline, tiny_zoo

#: anvil's dev keys for accounts 1 and 5 (the "test test ... junk" mnemonic; public knowledge)
ANVIL_KEYS = {1: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
              2: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
              5: "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"}
PROCESSOR, MALLORY, OWNER = 1, 2, 5


def _key(chain: zkml.Chain, i: int) -> str:
    """The private key of the chain's unlocked account i (eth-tester: i + 1; anvil: known)."""
    key = ANVIL_KEYS[i] if not chain.embedded else "0x" + (i + 1).to_bytes(32, "big").hex()
    assert Account.from_key(key).address == chain.w3.eth.accounts[i]
    return key


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return build_pipeline(tiny_zoo(), tmp_path_factory.mktemp("consent"),
                          preset="committed-input")


@pytest.fixture(scope="module")
def proofs(committed: Pipeline) -> list[zkml.ProofBundle]:
    return [zkml.prove(committed.keys, x) for x in committed.zoo.test_inputs[:4]]


@dataclass
class Env:
    chain: zkml.Chain  # the deployer and model owner
    reg: RegistryDeployment
    model: ModelRegistration
    processor: zkml.Chain
    mallory: zkml.Chain
    owner: zkml.Chain  # the data owner, as a sender (for revocations)
    owner_key: str

    def sign(self, bundle: zkml.ProofBundle, **over: Any) -> C.Consent:
        args: dict[str, Any] = {
            "chain_id": self.reg.chain_id, "registry": self.reg.address,
            "onchain_model_id": self.model.onchain_model_id,
            "input_commitment": bundle.input_commitment, "processor": self.processor.account,
            "purpose": "second opinion, clinic A", "expiry": self.now() + 3600, "nonce": None,
        }
        key = over.pop("key", self.owner_key)
        args.update(over)
        return C.sign_consent(key, **args)

    def now(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def submit(self, bundle: zkml.ProofBundle, consent: C.Consent,
               sender: zkml.Chain | None = None) -> R.SubmitReceipt:
        return C.submit_with_consent(sender or self.processor, self.reg,
                                     self.model.onchain_model_id, bundle, consent)


def _env(chain: zkml.Chain, keys: zkml.Keys) -> Env:
    reg = R.deploy_registry(chain)
    model = R.register_model(chain, reg, keys, require_consent=True)
    accounts = chain.w3.eth.accounts
    return Env(chain, reg, model, chain.with_account(accounts[PROCESSOR]),
               chain.with_account(accounts[MALLORY]), chain.with_account(accounts[OWNER]),
               _key(chain, OWNER))


@pytest.fixture(scope="module")
def env(embedded: zkml.Chain, committed: Pipeline) -> Env:
    return _env(embedded, committed.keys)


def _reason(fn: Callable[..., object], *args: object) -> str:
    with pytest.raises(zkml.RegistryError) as e:
        fn(*args)
    return e.value.reason


def _with_sig(c: C.Consent, sig: bytes) -> C.Consent:
    return c.model_copy(update={"signature": "0x" + sig.hex()})


def _signed_by(c: C.Consent, key: str) -> C.Consent:
    """The same message (owner and all) signed with another key."""
    from eth_account.messages import encode_typed_data

    sig = Account.sign_message(encode_typed_data(full_message=C.typed_data(c)), key).signature
    return _with_sig(c, bytes(sig))


def _high_s(c: C.Consent) -> C.Consent:
    """The malleable twin: (r, n - s, v ^ 1) recovers the same signer under plain ecrecover."""
    sig = c.signature_bytes()
    s = int.from_bytes(sig[32:64], "big")
    return _with_sig(c, sig[:32] + (C.SECP256K1_N - s).to_bytes(32, "big")
                     + bytes([55 - sig[64]]))


def _rejections(env: Env, b0: zkml.ProofBundle, b1: zkml.ProofBundle) -> dict[str, str]:
    """Each attack on a fresh, otherwise valid consent for b0 -> the registry's reason."""
    good = env.sign(b0)
    sig = good.signature_bytes()
    mallory_key = _key(env.chain, MALLORY)
    cases: dict[str, Callable[[], object]] = {
        "plain submit": lambda: R.submit_inference(env.processor, env.reg,
                                                   env.model.onchain_model_id, b0),
        "forged (r = 0)": lambda: env.submit(b0, _with_sig(good, bytes(32) + sig[32:])),
        "tampered purpose": lambda: env.submit(b0, good.model_copy(update={
            "purpose_hash": C.purpose_hash("marketing")})),
        "signed by someone else": lambda: env.submit(b0, _signed_by(good, mallory_key)),
        "another model": lambda: env.submit(b0, env.sign(
            b0, onchain_model_id="0x" + "ab" * 32)),
        "another input": lambda: env.submit(b0, env.sign(b1)),
        "expired": lambda: env.submit(b0, env.sign(b0, expiry=env.now() - 1)),
        "wrong chain id": lambda: env.submit(b0, env.sign(b0, chain_id=env.reg.chain_id + 1)),
        "wrong registry": lambda: env.submit(b0, env.sign(b0, registry=env.mallory.account)),
        "front-run": lambda: env.submit(b0, good, env.mallory),
        "high s": lambda: env.submit(b0, _high_s(good)),
        "v = 29": lambda: env.submit(b0, _with_sig(good, sig[:64] + bytes([29]))),
        "64-byte signature": lambda: env.submit(b0, _with_sig(good, sig[:64])),
    }
    return {name: _reason(fn) for name, fn in cases.items()}


EXPECTED = {
    "plain submit": "consent required",
    "forged (r = 0)": "invalid signature",
    "tampered purpose": "signer is not the owner",
    "signed by someone else": "signer is not the owner",
    "another model": "consent for another model",
    "another input": "commitment mismatch",
    "expired": "consent expired",
    "wrong chain id": "signer is not the owner",
    "wrong registry": "signer is not the owner",
    "front-run": "not the processor",
    "high s": "malleable signature",
    "v = 29": "bad signature",
    "64-byte signature": "bad signature",
}


def _lifecycle(env: Env, proofs: list[zkml.ProofBundle]) -> None:
    """Record with consent; then reuse, revocation and the on-chain traces."""
    b0, b1 = proofs[:2]
    good = env.sign(b0, nonce=1000)
    assert C.verify_consent(good, registry=env.reg, chain=env.chain, bundle=b0,
                            processor=env.processor.account).ok
    rec = env.submit(b0, good)
    assert C.data_owner_of(env.chain, env.reg, rec.inference_id) == env.owner.account
    [use] = C.consents_used(env.chain, env.reg, owner=env.owner.account)
    assert (use.inference_id, use.processor, use.nonce, use.consent_digest) == \
        (rec.inference_id, env.processor.account, 1000, C.consent_digest(good))
    assert use.purpose_hash == C.purpose_hash("second opinion, clinic A")
    assert R.get_record(env.chain, env.reg, rec.inference_id).submitter == env.processor.account
    assert C.consent_status(env.chain, env.reg, env.owner.account, 1000) == "used"
    check = C.verify_consent(good, registry=env.reg, chain=env.chain)
    assert not check.ok and check.problems == ["nonce: consent 1000 is used on the registry"]
    # reused: the same consent, and another consent under the spent nonce
    assert _reason(env.submit, b0, good) == "consent already used"
    assert _reason(env.submit, b1, env.sign(b1, nonce=1000)) == "consent already used"
    # revoked before use; revoking a used or a revoked nonce is refused
    C.revoke_consent(env.owner, env.reg, 1001)
    assert _reason(env.submit, b1, env.sign(b1, nonce=1001)) == "consent revoked"
    assert _reason(C.revoke_consent, env.owner, env.reg, 1000) == "consent already used"
    assert _reason(C.revoke_consent, env.owner, env.reg, 1001) == "consent revoked"
    # a revocation by someone else is theirs only: the owner's nonce stays fresh
    C.revoke_consent(env.mallory, env.reg, 1002)
    assert C.consent_status(env.chain, env.reg, env.owner.account, 1002) == "fresh"
    rec2 = env.submit(b1, env.sign(b1, nonce=1002))
    assert C.data_owner_of(env.chain, env.reg, rec2.inference_id) == env.owner.account
    # a plain model's records carry no data owner, and consent is one way
    assert C.data_owner_of(env.chain, env.reg, "0x" + "00" * 32) is None
    assert _reason(C.require_consent, env.mallory, env.reg, env.model.onchain_model_id) \
        == "not model owner"


def test_rejections_embedded(env: Env, proofs: list[zkml.ProofBundle]) -> None:
    assert _rejections(env, proofs[0], proofs[1]) == EXPECTED


def test_lifecycle_embedded(env: Env, proofs: list[zkml.ProofBundle]) -> None:
    _lifecycle(env, proofs)


def test_consent_on_anvil(anvil: Anvil, committed: Pipeline,
                          proofs: list[zkml.ProofBundle]) -> None:
    e = _env(zkml.connect(anvil.url), committed.keys)
    assert _rejections(e, proofs[0], proofs[1]) == EXPECTED
    _lifecycle(e, proofs)


def test_a_copied_proof_cannot_block_the_owners_record(env: Env,
                                                       proofs: list[zkml.ProofBundle]) -> None:
    """Mallory copies a proof (from the mempool or a published bundle), signs a consent of his
    own (himself as owner and processor) and records it first. Consented records are keyed
    by (statement, data owner): the real owner's record still goes in, under its own id, and
    each record names its signer; the same (statement, owner) is recorded once."""
    b = proofs[2]
    owner_key = _key(env.chain, 3)  # an owner of its own: the lifecycle test counts env.owner's
    owner = Account.from_key(owner_key).address
    copy = env.sign(b, key=_key(env.chain, MALLORY), processor=env.mallory.account)
    assert copy.owner == env.mallory.account
    first = env.submit(b, copy, env.mallory)
    real = env.submit(b, env.sign(b, key=owner_key))
    assert real.inference_id != first.inference_id
    statement = R.inference_id(env.model.onchain_model_id, [int(v) for v in b.instances])
    assert statement not in (real.inference_id, first.inference_id)
    assert C.data_owner_of(env.chain, env.reg, first.inference_id) == env.mallory.account
    assert C.data_owner_of(env.chain, env.reg, real.inference_id) == owner
    assert R.get_record(env.chain, env.reg, real.inference_id).submitter == \
        env.processor.account
    reg = R._contract(env.chain, env.reg)
    onchain = env.chain.call(reg.functions.consentedInferenceId(
        bytes.fromhex(statement[2:]), owner), gas=None)
    assert "0x" + bytes(onchain).hex() == real.inference_id
    # the owner's second consent for the same proof: that (statement, owner) is recorded
    assert _reason(env.submit, b, env.sign(b, key=owner_key)) == "replay"


def test_digest_matches_the_contract_and_offline_checks(env: Env, proofs: list[zkml.ProofBundle]
                                                        ) -> None:
    b0, b1 = proofs[:2]
    c = env.sign(b0, nonce=7)
    reg = R._contract(env.chain, env.reg)
    onchain = env.chain.call(reg.functions.consentDigest(c.as_tuple()), gas=None)
    assert "0x" + bytes(onchain).hex() == C.consent_digest(c)
    ok = C.verify_consent(c, registry=env.reg, bundle=b0, processor=env.processor.account)
    assert ok.ok and ok.signer == env.owner.account and ok.status is None
    assert C.verify_consent(_high_s(c)).problems[0].startswith("signature: s is in the upper")
    assert C.verify_consent(c, bundle=b1).problems[0].startswith("input commitment:")
    assert C.verify_consent(c, now=c.expiry + 1).problems[0].startswith("expiry:")
    assert C.verify_consent(c, processor=env.mallory.account).problems[0].startswith(
        "processor:")
    other = env.sign(b0, chain_id=1)
    assert C.verify_consent(other, registry=env.reg).problems[0].startswith("domain:")
    forged = c.model_copy(update={"owner": env.mallory.account})
    assert C.verify_consent(forged).problems[0].startswith("signature: signed by")
    with pytest.raises(zkml.ZkmlValueError) as e:
        C.sign_consent("0x1234nothex", chain_id=1, registry=env.reg.address,
                       onchain_model_id=env.model.onchain_model_id, input_commitment=1,
                       processor=env.processor.account, purpose="x", expiry=1)
    assert "1234nothex" not in str(e.value)


def test_consent_required_needs_an_input_commitment(embedded: zkml.Chain, tiny: Pipeline
                                                    ) -> None:
    reg = R.deploy_registry(embedded)
    assert _reason(lambda: R.register_model(embedded, reg, tiny.keys, require_consent=True)) \
        == "no input commitment"
    plain = R.register_model(embedded, reg, tiny.keys)  # private-input: no commitment
    assert _reason(C.require_consent, embedded, reg, plain.onchain_model_id) \
        == "no input commitment"


def _save(chain_name: str, figures: dict[str, Any]) -> None:
    """Merge the figures into $ZKML_CONSENT_GAS (JSON), if set."""
    out = os.environ.get("ZKML_CONSENT_GAS")
    if out:
        path = Path(out)
        data = json.loads(path.read_text()) if path.is_file() else {}
        path.write_text(json.dumps({**data, chain_name: figures}, indent=2) + "\n")


def test_plain_model_accepts_both_paths_and_gas(embedded: zkml.Chain, committed: Pipeline,
                                                proofs: list[zkml.ProofBundle]) -> None:
    """A model without the requirement records plain submissions and consented ones; the
    consented one costs the signature check, the nonce and the data owner's slot."""
    _save("embedded", _gas(embedded, committed.keys, proofs))


def test_gas_on_anvil(anvil: Anvil, committed: Pipeline, proofs: list[zkml.ProofBundle]
                      ) -> None:
    _save("anvil", _gas(zkml.connect(anvil.url), committed.keys, proofs))


def _gas(chain: zkml.Chain, keys: zkml.Keys, proofs: list[zkml.ProofBundle]) -> dict[str, Any]:
    reg = R.deploy_registry(chain)
    model = R.register_model(chain, reg, keys)
    accounts = chain.w3.eth.accounts
    e = Env(chain, reg, model, chain, chain.with_account(accounts[MALLORY]),
            chain.with_account(accounts[OWNER]), _key(chain, OWNER))
    plain = [R.submit_inference(chain, reg, model.onchain_model_id, b).gas_used
             for b in proofs[:2]]
    consented = [e.submit(b, e.sign(b)).gas_used for b in proofs[2:4]]
    assert all(r.submitter == chain.account for r in R.audit_log(chain, reg))
    assert len(C.consents_used(chain, reg)) == 2
    overhead = [c - p for p, c in zip(plain, consented, strict=True)]
    assert all(20_000 < o < 80_000 for o in overhead), overhead
    return {"registry_deploy": reg.gas_used, "plain_submit": plain,
            "consented_submit": consented, "overhead": overhead}


def test_cli_sign_verify_submit_revoke(anvil: Anvil, committed: Pipeline,
                                       proofs: list[zkml.ProofBundle], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    chain = zkml.connect(anvil.url)
    reg = R.deploy_registry(chain)
    model = R.register_model(chain, reg, committed.keys, require_consent=True)
    save_artifact(reg, tmp_path / "registry.json")
    d = tmp_path / "build"
    d.mkdir()
    save_artifact(model, d / "registration.json")
    b0, b1 = (save_artifact(b, tmp_path / f"b{i}.json") for i, b in enumerate(proofs[:2]))
    owner_key = ANVIL_KEYS[OWNER]
    monkeypatch.setenv("OWNER_KEY", owner_key)
    monkeypatch.setenv("PROC_KEY", ANVIL_KEYS[PROCESSOR])
    processor = Account.from_key(ANVIL_KEYS[PROCESSOR]).address
    runner = CliRunner()
    common = ["--registry", str(tmp_path / "registry.json")]
    rpc = ["--rpc-url", anvil.url]

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    def sign(bundle: Path, out: Path, nonce: int) -> None:
        res = run("consent", "sign", "--dir", str(d), "--bundle", str(bundle), "--processor",
                  processor, "--purpose", "audit", "--expires-in", "1h", "--nonce", str(nonce),
                  "--key-env", "OWNER_KEY", "-o", str(out), *common, "--json")
        assert res.exit_code == 0, res.output
        assert owner_key.removeprefix("0x") not in res.output + out.read_text()

    c0, c1 = tmp_path / "c0.json", tmp_path / "c1.json"
    sign(b0, c0, 1)
    sign(b1, c1, 2)
    res = run("consent", "verify", str(c0), "--bundle", str(b0), "--processor", processor,
              *rpc, *common, "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["status"] == "fresh", res.output
    res = run("consent", "verify", str(c0), "--bundle", str(b1), *common)
    assert res.exit_code == 1 and "input commitment" in res.output
    # the data owner's key cannot submit for the processor; the processor's can
    res = run("consent", "submit", str(b0), "--consent", str(c0), "--dir", str(d), *rpc,
              "--key-env", "OWNER_KEY", *common)
    assert res.exit_code == 1 and "not the processor" in res.output
    res = run("consent", "submit", str(b0), "--consent", str(c0), "--dir", str(d), *rpc,
              "--key-env", "PROC_KEY", *common, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["data_owner"] == Account.from_key(owner_key).address
    # revoke: only with the owner's key; then the consent is refused
    res = run("consent", "revoke", str(c1), *rpc, "--key-env", "PROC_KEY", *common)
    assert res.exit_code == 2 and "only its owner can revoke it" in res.output
    res = run("consent", "revoke", str(c1), *rpc, "--key-env", "OWNER_KEY", *common)
    assert res.exit_code == 0, res.output
    res = run("consent", "submit", str(b1), "--consent", str(c1), "--dir", str(d), *rpc,
              "--key-env", "PROC_KEY", *common)
    assert res.exit_code == 1 and "consent revoked" in res.output
    res = run("consent", "revoke", str(c0), *rpc, "--key-env", "OWNER_KEY", *common)
    assert res.exit_code == 1 and "consent already used" in res.output
    res = run("consent", "sign", "--model", model.onchain_model_id, "--commitment", "12",
              "--processor", processor, "--purpose", "x", "--key-env", "UNSET_KEY_VAR",
              *common)
    assert res.exit_code == 2 and "$UNSET_KEY_VAR is not set" in res.output
