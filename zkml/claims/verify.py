"""Checking a claim: every proof, every leaf, every metric; and opening a set for an auditor.

:func:`verify_claim` needs only public files (the claim folder, the model's verification
package or keys, the published set commitment). Like :func:`zkml.verify` it returns a verdict
and never raises for a bad claim: a dropped, duplicated or swapped sample, a proof of another
model, an edited bundle or metric, a label changed after the set was committed: each is a
reason in :attr:`ClaimVerification.reasons`. :func:`open_set` is the auditor's check with the
private opening: every leaf's commitment recomputed from the sample and its salt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from zkml._utils import sha256_file
from zkml.artifacts import Keys
from zkml.claims.commit import leaves_of
from zkml.claims.formats import CLAIM_FORMAT, Claim, Metrics, SetCommitment, SetOpening
from zkml.claims.merkle import proof_leaf, proofs_root, set_root
from zkml.claims.metrics import compute_metrics, predict
from zkml.errors import ArtifactError, BundleError, ZkmlValueError
from zkml.presets import get_preset
from zkml.proof.bundle import decoded_outputs, load_bundle, parse_instances
from zkml.proof.commitment import commitment_of
from zkml.proof.package import LoadedPackage, load_package
from zkml.proof.verify import verify_detailed

__all__ = ["ClaimVerification", "load_claim", "verify_claim", "open_set"]

#: a claim verification stops listing per-sample reasons after this many
MAX_REASONS = 20


@dataclass
class ClaimVerification:
    """The verdict on a claim: valid only if ``reasons`` is empty; ``metrics`` are the ones
    recomputed from the proofs (None when a proof could not be read)."""

    valid: bool
    reasons: list[str] = field(default_factory=list)
    metrics: Metrics | None = None
    proofs_checked: int = 0

    def __bool__(self) -> bool:
        return self.valid


def load_claim(path: str | Path) -> tuple[Claim, Path]:
    """Read ``claim.json`` (or the folder holding it); returns the claim and its folder.

    Raises:
        ArtifactError: missing, not JSON, or not a claim.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "claim.json"
    try:
        raw = json.loads(p.read_bytes())
    except FileNotFoundError as e:
        raise ArtifactError(f"{p}: no such claim (written by `zkml claim prove`).") from e
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{p}: not a claim ({str(e)[:80]}).") from e
    if not isinstance(raw, dict) or raw.get("format") != CLAIM_FORMAT:
        raise ArtifactError(f"{p}: not a claim (format is not {CLAIM_FORMAT!r}).")
    try:
        return Claim.model_validate(raw), p.parent
    except ValidationError as e:
        raise ArtifactError(f"{p}: not a claim ({str(e).splitlines()[0][:120]}).") from e


def _bundle_path(root: Path, rel: str) -> Path | None:
    """The bundle's file, only inside the claim's folder (a claim never points elsewhere)."""
    p = (root / rel).resolve()
    return p if p.is_relative_to(root.resolve()) and p.is_file() else None


def _metric_diffs(claimed: Metrics, proven: Metrics) -> list[str]:
    a, b = claimed.model_dump(), proven.model_dump()
    return [f"metric {k}: the claim says {str(a[k])[:60]}, the proofs give {str(b[k])[:60]}"
            for k in a if a[k] != b[k]]


