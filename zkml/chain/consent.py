"""Data-owner consent: an EIP-712 message the owner of an input signs, checked by the registry.

The owner of the data behind an input commitment (preset ``committed-input``) signs a
:class:`Consent`: which registry model may be run on it, which address (the processor) may
submit the result, for what purpose, until when, under which nonce. The processor submits the
proof with it (:func:`submit_with_consent`); ``InferenceRegistry.submitInferenceWithConsent``
verifies the proof, recovers the signer (canonical signatures only, domain = this chain and
this registry), checks the commitment, the sender, the expiry, revocation and single use, and
records the owner with the inference, under the id (statement, owner)
(:func:`consented_inference_id`), so a copy of the proof recorded with someone else's consent
cannot block the owner's record. The owner withdraws an unused consent with
:func:`revoke_consent`. Signing is offline: the key never leaves the caller. Batches:
``zkml.chain.consent_batch``.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from pydantic import BaseModel, ConfigDict

from zkml._progress import step
from zkml._utils import FIELD_MODULUS
from zkml.artifacts import ProofBundle, RegistryDeployment
from zkml.chain._registry_base import consented_inference_id
from zkml.chain._registry_base import contract as _contract
from zkml.chain._registry_base import send as _send
from zkml.chain.evm import Chain
from zkml.chain.registry import SubmitReceipt, submit_receipt, submittable_instances
from zkml.errors import ZkmlValueError
from zkml.proof.bundle import proof_bytes

__all__ = [
    "CONSENT_FORMAT",
    "Consent",
    "ConsentCheck",
    "ConsentUse",
    "sign_consent",
    "verify_consent",
    "revoke_consent",
    "consent_status",
    "submit_with_consent",
    "require_consent",
    "data_owner_of",
    "consents_used",
    "typed_data",
    "consent_digest",
    "purpose_hash",
]

CONSENT_FORMAT = "zkml-consent/1"
DOMAIN_NAME = "zkml InferenceRegistry"
DOMAIN_VERSION = "1"
#: secp256k1's group order; a valid signature's s is at most half of it (EIP-2)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_STATUS = {0: "fresh", 1: "used", 2: "revoked"}
_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Consent": [
        {"name": "owner", "type": "address"},
        {"name": "modelId", "type": "bytes32"},
        {"name": "inputCommitment", "type": "uint256"},
        {"name": "processor", "type": "address"},
        {"name": "purpose", "type": "bytes32"},
        {"name": "expiry", "type": "uint64"},
        {"name": "nonce", "type": "uint256"},
    ],
}
_HEX32 = re.compile(r"0x[0-9a-f]{64}")


class Consent(BaseModel):
    """A signed consent (public: it names addresses, a commitment and a purpose, no data).

    ``purpose`` is the text shown to the owner; only its keccak256 (``purpose_hash``) is
    signed and goes on chain. ``signature`` is 65 bytes r || s || v (v 27 or 28).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = CONSENT_FORMAT
    chain_id: int
    registry: str
    owner: str
    onchain_model_id: str
    input_commitment: str
    processor: str
    purpose: str = ""
    purpose_hash: str
    expiry: int
    nonce: int
    signature: str

    def as_tuple(self) -> tuple[Any, ...]:
        """The contract's ``Consent`` struct."""
        return (to_checksum_address(self.owner), bytes.fromhex(self.onchain_model_id[2:]),
                int(self.input_commitment), to_checksum_address(self.processor),
                bytes.fromhex(self.purpose_hash[2:]), self.expiry, self.nonce)

    def signature_bytes(self) -> bytes:
        raw = self.signature.removeprefix("0x")
        try:
            return bytes.fromhex(raw)
        except ValueError:
            return b""


def purpose_hash(purpose: str) -> str:
    """keccak256 of the purpose text (a 0x + 64 hex value is taken as the hash itself)."""
    if _HEX32.fullmatch(purpose.lower()):
        return purpose.lower()
    return "0x" + keccak(text=purpose).hex()


