"""The InferenceRegistry contract and its client, on the embedded EVM and on anvil."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

import zkml
from zkml._utils import FIELD_MODULUS
from zkml.artifacts import ModelRegistration, RegistryDeployment
from zkml.chain import registry as R

from .conftest import Anvil, Pipeline


@dataclass
class Env:
    chain: zkml.Chain
    reg: RegistryDeployment
    model: ModelRegistration
    verifier: zkml.Deployment


@pytest.fixture(scope="module")
def env(embedded: zkml.Chain, tiny: Pipeline) -> Env:
    reg = R.deploy_registry(embedded)
    verifier = zkml.deploy_verifier(embedded, zkml.build_verifier(tiny.keys))
    model = R.register_model(embedded, reg, tiny.keys, verifier, metadata_uri="zkml://tiny")
    return Env(embedded, reg, model, verifier)


def _reason(fn: object, *args: object) -> str:
    with pytest.raises(zkml.RegistryError) as e:
        fn(*args)  # type: ignore[operator]
    return e.value.reason


def _bump(b: zkml.ProofBundle, i: int, by: int) -> zkml.ProofBundle:
    """Change instance ``i``; a careful forger also makes the stored outputs match it (else
    zkml's client refuses the bundle before sending: tests/integration/test_trust.py)."""
    inst = list(b.instances)
    inst[i] = str(int(inst[i]) + by)
    bad = b.model_copy(update={"instances": inst})
    if all(int(v) < FIELD_MODULUS for v in inst):
        bad = bad.model_copy(update={"outputs": zkml.decoded_outputs(bad)})
    return bad


def _submit_raw(chain: zkml.Chain, reg: RegistryDeployment, model_id: str,
                b: zkml.ProofBundle) -> None:
    """What a submitter who bypasses zkml's client sends: only the contract judges it."""
    from zkml.chain._registry_base import contract, send

    fn = contract(chain, reg).functions.submitInference(
        bytes.fromhex(model_id[2:]), bytes.fromhex(b.proof[2:]), [int(v) for v in b.instances])
    send(chain, reg, fn, "submitInference")


def test_layout_matches_bundle(env: Env, bundle: zkml.ProofBundle) -> None:
    assert env.model.layout.num_instances == len(bundle.instances)
    assert env.model.layout.output_offset == bundle.output_instance_offset


def test_model_id_is_recomputable_from_the_verifier(env: Env) -> None:
    code = env.chain.w3.eth.get_code(env.verifier.address)
    expected = keccak(abi_encode(["bytes32", "address"], [keccak(code), env.model.owner]))
    assert env.model.onchain_model_id == "0x" + expected.hex()


def test_submit_records_and_replay_is_rejected(env: Env, tiny: Pipeline) -> None:
    b = zkml.prove(tiny.keys, tiny.zoo.test_inputs[2])
    bare = zkml.verify_onchain(env.chain, env.verifier, b)
    receipt = R.submit_inference(env.chain, env.reg, env.model.onchain_model_id, b)
    rec = R.get_record(env.chain, env.reg, receipt.inference_id)
    assert rec.decoded_outputs == b.outputs
    assert rec.outputs == b.instances[b.output_instance_offset:]
    assert rec.submitter == env.chain.account and rec.block_number == receipt.block_number
    assert bare.gas_used is not None and receipt.gas_used < 1.15 * bare.gas_used
    assert _reason(R.submit_inference, env.chain, env.reg, env.model.onchain_model_id, b) \
        == "replay"
    # a second, different proof of the same statement is not recorded either
    again = zkml.prove(tiny.keys, tiny.zoo.test_inputs[2])
    assert again.proof != b.proof and again.instances == b.instances
    assert _reason(R.submit_inference, env.chain, env.reg, env.model.onchain_model_id, again) \
        == "replay"
    assert R.check_bundle(env.chain, env.reg, env.model, b, tiny.keys).ok


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: _bump(b, b.output_instance_offset, 1), "invalid proof"),
        (lambda b: _bump(b, 0, FIELD_MODULUS), "instance out of field"),
        (lambda b: b.model_copy(update={"instances": [str(FIELD_MODULUS), *b.instances[1:]]}),
         "instance out of field"),
        (lambda b: b.model_copy(update={"instances": b.instances[:-1]}), "layout mismatch"),
        (lambda b: b.model_copy(update={"proof": b.proof[:-64]}), "invalid proof"),
    ],
    ids=["output+1", "aliased+p", "exactly-p", "short-instances", "truncated-proof"],
)
def test_tampered_submissions_rejected(env: Env, bundle: zkml.ProofBundle, mutate: object,
                                       reason: str) -> None:
    bad = mutate(bundle)  # type: ignore[operator]
    assert _reason(_submit_raw, env.chain, env.reg, env.model.onchain_model_id, bad) == reason
    # zkml's own client refuses it too (before sending, when the bundle is incoherent)
    assert _reason(R.submit_inference, env.chain, env.reg, env.model.onchain_model_id, bad) \
        in {reason, "bundle mismatch"}