def verify_claim(
    claim: str | Path,
    *,
    package: str | Path | LoadedPackage | None = None,
    keys: Keys | None = None,
    commitment: SetCommitment | None = None,
) -> ClaimVerification:
    """Check a claim against the model's verification package (or keys) and, if given, the
    published set commitment.

    Args:
        claim: ``claim.json`` or its folder (bundles are read relative to it).
        package: the model's verification package (any machine); or ``keys``.
        keys: the model's keys (this machine).
        commitment: the set commitment published before the claim; without it the claim's
            own ``set_root`` is checked (then compare that root with the published one).

    Returns:
        :class:`ClaimVerification`, valid only if every check passed.

    Raises:
        ArtifactError: the claim or the package is unreadable (never for a bad claim).
        ZkmlValueError: neither or both of ``package`` and ``keys``.

    Example:
        >>> v = zkml.claims.verify_claim("claim/", package="pkg/", commitment=published)
        >>> v.valid, v.reasons
    """
    if (package is None) == (keys is None):
        raise ZkmlValueError("give the model's verification package or its keys (one).")
    c, root = load_claim(claim)
    pkg = (package if isinstance(package, LoadedPackage) or package is None
           else load_package(package))
    if pkg is not None:
        vk, index = pkg.manifest.vk_digest, pkg.manifest.layout.input_commitment_index
    else:
        assert keys is not None
        vk = keys.model_id
        index = 0 if get_preset(keys.circuit.preset).commits_input else None
    reasons: list[str] = []
    if c.model_id != vk:
        reasons.append(f"the claim is for model {c.model_id[:16]}..., the package/keys for "
                       f"{vk[:16]}...")
    if index is None:
        return ClaimVerification(False, [*reasons, "the model commits to no input: its "
                                         "proofs cannot be tied to committed samples"])
    if commitment is not None:
        if commitment.root != c.set_root:
            reasons.append("the claim's set root is not the published commitment's: another "
                           "evaluation set")
        if commitment.samples != c.samples:
            reasons.append(f"the set committed {commitment.samples} samples, the claim has "
                           f"{c.samples}")
    idx = [e.index for e in c.entries]
    if len(c.entries) != c.samples:
        reasons.append(f"the claim lists {len(c.entries)} samples, it says {c.samples}")
    missing = sorted(set(range(c.samples)) - set(idx))
    doubled = sorted({i for i in idx if idx.count(i) > 1}) if len(set(idx)) != len(idx) else []
    if missing:
        reasons.append(f"sample(s) {missing[:10]} missing from the claim")
    if doubled:
        reasons.append(f"sample(s) {doubled[:10]} listed twice")
    if idx != sorted(idx):
        reasons.append("the samples are out of order")
    per_sample: list[str] = []
    proven_commitments, predictions = [], []
    checked = 0
    for e in c.entries:
        path = _bundle_path(root, e.bundle)
        if path is None:
            per_sample.append(f"sample {e.index}: bundle {e.bundle[:60]!r} missing or outside "
                              "the claim's folder")
            continue
        if sha256_file(path) != e.bundle_sha256:
            per_sample.append(f"sample {e.index}: its bundle was changed after the claim")
        try:
            b = load_bundle(path)
            v = verify_detailed(b, keys, package=pkg)
            instances = parse_instances(b)
            outputs = decoded_outputs(b)
        except BundleError as ex:
            per_sample.append(f"sample {e.index}: unreadable bundle ({str(ex)[:80]})")
            continue
        checked += 1
        if not v.valid:
            per_sample.append(f"sample {e.index}: proof rejected ({v.reason})")
        proven = str(instances[index]) if index < len(instances) else ""
        proven_commitments.append(proven)
        if proven != e.input_commitment:
            per_sample.append(f"sample {e.index}: the proof commits to another input than the "
                              "claim lists")
        p = predict(outputs, c.decision)
        predictions.append(p)
        if p != e.prediction:
            per_sample.append(f"sample {e.index}: the claim says prediction {e.prediction}, "
                              f"the proof's output gives {p}")
    seen: dict[str, int] = {}
    for e, pc in zip(c.entries, proven_commitments, strict=False):
        if pc in seen:
            per_sample.append(f"samples {seen[pc]} and {e.index}: one proof (one committed "
                              "input) used twice")
        seen.setdefault(pc, e.index)
    reasons += per_sample[:MAX_REASONS]
    if len(per_sample) > MAX_REASONS:
        reasons.append(f"... and {len(per_sample) - MAX_REASONS} more sample problems")
    if c.entries and not missing and not doubled:
        got = set_root(leaves_of(idx, [e.input_commitment for e in c.entries],
                                 [e.label for e in c.entries], [e.group for e in c.entries]))
        if got != c.set_root:
            reasons.append("the samples' commitments, labels or groups are not the committed "
                           "ones (the set root differs): a sample, label or group was changed "
                           "after the set was committed")
        if proofs_root([proof_leaf(e.index, e.bundle_sha256) for e in c.entries]) \
                != c.proofs_root:
            reasons.append("proofs_root does not match the listed bundles")
    metrics = None
    if checked == len(c.entries) and c.entries:
        groups = [e.group for e in c.entries] if c.group_attribute else None
        metrics = compute_metrics(predictions, [e.label for e in c.entries], groups,
                                  c.decision.positive_label)
        reasons += _metric_diffs(c.metrics, metrics)
    return ClaimVerification(not reasons, reasons, metrics, checked)


def open_set(commitment: SetCommitment, opening: SetOpening,
             claim: Claim | None = None) -> list[str]:
    """The auditor's check with the PRIVATE opening: each sample's commitment recomputed from
    its features and salt, the root from the leaves, and (with ``claim``) each claim entry's
    commitment, label and group against the sample's. Returns the problems (empty: all open).
    """
    problems: list[str] = []
    for s in opening.samples:
        if str(commitment_of(s.input, s.salt, opening.input_scale)) != s.input_commitment:
            problems.append(f"sample {s.index}: features and salt do not open its commitment")
    got = set_root(leaves_of([s.index for s in opening.samples],
                             [s.input_commitment for s in opening.samples],
                             [s.label for s in opening.samples],
                             [s.group for s in opening.samples]))
    if got != commitment.root or len(opening.samples) != commitment.samples:
        problems.append("the opening's samples do not hash to the published root")
    if claim is not None:
        by_index = {s.index: s for s in opening.samples}
        for e in claim.entries:
            o = by_index.get(e.index)
            if o is None or (o.input_commitment, o.label, o.group) != (e.input_commitment,
                                                                       e.label, e.group):
                problems.append(f"sample {e.index}: the claim's entry is not the committed "
                                "sample")
    return problems[:MAX_REASONS]
