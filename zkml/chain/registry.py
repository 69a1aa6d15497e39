"""The on-chain inference registry (verifier_contracts/InferenceRegistry.sol) and its client.

A model owner registers a model (its verifier contract and instance layout); anyone submits a
proof bundle; the registry verifies it through the model's verifier and records the statement
once. The audit trail is read back from ``InferenceVerified`` events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from web3.logs import DISCARD

from zkml._progress import step
from zkml.artifacts import (
    Deployment,
    InstanceLayout,
    Keys,
    ModelRegistration,
    ProofBundle,
    RegistryDeployment,
)
from zkml.chain._registry_base import NONE, REASONS, consented_inference_id, inference_id
from zkml.chain._registry_base import compiled as _compiled
from zkml.chain._registry_base import contract as _contract
from zkml.chain._registry_base import send as _send
from zkml.chain.audit import BundleCheck, audit_log, check_bundle, get_record, resolve_model
from zkml.chain.contract import build_verifier
from zkml.chain.evm import Chain, deploy_verifier
from zkml.errors import RegistryError, ZkmlValueError
from zkml.proof.bundle import bundle_problem, parse_instances, proof_bytes
from zkml.proof.package import instance_layout

__all__ = [
    "deploy_registry",
    "instance_layout",
    "register_model",
    "submit_inference",
    "audit_log",
    "get_record",
    "check_bundle",
    "resolve_model",
    "inference_id",
    "consented_inference_id",
    "retire_model",
    "submit_batch",
    "transfer_model",
    "SubmitReceipt",
    "BundleCheck",
    "REASONS",
]

def deploy_registry(chain: Chain) -> RegistryDeployment:
    """Compile (pinned solc, cached) and deploy the InferenceRegistry."""
    c = _compiled()
    with step(f"Deploying InferenceRegistry to {chain.label}", "registry_deploy"):
        address, tx, gas = chain.deploy(c["abi"], c["bytecode"], gas=6_000_000)
    return RegistryDeployment(chain_id=chain.chain_id, address=address, tx_hash=tx,
                              gas_used=gas, abi=c["abi"], solc_version=c["solc"])


def _layout_tuple(layout: InstanceLayout) -> tuple[int, ...]:
    return (
        layout.num_instances, layout.output_offset, layout.num_outputs,
        NONE if layout.input_commitment_index is None else layout.input_commitment_index,
        NONE if layout.weights_hash_index is None else layout.weights_hash_index,
        layout.output_scale, layout.weights_hash,
    )


def register_model(
    chain: Chain,
    registry: RegistryDeployment,
    keys: Keys,
    verifier: Deployment | None = None,
    *,
    metadata_uri: str = "",
    require_consent: bool = False,
) -> ModelRegistration:
    """Register ``keys``' model; deploys its verifier first if ``verifier`` is None.

    With ``require_consent`` the model records inferences only with the data owner's signed
    consent (:func:`zkml.chain.consent.submit_with_consent`); it needs an input commitment
    (preset ``committed-input``).

    Raises:
        RegistryError: e.g. ``model already registered`` (same verifier and owner), ``no input
            commitment`` (consent required by a preset that commits to no input).
    """
    if verifier is None:
        verifier = deploy_verifier(chain, build_verifier(keys))
    if verifier.model_id != keys.model_id:
        raise RegistryError("the verifier deployment is for another model.", "layout mismatch")
    return register_layout(chain, registry, verifier.address, instance_layout(keys),
                           keys.model_id, metadata_uri=metadata_uri,
                           require_consent=require_consent)


def register_layout(chain: Chain, registry: RegistryDeployment, verifier: str,
                    layout: InstanceLayout, model_id: str, *, metadata_uri: str = "",
                    require_consent: bool = False,
                    label: str = "Registering the model") -> ModelRegistration:
    """Register a deployed verifier with its instance layout; ``model_id`` is what the
    registry binds (a vk digest, or a split model's id). Used for one verifier and for a
    SplitVerifier alike.

    Raises:
        RegistryError: the registry refused the registration (reason named).
    """
    reg = _contract(chain, registry)
    register = (reg.functions.registerModelWithConsent if require_consent
                else reg.functions.registerModel)
    fn = register(to_checksum_address(verifier), _layout_tuple(layout),
                  bytes.fromhex(model_id), metadata_uri)
    with step(label, "registry_register"):
        receipt = _send(chain, registry, fn, "registerModel", gas=1_000_000)
    event = reg.events.ModelRegistered().process_receipt(receipt, errors=DISCARD)[0]["args"]
    return ModelRegistration(
        registry=registry.address, chain_id=registry.chain_id,
        onchain_model_id="0x" + bytes(event["modelId"]).hex(), model_id=model_id,
        verifier=to_checksum_address(verifier), owner=event["owner"], layout=layout,
        metadata_uri=metadata_uri, tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        gas_used=int(receipt["gasUsed"]),
    )


@dataclass(frozen=True)
class SubmitReceipt:
    inference_id: str
    tx_hash: str
    gas_used: int
    block_number: int


def submit_inference(
    chain: Chain, registry: RegistryDeployment, onchain_model_id: str, bundle: ProofBundle
) -> SubmitReceipt:
    """Submit a proof bundle; the registry verifies and records it.

    Raises:
        RegistryError: with ``reason`` one of :data:`REASONS`' values (unknown model, retired
            model, invalid proof, replay, instance out of field, layout mismatch, ...).
    """
    instances = submittable_instances(bundle)
    reg = _contract(chain, registry)
    fn = reg.functions.submitInference(bytes.fromhex(onchain_model_id[2:]), proof_bytes(bundle),
                                       instances)
    with step("Submitting the inference to the registry", "registry_submit"):
        receipt = _send(chain, registry, fn, "submitInference")
    return submit_receipt(onchain_model_id, instances, receipt)


def submittable_instances(bundle: ProofBundle) -> list[int]:
    """The bundle's instances, if it may be sent (else RegistryError: nothing is sent)."""
    problem = bundle_problem(bundle)
    if problem and not problem.startswith("instances:"):
        # the chain would record what the instances say while the submitter reads `outputs`
        raise RegistryError(f"the bundle is not coherent, nothing was sent: {problem}.",
                            "bundle mismatch")
    instances = parse_instances(bundle)
    if any(v >= 2**256 for v in instances):
        raise RegistryError("an instance does not fit in uint256; it cannot be a field "
                            "element.", "instance out of field")
    return instances


