"""The verify page's work: check an uploaded proof bundle (and optionally a verification
package as a .zip) and compare it with what the registry recorded.

Uploads are data only: the bundle is parsed as JSON into a ``ProofBundle``; a package zip is
unpacked into a private temporary folder with every member's path, count and size checked
(no absolute path, no ``..``, no link), then opened with ``load_package``, which checks every
file against its manifest hashes. Decoded outputs are recomputed from the instances.
"""

from __future__ import annotations

import math
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any

from zkml.errors import ArtifactError, BundleError, SrsError, ZkmlError
from zkml.serve.store import BadQuery, Store

__all__ = ["MAX_UPLOAD", "Verdict", "check_upload"]

#: the largest file the verify page accepts (bundle or package zip)
MAX_UPLOAD = 1024 * 1024
_MAX_UNZIPPED = 64 * 1024 * 1024
_MAX_MEMBERS = 64


@dataclass
class Verdict:
    """What the verify page shows: ``status`` is valid, invalid or unchecked (no verifying key
    for the bundle's model here, and no package given)."""

    status: str
    reason: str | None = None
    checked_with: str | None = None
    vk_digest: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    #: recorded | not recorded | not registered | unknown
    onchain: str = "unknown"
    onchain_detail: str = ""
    matches_record: bool = False
    record: dict[str, Any] | None = None
    registry_model_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _unzip(data: bytes, dest: Path) -> Path:
    """Unpack a package zip safely into ``dest``; returns the folder holding package.json."""
    try:
        zf = zipfile.ZipFile(BytesIO(data))
    except zipfile.BadZipFile as e:
        raise ArtifactError("the verification package is not a .zip file; zip the folder "
                            "written by `zkml publish`.") from e
    with zf:
        members = zf.infolist()
        if len(members) > _MAX_MEMBERS:
            raise ArtifactError(f"the package zip has {len(members)} entries; a verification "
                                f"package has fewer than {_MAX_MEMBERS}.")
        if sum(m.file_size for m in members) > _MAX_UNZIPPED:
            raise ArtifactError("the package zip unpacks to more than 64 MB; not a package.")
        for m in members:
            p = PurePosixPath(m.filename)
            kind = (m.external_attr >> 16) & 0o170000
            if p.is_absolute() or ".." in p.parts or "\\" in m.filename or kind == 0o120000:
                raise ArtifactError(f"the package zip has an unsafe entry {m.filename[:80]!r}.")
            if m.is_dir():
                continue
            target = dest.joinpath(*p.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src:
                blob = src.read(m.file_size + 1)
            if len(blob) != m.file_size:
                raise ArtifactError(f"the package zip entry {m.filename[:80]!r} is not the "
                                    "size it declares.")
            target.write_bytes(blob)
    found = sorted(dest.rglob("package.json"), key=lambda q: len(q.parts))
    if not found:
        raise ArtifactError("the zip holds no package.json: zip the folder written by "
                            "`zkml publish`.")
    return found[0].parent


def _labelled(values: list[float], labels: list[str] | None) -> list[dict[str, Any]]:
    named = labels if labels and len(labels) == len(values) else None
    return [{"label": named[i] if named else f"output {i}", "value": v}
            for i, v in enumerate(values)]


def check_upload(store: Store, bundle_data: bytes, bundle_name: str,
                 package_zip: bytes | None = None,
                 server_packages: dict[str, Path] | None = None) -> Verdict:
    """Check one uploaded bundle; every expected failure becomes the verdict's ``reason``."""
    from zkml.proof.bundle import bundle_problem, decoded_outputs, load_bundle, parse_instances
    from zkml.proof.package import LoadedPackage, load_package

    with tempfile.TemporaryDirectory(prefix="zkml-verify-") as tmp:
        path = Path(tmp) / "bundle.json"
        path.write_bytes(bundle_data)
        try:
            bundle = load_bundle(path)
            problem = bundle_problem(bundle)
            instances = parse_instances(bundle)
        except BundleError as e:
            return Verdict("invalid", str(e).replace(str(path), bundle_name or "the upload"))
        v = Verdict("unchecked", vk_digest=bundle.model_id)
        package: LoadedPackage | None = None
        try:
            if package_zip:
                package = load_package(_unzip(package_zip, Path(tmp) / "package"))
            elif server_packages and bundle.model_id in server_packages:
                package = load_package(server_packages[bundle.model_id])
        except (ArtifactError, SrsError) as e:
            v.reason = f"the verification package cannot be used: {e}"
            return _onchain(store, v, bundle, instances, problem)
        labels = package.manifest.labels if package is not None else None
        if labels is None and store.packages.get(bundle.model_id):
            labels = store.packages[bundle.model_id].labels
        try:
            v.outputs = _labelled(decoded_outputs(bundle), labels)
        except BundleError:
            v.outputs = []
        v = _verify(v, bundle, package)
        return _onchain(store, v, bundle, instances, problem)


def _verify(v: Verdict, bundle: Any, package: Any) -> Verdict:
    from zkml.proof.verify import verify_detailed

    try:
        result = verify_detailed(bundle, package=package)
    except ArtifactError as e:
        v.reason = (f"no verifying key for model {bundle.model_id[:16]}... on this server "
                    f"({str(e)[:200]}): upload the model's verification package (.zip of the "
                    "folder written by `zkml publish`).")
        return v
    except ZkmlError as e:
        v.reason = str(e)
        return v
    v.status = "valid" if result.valid else "invalid"
    v.reason = result.reason
    v.checked_with = result.checked_with
    return v


def _onchain(store: Store, v: Verdict, bundle: Any, instances: list[int],
             problem: str | None) -> Verdict:
    from zkml._utils import FIELD_MODULUS
    from zkml.chain.registry import inference_id

    models = store.by_vk_digest(bundle.model_id)
    v.registry_model_ids = [m["model_id"] for m in models]
    block = store.status().get("last_block", "?")
    if not models:
        v.onchain = "not registered"
        v.onchain_detail = (f"no model with vk digest {bundle.model_id[:16]}... is registered "
                            f"in this registry (indexed up to block {block}): this bundle is "
                            "not part of this audit trail.")
        return v
    if any(x >= FIELD_MODULUS for x in instances):
        v.onchain = "not recorded"
        v.onchain_detail = "an instance is outside the field: the registry cannot record it."
        return v
    for m in models:
        try:
            rec = store.inference(inference_id(m["model_id"], instances))
        except BadQuery:
            continue
        v.onchain, v.record = "recorded", rec
        stored_ok = len(bundle.outputs) == len(rec["decoded_outputs"]) and all(
            math.isclose(a, b, rel_tol=0, abs_tol=1e-12)
            for a, b in zip(bundle.outputs, rec["decoded_outputs"], strict=False))
        v.matches_record = stored_ok and problem is None
        v.onchain_detail = (
            f"recorded in block {rec['block_number']} (tx {rec['tx_hash'][:18]}...) for model "
            f"{m['model_id'][:18]}...; " + (
                "the bundle is that record." if v.matches_record else
                "but the bundle's stored outputs are not the recorded ones "
                f"({_brief(bundle.outputs)} stored, {_brief(rec['decoded_outputs'])} "
                "recorded): it was edited after proving."))
        return v
    v.onchain = "not recorded"
    v.onchain_detail = (f"the model is registered ({len(models)} registration(s)), but these "
                        f"instances were never recorded (indexed up to block {block}).")
    return v


def _brief(values: list[float]) -> str:
    return "[" + ", ".join(f"{x:.6g}" for x in values[:4]) + (", ..." if len(values) > 4
                                                                 else "") + "]"
