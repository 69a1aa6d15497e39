"""Openings of the ``committed-input`` preset's hiding input commitment.

A proof of that preset publishes ``Poseidon(x, salt)`` (zkml/model/salt.py): with a fresh
random salt per proof, so nobody can invert it or link two proofs of the same input. The
*opening* is the input and the salt; it is PRIVATE (it is the data) and never goes into a
bundle: :func:`zkml.prove` writes it to its own file, mode 0600, when given ``opening_path``.
Whoever holds it (the data owner, the prover) checks that a bundle commits to exactly that
input with :func:`check_commitment` (``zkml commitment check``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from zkml import _ezkl
from zkml._utils import FIELD_MODULUS, atomic_write_bytes
from zkml.artifacts import ProofBundle
from zkml.errors import ArtifactError, BundleError, ZkmlValueError
from zkml.model.salt import SALT_ELEMENTS, salt_values
from zkml.proof.assemble import opening_path_for
from zkml.split_artifacts import SplitBundle
from zkml.version import OPENING_FORMAT

__all__ = ["OPENING_FORMAT", "CommitmentOpening", "write_opening", "load_opening",
           "commitment_of", "check_commitment", "opening_path_for", "load_any_bundle",
           "refuse_needless_opening"]

_GIVE = "give the X.opening.json written next to the bundle by `zkml prove` / `prove-batch`"


class CommitmentOpening(BaseModel):
    """What opens an input commitment: the input (flat, as proven) and its salt. PRIVATE.

    ``input_scale`` is the circuit's: ezkl quantised each value as ``round(v * 2**scale)``.
    ``input_commitment`` and ``model_id`` say which proof it opens (both public).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = OPENING_FORMAT
    model_id: str
    input_commitment: str
    input_scale: int
    input_shape: list[int]
    input: list[float]
    salt: list[int]


def write_opening(opening: CommitmentOpening, path: str | Path) -> Path:
    """Write an opening atomically, readable by its owner only (mode 0600)."""
    path = Path(path)
    # mkstemp creates the temp file 0600 and the rename keeps it: never readable by others
    atomic_write_bytes(path, (opening.model_dump_json(indent=2) + "\n").encode())
    os.chmod(path, 0o600)  # stated, not assumed
    return path


def load_opening(path: str | Path) -> CommitmentOpening:
    """Read an opening written by :func:`write_opening`.

    Raises:
        ArtifactError: missing, not JSON, or not an opening of this format.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError as e:
        raise ArtifactError(f"{path}: no such opening file (written next to the bundle by "
                            "`zkml prove` for the committed-input preset).") from e
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{path}: not a commitment opening ({e}); {_GIVE}.") from e
    if isinstance(raw, dict) and raw.get("format", OPENING_FORMAT) != OPENING_FORMAT:
        raise ArtifactError(f"{path}: not a commitment opening (format "
                            f"{str(raw['format'])[:40]!r}, not {OPENING_FORMAT!r}); {_GIVE}.")
    try:
        return CommitmentOpening.model_validate(raw)
    except ValidationError as e:
        raise ArtifactError(f"{path}: not a commitment opening "
                            f"({str(e).splitlines()[0][:160]}); {_GIVE}.") from e


def commitment_of(values: list[float], salt: list[int], input_scale: int) -> int:
    """The Poseidon commitment ezkl computes for input ``values`` with ``salt``.

    Raises:
        ZkmlValueError: a salt of the wrong length or range, or a non-finite value.
    """
    message = [float(v) for v in values] + salt_values(salt, input_scale)
    if any(v != v or v in (float("inf"), float("-inf")) for v in message):
        raise ZkmlValueError("the opening's input holds NaN or infinity.")
    return _ezkl.poseidon_hash([_ezkl.float_to_felt(v, input_scale) for v in message])


def load_any_bundle(path: str | Path) -> ProofBundle | SplitBundle:
    """A proof bundle, or a split model's bundle (both carry ``input_commitment``).

    Raises:
        BundleError: neither (the proof bundle's reason).
    """
    from zkml.proof.bundle import load_bundle

    try:
        return load_bundle(path)
    except BundleError as first:
        try:
            return SplitBundle.model_validate_json(Path(path).read_text())
        except (OSError, ValueError):
            raise first from None


def check_commitment(bundle: ProofBundle | SplitBundle | str | Path,
                     opening: CommitmentOpening | str | Path) -> bool:
    """Does ``bundle``'s input commitment open to ``opening``'s input and salt?

    Recomputes ``Poseidon(input, salt)`` as ezkl did when proving and compares it with the
    bundle's public commitment. Does not verify the proof (:func:`zkml.verify` does): a True
    here says "this proof's commitment is to this input", the proof says the rest.

    Args:
        bundle: a proof bundle (or split bundle) of the ``committed-input`` preset, or its
            path.
        opening: the private opening written when proving, or its path.

    Returns:
        True if they match; False for another input, another salt or another bundle.

    Raises:
        BundleError: the bundle commits to no input (another preset).
        ArtifactError: an unreadable bundle or opening file.

    Example:
        >>> zkml.check_commitment("bundle.json", "bundle.opening.json")
        True
    """
    b = bundle if isinstance(bundle, (ProofBundle, SplitBundle)) else load_any_bundle(bundle)
    o = opening if isinstance(opening, CommitmentOpening) else load_opening(opening)
    if b.input_commitment is None:
        raise BundleError(f"the bundle (preset {b.preset}) commits to no input: only "
                          "committed-input proofs can be opened.")
    if len(o.salt) != SALT_ELEMENTS:
        return False
    try:
        claimed = int(b.input_commitment)
    except ValueError as e:
        raise BundleError("bundle.input_commitment is not a decimal field element.") from e
    if not 0 <= claimed < FIELD_MODULUS:
        return False
    try:
        return commitment_of(o.input, o.salt, o.input_scale) == claimed
    except ZkmlValueError:
        return False


def refuse_needless_opening(preset: str, opening_path: object) -> None:
    """Raise if an opening is asked of a preset that commits to no input.

    Raises:
        ZkmlValueError: ``opening_path`` given for such a preset.
    """
    from zkml.presets import get_preset

    if opening_path is not None and not get_preset(preset).commits_input:
        raise ZkmlValueError(f"preset {preset} commits to no input: there is nothing to open "
                             "(drop opening_path, or compile with preset committed-input).")


