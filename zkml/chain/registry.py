"""The on-chain inference registry (verifier_contracts/InferenceRegistry.sol) and its client.

A model owner registers a model (its verifier contract and instance layout); anyone submits a
proof bundle; the registry verifies it through the model's verifier and records the statement
once. The audit trail is read back from ``InferenceVerified`` events.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from zkml import _ezkl, _solc, cache
from zkml._progress import step
from zkml._utils import FIELD_MODULUS, dequantize, digest_of
from zkml.artifacts import (
    Deployment,
    InferenceRecord,
    InstanceLayout,
    Keys,
    ModelRegistration,
    ProofBundle,
    RegistryDeployment,
)
from zkml.chain.contract import build_verifier
from zkml.chain.evm import Chain, Reverted, deploy_verifier
from zkml.errors import ChainError, RegistryError
from zkml.presets import get_preset
from zkml.proof.verify import parse_instances, proof_bytes, verify

__all__ = [
    "deploy_registry",
    "instance_layout",
    "register_model",
    "submit_inference",
    "audit_log",
    "get_record",
    "check_bundle",
    "inference_id",
    "retire_model",
    "submit_batch",
    "transfer_model",
    "SubmitReceipt",
    "BundleCheck",
    "REASONS",
]

#: Custom error name -> the short reason RegistryError.reason carries.
REASONS = {
    "UnknownModel": "unknown model",
    "ModelIsRetired": "retired model",
    "InvalidProof": "invalid proof",
    "AlreadyRecorded": "replay",
    "InstanceOutOfField": "instance out of field",
    "LayoutMismatch": "layout mismatch",
    "WeightsHashMismatch": "weights hash mismatch",
    "NotModelOwner": "not model owner",
    "ModelAlreadyRegistered": "model already registered",
    "NotAContract": "verifier is not a contract",
    "BadLayout": "bad layout",
    "ZeroAddress": "zero address",
}
NONE = 0xFFFF
_SUBMIT_GAS = 3_000_000


def _source() -> str:
    return resources.files("verifier_contracts").joinpath("InferenceRegistry.sol").read_text()


def _compiled() -> dict[str, Any]:
    src = _source()
    version = _solc.solc_version()

    def build(tmp: Path) -> dict[str, object]:
        out = _solc.compile_standard({"InferenceRegistry.sol": src})
        art = out["contracts"]["InferenceRegistry.sol"]["InferenceRegistry"]
        (tmp / "compiled.json").write_text(json.dumps({
            "abi": art["abi"], "bytecode": "0x" + art["evm"]["bytecode"]["object"],
        }))
        return {"solc": version}

    entry = cache.get_or_build("contracts", digest_of("registry/1", src, version), build)
    data: dict[str, Any] = json.loads(entry.file("compiled.json").read_text())
    data["solc"] = version
    return data


def _errors(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    out = {}
    for item in abi:
        if item["type"] == "error":
            types = [i["type"] for i in item["inputs"]]
            sig = f"{item['name']}({','.join(types)})"
            out[keccak(text=sig)[:4]] = (item["name"], types)
    return out


def _registry_error(reg: RegistryDeployment, e: Reverted, action: str) -> RegistryError:
    data = e.data
    known = _errors(reg.abi)
    if len(data) >= 4 and data[:4] in known:
        name, types = known[data[:4]]
        args = abi_decode(types, data[4:]) if types else ()
        shown = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in args)
        reason = REASONS.get(name, name)
        return RegistryError(f"{action} rejected by the registry: {name}({shown}) - {reason}.",
                             reason)
    return RegistryError(f"{action} reverted without a known reason.", "reverted")


def _contract(chain: Chain, reg: RegistryDeployment) -> Any:
    if reg.chain_id != chain.chain_id:
        raise ChainError(f"the registry is on chain {reg.chain_id}; connected to "
                         f"{chain.chain_id}.")
    return chain.contract(reg.address, reg.abi)


def _send(chain: Chain, reg: RegistryDeployment, fn: Any, action: str, gas: int | None = None
          ) -> Any:
    try:
        return chain.transact(fn, gas=gas or _SUBMIT_GAS, preflight=True)
    except Reverted as e:
        raise _registry_error(reg, e, action) from e


def deploy_registry(chain: Chain) -> RegistryDeployment:
    """Compile (pinned solc, cached) and deploy the InferenceRegistry."""
    c = _compiled()
    with step(f"Deploying InferenceRegistry to {chain.label}", "registry_deploy"):
        address, tx, gas = chain.deploy(c["abi"], c["bytecode"], gas=6_000_000)
    return RegistryDeployment(chain_id=chain.chain_id, address=address, tx_hash=tx,
                              gas_used=gas, abi=c["abi"], solc_version=c["solc"])


def instance_layout(keys: Keys) -> InstanceLayout:
    """The public-instance layout of ``keys``' circuit, read from its settings.

    ezkl orders instances as: module instances (the Poseidon hash of a hashed input) first,
    then the model's public tensors (a public input, then the outputs).
    """
    c = keys.circuit
    total = _ezkl.read_settings(Path(c.settings_path)).num_instances
    n_out = math.prod(c.exported.output_shape)
    return InstanceLayout(
        num_instances=total,
        output_offset=total - n_out,
        num_outputs=n_out,
        input_commitment_index=0 if get_preset(c.preset).commits_input else None,
        output_scale=c.output_scales[0],
    )


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
) -> ModelRegistration:
    """Register ``keys``' model; deploys its verifier first if ``verifier`` is None.

    Raises:
        RegistryError: e.g. ``model already registered`` (same verifier and owner).
    """
    if verifier is None:
        verifier = deploy_verifier(chain, build_verifier(keys))
    if verifier.model_id != keys.model_id:
        raise RegistryError("the verifier deployment is for another model.", "layout mismatch")
    layout = instance_layout(keys)
    reg = _contract(chain, registry)
    fn = reg.functions.registerModel(
        to_checksum_address(verifier.address), _layout_tuple(layout),
        bytes.fromhex(keys.model_id), metadata_uri,
    )
    with step("Registering the model", "registry_register"):
        receipt = _send(chain, registry, fn, "registerModel", gas=1_000_000)
    event = reg.events.ModelRegistered().process_receipt(receipt)[0]["args"]
    return ModelRegistration(
        registry=registry.address, chain_id=registry.chain_id,
        onchain_model_id="0x" + bytes(event["modelId"]).hex(), model_id=keys.model_id,
        verifier=verifier.address, owner=event["owner"], layout=layout,
        metadata_uri=metadata_uri, tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        gas_used=int(receipt["gasUsed"]),
    )


def inference_id(onchain_model_id: str, instances: list[int]) -> str:
    """The statement id the registry records: keccak256(abi.encode(modelId, instances))."""
    enc = abi_encode(["bytes32", "uint256[]"], [bytes.fromhex(onchain_model_id[2:]), instances])
    return "0x" + keccak(enc).hex()


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
    instances = parse_instances(bundle)
    if any(v >= 2**256 for v in instances):
        raise RegistryError("an instance does not fit in uint256; it cannot be a field "
                            "element.", "instance out of field")
    reg = _contract(chain, registry)
    fn = reg.functions.submitInference(bytes.fromhex(onchain_model_id[2:]), proof_bytes(bundle),
                                       instances)
    with step("Submitting the inference to the registry", "registry_submit"):
        receipt = _send(chain, registry, fn, "submitInference")
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
    fn = _contract(chain, registry).functions.transferModelOwnership(
        bytes.fromhex(onchain_model_id[2:]), to_checksum_address(new_owner))
    return int(_send(chain, registry, fn, "transferModelOwnership", gas=200_000)["gasUsed"])


def _model_info(reg: Any, model_id: bytes, memo: dict[bytes, tuple[int, bool]]
                ) -> tuple[int, bool]:
    if model_id not in memo:
        m = reg.functions.getModel(model_id).call()
        memo[model_id] = (int(m[5][5]), bool(m[2]))  # (layout.outputScale, retired)
    return memo[model_id]


def audit_log(
    chain: Chain,
    registry: RegistryDeployment,
    *,
    model: str | None = None,
    submitter: str | None = None,
    from_block: int = 0,
    to_block: int | None = None,
) -> list[InferenceRecord]:
    """Every recorded inference, in order, filtered by model, submitter and block range."""
    reg = _contract(chain, registry)
    filters: dict[str, Any] = {}
    if model:
        filters["modelId"] = bytes.fromhex(model.removeprefix("0x"))
    if submitter:
        filters["submitter"] = to_checksum_address(submitter)
    logs = reg.events.InferenceVerified().get_logs(
        from_block=from_block, to_block=to_block if to_block is not None else "latest",
        argument_filters=filters or None,
    )
    memo: dict[bytes, tuple[int, bool]] = {}
    out = []
    for log in sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"])):
        a = log["args"]
        scale, retired = _model_info(reg, bytes(a["modelId"]), memo)
        out.append(InferenceRecord(
            onchain_model_id="0x" + bytes(a["modelId"]).hex(),
            inference_id="0x" + bytes(a["inferenceId"]).hex(),
            input_commitment=str(a["inputCommitment"]),
            outputs=[str(v) for v in a["outputs"]],
            decoded_outputs=dequantize(a["outputs"], scale),
            submitter=a["submitter"],
            timestamp=int(a["timestamp"]),
            block_number=int(log["blockNumber"]),
            tx_hash="0x" + bytes(log["transactionHash"]).hex().removeprefix("0x"),
            model_retired=retired,
        ))
    return out


def get_record(chain: Chain, registry: RegistryDeployment, inference: str) -> InferenceRecord:
    """The record of one inference id.

    Raises:
        RegistryError: no such record (reason ``unknown inference``).
    """
    reg = _contract(chain, registry)
    rec, _ = reg.functions.getRecord(bytes.fromhex(inference.removeprefix("0x"))).call()
    if int(str(rec[1]), 16) == 0:  # no submitter: never recorded
        raise RegistryError(f"no inference {inference} in the registry.", "unknown inference")
    matches = [r for r in audit_log(chain, registry, model="0x" + bytes(rec[0]).hex(),
                                    from_block=int(rec[3]), to_block=int(rec[3]))
               if r.inference_id == inference.lower()]
    if not matches:
        raise RegistryError(f"record {inference} has no event in block {rec[3]}.",
                            "unknown inference")
    return matches[0]


@dataclass(frozen=True)
class BundleCheck:
    """Whether a local proof bundle is what the registry recorded."""

    recorded: bool
    same_model: bool
    same_instances: bool
    proof_valid: bool
    record: InferenceRecord | None

    @property
    def ok(self) -> bool:
        return self.recorded and self.same_model and self.same_instances and self.proof_valid


def check_bundle(chain: Chain, registry: RegistryDeployment, registration: ModelRegistration,
                 bundle: ProofBundle, keys: Keys | None = None) -> BundleCheck:
    """Confirm ``bundle`` matches an on-chain record: same model, same instances, and the
    proof verifies locally."""
    same_model = bundle.model_id == registration.model_id
    instances = parse_instances(bundle)
    in_field = all(v < FIELD_MODULUS for v in instances)
    iid = inference_id(registration.onchain_model_id, instances) if in_field else None
    record = None
    if iid is not None:
        try:
            record = get_record(chain, registry, iid)
        except RegistryError:
            record = None
    layout = registration.layout
    same_instances = record is not None and record.outputs == [
        str(v) for v in instances[layout.output_offset:layout.output_offset + layout.num_outputs]
    ]
    proof_valid = verify(bundle, keys)
    return BundleCheck(record is not None, same_model and record is not None and
                       record.onchain_model_id == registration.onchain_model_id,
                       same_instances, proof_valid, record)


def submit_batch(chain: Chain, registry: RegistryDeployment, onchain_model_id: str,
                 manifest_path: str | Path) -> dict[str, str]:
    """Record every proven bundle of a batch manifest in the registry (skipping those already
    recorded), writing each inference id back into the manifest. Returns {input id: status}.
    """
    from zkml._utils import atomic_write_json
    from zkml.proof.verify import load_bundle

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
