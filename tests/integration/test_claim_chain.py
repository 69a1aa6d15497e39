"""The ClaimRegistry contract and its client (zkml.chain.claims) on the embedded EVM.

Claims and set commitments are built directly from zkml.claims.formats: the chain part needs
no proof. The helpers here are reused by the web app's claim tests (test_serve_claims.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

import zkml
from zkml.artifacts import ModelRegistration, RegistryDeployment
from zkml.chain import claims as C
from zkml.chain import registry as R
from zkml.chain._registry_base import contract, send
from zkml.claims.formats import Claim, ClaimEntry, DecisionRule, GroupRates, Metrics, SetCommitment

from .conftest import Pipeline


def root_of(label: str) -> str:
    return "0x" + hashlib.sha256(label.encode()).hexdigest()


def make_metrics(groups: tuple[str, str] = ("a", "b")) -> Metrics:
    """Ten samples, two groups; group ``groups[1]`` has no positive (its TPR is None)."""
    g1, g2 = groups
    return Metrics(
        samples=10, correct=8, accuracy=0.8, labels=[0, 1], confusion=[[5, 1], [1, 3]],
        positive_label=1,
        groups=[GroupRates(group=g1, samples=6, correct=5, positives=4, selected=4,
                           true_positives=3, accuracy=5 / 6, selection_rate=4 / 6,
                           true_positive_rate=0.75),
                GroupRates(group=g2, samples=4, correct=3, positives=0, selected=1,
                           true_positives=0, accuracy=0.75, selection_rate=0.25,
                           true_positive_rate=None)],
        demographic_parity_difference=4 / 6 - 0.25, equal_opportunity_difference=None)


def make_set(label: str, vk_digest: str, samples: int = 10) -> SetCommitment:
    return SetCommitment(root=root_of(label), samples=samples, model_id=vk_digest,
                         input_scale=7, group_attribute="site")


def make_claim(commitment: SetCommitment, metrics: Metrics | None = None,
               proofs: str = "proofs") -> Claim:
    m = metrics or make_metrics()
    groups = [g.group for g in m.groups for _ in range(g.samples)]
    entries = [ClaimEntry(index=i, input_commitment=str(1000 + i), label=i % 2,
                          group=groups[i] if i < len(groups) else None,
                          bundle=f"bundles/{i}.json", bundle_sha256=hashlib.sha256(
                              f"{proofs}{i}".encode()).hexdigest(), prediction=i % 2)
               for i in range(commitment.samples)]
    return Claim(model_id=commitment.model_id, set_root=commitment.root,
                 samples=commitment.samples, group_attribute=commitment.group_attribute,
                 decision=DecisionRule(), entries=entries,
                 proofs_root=root_of(f"{proofs}:{commitment.root}"), metrics=m)


def digest_of_claim(claim: Claim) -> str:
    return hashlib.sha256(claim.model_dump_json(indent=2).encode()).hexdigest()


@dataclass
class Env:
    chain: zkml.Chain
    registry: RegistryDeployment
    claims: RegistryDeployment
    model: ModelRegistration
    vk: str


@pytest.fixture(scope="module")
def env(embedded: zkml.Chain, tiny: Pipeline, embedded_deployment: zkml.Deployment) -> Env:
    registry = R.deploy_registry(embedded)
    model = R.register_model(embedded, registry, tiny.keys, embedded_deployment)
    claims = C.deploy_claim_registry(embedded, registry)
    return Env(embedded, registry, claims, model, tiny.keys.model_id)


def _reason(fn: object, *args: object) -> str:
    with pytest.raises(zkml.RegistryError) as e:
        fn(*args)  # type: ignore[operator]
    return e.value.reason


def test_onchain_metrics_names_and_ppm() -> None:
    names, values = C.onchain_metrics(make_metrics())
    assert names == ["accuracy", "demographic_parity_difference",
                     "selection_rate:a", "true_positive_rate:a", "accuracy:a",
                     "selection_rate:b", "accuracy:b"]
    assert values == [800000, 416667, 666667, 750000, 833333, 250000, 750000]
    assert C.onchain_metrics(make_metrics().model_copy(update={"accuracy": 0.94}))[1][0] == 940000


def test_set_committed_then_claim_recorded_and_read_back(env: Env) -> None:
    commitment = make_set("read-back", env.vk)
    sr = C.commit_set_onchain(env.chain, env.claims, commitment)
    s = C.get_onchain_set(env.chain, env.claims, commitment.root, env.chain.account)
    assert s is not None and (s.committer, s.samples, s.block, s.model_digest) == (
        env.chain.account, 10, sr.block, env.vk)
    assert 0 < sr.gas_used < 100_000
    other = env.chain.w3.eth.accounts[1]
    assert C.get_onchain_set(env.chain, env.claims, commitment.root, other) is None

    claim = make_claim(commitment)
    digest = digest_of_claim(claim)
    rc = C.record_claim(env.chain, env.claims, env.model.onchain_model_id, claim, digest)
    assert rc.block > sr.block and 0 < rc.gas_used < 400_000
    cid = C.claim_id(env.model.onchain_model_id, claim.set_root, env.chain.account,
                     claim.proofs_root)
    reg = contract(env.chain, env.claims)

    def onchain_id(committer: str) -> str:
        return "0x" + bytes(env.chain.call(reg.functions.claimIdOf(
            bytes.fromhex(env.model.onchain_model_id[2:]), bytes.fromhex(claim.set_root[2:]),
            committer, bytes.fromhex(claim.proofs_root[2:])), gas=None)).hex()

    assert rc.claim_id == cid == onchain_id(env.chain.account)
    # the committer is part of the id: the same claim on another's commitment is another
    assert C.claim_id(env.model.onchain_model_id, claim.set_root, other.lower(),
                      claim.proofs_root) == onchain_id(other) != cid

    # the event, as mined
    receipt = env.chain.w3.eth.get_transaction_receipt(rc.tx_hash)
    (ev,) = reg.events.ClaimRecorded().process_receipt(receipt)
    a = ev["args"]
    names, values = C.onchain_metrics(claim.metrics)
    assert "0x" + bytes(a["claimId"]).hex() == cid
    assert "0x" + bytes(a["modelId"]).hex() == env.model.onchain_model_id
    assert "0x" + bytes(a["setRoot"]).hex() == claim.set_root
    assert a["setCommitter"] == env.chain.account
    assert "0x" + bytes(a["proofsRoot"]).hex() == claim.proofs_root
    assert bytes(a["claimDigest"]).hex() == digest
    assert (a["claimant"], a["samples"]) == (env.chain.account, 10)
    assert (list(a["metricNames"]), list(a["metricValues"])) == (names, values)
    assert a["timestamp"] >= s.timestamp

    # the stored record
    got = C.get_onchain_claim(env.chain, env.claims, cid)
    assert (got.model_id, got.set_root, got.set_committer, got.proofs_root,
            got.claim_digest) == (env.model.onchain_model_id, claim.set_root,
                                  env.chain.account, claim.proofs_root, "0x" + digest)
    assert (got.claimant, got.samples, got.block, got.tx_hash) == (
        env.chain.account, 10, rc.block, rc.tx_hash)
    assert got.metrics == dict(zip(names, values, strict=True))
    onchain_hash = env.chain.call(reg.functions.metricsHashOf(names, values), gas=None)
    assert got.metrics_hash == C.metrics_hash(names, values) == "0x" + bytes(onchain_hash).hex()

    assert C.check_claim_onchain(env.chain, env.claims, env.model.onchain_model_id, claim,
                                 digest) is None
    assert C.check_claim_onchain(env.chain, env.claims, env.model.onchain_model_id, claim,
                                 "0x" + digest) is None


def test_claim_rejections_each_by_reason(env: Env, tiny: Pipeline,
                                         embedded_deployment: zkml.Deployment) -> None:
    mid = env.model.onchain_model_id
    commitment = make_set("rejections", env.vk)
    claim = make_claim(commitment)
    digest = digest_of_claim(claim)
    assert _reason(C.record_claim, env.chain, env.claims, mid, claim, digest) == \
        "set not committed"
    C.commit_set_onchain(env.chain, env.claims, commitment)
    assert _reason(C.commit_set_onchain, env.chain, env.claims, commitment) == \
        "set already committed"  # by this account (another may: see the front-running test)
    assert _reason(C.commit_set_onchain, env.chain, env.claims,
                   make_set("empty", env.vk, samples=0)) == "empty set"

    other = env.chain.with_account(env.chain.w3.eth.accounts[1])
    assert _reason(C.record_claim, other, env.claims, mid, claim, digest) == "not model owner"
    assert _reason(C.record_claim, env.chain, env.claims, root_of("no model"), claim,
                   digest) == "unknown model"
    fewer = claim.model_copy(update={"samples": 9})
    assert _reason(C.record_claim, env.chain, env.claims, mid, fewer, digest) == \
        "sample count mismatch"
    # the client refuses a claim about another model's vk digest before sending
    foreign = claim.model_copy(update={"model_id": "ab" * 32})
    assert _reason(C.record_claim, env.chain, env.claims, mid, foreign, digest) == \
        "model mismatch"
    # the contract refuses a claim on a set committed for another model's vk digest
    for_other = make_set("for another model", "ab" * 32)
    C.commit_set_onchain(env.chain, env.claims, for_other)
    mislabelled = make_claim(for_other).model_copy(update={"model_id": env.vk})
    assert _reason(C.record_claim, env.chain, env.claims, mid, mislabelled, digest) == \
        "set committed for another model"

    C.record_claim(env.chain, env.claims, mid, claim, digest)
    assert _reason(C.record_claim, env.chain, env.claims, mid, claim, digest) == \
        "claim already recorded"

    # a retired model: the same verifier registered by account 1, then retired
    theirs = R.register_model(other, env.registry, tiny.keys, embedded_deployment)
    R.retire_model(other, env.registry, theirs.onchain_model_id)
    later = make_set("retired", env.vk)
    C.commit_set_onchain(other, env.claims, later)
    assert _reason(C.record_claim, other, env.claims, theirs.onchain_model_id,
                   make_claim(later), digest) == "retired model"


def test_set_committed_in_the_claims_block_is_rejected(env: Env) -> None:
    """Auto-mining chains put each transaction in its own block: the embedded EVM's mining is
    paused so that the commitment and the claim are mined in one block."""
    tester = env.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    commitment = make_set("same block", env.vk)
    claim = make_claim(commitment)
    digest = digest_of_claim(claim)
    reg = contract(env.chain, env.claims)
    mid = bytes.fromhex(env.model.onchain_model_id[2:])
    names, values = C.onchain_metrics(claim.metrics)
    committer = env.chain.w3.eth.accounts[2]
    raw_claim = reg.functions.recordClaim(
        mid, bytes.fromhex(claim.set_root[2:]), committer, bytes.fromhex(claim.proofs_root[2:]),
        bytes.fromhex(digest), claim.samples, names, values)
    tester.disable_auto_mine_transactions()
    try:
        # another sender commits (anyone may; the claim names them): eth-tester keeps one
        # unmined transaction per sender
        commit_tx = reg.functions.commitSet(bytes.fromhex(commitment.root[2:]), 10,
                                            bytes.fromhex(env.vk)).transact(
            {"from": committer, "gas": 200_000})
        claim_tx = raw_claim.transact({"from": env.chain.account, "gas": 1_000_000})
        tester.mine_blocks(1)
        # why: the same call evaluated in that block (a call on "latest" runs with the latest
        # block's number) names the rule
        assert _reason(send, env.chain, env.claims, raw_claim, "recordClaim", None,
                       "latest") == "set committed in the same block"
    finally:
        tester.enable_auto_mine_transactions()
    w3 = env.chain.w3
    commit_r, claim_r = (w3.eth.get_transaction_receipt(commit_tx),
                         w3.eth.get_transaction_receipt(claim_tx))
    assert commit_r["blockNumber"] == claim_r["blockNumber"]
    assert (commit_r["status"], claim_r["status"]) == (1, 0)
    # one block later the same claim is accepted
    rc = C.record_claim(env.chain, env.claims, env.model.onchain_model_id, claim, digest,
                        set_committer=committer)
    assert rc.block > commit_r["blockNumber"]


def test_check_claim_onchain_names_what_differs(env: Env) -> None:
    mid = env.model.onchain_model_id
    commitment = make_set("check", env.vk)
    C.commit_set_onchain(env.chain, env.claims, commitment)
    claim = make_claim(commitment)
    digest = digest_of_claim(claim)
    C.record_claim(env.chain, env.claims, mid, claim, digest)
    assert C.check_claim_onchain(env.chain, env.claims, mid, claim, digest) is None

    edited = claim.model_copy(update={"metrics": claim.metrics.model_copy(
        update={"accuracy": 0.95})})
    reason = C.check_claim_onchain(env.chain, env.claims, mid, edited, digest)
    assert reason is not None and "'accuracy'" in reason and "950000" in reason
    assert "800000" in reason

    reason = C.check_claim_onchain(env.chain, env.claims, mid, claim, "11" * 32)
    assert reason is not None and "digest" in reason and digest in reason

    unrecorded = make_claim(commitment, proofs="other proofs")
    reason = C.check_claim_onchain(env.chain, env.claims, mid, unrecorded, digest)
    assert reason is not None and "no claim" in reason
    with pytest.raises(zkml.RegistryError) as e:
        C.get_onchain_claim(env.chain, env.claims, "0x1234")
    assert e.value.reason == "bad id"


def test_a_front_run_commitment_neither_blocks_nor_serves_the_owners_claim(env: Env) -> None:
    """Someone watching the mempool copies the owner's set root and commits it first, with a
    wrong sample count: that is a commitment of their own, keyed by their address. The
    owner's commitment and claim still go through, and a claim naming the copier's
    commitment is refused for its count."""
    mid, owner = env.model.onchain_model_id, env.chain.account
    copier = env.chain.with_account(env.chain.w3.eth.accounts[3])
    commitment = make_set("front-run", env.vk)
    claim = make_claim(commitment)
    digest = digest_of_claim(claim)

    first = C.commit_set_onchain(copier, env.claims, commitment.model_copy(update={"samples": 7}))
    assert _reason(C.commit_set_onchain, copier, env.claims, commitment) == \
        "set already committed"  # the same address twice: refused
    mine = C.commit_set_onchain(env.chain, env.claims, commitment)
    assert mine.block > first.block
    theirs = C.get_onchain_set(env.chain, env.claims, commitment.root, copier.account)
    ours = C.get_onchain_set(env.chain, env.claims, commitment.root, owner)
    assert theirs is not None and (theirs.samples, theirs.block) == (7, first.block)
    assert ours is not None and (ours.samples, ours.block, ours.committer) == (10, mine.block,
                                                                               owner)

    # the copier's commitment cannot carry the owner's claim
    assert _reason(lambda: C.record_claim(env.chain, env.claims, mid, claim, digest,
                                          set_committer=copier.account)) == \
        "sample count mismatch"
    rc = C.record_claim(env.chain, env.claims, mid, claim, digest)  # on the owner's own
    assert rc.claim_id == C.claim_id(mid, claim.set_root, owner, claim.proofs_root)
    assert rc.claim_id != C.claim_id(mid, claim.set_root, copier.account, claim.proofs_root)
    got = C.get_onchain_claim(env.chain, env.claims, rc.claim_id)
    assert (got.set_committer, got.claimant) == (owner, owner)
    assert C.check_claim_onchain(env.chain, env.claims, mid, claim, digest) is None
    reason = C.check_claim_onchain(env.chain, env.claims, mid, claim, digest,
                                   set_committer=copier.account)
    assert reason is not None and "no claim" in reason and copier.account in reason
    # nor can the copier claim anything for a model they do not own
    assert _reason(lambda: C.record_claim(copier, env.claims, mid, claim, digest)) == \
        "not model owner"


def test_check_claim_onchain_needs_a_committer_on_a_read_only_connection(env: Env) -> None:
    commitment = make_set("read only", env.vk)
    claim = make_claim(commitment)
    reader = env.chain.with_account("0x" + "00" * 20)  # as zkml.connect(url, read_only=True)
    reason = C.check_claim_onchain(reader, env.claims, env.model.onchain_model_id, claim,
                                   digest_of_claim(claim))
    assert reason is not None and "give set_committer" in reason