def typed_data(consent: Consent) -> dict[str, Any]:
    """The EIP-712 message (domain: this chain and registry) the owner signs."""
    return {
        "types": _TYPES,
        "primaryType": "Consent",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": consent.chain_id,
                   "verifyingContract": to_checksum_address(consent.registry)},
        "message": {
            "owner": to_checksum_address(consent.owner),
            "modelId": bytes.fromhex(consent.onchain_model_id[2:]),
            "inputCommitment": int(consent.input_commitment),
            "processor": to_checksum_address(consent.processor),
            "purpose": bytes.fromhex(consent.purpose_hash[2:]),
            "expiry": consent.expiry,
            "nonce": consent.nonce,
        },
    }


def consent_digest(consent: Consent) -> str:
    """The EIP-712 digest (what ``InferenceRegistry.consentDigest`` returns)."""
    msg = encode_typed_data(full_message=typed_data(consent))
    return "0x" + keccak(b"\x19" + msg.version + msg.header + msg.body).hex()


def _address(value: str, what: str) -> str:
    try:
        return to_checksum_address(value)
    except (ValueError, TypeError) as e:
        raise ZkmlValueError(f"{what} {str(value)[:80]!r} is not an address (0x + 40 hex)."
                             ) from e


def _check_fields(model_id: str, commitment: int, expiry: int, nonce: int) -> None:
    if not _HEX32.fullmatch(model_id.lower()):
        raise ZkmlValueError(f"model id {model_id[:80]!r} is not a registry model id (0x + 64 "
                             "hex, printed by `zkml registry register`).")
    if not 0 <= commitment < FIELD_MODULUS:
        raise ZkmlValueError("the input commitment is not a field element (0 <= c < p); give "
                             "the commitment of a `committed-input` proof.")
    if not 0 <= expiry < 2**64:
        raise ZkmlValueError(f"expiry {expiry} is not a unix time in seconds (uint64).")
    if not 0 <= nonce < 2**256:
        raise ZkmlValueError(f"nonce {nonce} does not fit in uint256.")


def sign_consent(
    private_key: str,
    *,
    chain_id: int,
    registry: str,
    onchain_model_id: str,
    input_commitment: int | str,
    processor: str,
    purpose: str,
    expiry: int,
    nonce: int | None = None,
) -> Consent:
    """Sign a consent with the data owner's key (offline). ``nonce`` defaults to a random
    128-bit number; ``expiry`` is a unix time in seconds (the last second it is valid).

    Raises:
        ZkmlValueError: a malformed key (its text is never echoed), address, id or value.
    """
    try:
        acct = Account.from_key(private_key.strip())
    except Exception:  # noqa: BLE001 - its message could echo the key: dropped on purpose
        raise ZkmlValueError("the data owner's key is not a valid private key (32 bytes hex)."
                             ) from None
    commitment = int(input_commitment)
    nonce = secrets.randbits(128) if nonce is None else nonce
    _check_fields(onchain_model_id, commitment, expiry, nonce)
    unsigned = Consent(
        chain_id=chain_id, registry=_address(registry, "registry"), owner=acct.address,
        onchain_model_id=onchain_model_id.lower(), input_commitment=str(commitment),
        processor=_address(processor, "processor"),
        purpose="" if _HEX32.fullmatch(purpose.lower()) else purpose,
        purpose_hash=purpose_hash(purpose), expiry=expiry, nonce=nonce, signature="0x",
    )
    signed = acct.sign_message(encode_typed_data(full_message=typed_data(unsigned)))
    return unsigned.model_copy(update={"signature": "0x" + bytes(signed.signature).hex()})


