"""A collaborative model on-chain: its segments' verifiers behind one CollabVerifier contract.

``verifier_contracts/CollabVerifier.sol`` has the interface of one ezkl verifier (as the
SplitVerifier): ``proof = abi.encode(bytes[])`` of the segment proofs, ``instances`` the
segments' instances concatenated. Besides every link and every segment proof, it checks that
each segment was proved with the weights its contributor registered (the weight commitment's
points, fixed at deployment): a segment's verifying key does not depend on its weights, so
without that check any weights of the right shape would pass. The InferenceRegistry registers
it as the model's verifier unchanged and records an inference of it as one inference; its
``contributors()`` view names who supplied each segment (address, keccak256 of the segment's
weight points), which the indexer shows for the model and each of its inferences.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from zkml._progress import step
from zkml._utils import digest_of, sha256_file
from zkml.artifacts import Deployment, InstanceLayout, ModelRegistration, ProofBundle
from zkml.artifacts import RegistryDeployment as Registry
from zkml.chain._registry_base import compiled
from zkml.chain.contract import build_verifier_from_files
from zkml.chain.evm import Chain, OnchainResult, Reverted, deploy_verifier
from zkml.chain.registry import SubmitReceipt, register_layout, submit_inference
from zkml.collab.formats import CollabBundle, CollabModel, Contribution
from zkml.collab.model import load_model
from zkml.errors import ArtifactError, ChainError, ContractError, RegistryError, ZkmlValueError

__all__ = ["Contributor", "deploy_collab_verifier", "register_collab", "submit_collab",
           "verify_collab_onchain", "collab_onchain_bundle", "collab_instance_layout",
           "read_contributors", "weight_digest", "collab_error"]

_CONTRACT = "CollabVerifier"


@dataclass(frozen=True)
class Contributor:
    """Who supplied segment ``position``: an address and keccak256 of the segment's weight
    commitment (its 64-byte G1 points concatenated, as ``Contribution.weight_commitment``)."""

    position: int
    address: str
    weight_digest: str


def weight_digest(contribution: Contribution) -> str:
    """``0x`` + keccak256 of the contribution's weight points, concatenated (what the
    CollabVerifier stores and ``contributors()`` returns)."""
    raw = b"".join(bytes.fromhex(p.removeprefix("0x")) for p in contribution.weight_commitment)
    return "0x" + keccak(raw).hex()


def _owners(model: CollabModel, given: Sequence[str] | None) -> list[str]:
    """Each segment's contributor: its ``Contribution.owner`` if set, else ``given[k]``."""
    cs = model.contributions
    if given is not None and len(given) != len(cs):
        raise ZkmlValueError(f"{len(given)} contributor addresses for {len(cs)} segments: give "
                             "one per segment, in segment order.")
    out: list[str] = []
    for c in cs:
        g = given[c.position] if given is not None else None
        named = [a.strip() for a in (c.owner, g) if a and a.strip()]
        if not named:
            raise ZkmlValueError(f"segment {c.position} ({c.name}) names no owner in its "
                                 "contribution: give its address in the contributors.")
        try:
            addresses = {to_checksum_address(a) for a in named}
        except ValueError as e:
            raise ZkmlValueError(f"segment {c.position} ({c.name}): {named[-1][:60]!r} is not "
                                 "an address (0x + 40 hex).") from e
        if len(addresses) != 1:
            raise ZkmlValueError(f"segment {c.position} ({c.name}): its contribution names "
                                 f"{c.owner}, the contributors {g}: they must agree.")
        out.append(addresses.pop())
    return out


def _links(model: CollabModel) -> tuple[list[int], list[int], list[int]]:
    bounds, outs, ins = [], [], []
    cs = model.contributions
    for a, b in itertools.pairwise(cs):
        if len(a.output_points) != len(b.input_points) or not a.output_points:
            raise ContractError(f"boundary {a.position} has {len(a.output_points)} output and "
                                f"{len(b.input_points)} input commitment points: assemble the "
                                "model again.")
        bounds.extend([a.position] * len(a.output_points))
        outs.extend(a.output_points)
        ins.extend(b.input_points)
    return bounds, outs, ins


