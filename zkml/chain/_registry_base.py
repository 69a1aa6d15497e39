"""The registry contracts' plumbing: compiled artifacts, custom errors, statement ids.

Shared by the InferenceRegistry's write side (``registry``) and read side (``audit``), by
the ClaimRegistry's client (``claims``) and, for :func:`compiled`, by the SplitVerifier's
(``split``) and the CollabVerifier's (``collab``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from zkml import _solc, cache
from zkml._utils import digest_of
from zkml.artifacts import RegistryDeployment
from zkml.chain.evm import BlockTag, Chain, Reverted
from zkml.errors import ChainError, RegistryError

__all__ = ["REASONS", "NONE", "inference_id", "consented_inference_id", "compiled", "contract",
           "send", "registry_error"]

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
    # data-owner consent (zkml.chain.consent)
    "ConsentIsRequired": "consent required",
    "NoInputCommitment": "no input commitment",
    "ConsentForOtherModel": "consent for another model",
    "CommitmentMismatch": "commitment mismatch",
    "NotConsentProcessor": "not the processor",
    "ConsentExpired": "consent expired",
    "ConsentIsRevoked": "consent revoked",
    "ConsentAlreadyUsed": "consent already used",
    "BadSignatureLength": "bad signature",
    "BadSignatureV": "bad signature",
    "MalleableSignature": "malleable signature",
    "InvalidSignature": "invalid signature",
    "SignerNotOwner": "signer is not the owner",
    # proven model claims (zkml.chain.claims, ClaimRegistry.sol)
    "SetAlreadyCommitted": "set already committed",
    "ZeroSamples": "empty set",
    "SetNotCommitted": "set not committed",
    "SetCommittedThisBlock": "set committed in the same block",
    "SampleCountMismatch": "sample count mismatch",
    "SetForOtherModel": "set committed for another model",
    "MetricsLengthMismatch": "metrics length mismatch",
    "ClaimAlreadyRecorded": "claim already recorded",
    "RegistryNotAContract": "registry is not a contract",
}
NONE = 0xFFFF


#: contract name -> the cache tag of its compiled artifact (kept: a new tag recompiles)
_CACHE_TAGS = {"InferenceRegistry": "registry/1", "ClaimRegistry": "claim-registry/1",
               "SplitVerifier": "split-verifier/1", "CollabVerifier": "collab-verifier/1"}


def _source(name: str) -> str:
    return resources.files("verifier_contracts").joinpath(f"{name}.sol").read_text()


def compiled(name: str = "InferenceRegistry") -> dict[str, Any]:
    """The ABI and bytecode of ``verifier_contracts/<name>.sol`` (contract ``name``), compiled
    with the pinned solc once and cached by source and compiler version."""
    src = _source(name)
    version = _solc.solc_version()

    def build(tmp: Path) -> dict[str, object]:
        out = _solc.compile_standard({f"{name}.sol": src})
        art = out["contracts"][f"{name}.sol"][name]
        (tmp / "compiled.json").write_text(json.dumps({
            "abi": art["abi"], "bytecode": "0x" + art["evm"]["bytecode"]["object"],
        }))
        return {"solc": version}

    tag = _CACHE_TAGS.get(name, f"{name}/1")
    entry = cache.get_or_build("contracts", digest_of(tag, src, version), build)
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


def registry_error(reg: RegistryDeployment, e: Reverted, action: str) -> RegistryError:
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


def contract(chain: Chain, reg: RegistryDeployment) -> Any:
    if reg.chain_id != chain.chain_id:
        raise ChainError(f"the registry is on chain {reg.chain_id}; connected to "
                         f"{chain.chain_id}.")
    return chain.contract(reg.address, reg.abi)


def send(chain: Chain, reg: RegistryDeployment, fn: Any, action: str, gas: int | None = None,
         block: BlockTag = None) -> Any:
    try:
        # estimated unless given: a split model's verifier runs K verifiers (3.6M gas and up)
        return chain.transact(fn, gas=gas, preflight=True, block=block)
    except Reverted as e:
        raise registry_error(reg, e, action) from e


def inference_id(onchain_model_id: str, instances: list[int]) -> str:
    """The statement id the registry records: keccak256(abi.encode(modelId, instances))."""
    enc = abi_encode(["bytes32", "uint256[]"], [bytes.fromhex(onchain_model_id[2:]), instances])
    return "0x" + keccak(enc).hex()


def consented_inference_id(onchain_model_id: str, instances: list[int], data_owner: str) -> str:
    """The id of a record made with ``data_owner``'s consent: keccak256(abi.encode(statement
    id, owner)), so each (statement, owner) is recorded once and a copier's record never
    takes the real owner's id (``InferenceRegistry.consentedInferenceId``)."""
    from eth_utils.address import to_checksum_address

    statement = bytes.fromhex(inference_id(onchain_model_id, instances)[2:])
    enc = abi_encode(["bytes32", "address"], [statement, to_checksum_address(data_owner)])
    return "0x" + keccak(enc).hex()
