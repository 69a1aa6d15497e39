"""Keys for a split model: every segment set up with one SRS at the shared logrows."""

from __future__ import annotations

from pathlib import Path

from zkml import _ezkl
from zkml._utils import digest_of
from zkml.artifacts import SegmentLink, SplitCircuit, SplitKeys
from zkml.errors import SrsError
from zkml.proof.keys import setup
from zkml.proof.srs import SrsFile, resolve_srs

__all__ = ["setup_split", "split_model_id"]


def split_model_id(vk_digests: list[str], links: list[SegmentLink]) -> str:
    """The split model's id: sha256 over the segments' vk digests and links, in order."""
    return digest_of("zkml-split-model/1", vk_digests, [link.model_dump() for link in links])


def setup_split(split: SplitCircuit, *, srs: SrsFile | None = None,
                allow_dev_srs: bool = True) -> SplitKeys:
    """Generate (or reuse) proving and verifying keys for every segment of ``split``.

    Args:
        split: the artifact from :func:`zkml.compile_split`.
        srs: the SRS (for ``split.logrows``); by default the imported public one, else (if
            ``allow_dev_srs``) this machine's development SRS, with a warning.
        allow_dev_srs: permit the unsafe development SRS.

    Returns:
        :class:`SplitKeys`: one :class:`Keys` per segment, the boundary point offsets and the
        split model id.

    Raises:
        SrsError: no usable SRS, or one for another logrows.
        SetupError: ezkl failed to generate a segment's keys.
        ArtifactError: a segment's settings do not say where its commitments are.

    Example:
        >>> keys = zkml.setup_split(zkml.compile_split(exported, X[:64], segments=2))
    """
    srs = srs or resolve_srs(split.logrows, allow_dev=allow_dev_srs)
    if srs.logrows != split.logrows:
        raise SrsError(f"the SRS is for logrows {srs.logrows} but the split needs "
                       f"{split.logrows}.")
    keys = [setup(c, srs=srs, allow_dev_srs=allow_dev_srs) for c in split.segments]
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