def test_other_models_proof_rejected(env: Env, bundle_b: zkml.ProofBundle) -> None:
    assert _reason(R.submit_inference, env.chain, env.reg, env.model.onchain_model_id,
                   bundle_b) == "invalid proof"


def test_unknown_model(env: Env, bundle: zkml.ProofBundle) -> None:
    assert _reason(R.submit_inference, env.chain, env.reg, "0x" + "11" * 32, bundle) \
        == "unknown model"


def test_double_registration_rejected(env: Env, tiny: Pipeline) -> None:
    assert _reason(R.register_model, env.chain, env.reg, tiny.keys, env.verifier) \
        == "model already registered"


def test_non_canonical_instances_encoding(env: Env, tiny: Pipeline) -> None:
    """Calldata whose instances offset points past a decoy array: the registry and the
    verifier must judge the same (decoded) instances, and the id is the statement's."""
    b = zkml.prove(tiny.keys, tiny.zoo.test_inputs[3])
    real = [int(v) for v in b.instances]
    decoy = [(v + 1) % FIELD_MODULUS for v in real]
    proof = bytes.fromhex(b.proof[2:])
    selector = keccak(text="submitInference(bytes32,bytes,uint256[])")[:4]
    model = bytes.fromhex(env.model.onchain_model_id[2:])

    def word(n: int) -> bytes:
        return n.to_bytes(32, "big")

    def calldata(instances: list[int], gap: list[int]) -> bytes:
        # head: modelId, offset(proof), offset(instances); then proof, a gap, instances
        padded = proof + b"\0" * (-len(proof) % 32)
        proof_off = 96
        gap_blob = word(len(gap)) + b"".join(word(v) for v in gap)
        inst_off = proof_off + 32 + len(padded) + len(gap_blob)
        body = word(len(proof)) + padded + gap_blob
        body += word(len(instances)) + b"".join(word(v) for v in instances)
        return selector + model + word(proof_off) + word(inst_off) + body

    w3, sender = env.chain.w3, env.chain.account

    def send(data: bytes) -> int:
        tx = w3.eth.send_transaction({"from": sender, "to": env.reg.address, "data": data,
                                      "gas": 3_000_000})
        return int(w3.eth.wait_for_transaction_receipt(tx)["status"])

    # decoy in the gap, tampered at the pointed-to place: rejected
    try:
        assert send(calldata(decoy, real)) == 0
    except Exception as e:  # noqa: BLE001 - eth-tester raises on revert, anvil mines status 0
        assert "revert" in str(e).lower()
    # real instances at the pointed-to place, decoy in the gap: recorded as the real statement
    assert send(calldata(real, decoy)) == 1
    iid = R.inference_id(env.model.onchain_model_id, real)
    assert R.get_record(env.chain, env.reg, iid).outputs == [str(v) for v in real]
    # the canonical submission of the same statement is now a replay
    assert _reason(R.submit_inference, env.chain, env.reg, env.model.onchain_model_id, b) \
        == "replay"


