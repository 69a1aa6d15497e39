"""The metrics a claim states, computed from predictions and labels (and groups) alone.

The prover computes them from the proven outputs when the claim is made; the verifier
computes them again from the outputs the proofs' instances encode and compares: the numbers
in a claim are never taken on trust.
"""

from __future__ import annotations

from collections.abc import Sequence

from zkml.claims.formats import DecisionRule, GroupRates, Metrics
from zkml.errors import ZkmlValueError

__all__ = ["predict", "compute_metrics"]


def predict(outputs: Sequence[float], rule: DecisionRule) -> int:
    """The label ``rule`` gives a model output (ties in argmax: the lowest index).

    Raises:
        ZkmlValueError: a threshold rule on a model with several outputs, or no outputs.
    """
    if not outputs:
        raise ZkmlValueError("the proof has no outputs to predict a label from.")
    if rule.kind == "threshold":
        if len(outputs) != 1 or rule.threshold is None:
            raise ZkmlValueError(f"a threshold rule needs a one-output model and a threshold; "
                                 f"this model has {len(outputs)} outputs: use argmax.")
        return 1 if outputs[0] >= rule.threshold else 0
    best = max(range(len(outputs)), key=lambda i: (outputs[i], -i))
    return best


def _rate(num: int, den: int) -> float:
    return num / den if den else 0.0


def compute_metrics(predictions: Sequence[int], labels: Sequence[int],
                    groups: Sequence[str | None] | None, positive_label: int) -> Metrics:
    """Accuracy, the confusion matrix and, with groups, per-group rates and the demographic
    parity and equal opportunity differences (max - min over the groups)."""
    if len(predictions) != len(labels) or (groups is not None and len(groups) != len(labels)):
        raise ZkmlValueError("predictions, labels and groups differ in length.")
    n = len(labels)
    values = sorted(set(labels) | set(predictions))
    pos = {v: k for k, v in enumerate(values)}
    confusion = [[0] * len(values) for _ in values]
    for p, y in zip(predictions, labels, strict=True):
        confusion[pos[y]][pos[p]] += 1
    correct = sum(p == y for p, y in zip(predictions, labels, strict=True))
    rates: list[GroupRates] = []
    if groups is not None and any(g is not None for g in groups):
        for g in sorted({str(g) for g in groups if g is not None}):
            idx = [i for i in range(n) if groups[i] == g]
            ok = sum(predictions[i] == labels[i] for i in idx)
            positives = sum(labels[i] == positive_label for i in idx)
            selected = sum(predictions[i] == positive_label for i in idx)
            tp = sum(labels[i] == positive_label and predictions[i] == positive_label
                     for i in idx)
            rates.append(GroupRates(
                group=g, samples=len(idx), correct=ok, positives=positives, selected=selected,
                true_positives=tp, accuracy=_rate(ok, len(idx)),
                selection_rate=_rate(selected, len(idx)),
                true_positive_rate=_rate(tp, positives) if positives else None))
    sel = [r.selection_rate for r in rates]
    tpr = [r.true_positive_rate for r in rates if r.true_positive_rate is not None]
    return Metrics(
        samples=n, correct=correct, accuracy=_rate(correct, n), labels=values,
        confusion=confusion, positive_label=positive_label, groups=rates,
        demographic_parity_difference=max(sel) - min(sel) if len(sel) >= 2 else None,
        equal_opportunity_difference=max(tpr) - min(tpr) if len(tpr) >= 2 else None,
    )
