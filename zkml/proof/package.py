"""Verification packages: everything a third party needs to check a proof bundle off-chain,
and nothing private.

A package is a folder with relative paths only::

    package.json        the VerificationPackage manifest (ids, preset, layout, file hashes)
    vk.key              the verifying key (its sha256 is the model's vk digest)
    settings.json       ezkl's circuit settings
    verifier/Verifier.sol, verifier/abi.json, verifier/bytecode.hex   the Solidity verifier
    srs/kzg.srs         only with ``with_srs``: the SRS itself (else named by sha256 + source)

Every file's sha256 is in the manifest and checked on load, so a package copied to another
machine verifies with an empty cache. The format is documented in docs/package.md.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zkml._utils import sha256_file
from zkml.artifacts import (
    InstanceLayout,
    Keys,
    ModelRegistration,
    PackageFile,
    RegistryEntry,
    SrsIdentity,
    VerificationPackage,
    VerifierContract,
    load_artifact,
    save_artifact,
)
from zkml.errors import ArtifactError, SrsError
from zkml.presets import get_preset, input_visibilities, visibility_for
from zkml.proof import srs as srs_store
from zkml.version import __version__

__all__ = ["write_package", "load_package", "LoadedPackage", "instance_layout"]

MANIFEST = "package.json"


def instance_layout(keys: Keys) -> InstanceLayout:
    """Which public instances mean what, for ``keys``' circuit.

    ezkl orders instances as: module instances (the Poseidon hash of a hashed input) first,
    then the model's public tensors (a public input, then the outputs). With several graph
    inputs the preset's input visibility applies to each: public inputs are instances in the
    graph's input order before the outputs (measured, ezkl 23); a hashed input would add one
    Poseidon instance per input, which is why ``committed-input`` takes one input only.
    """
    from zkml import _ezkl  # the settings format is the adapter's

    c = keys.circuit
    total = _ezkl.read_settings(Path(c.settings_path)).num_instances
    n_out = 1
    for d in c.exported.output_shape:
        n_out *= d
    return InstanceLayout(
        num_instances=total,
        output_offset=total - n_out,
        num_outputs=n_out,
        input_commitment_index=0 if get_preset(c.preset).commits_input else None,
        output_scale=c.output_scales[0],
    )


def write_package(
    keys: Keys,
    out: str | Path,
    verifier: VerifierContract,
    *,
    registrations: list[ModelRegistration] = (),  # type: ignore[assignment]
    with_srs: bool = False,
    labels: list[str] | None = None,
) -> VerificationPackage:
    """Write the verification package of ``keys``' model to the folder ``out``.

    The folder is built next to ``out`` and renamed into place, so a failure leaves nothing.

    Raises:
        ArtifactError: ``out`` exists and is not a package (it is never overwritten then), or
            ``verifier`` is for another model.
    """
    out = Path(out)
    if verifier.model_id != keys.model_id:
        raise ArtifactError("the verifier contract is for another model than the keys; "
                            "build it from these keys (`zkml contract`).")
    if out.exists() and not (out / MANIFEST).is_file():
        raise ArtifactError(f"{out} exists and is not a verification package; choose a new "
                            "folder (nothing was written).")
    c = keys.circuit
    n_out = 1
    for d in c.exported.output_shape:
        n_out *= d
    if labels is not None and len(labels) != n_out:
        raise ArtifactError(f"{len(labels)} labels for {n_out} outputs; give one per output.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        files: dict[str, PackageFile] = {}

        def put(name: str, rel: str, src: Path | None = None, text: str | None = None) -> None:
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src is not None:
                shutil.copyfile(src, dest)
            else:
                dest.write_text(text or "")
            files[name] = PackageFile(path=rel, sha256=sha256_file(dest),
                                      size=dest.stat().st_size)

        put("vk", "vk.key", Path(keys.vk_path))
        put("settings", "settings.json", Path(c.settings_path))
        put("verifier_sol", "verifier/Verifier.sol", Path(verifier.sol_path))
        put("verifier_abi", "verifier/abi.json", text=json.dumps(verifier.abi, indent=1))
        put("verifier_bytecode", "verifier/bytecode.hex", text=verifier.bytecode + "\n")
        if with_srs:
            put("srs", "srs/kzg.srs", Path(keys.srs_path))
        pre = get_preset(c.preset)
        layout = instance_layout(keys)
        pkg = VerificationPackage(
            name=c.exported.name,
            vk_digest=keys.model_id,
            registry=[RegistryEntry(chain_id=r.chain_id, registry=r.registry,
                                    registry_model_id=r.onchain_model_id, verifier=r.verifier,
                                    owner=r.owner)
                      for r in registrations if r.model_id == keys.model_id],
            settings_digest=c.settings_digest,
            preset=c.preset,
            binds=pre.guarantee,
            visibility=_visibility(keys) if c.preset else {},
            logrows=c.logrows,
            proof_length=keys.proof_length,
            layout=layout,
            output_shape=c.exported.output_shape,
            output_scales=c.output_scales,
            labels=labels,
            srs=SrsIdentity(sha256=keys.srs_sha256, source=keys.srs_source, logrows=c.logrows,
                            included=with_srs),
            verifier_contract=verifier.contract_name,
            solc_version=verifier.solc_version,
            files=files,
            versions={"zkml": __version__, "ezkl": _ezkl_version()},
        )
        save_artifact(pkg, tmp / MANIFEST)
        if out.exists():  # an older package of the same folder: replace it whole
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return pkg


def _visibility(keys: Keys) -> dict[str, str]:
    """ezkl's visibilities; for several graph inputs, also each one's (``input_visibility.
    <name>``), so a package says which inputs a public preset exposes."""
    c = keys.circuit
    pre = get_preset(c.preset)
    vis = visibility_for(pre, param_visibility=None, allow_unbound_model=False)
    names = [i.name for i in c.exported.inputs]
    if len(names) > 1:
        vis.update({f"input_visibility.{n}": v
                    for n, v in input_visibilities(pre, names).items()})
    return vis


def _ezkl_version() -> str:
    from zkml import _ezkl

    return _ezkl.EZKL_VERSION


@dataclass(frozen=True)
class LoadedPackage:
    """A package whose files all matched their manifest hashes, with absolute paths."""

    root: Path
    manifest: VerificationPackage
    vk_path: Path
    settings_path: Path
    srs_path: Path


def load_package(path: str | Path) -> LoadedPackage:
    """Open a verification package and check every file against its manifest.

    Raises:
        ArtifactError: not a package, a file missing or changed, or the vk is not the one the
            manifest names.
        SrsError: the package names an SRS that is neither included nor on this machine.
    """
    root = Path(path)
    if root.is_file() and root.name == MANIFEST:
        root = root.parent
    if not (root / MANIFEST).is_file():
        raise ArtifactError(f"{root}: not a verification package (no {MANIFEST}); make one "
                            "with `zkml publish`.")
    pkg = load_artifact(VerificationPackage, root / MANIFEST)
    for name, f in pkg.files.items():
        p = (root / f.path).resolve()
        if root.resolve() not in p.parents:
            raise ArtifactError(f"{root}: file {name} points outside the package ({f.path}).")
        if not p.is_file() or sha256_file(p) != f.sha256:
            raise ArtifactError(
                f"{root}: {f.path} is missing or does not match the package manifest (sha256); "
                "the package was changed after `zkml publish`: get it again from its publisher."
            )
    for required in ("vk", "settings"):
        if required not in pkg.files:
            raise ArtifactError(f"{root}: the manifest lists no {required} file.")
    if pkg.files["vk"].sha256 != pkg.vk_digest:
        raise ArtifactError(f"{root}: vk.key is not the key of vk digest {pkg.vk_digest[:16]}...")
    if pkg.files["settings"].sha256 != pkg.settings_digest:
        raise ArtifactError(f"{root}: settings.json is not the settings the manifest names.")
    return LoadedPackage(root=root, manifest=pkg, vk_path=root / pkg.files["vk"].path,
                         settings_path=root / pkg.files["settings"].path,
                         srs_path=_srs_for(root, pkg))


def _srs_for(root: Path, pkg: VerificationPackage) -> Path:
    if "srs" in pkg.files:
        if pkg.files["srs"].sha256 != pkg.srs.sha256:
            raise ArtifactError(f"{root}: the included SRS is not the one the manifest names.")
        return root / pkg.files["srs"].path
    for s in srs_store.list_srs():
        if s.sha256 == pkg.srs.sha256:
            return s.path
    hint = (f"`zkml srs import FILE --logrows {pkg.srs.logrows}` (the public Powers-of-Tau "
            "file)" if pkg.srs.source == "ppot" else
            "ask the publisher for a package made with --with-srs (a development SRS exists "
            "only on the machine that generated it)")
    raise SrsError(
        f"this package was made with the {pkg.srs.source} SRS of logrows {pkg.srs.logrows} "
        f"(sha256 {pkg.srs.sha256[:16]}...), which is not on this machine: {hint}."
    )