def test_owner_only_and_retirement(embedded: zkml.Chain, tiny_b: Pipeline,
                                   bundle_b: zkml.ProofBundle) -> None:
    reg = R.deploy_registry(embedded)
    model = R.register_model(embedded, reg, tiny_b.keys)  # deploys its verifier
    R.submit_inference(embedded, reg, model.onchain_model_id, bundle_b)
    mallory = embedded.with_account(embedded.w3.eth.accounts[2])
    bob = embedded.with_account(embedded.w3.eth.accounts[3])
    mid = model.onchain_model_id
    assert _reason(R.retire_model, mallory, reg, mid) == "not model owner"
    assert _reason(R.transfer_model, mallory, reg, mid, mallory.account) == "not model owner"
    R.transfer_model(embedded, reg, mid, bob.account)
    assert _reason(R.retire_model, embedded, reg, mid) == "not model owner"
    R.retire_model(bob, reg, mid)
    fresh = zkml.prove(tiny_b.keys, tiny_b.zoo.test_inputs[4])
    assert _reason(R.submit_inference, embedded, reg, mid, fresh) == "retired model"
    log = R.audit_log(embedded, reg, model=mid)
    assert len(log) == 1 and log[0].model_retired  # old record stays readable, marked


def test_audit_log_lists_exactly_what_was_submitted(embedded: zkml.Chain, tiny: Pipeline
                                                    ) -> None:
    reg = R.deploy_registry(embedded)
    model = R.register_model(embedded, reg, tiny.keys)
    alice = embedded
    carol = embedded.with_account(embedded.w3.eth.accounts[4])
    bundles = [zkml.prove(tiny.keys, x) for x in tiny.zoo.test_inputs[5:8]]
    receipts = [R.submit_inference(c, reg, model.onchain_model_id, b)
                for c, b in zip([alice, carol, alice], bundles, strict=True)]
    log = R.audit_log(embedded, reg)
    assert [r.inference_id for r in log] == [r.inference_id for r in receipts]
    assert [r.decoded_outputs for r in log] == [b.outputs for b in bundles]
    assert [r.submitter for r in R.audit_log(embedded, reg, submitter=carol.account)] \
        == [carol.account]
    only_last = R.audit_log(embedded, reg, from_block=receipts[2].block_number)
    assert [r.inference_id for r in only_last] == [receipts[2].inference_id]
    # an id that is no model here is an error, never a silently empty log
    with pytest.raises(zkml.RegistryError) as e:
        R.audit_log(embedded, reg, model="0x" + "22" * 32)
    assert e.value.reason == "unknown model"


def test_registry_on_anvil(anvil: Anvil, tiny: Pipeline, bundle: zkml.ProofBundle,
                           bundle_b: zkml.ProofBundle) -> None:
    chain = zkml.connect(anvil.url)
    reg = R.deploy_registry(chain)
    model = R.register_model(chain, reg, tiny.keys)
    receipt = R.submit_inference(chain, reg, model.onchain_model_id, bundle)
    assert receipt.gas_used > 200_000
    assert _reason(R.submit_inference, chain, reg, model.onchain_model_id, bundle) == "replay"
    assert _reason(R.submit_inference, chain, reg, model.onchain_model_id,
                   _bump(bundle, 0, 1)) == "invalid proof"
    assert _reason(R.submit_inference, chain, reg, model.onchain_model_id,
                   _bump(bundle, 0, FIELD_MODULUS)) == "instance out of field"
    assert _reason(R.submit_inference, chain, reg, model.onchain_model_id, bundle_b) \
        == "invalid proof"
    log = R.audit_log(chain, reg)
    assert [r.inference_id for r in log] == [receipt.inference_id]
    assert log[0].decoded_outputs == bundle.outputs
