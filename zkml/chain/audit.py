"""The registry's read side: the audit log, one record, and whether a local bundle is what was
recorded. Outputs shown are always decoded from the on-chain instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from zkml._utils import FIELD_MODULUS, dequantize
from zkml.artifacts import InferenceRecord, Keys, ModelRegistration, ProofBundle, RegistryDeployment
from zkml.chain._registry_base import consented_inference_id, inference_id
from zkml.chain._registry_base import contract as _contract
from zkml.chain.evm import Chain, Reverted
from zkml.errors import RegistryError, ZkmlValueError
from zkml.proof.bundle import bundle_problem, parse_instances
from zkml.proof.verify import verify_detailed

__all__ = ["audit_log", "get_record", "check_bundle", "BundleCheck", "resolve_model",
           "ResolvedModel"]


def _model_info(chain: Chain, reg: Any, model_id: bytes, memo: dict[bytes, tuple[int, bool]]
                ) -> tuple[int, bool]:
    if model_id not in memo:
        m = chain.call(reg.functions.getModel(model_id), gas=None)
        memo[model_id] = (int(m[5][5]), bool(m[2]))  # (layout.outputScale, retired)
    return memo[model_id]


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference given by a user, and what it resolved to on this registry."""

    given: str
    #: "registry_model_id" or "vk_digest": which form ``given`` was read as
    form: str
    registry_model_ids: list[str]
    vk_digest: str


def _hex32(value: str, what: str) -> bytes:
    raw = value.lower().removeprefix("0x")
    if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        raise RegistryError(
            f"{what} {value[:80]!r} is not 32 bytes of hex: give a registry model id "
            "(0x + 64 hex, printed by `zkml registry register`) or a vk digest (64 hex, "
            "printed by `zkml setup`).", "bad id")
    return bytes.fromhex(raw)


def resolve_model(chain: Chain, registry: RegistryDeployment, model: str) -> ResolvedModel:
    """Read ``model`` as a registry model id, else as a vk digest (every registration of that
    verifying key on this registry).

    Raises:
        RegistryError: reason ``bad id`` (not 32 bytes of hex) or ``unknown model`` (neither
            form is registered here).
    """
    raw = _hex32(model, "model")
    reg = _contract(chain, registry)
    try:
        m = chain.call(reg.functions.getModel(raw), gas=None)
    except Reverted:  # UnknownModel: not a registry model id
        m = None
    if m is not None and int(str(m[0]), 16) != 0:  # an owner: it is a registry model id
        return ResolvedModel(model, "registry_model_id", ["0x" + raw.hex()], bytes(m[4]).hex())
    logs = chain.logs(reg.events.ModelRegistered())
    ids = ["0x" + bytes(lg["args"]["modelId"]).hex() for lg in logs
           if bytes(lg["args"]["vkDigest"]) == raw]
    if not ids:
        raise RegistryError(
            f"no model {model[:80]} on the registry at {registry.address}: it is neither a "
            "registry model id nor the vk digest of a registered model.", "unknown model")
    return ResolvedModel(model, "vk_digest", ids, raw.hex())


def audit_log(
    chain: Chain,
    registry: RegistryDeployment,
    *,
    model: str | None = None,
    submitter: str | None = None,
    from_block: int = 0,
    to_block: int | None = None,
) -> list[InferenceRecord]:
    """Every recorded inference, in order, filtered by model, submitter and block range.

    Args:
        model: a registry model id or a vk digest (see :func:`resolve_model`).
        submitter: a 0x address.

    Raises:
        RegistryError: ``model`` is malformed or unknown here (never a silent empty log).
        ZkmlValueError: ``submitter`` is not an address.
    """
    reg = _contract(chain, registry)
    filters: dict[str, Any] = {}
    if model:
        filters["modelId"] = [bytes.fromhex(i[2:])
                              for i in resolve_model(chain, registry, model).registry_model_ids]
    if submitter:
        try:
            filters["submitter"] = to_checksum_address(submitter)
        except ValueError as e:
            raise ZkmlValueError(f"submitter {submitter[:80]!r} is not an address (0x + 40 "
                                 "hex).") from e
    logs = chain.logs(reg.events.InferenceVerified(), from_block=from_block,
                      to_block=to_block if to_block is not None else "latest",
                      argument_filters=filters or None)
    memo: dict[bytes, tuple[int, bool]] = {}
    out = []
    for log in sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"])):
        a = log["args"]
        scale, retired = _model_info(chain, reg, bytes(a["modelId"]), memo)
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
        RegistryError: not an inference id (reason ``bad id``) or no such record (reason
            ``unknown inference``).
    """
    raw = inference.lower().removeprefix("0x")
    if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        raise RegistryError(f"inference id {inference[:80]!r} is not 0x + 64 hex (printed by "
                            "`zkml registry submit` and `zkml registry log`).", "bad id")
    reg = _contract(chain, registry)
    rec, _ = chain.call(reg.functions.getRecord(bytes.fromhex(raw)), gas=None)
    if int(str(rec[1]), 16) == 0:  # no submitter: never recorded
        raise RegistryError(f"no inference {inference} in the registry.", "unknown inference")
    matches = [r for r in audit_log(chain, registry, model="0x" + bytes(rec[0]).hex(),
                                    from_block=int(rec[3]), to_block=int(rec[3]))
               if r.inference_id == "0x" + raw]
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
    #: the bundle's stored outputs are what its instances (and so the record) say
    outputs_match: bool = True
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return (self.recorded and self.same_model and self.same_instances and self.proof_valid
                and self.outputs_match)


def check_bundle(chain: Chain, registry: RegistryDeployment, registration: ModelRegistration,
                 bundle: ProofBundle, keys: Keys | None = None,
                 package: str | Path | None = None,
                 data_owner: str | None = None) -> BundleCheck:
    """Confirm ``bundle`` matches an on-chain record: same model, same instances, the stored
    outputs are what was recorded, and the proof verifies locally (with ``keys`` or a
    verification ``package``). With ``data_owner``: the record made with that owner's consent
    (consented records are keyed by statement and owner)."""
    same_model = bundle.model_id == registration.model_id
    instances = parse_instances(bundle)
    in_field = all(v < FIELD_MODULUS for v in instances)
    iid = None
    if in_field:
        iid = (consented_inference_id(registration.onchain_model_id, instances, data_owner)
               if data_owner else inference_id(registration.onchain_model_id, instances))
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
    verdict = verify_detailed(bundle, keys, package=package)
    problem = bundle_problem(bundle)
    return BundleCheck(record is not None, same_model and record is not None and
                       record.onchain_model_id == registration.onchain_model_id,
                       same_instances, verdict.valid, record,
                       outputs_match=problem is None or not problem.startswith("outputs"),
                       reason=verdict.reason or (None if record else
                                                 "no record of these instances"))


