"""One inference of a collaborative model, hop by hop: each party proves its own segment.

Party 0 proves its segment on the input and hands party 1 a :class:`Hop`: the proofs so far
and its output activations as field elements (PRIVATE: only the next party gets it). Party k
proves its segment on the activations it receives, with its own weights, and passes the hop
on; the last party turns the hop into a public :class:`CollabBundle` (proofs only). Every
party checks the hop it receives before spending a proof on it: the proofs so far are of this
model, with the published weights and linked.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from zkml import _ezkl, cache
from zkml._progress import step
from zkml._utils import atomic_write_bytes, dequantize
from zkml.collab.formats import CollabBundle, CollabModel, Hop, SegmentProof
from zkml.collab.party import party_files
from zkml.errors import ArtifactError, InputError, InputRangeError, ProveError, ZkmlValueError

__all__ = ["prove_hop", "finish", "write_hop", "load_hop"]

_P = _ezkl.G1_POINT_BYTES


def _own(model: CollabModel, party_dir: Path) -> int:
    """This party's position in ``model`` (its verifying key must be the one listed there)."""
    from zkml._utils import sha256_file

    vk = party_files(party_dir)["vk"]
    if not vk.is_file():
        raise ArtifactError(f"{party_dir}: no keys; run finalize for this party first.")
    digest = sha256_file(vk)
    for c in model.contributions:
        if c.vk_digest == digest:
            return c.position
    raise ZkmlValueError(f"{party_dir}: this party's key is not in model {model.model_id[:16]}"
                         "...: it was set up again after assembly, or belongs to another model.")


def _check_hop(model: CollabModel, hop: Hop, position: int) -> None:
    if hop.model_id != model.model_id:
        raise ZkmlValueError("the hop is for another collaborative model.")
    if [p.position for p in hop.proofs] != list(range(position)):
        raise ZkmlValueError(f"the hop carries segments {[p.position for p in hop.proofs]}; "
                             f"segment {position} needs 0..{position - 1} before it.")
    prev = model.contributions[position - 1]
    last = bytes.fromhex(hop.proofs[-1].proof[2:])
    for p, c in zip(hop.proofs, model.contributions, strict=False):
        proof = bytes.fromhex(p.proof[2:])
        if ["0x" + proof[o:o + _P].hex() for o in c.param_points] != c.weight_commitment:
            raise ZkmlValueError(f"segment {c.position} in the hop was proved with other "
                                 "weights than its party published: refused.")
    if not prev.output_points or len(last) != prev.proof_length:
        raise ZkmlValueError("the hop's last proof is not one of the previous segment.")


def prove_hop(party_dir: str | Path, model: CollabModel, *, value: Any = None,
              hop: Hop | None = None) -> Hop:
    """Prove this party's segment: on ``value`` (position 0) or on the ``hop`` received.

    Returns:
        The hop to hand the next party (PRIVATE), or, from the last party, one to
        :func:`finish` into the public bundle.

    Raises:
        ZkmlValueError: a value where a hop is due (or the reverse), or a hop that is not for
            this model and position; InputError / InputRangeError: a bad input; ProveError.
    """
    d = Path(party_dir)
    files = party_files(d)
    position = _own(model, d)
    c = model.contributions[position]
    if (position == 0) != (value is not None) or (position > 0) != (hop is not None):
        raise ZkmlValueError("party 0 proves on the input (value=); every other party on the "
                             "hop it received (hop=).")
    work = cache.private_workdir("collab-prove")
    srs = _srs(d, model)
    try:
        data = work / "input.json"
        if hop is None:
            x = np.asarray(value, dtype=np.float64)
            if x.size != int(np.prod(c.input_shape)) or not np.isfinite(x).all():
                raise InputError(f"the input has {x.size} values (or NaN/inf); segment 0 takes "
                                 f"{c.input_shape}.")
            _ezkl.write_input(data, [x.reshape(-1).tolist()])
            done: list[SegmentProof] = []
        else:
            _check_hop(model, hop, position)
            _ezkl.write_boundary_input(data, hop.boundary)
            done = list(hop.proofs)
        try:
            w = _ezkl.gen_witness(data, files["compiled"], work / "witness.json", files["vk"],
                                  srs)
        except _ezkl.WitnessRangeError as e:
            raise InputRangeError(f"the input drives a value in segment {position} outside "
                                  "its range checks.") from e
        with step(f"Proving segment {position} ({c.name})", "collab_prove"):
            _ezkl.prove(work / "witness.json", files["compiled"], files["pk"],
                        work / "proof.json", srs)
        raw = _ezkl.read_proof(work / "proof.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the witness holds weights and activations
    if ["0x" + raw.proof[o:o + _P].hex() for o in c.param_points] != c.weight_commitment:
        raise ProveError(f"segment {position}'s proof does not carry the weight commitment its "
                         "contribution published: this folder's weights changed since finalize.")
    proof = SegmentProof(position=position, vk_digest=c.vk_digest, proof="0x" + raw.proof.hex(),
                         instances=[str(v) for v in raw.instances])
    boundary = _ezkl.witness_boundary(w)
    return Hop(model_id=model.model_id, proofs=[*done, proof],
               boundary=boundary if position < len(model.contributions) - 1 else [])


def _srs(party_dir: Path, model: CollabModel) -> Path:
    """The agreed SRS, as finalize recorded it next to the party's keys."""
    from zkml._utils import sha256_file

    p = party_dir / "srs.path"
    if not p.is_file() or sha256_file(Path(p.read_text().strip())) != model.srs_sha256:
        raise ArtifactError(f"{party_dir}: the model's SRS ({model.srs_sha256[:12]}...) is not "
                            "where finalize recorded it; finalize again with it.")
    return Path(p.read_text().strip())


def finish(hop: Hop, model: CollabModel) -> CollabBundle:
    """The public bundle from the last party's hop (no activation in it).

    Raises:
        ZkmlValueError: the hop does not hold every segment of this model.
    """
    k = len(model.contributions)
    if hop.model_id != model.model_id or [p.position for p in hop.proofs] != list(range(k)):
        raise ZkmlValueError(f"the hop holds segments {[p.position for p in hop.proofs]}; a "
                             f"bundle needs all {k} of this model.")
    last = model.contributions[-1]
    n_out = int(np.prod(last.output_shape))
    outs = dequantize([int(v) for v in hop.proofs[-1].instances[-n_out:]], last.output_scale)
    return CollabBundle(model_id=model.model_id, segments=hop.proofs, outputs=outs,
                        output_scale=last.output_scale, output_shape=last.output_shape)


def write_hop(hop: Hop, path: str | Path) -> Path:
    """Write a hop (PRIVATE: it holds activations), mode 0600."""
    import os

    path = Path(path)
    atomic_write_bytes(path, hop.model_dump_json().encode())
    os.chmod(path, 0o600)
    return path


def load_hop(path: str | Path) -> Hop:
    """Read a hop. Raises ArtifactError if unreadable."""
    try:
        return Hop.model_validate_json(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{path}: not a hop ({str(e).splitlines()[0][:120]}).") from e
