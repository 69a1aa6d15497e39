"""Committing an evaluation set before any proof: one public root, one private opening.

Each sample gets a fresh random salt and the commitment its proof will publish,
``Poseidon(input, salt)`` (the committed-input preset, zkml/model/salt.py); the root binds
every sample's commitment, label, group and position (zkml/claims/merkle.py). Publish the
:class:`SetCommitment` (e.g. on-chain) first; keep the :class:`SetOpening` (features and
salts) private: it is what proves the samples, and what opens a leaf to an auditor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from zkml._progress import step
from zkml._utils import atomic_write_bytes
from zkml.artifacts import Keys
from zkml.claims.dataset import LabelledSet
from zkml.claims.formats import (
    SET_FORMAT,
    SET_OPENING_FORMAT,
    SampleOpening,
    SetCommitment,
    SetOpening,
)
from zkml.claims.merkle import set_leaf, set_root
from zkml.errors import ArtifactError, InputError, ZkmlValueError
from zkml.model.salt import draw_salt
from zkml.presets import get_preset
from zkml.proof.commitment import commitment_of
from zkml.proof.inputs import check_inputs

__all__ = ["commit_set", "leaves_of", "write_set_opening", "load_set_opening",
           "load_set_commitment"]


def leaves_of(indices: Sequence[int], commitments: Sequence[str], labels: Sequence[int],
              groups: Sequence[str | None]) -> list[bytes]:
    """The set leaves of samples given by parallel lists (commitments as decimal strings)."""
    return [set_leaf(i, int(c), y, g)
            for i, c, y, g in zip(indices, commitments, labels, groups, strict=True)]


def commit_set(keys: Keys, data: LabelledSet) -> tuple[SetCommitment, SetOpening]:
    """Salt and commit every sample of ``data`` for ``keys``' model.

    Args:
        keys: the model's keys; its circuit must use the ``committed-input`` preset (each
            proof then publishes the sample's salted commitment).
        data: the labelled set (:func:`zkml.claims.read_labelled`).

    Returns:
        (public :class:`SetCommitment`, PRIVATE :class:`SetOpening`).

    Raises:
        ZkmlValueError: the preset commits to no input, or the model takes several inputs.
        InputError: a sample does not fit the model's input (named by its index).

    Example:
        >>> public, private = zkml.claims.commit_set(keys, read_labelled("eval.csv"))
    """
    c = keys.circuit
    if not get_preset(c.preset).commits_input:
        raise ZkmlValueError(f"a claim needs the committed-input preset (its proofs publish each "
                             f"sample's commitment); this circuit is {c.preset}: compile with "
                             "`--preset committed-input`, then setup.")
    if len(c.exported.inputs) != 1:
        raise ZkmlValueError("claims support models with one graph input; this one takes "
                             f"{len(c.exported.inputs)}.")
    spec = c.exported.inputs[0]
    samples = []
    with step(f"Committing {len(data)} samples", "claim_commit"):
        for i, (x, y) in enumerate(zip(data.features, data.labels, strict=True)):
            try:
                x = x.reshape(spec.shape)
                (part,) = check_inputs(keys, x)
            except (ValueError, InputError) as e:
                raise InputError(f"sample {i}: {e}") from e
            # what prove writes into ezkl's input: the graph dtype's rounding, as float64
            values = part.reshape(-1).astype(spec.dtype).astype(np.float64).tolist()
            salt = draw_salt()
            samples.append(SampleOpening(
                index=i, input=values, label=y,
                group=data.groups[i] if data.groups is not None else None, salt=salt,
                input_commitment=str(commitment_of(values, salt, c.input_scale))))
    root = set_root(leaves_of([s.index for s in samples], [s.input_commitment for s in samples],
                              [s.label for s in samples], [s.group for s in samples]))
    public = SetCommitment(root=root, samples=len(samples), model_id=keys.model_id,
                           input_scale=c.input_scale, group_attribute=data.group_attribute)
    private = SetOpening(root=root, model_id=keys.model_id, input_scale=c.input_scale,
                         input_shape=list(spec.shape), group_attribute=data.group_attribute,
                         samples=samples)
    return public, private


def write_set_opening(opening: SetOpening, path: str | Path) -> Path:
    """Write the PRIVATE opening atomically, readable by its owner only (mode 0600)."""
    path = Path(path)
    atomic_write_bytes(path, (opening.model_dump_json() + "\n").encode())
    os.chmod(path, 0o600)
    return path


def _load(path: str | Path, cls: type[SetCommitment] | type[SetOpening], fmt: str,
          what: str) -> SetCommitment | SetOpening:
    p = Path(path)
    try:
        raw = json.loads(p.read_bytes())
    except FileNotFoundError as e:
        raise ArtifactError(f"{p}: no such file; give {what} (written by `zkml claim "
                            "commit`).") from e
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{p}: not {what} ({str(e)[:80]}).") from e
    if not isinstance(raw, dict) or raw.get("format") != fmt:
        got = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise ArtifactError(f"{p}: not {what} (format {str(got)[:40]!r}, not {fmt!r}).")
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        raise ArtifactError(f"{p}: not {what} ({str(e).splitlines()[0][:120]}).") from e


def load_set_commitment(path: str | Path) -> SetCommitment:
    """Read a public set commitment. Raises ArtifactError if missing or malformed."""
    out = _load(path, SetCommitment, SET_FORMAT, "an evaluation-set commitment")
    assert isinstance(out, SetCommitment)
    return out


def load_set_opening(path: str | Path) -> SetOpening:
    """Read a private set opening. Raises ArtifactError if missing or malformed."""
    out = _load(path, SetOpening, SET_OPENING_FORMAT, "an evaluation-set opening")
    assert isinstance(out, SetOpening)
    return out