def submit_receipt(onchain_model_id: str, instances: list[int], receipt: Any
                   ) -> SubmitReceipt:
    return SubmitReceipt(
        inference_id=inference_id(onchain_model_id, instances),
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        gas_used=int(receipt["gasUsed"]),
        block_number=int(receipt["blockNumber"]),
    )


def retire_model(chain: Chain, registry: RegistryDeployment, onchain_model_id: str) -> int:
    """Owner only: stop new submissions (records stay). Returns gas used."""
    fn = _contract(chain, registry).functions.retireModel(bytes.fromhex(onchain_model_id[2:]))
    return int(_send(chain, registry, fn, "retireModel", gas=200_000)["gasUsed"])


def transfer_model(chain: Chain, registry: RegistryDeployment, onchain_model_id: str,
                   new_owner: str) -> int:
    """Owner only: hand the model to ``new_owner``. Returns gas used."""
    try:
        owner = to_checksum_address(new_owner)
    except ValueError as e:
        raise ZkmlValueError(f"new owner {new_owner[:80]!r} is not an address (0x + 40 hex)."
                             ) from e
    fn = _contract(chain, registry).functions.transferModelOwnership(
        bytes.fromhex(onchain_model_id[2:]), owner)
    return int(_send(chain, registry, fn, "transferModelOwnership", gas=200_000)["gasUsed"])


def submit_batch(chain: Chain, registry: RegistryDeployment, onchain_model_id: str,
                 manifest_path: str | Path) -> dict[str, str]:
    """Record every proven bundle of a batch manifest in the registry (skipping those already
    recorded), writing each inference id back into the manifest. Returns {input id: status}.
    """
    from zkml._utils import atomic_write_json
    from zkml.proof.bundle import load_bundle

    path = Path(manifest_path)
    manifest = json.loads(path.read_text())
    statuses: dict[str, str] = {}
    for entry in manifest["entries"]:
        if entry["status"] not in ("ok", "skipped") or entry.get("inference_id"):
            continue
        bundle = load_bundle(entry["bundle"])
        try:
            receipt = submit_inference(chain, registry, onchain_model_id, bundle)
            entry["inference_id"] = receipt.inference_id
            statuses[entry["input_id"]] = "recorded"
        except RegistryError as e:
            if e.reason != "replay":
                statuses[entry["input_id"]] = f"rejected: {e.reason}"
                continue
            entry["inference_id"] = inference_id(onchain_model_id, parse_instances(bundle))
            statuses[entry["input_id"]] = "already recorded"
        atomic_write_json(path, manifest)  # progress survives a crash mid-batch
    return statuses
