"""Proven model claims on-chain (verifier_contracts/ClaimRegistry.sol) and their client.

An evaluation set's Merkle root is committed first (:func:`commit_set_onchain`), with its
sample count and the vk digest of the model it is for, under the sender's address; in a later
block the model's owner records the claim on that (root, committer) commitment: the root over
its proofs, the claim file's sha256 and its metrics in parts per million
(:func:`record_claim`). :func:`check_claim_onchain` says whether a claim file is what the chain
holds. The contract checks who claims and when; the proofs and the metrics' arithmetic are
checked off-chain, from the claim file.

Commitments are keyed by (root, committer) so that copying a root seen in the mempool gives the
copier a commitment of their own: it cannot take or spoil the real committer's, and a claim
names the committer it relies on (``set_committer``, by default the sender).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from zkml._progress import step
from zkml.artifacts import RegistryDeployment
from zkml.chain._registry_base import compiled as _compiled
from zkml.chain._registry_base import contract as _contract
from zkml.chain._registry_base import send as _send
from zkml.chain.evm import Chain, Reverted
from zkml.claims.formats import Claim, Metrics, SetCommitment
from zkml.errors import ChainError, RegistryError, ZkmlValueError

__all__ = ["deploy_claim_registry", "commit_set_onchain", "onchain_metrics", "metrics_hash",
           "claim_id", "record_claim", "get_onchain_set", "get_onchain_claim",
           "check_claim_onchain", "SetReceipt", "ClaimReceipt", "OnchainSet", "OnchainClaim",
           "PPM"]

#: Metric values go on-chain as integers in parts per million (0.94 -> 940000).
PPM = 1_000_000
_INT64 = 2**63


@dataclass(frozen=True)
class SetReceipt:
    set_root: str
    tx_hash: str
    gas_used: int
    block: int


@dataclass(frozen=True)
class ClaimReceipt:
    claim_id: str
    tx_hash: str
    gas_used: int
    block: int


@dataclass(frozen=True)
class OnchainSet:
    """An evaluation set as one committer committed it in the ClaimRegistry."""

    set_root: str
    committer: str
    samples: int
    block: int
    timestamp: int
    #: the vk digest (64 hex, no 0x) of the model the set was committed for
    model_digest: str


@dataclass(frozen=True)
class OnchainClaim:
    """A recorded claim: the stored record and the metrics its ``ClaimRecorded`` event carries
    (name -> parts per million, in the order recorded)."""

    claim_id: str
    model_id: str
    set_root: str
    set_committer: str
    proofs_root: str
    claim_digest: str
    metrics_hash: str
    claimant: str
    samples: int
    block: int
    timestamp: int
    metrics: dict[str, int]
    tx_hash: str


def _b32(value: str, what: str) -> bytes:
    raw = value.strip().lower().removeprefix("0x")
    if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        raise ZkmlValueError(f"{what} {value[:80]!r} is not 32 bytes of hex (0x + 64 hex).")
    return bytes.fromhex(raw)


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex().removeprefix("0x")


def _address(value: str, what: str) -> str:
    try:
        return str(to_checksum_address(value.strip()))
    except (ValueError, TypeError, AttributeError) as e:
        raise ZkmlValueError(f"{what} {str(value)[:80]!r} is not an address (0x + 40 hex)."
                             ) from e


def _committer(chain: Chain, set_committer: str | None) -> str:
    """``set_committer``, or the sending account; never the zero address (the account of a
    read-only connection)."""
    who = _address(set_committer or chain.account, "set committer")
    if int(who, 16) == 0:
        raise ZkmlValueError("no set committer: give set_committer (a read-only connection "
                             "has no account of its own).")
    return who


def _receipt(receipt: Any) -> tuple[str, int, int]:
    return (_hex(receipt["transactionHash"]), int(receipt["gasUsed"]),
            int(receipt["blockNumber"]))


def deploy_claim_registry(chain: Chain, registry: RegistryDeployment) -> RegistryDeployment:
    """Compile (pinned solc, cached) and deploy a ClaimRegistry over ``registry`` (the
    InferenceRegistry whose models may claim)."""
    if registry.chain_id != chain.chain_id:
        raise ChainError(f"the registry is on chain {registry.chain_id}; connected to "
                         f"{chain.chain_id}.")
    c = _compiled("ClaimRegistry")
    with step(f"Deploying ClaimRegistry to {chain.label}", "claim_registry_deploy"):
        address, tx, gas = chain.deploy(c["abi"], c["bytecode"],
                                        to_checksum_address(registry.address), gas=3_000_000)
    return RegistryDeployment(chain_id=chain.chain_id, address=address, tx_hash=tx,
                              gas_used=gas, abi=c["abi"], solc_version=c["solc"])


def commit_set_onchain(chain: Chain, claim_registry: RegistryDeployment,
                       commitment: SetCommitment) -> SetReceipt:
    """Commit an evaluation set's root, sample count and model (``commitment.model_id``, the
    vk digest) under the sending account: anyone may, once per root and account.

    Raises:
        RegistryError: ``set already committed`` (by this account) or ``empty set``.
    """
    root = _b32(commitment.root, "set root")
    model = _b32(commitment.model_id, "model vk digest")
    if not 0 <= commitment.samples < 2**32:
        raise ZkmlValueError(f"{commitment.samples} samples do not fit in uint32.")
    fn = _contract(chain, claim_registry).functions.commitSet(root, commitment.samples, model)
    with step("Committing the evaluation set", "claim_commit_set"):
        receipt = _send(chain, claim_registry, fn, "commitSet", gas=200_000)
    return SetReceipt("0x" + root.hex(), *_receipt(receipt))


def _ppm(value: float, name: str) -> int:
    if not math.isfinite(value):
        raise ZkmlValueError(f"metric {name} is {value}: not a number the chain can hold.")
    v = math.floor(value * PPM + 0.5)  # half up: the same integer on every platform
    if not -_INT64 <= v < _INT64:
        raise ZkmlValueError(f"metric {name} = {value} does not fit in int64 ppm.")
    return v


def onchain_metrics(metrics: Metrics) -> tuple[list[str], list[int]]:
    """The metric names and values (parts per million, rounded half up) a claim records:
    ``accuracy``, the parity differences when defined, then per group ``selection_rate:<g>``,
    ``true_positive_rate:<g>`` (when the group has a positive) and ``accuracy:<g>``."""
    pairs: list[tuple[str, float]] = [("accuracy", metrics.accuracy)]
    if metrics.demographic_parity_difference is not None:
        pairs.append(("demographic_parity_difference", metrics.demographic_parity_difference))
    if metrics.equal_opportunity_difference is not None:
        pairs.append(("equal_opportunity_difference", metrics.equal_opportunity_difference))
    for g in metrics.groups:
        pairs.append((f"selection_rate:{g.group}", g.selection_rate))
        if g.true_positive_rate is not None:
            pairs.append((f"true_positive_rate:{g.group}", g.true_positive_rate))
        pairs.append((f"accuracy:{g.group}", g.accuracy))
    return [n for n, _ in pairs], [_ppm(v, n) for n, v in pairs]


def metrics_hash(names: list[str], values: list[int]) -> str:
    """keccak256(abi.encode(names, values)): what the ClaimRegistry stores for the metrics."""
    return "0x" + keccak(abi_encode(["string[]", "int64[]"], [names, values])).hex()


def claim_id(onchain_model_id: str, set_root: str, set_committer: str, proofs_root: str
             ) -> str:
    """keccak256(abi.encode(modelId, setRoot, setCommitter, proofsRoot)), as
    ``ClaimRegistry.claimIdOf``."""
    enc = abi_encode(["bytes32", "bytes32", "address", "bytes32"],
                     [_b32(onchain_model_id, "model id"), _b32(set_root, "set root"),
                      _address(set_committer, "set committer"),
                      _b32(proofs_root, "proofs root")])
    return "0x" + keccak(enc).hex()


def _vk_digest_of(chain: Chain, claim_registry: RegistryDeployment, model: bytes
                  ) -> str | None:
    """The vk digest the InferenceRegistry behind ``claim_registry`` holds for ``model``
    (None: no such model)."""
    address = chain.call(_contract(chain, claim_registry).functions.inferenceRegistry(),
                         gas=None)
    reg = chain.contract(str(address), _compiled("InferenceRegistry")["abi"])
    try:
        m = chain.call(reg.functions.getModel(model), gas=None)
    except Reverted:  # UnknownModel
        return None
    return bytes(m[4]).hex()


def record_claim(chain: Chain, claim_registry: RegistryDeployment, onchain_model_id: str,
                 claim: Claim, claim_digest: str, *, set_committer: str | None = None
                 ) -> ClaimReceipt:
    """Record ``claim`` (sent by the model's owner) with the sha256 of its file, on the set
    ``set_committer`` committed (default: the sending account).

    Raises:
        RegistryError: ``model mismatch`` (the registry model is not the claim's vk digest;
            nothing is sent), or the contract's refusal: ``unknown model``, ``retired model``,
            ``not model owner``, ``set not committed`` (by that committer), ``set committed
            in the same block``, ``sample count mismatch``, ``set committed for another
            model``, ``claim already recorded``.
    """
    committer = _committer(chain, set_committer)
    model = _b32(onchain_model_id, "model id")
    digest = _b32(claim_digest, "claim digest")
    vk = _vk_digest_of(chain, claim_registry, model)
    if vk is not None and vk != claim.model_id.lower().removeprefix("0x"):
        raise RegistryError(f"the claim is about the model with vk digest {claim.model_id}; the "
                            f"registry model {onchain_model_id} has vk digest {vk}: nothing was "
                            "sent.", "model mismatch")
    names, values = onchain_metrics(claim.metrics)
    fn = _contract(chain, claim_registry).functions.recordClaim(
        model, _b32(claim.set_root, "set root"), committer,
        _b32(claim.proofs_root, "proofs root"), digest, claim.samples, names, values)
    with step("Recording the claim", "claim_record"):
        # on "pending": a call on "latest" runs with the latest block's number, so right
        # after commitSet it would see the set committed "in this block" and revert
        receipt = _send(chain, claim_registry, fn, "recordClaim", block="pending")
    return ClaimReceipt(claim_id(onchain_model_id, claim.set_root, committer,
                                 claim.proofs_root), *_receipt(receipt))


def get_onchain_set(chain: Chain, claim_registry: RegistryDeployment, set_root: str,
                    committer: str) -> OnchainSet | None:
    """The set of root ``set_root`` as ``committer`` committed it, or None if they never
    did."""
    root = _b32(set_root, "set root")
    who = _address(committer, "committer")
    s = chain.call(_contract(chain, claim_registry).functions.getSet(root, who), gas=None)
    if int(s[0]) == 0:
        return None
    return OnchainSet("0x" + root.hex(), who, int(s[0]), int(s[1]), int(s[2]),
                      bytes(s[3]).hex())


def get_onchain_claim(chain: Chain, claim_registry: RegistryDeployment, claim: str
                      ) -> OnchainClaim:
    """The recorded claim of id ``claim`` with the metrics of its event.

    Raises:
        RegistryError: reason ``bad id`` (not 32 bytes of hex), ``unknown claim`` or
            ``missing event`` (the node has no log of the recorded claim).
    """
    try:
        raw = _b32(claim, "claim id")
    except ZkmlValueError as e:
        raise RegistryError(str(e), "bad id") from e
    reg = _contract(chain, claim_registry)
    c = chain.call(reg.functions.getClaim(raw), gas=None)
    if int(str(c[5]), 16) == 0:  # claimant
        raise RegistryError(f"no claim 0x{raw.hex()} in the claim registry.", "unknown claim")
    block = int(c[7])
    logs = chain.logs(reg.events.ClaimRecorded(), from_block=block, to_block=block,
                      argument_filters={"claimId": raw})
    if not logs:  # a node that dropped old logs
        raise RegistryError(f"claim 0x{raw.hex()} is recorded but this node returns no event "
                            f"of it in block {block}.", "missing event")
    args = logs[0]["args"]
    return OnchainClaim(
        claim_id="0x" + raw.hex(), model_id=_hex(c[0]), set_root=_hex(c[1]),
        set_committer=str(c[8]), proofs_root=_hex(c[2]), claim_digest=_hex(c[3]),
        metrics_hash=_hex(c[4]), claimant=str(c[5]), samples=int(c[6]), block=block,
        timestamp=int(c[9]),
        metrics={str(n): int(v) for n, v in zip(args["metricNames"], args["metricValues"],
                                                  strict=True)},
        tx_hash=_hex(logs[0]["transactionHash"]))


def _metrics_reason(recorded: dict[str, int], names: list[str], values: list[int]) -> str:
    mine = dict(zip(names, values, strict=True))
    for name in [*names, *recorded]:
        if recorded.get(name) != mine.get(name):
            def show(v: int | None) -> str:
                return "absent" if v is None else f"{v / PPM:.6g} ({v} ppm)"
            return (f"metric {name!r}: on-chain {show(recorded.get(name))}, the claim says "
                    f"{show(mine.get(name))}")
    return "the metrics are listed in another order than on-chain"


def check_claim_onchain(chain: Chain, claim_registry: RegistryDeployment,
                        onchain_model_id: str, claim: Claim, claim_digest: str, *,
                        set_committer: str | None = None) -> str | None:
    """None when the chain holds this claim (this model, set root as ``set_committer``
    committed it, default the connection's account, and proofs root) with this digest, these
    metrics and sample count, on a set committed in an earlier block with the same count for
    this vk digest, for a model whose vk digest is the claim's; else why not, in a
    sentence."""
    try:
        committer = _committer(chain, set_committer)
        cid = claim_id(onchain_model_id, claim.set_root, committer, claim.proofs_root)
        digest = "0x" + _b32(claim_digest, "claim digest").hex()
    except ZkmlValueError as e:
        return str(e).rstrip(".")
    try:
        rec = get_onchain_claim(chain, claim_registry, cid)
    except RegistryError as e:
        if e.reason != "unknown claim":
            raise
        return (f"no claim of model {onchain_model_id} on set {claim.set_root} as committed by "
                f"{committer} with proofs root {claim.proofs_root} is recorded on-chain "
                f"(claim id {cid})")
    vk = _vk_digest_of(chain, claim_registry, bytes.fromhex(rec.model_id[2:]))
    if vk != claim.model_id.lower().removeprefix("0x"):
        return (f"the registry model {onchain_model_id} has vk digest {vk}; the claim is about "
                f"{claim.model_id}")
    s = get_onchain_set(chain, claim_registry, claim.set_root, committer)
    if s is None:
        return f"the set {claim.set_root} is not committed on-chain by {committer}"
    if s.model_digest != claim.model_id.lower().removeprefix("0x"):
        return (f"the set was committed for the model with vk digest {s.model_digest}; the "
                f"claim is about {claim.model_id}")
    if s.block >= rec.block:
        return (f"the set was committed in block {s.block}, not before the claim (block "
                f"{rec.block})")
    if s.samples != claim.samples or rec.samples != claim.samples:
        return (f"the claim has {claim.samples} samples; the set was committed with "
                f"{s.samples} and the claim recorded with {rec.samples}")
    names, values = onchain_metrics(claim.metrics)
    if metrics_hash(names, values) != rec.metrics_hash:
        return _metrics_reason(rec.metrics, names, values)
    if digest != rec.claim_digest:
        return (f"the claim digest is {digest}; the chain recorded {rec.claim_digest} (another "
                "claim file)")
    return None
