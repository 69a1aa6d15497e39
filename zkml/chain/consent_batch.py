"""Batch submission with data-owner consent: each proven input recorded with its owner's consent.

A consent names the input commitment, which exists only once the input is proven (and, with
the salted commitment, differs on every proof). So the flow is:

1. the processor proves the batch (``zkml prove-batch``): ``<id>.bundle.json`` (public) and
   ``<id>.opening.json`` (private: the input and its salt) per input;
2. each data owner receives their bundle and opening over a private channel, checks that the
   bundle commits to their data (``zkml commitment check``) and signs a consent for the
   bundle's commitment (``zkml consent sign --bundle``); the consent files (public) are
   collected in one directory, under any names;
3. the processor runs ``zkml prove-batch ... --submit --consent-dir DIR`` again: nothing is
   proven twice, and each bundle is submitted with the consent whose commitment it carries.

A bundle without a valid consent is reported and never submitted without one.
"""

from __future__ import annotations

import json
from pathlib import Path

from zkml._utils import atomic_write_json
from zkml.artifacts import RegistryDeployment, load_artifact
from zkml.chain._registry_base import consented_inference_id
from zkml.chain._registry_base import contract as _contract
from zkml.chain.consent import Consent, data_owner_of, submit_with_consent, verify_consent
from zkml.chain.evm import Chain
from zkml.errors import ArtifactError, RegistryError, ZkmlValueError
from zkml.proof.bundle import load_bundle, parse_instances

__all__ = ["load_consents", "submit_batch_with_consent", "consent_required", "all_recorded"]


def consent_required(chain: Chain, registry: RegistryDeployment, onchain_model_id: str) -> bool:
    """Whether the registry records this model's inferences only with consent."""
    reg = _contract(chain, registry)
    return bool(chain.call(reg.functions.consentRequired(bytes.fromhex(onchain_model_id[2:])),
                           gas=None))


def load_consents(consent_dir: str | Path) -> dict[str, list[Consent]]:
    """Every consent file (``*.json``) in ``consent_dir``, by input commitment.

    Raises:
        ArtifactError: the directory is missing, or a .json file in it is not a consent.
    """
    d = Path(consent_dir)
    if not d.is_dir():
        raise ArtifactError(f"{d}: no such directory; give the folder of the data owners' "
                            "consent files (from `zkml consent sign --bundle`).")
    out: dict[str, list[Consent]] = {}
    for p in sorted(d.glob("*.json")):
        c = load_artifact(Consent, p)
        out.setdefault(c.input_commitment, []).append(c)
    return out


def submit_batch_with_consent(chain: Chain, registry: RegistryDeployment,
                              onchain_model_id: str, manifest_path: str | Path,
                              consent_dir: str | Path) -> dict[str, str]:
    """Submit every proven bundle of a batch manifest with its owner's consent.

    The consent of a bundle is found by the bundle's input commitment; each candidate is
    checked offline first (signature, expiry, domain, this processor, nonce still fresh) and
    the first valid one is used. Returns {input id: status}; a status other than
    "recorded ..." / "already recorded ..." means that input was NOT recorded: "no consent",
    "consent invalid: ...", "rejected: <registry reason>". The record's inference id is
    written back into the manifest.

    Raises:
        ArtifactError: the consent directory or a consent file is unreadable.
        ZkmlValueError: the manifest's bundles commit to no input (another preset).
    """
    consents = load_consents(consent_dir)
    path = Path(manifest_path)
    manifest = json.loads(path.read_text())
    statuses: dict[str, str] = {}
    for entry in manifest["entries"]:
        if entry["status"] not in ("ok", "skipped"):
            continue
        bundle = load_bundle(entry["bundle"])
        if bundle.input_commitment is None:
            raise ZkmlValueError(f"{entry['bundle']} commits to no input (preset "
                                 f"{bundle.preset}): consent needs the committed-input preset.")
        status = "no consent"
        for c in consents.get(bundle.input_commitment, []):
            if c.onchain_model_id != onchain_model_id.lower():
                status = "consent invalid: for another model"
                continue
            check = verify_consent(c, registry=registry, chain=chain, bundle=bundle,
                                   processor=chain.account)
            iid = consented_inference_id(onchain_model_id, parse_instances(bundle), c.owner)
            if not check.ok:
                if data_owner_of(chain, registry, iid) is not None:  # a re-run: done before
                    entry["inference_id"] = iid
                    status = f"already recorded with the consent of {c.owner}"
                    break
                status = "consent invalid: " + "; ".join(check.problems)
                continue
            try:
                receipt = submit_with_consent(chain, registry, onchain_model_id, bundle, c)
                entry["inference_id"] = receipt.inference_id
                status = f"recorded with the consent of {c.owner}"
            except RegistryError as e:
                if e.reason == "replay":
                    entry["inference_id"] = iid
                    status = f"already recorded with the consent of {c.owner}"
                else:
                    status = f"rejected: {e.reason}"
                    continue
            break
        statuses[entry["input_id"]] = status
        atomic_write_json(path, manifest)  # progress survives a crash mid-batch
    return statuses


def all_recorded(statuses: dict[str, str]) -> bool:
    """True when every input of a batch submission was recorded (now or before)."""
    return all(s.startswith(("recorded", "already recorded")) for s in statuses.values())
