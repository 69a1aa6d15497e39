"""Making a claim: prove every committed sample, then compute the metrics from the proofs.

The samples are proved as a batch (local process pool or Ray, resumable: a re-run keeps
every bundle already proven with its committed salt), each with the salt committed for it,
so each proof publishes exactly the commitment in the set's leaf. The metrics are computed
from the outputs the proofs' instances encode, never from a float model run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from zkml._utils import atomic_write_bytes, sha256_file
from zkml.artifacts import Keys, ProofBundle
from zkml.claims.commit import leaves_of
from zkml.claims.formats import Claim, ClaimEntry, DecisionRule, SetOpening
from zkml.claims.merkle import proof_leaf, proofs_root, set_root
from zkml.claims.metrics import compute_metrics, predict
from zkml.errors import ArtifactError, BundleError, ProveError, ZkmlValueError
from zkml.proof.batch import Backend, ManifestEntry, prove_batch
from zkml.proof.bundle import decoded_outputs, load_bundle
from zkml.version import __version__

__all__ = ["CLAIM_FILE", "PROOFS_DIR", "prove_claim", "default_rule", "sample_id"]

CLAIM_FILE = "claim.json"
PROOFS_DIR = "proofs"


def sample_id(index: int) -> str:
    return f"sample-{index:06d}"


def default_rule(keys: Keys, positive_label: int = 1) -> DecisionRule:
    """argmax for a model with several outputs; a one-output model: output >= 0.5 is 1."""
    n_out = int(np.prod(keys.circuit.exported.output_shape))
    if n_out == 1:
        return DecisionRule(kind="threshold", threshold=0.5, positive_label=positive_label)
    return DecisionRule(kind="argmax", positive_label=positive_label)


def _check_opening(keys: Keys, opening: SetOpening) -> None:
    if opening.model_id != keys.model_id:
        raise ZkmlValueError(f"the set was committed for model {opening.model_id[:16]}..., these "
                             f"keys are model {keys.model_id[:16]}...: commit the set for this "
                             "model (`zkml claim commit`).")
    if opening.input_scale != keys.circuit.input_scale:
        raise ZkmlValueError("the set's commitments use another input scale than this circuit.")
    idx = [s.index for s in opening.samples]
    if idx != list(range(len(idx))):
        raise ArtifactError("the set opening's samples are not numbered 0..n-1 in order.")
    root = set_root(leaves_of(idx, [s.input_commitment for s in opening.samples],
                              [s.label for s in opening.samples],
                              [s.group for s in opening.samples]))
    if root != opening.root:
        raise ArtifactError("the set opening does not match its own root (edited?): use the "
                            "opening `zkml claim commit` wrote.")


def _drop_stale(proofs: Path, opening: SetOpening) -> None:
    """A bundle left by an earlier run with another salt commits to another leaf: remove it,
    so the batch proves that sample again (the batch keeps every bundle that verifies)."""
    for s in opening.samples:
        f = proofs / f"{sample_id(s.index)}.bundle.json"
        if f.exists():
            try:
                stale = load_bundle(f).input_commitment != s.input_commitment
            except BundleError:
                stale = True
            if stale:
                f.unlink()


def prove_claim(
    keys: Keys,
    opening: SetOpening,
    out_dir: str | Path,
    *,
    rule: DecisionRule | None = None,
    backend: Backend = "local",
    address: str | None = None,
    workers: int | None = None,
    on_result: Callable[[ManifestEntry, int, int], None] | None = None,
) -> Claim:
    """Prove every sample of a committed set and write the claim (``out_dir/claim.json``,
    bundles in ``out_dir/proofs/``: a public folder; the opening never goes into it).

    Args:
        keys: the model's keys (committed-input preset; the keys the set was committed for).
        opening: the PRIVATE set opening from :func:`commit_set`.
        out_dir: the claim's folder.
        rule: how outputs become labels (default :func:`default_rule`).
        backend, address, workers, on_result: as :func:`zkml.prove_batch`.

    Returns:
        The :class:`Claim` written to ``out_dir/claim.json``.

    Raises:
        ZkmlValueError: the opening is for other keys; ArtifactError: it was edited;
        ProveError: a sample failed to prove (the proven ones are kept: re-run to resume).

    Example:
        >>> claim = zkml.claims.prove_claim(keys, load_set_opening("set.opening.json"), "claim")
    """
    _check_opening(keys, opening)
    rule = rule or default_rule(keys)
    out = Path(out_dir)
    proofs = out / PROOFS_DIR
    proofs.mkdir(parents=True, exist_ok=True)
    _drop_stale(proofs, opening)
    shape = opening.input_shape
    items = [(sample_id(s.index), np.asarray(s.input, np.float64).reshape(shape))
             for s in opening.samples]
    res = prove_batch(keys, items, proofs, backend=backend, address=address, workers=workers,
                      on_result=on_result,
                      salts={sample_id(s.index): s.salt for s in opening.samples})
    failed = [e for e in res.entries.values() if e.status == "error"]
    if failed:
        first = failed[0]
        raise ProveError(f"{len(failed)} of {len(items)} samples failed to prove (first: "
                         f"{first.input_id}: {first.error}); the {res.proved + res.skipped} "
                         f"proven are kept in {proofs}: fix the cause and run again to resume.")
    entries, predictions = [], []
    for s in opening.samples:
        path = proofs / f"{sample_id(s.index)}.bundle.json"
        bundle: ProofBundle = load_bundle(path)
        if bundle.input_commitment != s.input_commitment:
            raise ProveError(f"{path.name} commits to another input than sample {s.index}; "
                             "delete it and run again.")
        p = predict(decoded_outputs(bundle), rule)
        predictions.append(p)
        entries.append(ClaimEntry(index=s.index, input_commitment=s.input_commitment,
                                  label=s.label, group=s.group,
                                  bundle=f"{PROOFS_DIR}/{path.name}",
                                  bundle_sha256=sha256_file(path), prediction=p))
    groups = [s.group for s in opening.samples] if opening.group_attribute else None
    claim = Claim(
        model_id=keys.model_id, set_root=opening.root, samples=len(entries),
        group_attribute=opening.group_attribute, decision=rule, entries=entries,
        proofs_root=proofs_root([proof_leaf(e.index, e.bundle_sha256) for e in entries]),
        metrics=compute_metrics(predictions, [s.label for s in opening.samples], groups,
                                rule.positive_label),
        versions={"zkml": __version__, "ezkl": bundle.versions.get("ezkl", "")},
    )
    atomic_write_bytes(out / CLAIM_FILE, (claim.model_dump_json(indent=1) + "\n").encode())
    return claim