def deploy_collab_verifier(chain: Chain, model_dir: str | Path, srs_path: str | Path,
                           contributors: Sequence[str] | None = None, *,
                           allow_oversize: bool = False) -> Deployment:
    """Deploy each segment's ezkl verifier (built from ``segment<k>/vk.key`` and
    ``settings.json`` with the model's SRS; one per distinct key), then the CollabVerifier
    with the links, each segment's registered weight commitment and its contributor.

    Args:
        model_dir: the assembled model folder (``zkml collab assemble``).
        srs_path: the SRS the parties agreed on (checked against the model's).
        contributors: one address per segment, in order; where a contribution names its
            ``owner``, that one is used (and a different one here is refused).

    Returns:
        The CollabVerifier's :class:`Deployment` (``model_id`` = the collaborative model id);
        ``gas_used`` is the total of all deployments.

    Raises:
        ArtifactError: an unreadable model folder, or another SRS.
        ZkmlValueError: a segment with no contributor address, or two that disagree.
        ContractError / ContractSizeError: a verifier cannot be built; ChainError.
    """
    model = load_model(model_dir)
    srs = Path(srs_path)
    if sha256_file(srs) != model.srs_sha256:
        raise ArtifactError(f"{srs}: not the SRS the model was set up with.")
    owners = _owners(model, contributors)
    bounds, outs, ins = _links(model)
    gas = 0
    by_vk: dict[str, str] = {}
    for c in model.contributions:
        if c.vk_digest not in by_vk:
            seg = Path(model_dir) / f"segment{c.position}"
            dep = deploy_verifier(chain, build_verifier_from_files(
                seg / "vk.key", seg / "settings.json", srs, allow_oversize=allow_oversize))
            by_vk[c.vk_digest] = to_checksum_address(dep.address)
            gas += dep.gas_used
    cs = model.contributions
    points = [b"".join(bytes.fromhex(p.removeprefix("0x")) for p in c.weight_commitment)
              for c in cs]
    offsets = [o for c in cs for o in c.param_points]
    art = compiled(_CONTRACT)
    abi: list[dict[str, Any]] = art["abi"]
    slots = 5 * len(cs) + 3 * len(bounds) + 3 * len(offsets)
    with step(f"Deploying CollabVerifier ({len(cs)} segments) to {chain.label}", "deploy"):
        address, tx, used = chain.deploy(
            abi, str(art["bytecode"]), [by_vk[x.vk_digest] for x in cs],
            [x.num_instances for x in cs], bounds, outs, ins, owners, points, offsets,
            gas=2_000_000 + 50_000 * slots)
    return Deployment(model_id=model.model_id, chain_id=chain.chain_id, address=address,
                      tx_hash=tx, gas_used=gas + used, abi=abi)


def collab_instance_layout(model: CollabModel) -> InstanceLayout:
    """Which of the concatenated instances mean what: the outputs are the last segment's."""
    last = model.contributions[-1]
    total = sum(c.num_instances for c in model.contributions)
    n_out = math.prod(last.output_shape)
    return InstanceLayout(num_instances=total, output_offset=total - n_out, num_outputs=n_out,
                          input_commitment_index=None, output_scale=last.output_scale)


def register_collab(chain: Chain, registry: Registry, deployment: Deployment,
                    model: CollabModel | str | Path, *, metadata_uri: str = ""
                    ) -> ModelRegistration:
    """Register a collaborative model in the InferenceRegistry with its CollabVerifier.

    Raises:
        RegistryError: the deployment is for another model, or the registry refused it.
    """
    m = model if isinstance(model, CollabModel) else load_model(model)
    if deployment.model_id != m.model_id:
        raise RegistryError("the CollabVerifier deployment is for another model.",
                            "layout mismatch")
    return register_layout(chain, registry, deployment.address, collab_instance_layout(m),
                           m.model_id, metadata_uri=metadata_uri,
                           label="Registering the collaborative model")


def collab_onchain_bundle(bundle: CollabBundle) -> ProofBundle:
    """The bundle as the CollabVerifier (and the registry) take it: one proof (the
    ABI-encoded segment proofs) and one list of instances (all segments', in order)."""
    proofs = [bytes.fromhex(s.proof.removeprefix("0x")) for s in bundle.segments]
    instances = [v for s in bundle.segments for v in s.instances]
    return ProofBundle(
        model_id=bundle.model_id,
        settings_digest=digest_of("collab", [s.vk_digest for s in bundle.segments]),
        preset="collab", proof="0x" + abi_encode(["bytes[]"], [proofs]).hex(),
        instances=instances,
        output_instance_offset=len(instances) - math.prod(bundle.output_shape),
        output_scales=[bundle.output_scale], outputs=bundle.outputs,
        output_shape=bundle.output_shape, srs_source="collab", versions={},
        created_at=bundle.created_at)


def _reasons(args: tuple[Any, ...]) -> dict[str, str]:
    a = [int(x) for x in args] + [0, 0]
    return {
        "WeightsMismatch": f"segment {a[0]}: proved with other weights than the ones its "
                           "contributor registered",
        "LinkBroken": f"link {a[0]}: segment {a[0]}'s output commitment is not segment "
                      f"{a[0] + 1}'s input commitment (a segment from another inference)",
        "SegmentRejected": f"segment {a[0]}: its verifier rejected the proof",
        "SegmentCount": f"segments: {a[1]}, the model has {a[0]}",
        "InstanceCount": f"instances: {a[1]}, the model's segments take {a[0]}",
    }