@dataclass(frozen=True)
class ConsentCheck:
    """What :func:`verify_consent` found: ``ok`` when ``problems`` is empty."""

    signer: str | None
    digest: str
    #: "fresh", "used" or "revoked" on the registry; None if no chain was asked
    status: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _signature_problem(sig: bytes) -> str | None:
    if len(sig) != 65:
        return f"signature: {len(sig)} bytes, not 65 (r, s, v)"
    if int.from_bytes(sig[32:64], "big") > SECP256K1_N // 2:
        return "signature: s is in the upper half (a malleable signature; the registry refuses it)"
    if sig[64] not in (27, 28):
        return f"signature: v is {sig[64]}, not 27 or 28"
    return None


def verify_consent(
    consent: Consent,
    *,
    registry: RegistryDeployment | None = None,
    chain: Chain | None = None,
    bundle: ProofBundle | None = None,
    processor: str | None = None,
    now: int | None = None,
) -> ConsentCheck:
    """Check a consent as the registry would, before anything is sent.

    Always: format, canonical signature by ``owner``, purpose text vs hash, expiry (against
    ``now``, default the clock). With ``registry``: it is for that chain and contract. With
    ``bundle``: the proof's input commitment is the consented one. With ``processor``: that
    address may submit. With ``chain`` (and ``registry``): the registry's digest is the same
    (same domain) and the nonce is still fresh (not used, not revoked).
    """
    problems: list[str] = []
    if consent.format != CONSENT_FORMAT:
        problems.append(f"format: {consent.format!r}, expected {CONSENT_FORMAT!r}")
    digest = consent_digest(consent)
    sig = consent.signature_bytes()
    signer: str | None = None
    bad_sig = _signature_problem(sig)
    if bad_sig:
        problems.append(bad_sig)
    else:
        try:
            signer = Account.recover_message(encode_typed_data(full_message=typed_data(consent)),
                                             signature=sig)
        except Exception:  # noqa: BLE001 - eth-keys' errors vary by backend
            problems.append("signature: no signer can be recovered from it")
        if signer is not None and signer != to_checksum_address(consent.owner):
            problems.append(f"signature: signed by {signer}, not by the owner {consent.owner}")
    if consent.purpose and purpose_hash(consent.purpose) != consent.purpose_hash:
        problems.append("purpose: the text is not what purpose_hash commits to")
    clock = int(time.time()) if now is None else now
    if clock > consent.expiry:
        problems.append(f"expiry: expired at {consent.expiry} (now {clock})")
    if registry is not None:
        if registry.chain_id != consent.chain_id:
            problems.append(f"domain: signed for chain {consent.chain_id}, the registry is on "
                            f"chain {registry.chain_id}")
        if to_checksum_address(registry.address) != to_checksum_address(consent.registry):
            problems.append(f"domain: signed for registry {consent.registry}, not "
                            f"{registry.address}")
    if bundle is not None and bundle.input_commitment != consent.input_commitment:
        problems.append("input commitment: the bundle's is "
                        f"{bundle.input_commitment or 'absent (preset without commitment)'}, "
                        f"the consent is for {consent.input_commitment}")
    if processor is not None and _address(processor, "processor") != \
            to_checksum_address(consent.processor):
        problems.append(f"processor: only {consent.processor} may submit, not {processor}")
    status = None
    if chain is not None and registry is not None:
        reg = _contract(chain, registry)
        onchain = "0x" + bytes(chain.call(reg.functions.consentDigest(consent.as_tuple()),
                                          gas=None)).hex()
        if onchain != digest:
            problems.append("domain: the registry computes another digest (another chain or "
                            "contract)")
        status = consent_status(chain, registry, consent.owner, consent.nonce)
        if status != "fresh":
            problems.append(f"nonce: consent {consent.nonce} is {status} on the registry")
    return ConsentCheck(signer, digest, status, problems)


def consent_status(chain: Chain, registry: RegistryDeployment, owner: str, nonce: int) -> str:
    """"fresh", "used" or "revoked": the registry's state of the owner's nonce."""
    reg = _contract(chain, registry)
    code = int(chain.call(reg.functions.consentStatus(_address(owner, "owner"), nonce),
                          gas=None))
    return _STATUS.get(code, str(code))


