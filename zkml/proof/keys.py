"""Stage 4: proving and verifying keys, cached by content (circuit, SRS, ezkl version).

:func:`setup` takes a circuit or a split circuit (every segment set up with one SRS at the
shared logrows, the boundary commitments' positions read from each segment's settings).
"""

from __future__ import annotations

from pathlib import Path
from typing import overload

from zkml import _ezkl, cache
from zkml._progress import step
from zkml._utils import digest_of, sha256_file
from zkml.artifacts import Circuit, Keys, load_artifact, save_artifact
from zkml.errors import ArtifactError, SrsError
from zkml.proof.srs import SrsFile, resolve_srs
from zkml.split_artifacts import SegmentLink, SplitCircuit, SplitKeys

__all__ = ["setup", "keys_for_model", "split_model_id"]


@overload
def setup(circuit: Circuit, *, srs: SrsFile | None = ..., allow_dev_srs: bool = ...) -> Keys: ...


@overload
def setup(circuit: SplitCircuit, *, srs: SrsFile | None = ..., allow_dev_srs: bool = ...
          ) -> SplitKeys: ...


def setup(circuit: Circuit | SplitCircuit, *, srs: SrsFile | None = None,
          allow_dev_srs: bool = True) -> Keys | SplitKeys:
    """Generate (or reuse) the proving and verifying keys for ``circuit``.

    Args:
        circuit: the compiled circuit, or a split circuit (``compile_model(segments=)``):
            then every segment is set up with the same SRS.
        srs: the SRS to use; by default the imported public one for the circuit's logrows, or
            (if ``allow_dev_srs``) this machine's development SRS, with a warning.
        allow_dev_srs: permit the unsafe development SRS when no public one is imported.

    Returns:
        The :class:`Keys` artifact (``model_id`` is the verifying key's sha256); for a split
        circuit, :class:`SplitKeys`: one :class:`Keys` per segment, the boundary point
        offsets and the split model id.

    Raises:
        SrsError: no usable SRS, or one for another logrows.
        SetupError: ezkl failed to generate the keys.
        ArtifactError: a segment's settings do not say where its commitments are.

    Example:
        >>> keys = zkml.setup(circuit)
    """
    srs = srs or resolve_srs(circuit.logrows, allow_dev=allow_dev_srs)
    if srs.logrows != circuit.logrows:
        raise SrsError(
            f"the SRS is for logrows {srs.logrows} but the circuit needs {circuit.logrows}."
        )
    if isinstance(circuit, SplitCircuit):
        return _setup_split(circuit, srs)
    return _setup_one(circuit, srs)


def _setup_one(circuit: Circuit, srs: SrsFile) -> Keys:
    compiled_sha = sha256_file(circuit.compiled_path)
    key = digest_of("keys/3", circuit.digest, compiled_sha, srs.sha256, _ezkl.EZKL_VERSION)

    def build(tmp: Path) -> dict[str, object]:
        _ezkl.setup(Path(circuit.compiled_path), tmp / "vk.key", tmp / "pk.key", srs.path)
        # The Solidity verifier pins the exact proof length; ezkl's own verifier ignores
        # trailing bytes. Generating it here gives local verification the same strictness.
        src = _ezkl.create_evm_verifier(
            tmp / "vk.key", Path(circuit.settings_path), tmp / "Verifier.sol",
            tmp / "abi.json", srs.path,
        )
        (tmp / "abi.json").unlink(missing_ok=True)
        return {
            "model_id": sha256_file(tmp / "vk.key"),
            "proof_length": _ezkl.verifier_proof_length(src),
        }

    with step(f"Generating keys (logrows {circuit.logrows})", "setup"):
        entry = cache.get_or_build("keys", key, build)
    keys = Keys(
        circuit=circuit,
        dir=str(entry.path),
        pk_path=str(entry.file("pk.key")),
        vk_path=str(entry.file("vk.key")),
        srs_path=str(srs.path),
        srs_sha256=srs.sha256,
        srs_source=srs.source,
        model_id=str(entry.meta["model_id"]),
        proof_length=int(entry.meta["proof_length"]),  # type: ignore[call-overload]
        cache_hit=entry.hit,
    )
    # Index by model id so a bundle alone is enough to find its keys later.
    save_artifact(keys, cache.cache_root() / "models" / f"{keys.model_id}.json")
    return keys


def split_model_id(vk_digests: list[str], links: list[SegmentLink]) -> str:
    """The split model's id: sha256 over the segments' vk digests and links, in order."""
    return digest_of("zkml-split-model/1", vk_digests, [link.model_dump() for link in links])


def _setup_split(split: SplitCircuit, srs: SrsFile) -> SplitKeys:
    keys = [_setup_one(c, srs) for c in split.segments]
    links = []
    for c in split.segments:
        layout = _ezkl.polycommit_layout(Path(c.settings_path))
        links.append(SegmentLink(
            input_points=layout.inputs, output_points=layout.outputs,
            num_instances=_ezkl.read_settings(Path(c.settings_path)).num_instances))
    return SplitKeys(
        circuit=split, segments=keys, links=links,
        model_id=split_model_id([k.model_id for k in keys], links),
        srs_path=str(srs.path), srs_sha256=srs.sha256, srs_source=srs.source,
    )


def keys_for_model(model_id: str) -> Keys:
    """Find the keys set up on this machine for ``model_id``.

    Raises:
        ArtifactError: no keys for that model id in the cache.
    """
    if not all(c in "0123456789abcdef" for c in model_id) or len(model_id) != 64:
        raise ArtifactError(f"{model_id!r} is not a model id (64 hex characters).")
    path = cache.cache_root() / "models" / f"{model_id}.json"
    if not path.is_file():
        raise ArtifactError(
            f"no keys for model {model_id[:16]}... on this machine; pass the keys artifact "
            "(keys.json) explicitly or run setup for that model."
        )
    return load_artifact(Keys, path)