def collab_error(data: bytes) -> str:
    """A CollabVerifier revert as ``Name(args): what it means`` (or a generic rejection)."""
    for item in compiled(_CONTRACT)["abi"]:
        if item["type"] != "error":
            continue
        types = [i["type"] for i in item["inputs"]]
        if data[:4] == keccak(text=f"{item['name']}({','.join(types)})")[:4]:
            args = tuple(abi_decode(types, data[4:])) if types else ()
            shown = f"{item['name']}({', '.join(str(x) for x in args)})"
            return f"{shown}: {_reasons(args).get(item['name'], 'refused')}"
    return "the CollabVerifier rejected the bundle"


def verify_collab_onchain(chain: Chain, deployment: Deployment, bundle: CollabBundle, *,
                          measure_gas: bool = True) -> OnchainResult:
    """Verify a collaborative bundle with one call to the deployed CollabVerifier.

    Returns:
        :class:`OnchainResult`: ``valid`` False, with the contract's reason, for a segment
        proved with other weights, a broken link, a rejected segment or wrong counts.

    Raises:
        ChainError: the chain is unreachable or the contract missing.
    """
    from zkml.proof.bundle import bundle_problem, parse_instances, proof_bytes

    if deployment.chain_id != chain.chain_id:
        raise ChainError(f"the deployment is on chain {deployment.chain_id}, connected to "
                         f"{chain.chain_id}.")
    if bundle.model_id != deployment.model_id:
        return OnchainResult(False, None, "model_id: the CollabVerifier deployed at "
                             f"{deployment.address} is for another model")
    pb = collab_onchain_bundle(bundle)
    problem = bundle_problem(pb)
    if problem:
        return OnchainResult(False, None, problem)
    fn = chain.contract(deployment.address, deployment.abi).functions.verifyProof(
        proof_bytes(pb), parse_instances(pb))
    with step(f"Verifying on {chain.label}", "verify_onchain"):
        try:
            if not chain.call(fn):
                return OnchainResult(False, None, "the CollabVerifier returned false")
            if not measure_gas:
                return OnchainResult(True, None)
            receipt = chain.transact(fn)
        except Reverted as e:
            return OnchainResult(False, None, collab_error(e.data))
    return OnchainResult(True, int(receipt["gasUsed"]))


def submit_collab(chain: Chain, registry: Registry, onchain_model_id: str,
                  bundle: CollabBundle) -> SubmitReceipt:
    """Submit a collaborative bundle to the registry, which verifies it through the model's
    CollabVerifier and records it as one inference.

    Raises:
        RegistryError: as :func:`zkml.chain.registry.submit_inference`; for an invalid proof
            the message also says why the CollabVerifier refused it (asked directly).
    """
    pb = collab_onchain_bundle(bundle)
    try:
        return submit_inference(chain, registry, onchain_model_id, pb)
    except RegistryError as e:
        if e.reason != "invalid proof":
            raise
        why = _why_invalid(chain, registry, onchain_model_id, pb)
        raise RegistryError(f"{e} The CollabVerifier says: {why}.", e.reason) from e


def _why_invalid(chain: Chain, registry: Registry, onchain_model_id: str,
                 pb: ProofBundle) -> str:
    from zkml.proof.bundle import parse_instances, proof_bytes

    reg = chain.contract(registry.address, registry.abi)
    try:
        verifier = chain.call(reg.functions.getModel(bytes.fromhex(onchain_model_id[2:])),
                              gas=None)[1]
        fn = chain.contract(verifier, compiled(_CONTRACT)["abi"]).functions.verifyProof(
            proof_bytes(pb), parse_instances(pb))
        chain.call(fn, gas=None)
    except Reverted as e:
        return collab_error(e.data)
    except ChainError as e:
        return f"(not asked: {e})"
    return "nothing (it accepts the bundle when called directly)"


def read_contributors(chain: Chain, verifier: str) -> list[Contributor]:
    """A CollabVerifier's ``contributors()``: who supplied each segment, with the digest of
    its weight commitment.

    Raises:
        ChainError: no contract there, or it has no ``contributors()`` view.
    """
    fn = chain.contract(verifier, compiled(_CONTRACT)["abi"]).functions.contributors()
    try:
        owners, digests = chain.call(fn, gas=None)
    except Reverted as e:
        raise ChainError(f"{verifier} has no contributors() view: not a CollabVerifier.") from e
    return [Contributor(i, to_checksum_address(a), "0x" + bytes(d).hex())
            for i, (a, d) in enumerate(zip(owners, digests, strict=True))]