def revoke_consent(chain: Chain, registry: RegistryDeployment, nonce: int) -> int:
    """The data owner (``chain``'s account) withdraws the consent(s) signed with ``nonce``.
    Returns gas used.

    Raises:
        RegistryError: ``consent already used`` or ``consent revoked`` (already).
    """
    fn = _contract(chain, registry).functions.revokeConsent(nonce)
    with step("Revoking the consent", "consent_revoke"):
        return int(_send(chain, registry, fn, "revokeConsent", gas=100_000)["gasUsed"])


def submit_with_consent(chain: Chain, registry: RegistryDeployment, onchain_model_id: str,
                        bundle: ProofBundle, consent: Consent) -> SubmitReceipt:
    """Submit a proof bundle with the data owner's consent (``chain``'s account must be the
    consent's processor). Only the registry judges the consent: every rejection is its
    custom error. The record's id is :func:`consented_inference_id` (statement and owner).

    Raises:
        RegistryError: ``reason`` one of the registry's (signer is not the owner, commitment
            mismatch, not the processor, consent expired / revoked / already used, malleable
            signature, consent for another model, invalid proof, ...).
    """
    instances = submittable_instances(bundle)
    reg = _contract(chain, registry)
    fn = reg.functions.submitInferenceWithConsent(
        bytes.fromhex(onchain_model_id[2:]), proof_bytes(bundle), instances,
        consent.as_tuple(), consent.signature_bytes())
    with step("Submitting the inference with consent", "registry_submit"):
        receipt = _send(chain, registry, fn, "submitInferenceWithConsent")
    plain = submit_receipt(onchain_model_id, instances, receipt)
    return replace(plain, inference_id=consented_inference_id(onchain_model_id, instances,
                                                              consent.owner))


def require_consent(chain: Chain, registry: RegistryDeployment, onchain_model_id: str) -> int:
    """Model owner only, one way: the model records inferences only with consent from now on.
    Returns gas used."""
    fn = _contract(chain, registry).functions.requireConsent(
        bytes.fromhex(onchain_model_id[2:]))
    return int(_send(chain, registry, fn, "requireConsent", gas=100_000)["gasUsed"])


def data_owner_of(chain: Chain, registry: RegistryDeployment, inference_id: str) -> str | None:
    """The data owner whose consent recorded ``inference_id`` (None: recorded without)."""
    reg = _contract(chain, registry)
    owner = str(chain.call(reg.functions.dataOwnerOf(bytes.fromhex(inference_id[2:])),
                           gas=None))
    return None if int(owner, 16) == 0 else to_checksum_address(owner)


@dataclass(frozen=True)
class ConsentUse:
    """One ``ConsentUsed`` event: an inference recorded under a data owner's consent."""

    inference_id: str
    data_owner: str
    processor: str
    onchain_model_id: str
    consent_digest: str
    purpose_hash: str
    nonce: int
    block_number: int


def consents_used(chain: Chain, registry: RegistryDeployment, *, owner: str | None = None,
                  from_block: int = 0) -> list[ConsentUse]:
    """Every inference recorded with consent (only ``owner``'s if given), in order."""
    reg = _contract(chain, registry)
    filters = {"dataOwner": _address(owner, "owner")} if owner else None
    logs = chain.logs(reg.events.ConsentUsed(), from_block=from_block, argument_filters=filters)
    out = []
    for lg in sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"])):
        a = lg["args"]
        out.append(ConsentUse(
            "0x" + bytes(a["inferenceId"]).hex(), a["dataOwner"], a["processor"],
            "0x" + bytes(a["modelId"]).hex(), "0x" + bytes(a["consentDigest"]).hex(),
            "0x" + bytes(a["purpose"]).hex(), int(a["nonce"]), int(lg["blockNumber"])))
    return out
