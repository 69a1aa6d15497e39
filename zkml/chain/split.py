"""A split model on-chain: the segment verifiers behind one SplitVerifier contract.

``verifier_contracts/SplitVerifier.sol`` has the interface of one ezkl verifier
(``verifyProof(bytes proof, uint256[] instances)``) with ``proof = abi.encode(bytes[])`` of the
segment proofs and ``instances`` the segments' instances concatenated; it checks every link
(boundary commitments read from the proofs) and every segment verifier. So the
InferenceRegistry registers it as a model's verifier and records a split inference as one
inference, with no change to the registry.
"""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address

from zkml._progress import step
from zkml._utils import digest_of
from zkml.artifacts import (
    Deployment,
    InstanceLayout,
    ModelRegistration,
    ProofBundle,
    RegistryDeployment,
)
from zkml.chain._registry_base import compiled
from zkml.chain.contract import build_verifier
from zkml.chain.evm import Chain, OnchainResult, deploy_verifier, verify_onchain
from zkml.errors import ContractError
from zkml.presets import get_preset
from zkml.split_artifacts import SplitBundle, SplitKeys

__all__ = ["deploy_split_verifier", "onchain_bundle", "verify_split_onchain",
           "register_split_model", "split_instance_layout"]


def deploy_split_verifier(chain: Chain, keys: SplitKeys, *, allow_oversize: bool = False
                          ) -> Deployment:
    """Deploy every segment's ezkl verifier, then the SplitVerifier that joins them.

    Returns:
        The SplitVerifier's :class:`Deployment` (``model_id`` = the split model id);
        ``gas_used`` is the total of all K + 1 deployments.

    Raises:
        ContractError: a boundary whose two sides carry different numbers of commitments.
        ChainError: the chain refused a deployment.

    Example:
        >>> dep = zkml.chain.split.deploy_split_verifier(zkml.connect(), keys)
    """
    bounds, outs, ins = [], [], []
    for i in range(len(keys.segments) - 1):
        out_pts, in_pts = keys.links[i].output_points, keys.links[i + 1].input_points
        if len(out_pts) != len(in_pts) or not out_pts:
            raise ContractError(f"boundary {i} has {len(out_pts)} output and {len(in_pts)} "
                                "input commitment points; set the split up again.")
        bounds.extend([i] * len(out_pts))
        outs.extend(out_pts)
        ins.extend(in_pts)
    gas = 0
    addresses = []
    for seg in keys.segments:
        dep = deploy_verifier(chain, build_verifier(seg, allow_oversize=allow_oversize))
        addresses.append(to_checksum_address(dep.address))
        gas += dep.gas_used
    c = compiled("SplitVerifier")
    abi: list[dict[str, object]] = c["abi"]
    with step(f"Deploying SplitVerifier ({len(addresses)} segments) to {chain.label}",
              "deploy"):
        # storage: ~22k gas per array slot (K verifiers + instance counts, 3 per link)
        address, tx, used = chain.deploy(abi, str(c["bytecode"]), addresses,
                                         [link.num_instances for link in keys.links], bounds,
                                         outs, ins,
                                         gas=2_000_000 + 50_000 * (2 * len(addresses)
                                                                   + 3 * len(bounds)))
    return Deployment(model_id=keys.model_id, chain_id=chain.chain_id, address=address,
                      tx_hash=tx, gas_used=gas + used, abi=abi)


def onchain_bundle(bundle: SplitBundle) -> ProofBundle:
    """The split bundle as the SplitVerifier (and the registry) take it: one proof (the
    ABI-encoded segment proofs) and one list of instances (all segments', in order)."""
    proofs = [bytes.fromhex(s.proof[2:]) for s in bundle.segments]
    instances = [v for s in bundle.segments for v in s.instances]
    n_out = 1
    for d in bundle.output_shape:
        n_out *= d
    return ProofBundle(
        model_id=bundle.model_id,
        settings_digest=digest_of("split", [s.settings_digest for s in bundle.segments]),
        preset=bundle.preset, proof="0x" + abi_encode(["bytes[]"], [proofs]).hex(),
        instances=instances, output_instance_offset=len(instances) - n_out,
        output_scales=bundle.output_scales, outputs=bundle.outputs,
        output_shape=bundle.output_shape, input_commitment=bundle.input_commitment,
        srs_source=bundle.srs_source, versions=bundle.versions, created_at=bundle.created_at)


def verify_split_onchain(chain: Chain, deployment: Deployment, bundle: SplitBundle, *,
                         measure_gas: bool = True) -> OnchainResult:
    """Verify a split bundle with one call to the deployed SplitVerifier.

    Returns:
        :class:`OnchainResult`; ``valid`` False when the contract reverts (a broken link, a
        rejected segment, a wrong segment or instance count).

    Raises:
        ChainError: the chain is unreachable or the contract missing.
    """
    return verify_onchain(chain, deployment, onchain_bundle(bundle), measure_gas=measure_gas)


def split_instance_layout(keys: SplitKeys) -> InstanceLayout:
    """Which of the concatenated instances mean what (the registry's Layout)."""
    total = sum(link.num_instances for link in keys.links)
    n_out = 1
    for d in keys.circuit.exported.output_shape:
        n_out *= d
    return InstanceLayout(
        num_instances=total, output_offset=total - n_out, num_outputs=n_out,
        input_commitment_index=0 if get_preset(keys.circuit.preset).commits_input else None,
        output_scale=keys.circuit.segments[-1].output_scales[0])


def register_split_model(chain: Chain, registry: RegistryDeployment, keys: SplitKeys,
                         verifier: Deployment, *, metadata_uri: str = "") -> ModelRegistration:
    """Register a split model in the InferenceRegistry with its SplitVerifier.

    Submissions then go through :func:`zkml.chain.registry.submit_inference` with
    :func:`onchain_bundle` of a split bundle, and are recorded as one inference each.

    Raises:
        RegistryError: the registry refused the registration (reason named).
    """
    from zkml.chain.registry import register_layout

    return register_layout(chain, registry, verifier.address, split_instance_layout(keys),
                           keys.model_id, metadata_uri=metadata_uri,
                           label="Registering the split model")
