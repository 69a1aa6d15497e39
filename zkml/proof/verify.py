"""Local verification of a proof bundle, with the model's keys or a verification package.

Like py_ecc's verifiers, :func:`verify` answers False for every bundle that does not verify:
tampered proof bytes, changed or out-of-field instances, stored outputs that are not what the
instances encode, a proof for another model. :func:`verify_detailed` says why, naming the
field. Both raise only when the bundle file is unreadable or of an unknown format
(``BundleError``), or the keys/package are missing or corrupt (``ArtifactError``, ``SrsError``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from zkml import _ezkl, cache
from zkml.artifacts import Keys, ProofBundle
from zkml.errors import ZkmlValueError
from zkml.proof.bundle import (
    Verification,
    bundle_problem,
    load_bundle,
    parse_instances,
    proof_bytes,
)
from zkml.proof.keys import keys_for_model
from zkml.proof.package import LoadedPackage, load_package
from zkml.split_artifacts import SplitBundle, SplitKeys

__all__ = ["verify", "verify_detailed", "Verification", "load_bundle", "parse_instances",
           "proof_bytes"]


@dataclass(frozen=True)
class _Facts:
    """What a verifier needs, from keys or a package."""

    vk_digest: str
    settings_digest: str
    proof_length: int
    num_outputs: int
    vk_path: Path
    settings_path: Path
    srs_path: Path
    source: str
    hint: str


def _from_keys(keys: Keys) -> _Facts:
    c = keys.circuit
    # A corrupt verifying key must be an error, not a silent "invalid proof".
    cache.ensure_intact(keys.dir, "proving/verifying keys")
    cache.ensure_intact(c.dir, "compiled circuit files")
    cache.ensure_file_hash(keys.srs_path, keys.srs_sha256, "SRS file")
    n_out = 1
    for d in c.exported.output_shape:
        n_out *= d
    return _Facts(keys.model_id, c.settings_digest, keys.proof_length, n_out,
                  Path(keys.vk_path), Path(c.settings_path), Path(keys.srs_path), "keys",
                  "pass that model's keys.json")


def _from_package(pkg: LoadedPackage) -> _Facts:
    m = pkg.manifest
    return _Facts(m.vk_digest, m.settings_digest, m.proof_length, m.layout.num_outputs,
                  pkg.vk_path, pkg.settings_path, pkg.srs_path, "package",
                  "use that model's verification package")


def verify_detailed(
    bundle: ProofBundle | SplitBundle | str | Path,
    keys: Keys | SplitKeys | None = None,
    *,
    package: LoadedPackage | str | Path | None = None,
) -> Verification:
    """Check a proof bundle and say why it fails.

    Args:
        bundle: a :class:`ProofBundle` or the path of its JSON file; a :class:`SplitBundle`
            (or its path, with split keys) is checked segment by segment and link by link.
        keys: the model's keys; by default looked up on this machine by ``bundle.model_id``.
        package: a verification package (folder from :func:`zkml.publish`) instead of keys:
            works on any machine, with an empty cache.

    Returns:
        :class:`Verification` (truthy when valid).

    Raises:
        BundleError: the bundle file is unreadable or of an unknown format.
        ArtifactError: no keys for the bundle's model here, or keys/package corrupt.
        SrsError: the package's SRS is neither included nor on this machine.
        ZkmlValueError: both ``keys`` and ``package`` given.

    Example:
        >>> v = zkml.verify_detailed("bundle.json", package="pkg/")
        >>> v.valid, v.reason
    """
    if keys is not None and package is not None:
        raise ZkmlValueError("give keys or a package, not both.")
    if isinstance(keys, SplitKeys) or isinstance(bundle, SplitBundle):
        return _verify_split(bundle, keys, package)
    if not isinstance(bundle, ProofBundle):
        bundle = load_bundle(bundle)
    problem = bundle_problem(bundle)
    if package is not None:
        facts = _from_package(package if isinstance(package, LoadedPackage)
                              else load_package(package))
    else:
        facts = _from_keys(keys or keys_for_model(bundle.model_id))
    if problem:
        return Verification(False, problem, facts.source)
    if bundle.model_id != facts.vk_digest:
        return Verification(False, f"model_id: the bundle is for vk digest {bundle.model_id[:16]}"
                            f"..., the {facts.source} for {facts.vk_digest[:16]}...; "
                            f"{facts.hint}", facts.source)
    if bundle.settings_digest != facts.settings_digest:
        return Verification(False, "settings_digest: the bundle was proven with other circuit "
                            "settings than these", facts.source)
    proof = proof_bytes(bundle)
    if len(proof) != facts.proof_length:
        return Verification(False, f"proof: {len(proof)} bytes, this circuit's proofs are "
                            f"{facts.proof_length}", facts.source)
    instances = parse_instances(bundle)
    if bundle.output_instance_offset != len(instances) - facts.num_outputs:
        return Verification(False, "output_instance_offset: does not point at this model's "
                            f"{facts.num_outputs} outputs", facts.source)
    work = cache.private_workdir("verify")
    try:
        pf = work / "proof.json"
        _ezkl.write_proof(pf, proof, instances)
        ok = _ezkl.verify(pf, facts.settings_path, facts.vk_path, facts.srs_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Verification(ok, None if ok else "proof: does not verify for these instances "
                        "under this verifying key", facts.source)


def _verify_split(bundle: ProofBundle | SplitBundle | str | Path,
                  keys: Keys | SplitKeys | None, package: object) -> Verification:
    """A split bundle: every segment under its key, every link (zkml.proof.split_verify)."""
    from zkml.proof.split_verify import verify_split_detailed

    if not isinstance(keys, SplitKeys) or package is not None:
        raise ZkmlValueError("a split bundle is checked with its split model's keys "
                             "(zkml.setup of the split circuit), not a package or one "
                             "circuit's keys.")
    if isinstance(bundle, ProofBundle):
        return Verification(False, "format: a single-circuit bundle, not a split bundle of "
                            "this split model")
    return verify_split_detailed(bundle, keys)


def verify(
    bundle: ProofBundle | SplitBundle | str | Path,
    keys: Keys | SplitKeys | None = None,
    *,
    package: LoadedPackage | str | Path | None = None,
) -> bool:
    """Check a proof bundle against the model's verifying key.

    Args:
        bundle: a :class:`ProofBundle` or the path of its JSON file.
        keys: the model's keys; by default looked up on this machine by ``bundle.model_id``.
        package: a verification package folder instead of keys (another machine).

    Returns:
        True if the proof verifies for this model and these instances and the stored outputs
        are what the instances encode, else False (:func:`verify_detailed` says why).

    Raises:
        BundleError: the bundle file is unreadable or of an unknown format (not for a bad
            proof: that is False).
        ArtifactError: no keys given and none on this machine for the bundle's model id.

    Example:
        >>> assert zkml.verify(bundle, keys)
        >>> assert zkml.verify("bundle.json", package="pkg/")
    """
    return verify_detailed(bundle, keys, package=package).valid
