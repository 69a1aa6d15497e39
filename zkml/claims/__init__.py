"""Proven model claims: accuracy and fairness measured on a committed evaluation set.

commit (public root, private opening) -> prove every sample (batch, Ray) -> claim (proofs +
metrics recomputed from the proven outputs) -> anyone verifies it -> recorded on-chain.
"""

from zkml.claims.commit import (
    commit_set,
    load_set_commitment,
    load_set_opening,
    write_set_opening,
)
from zkml.claims.dataset import LabelledSet, read_labelled
from zkml.claims.formats import (
    Claim,
    ClaimEntry,
    DecisionRule,
    GroupRates,
    Metrics,
    SetCommitment,
    SetOpening,
)
from zkml.claims.make import default_rule, prove_claim
from zkml.claims.metrics import compute_metrics, predict
from zkml.claims.verify import ClaimVerification, load_claim, open_set, verify_claim

__all__ = [
    "LabelledSet", "read_labelled", "commit_set", "write_set_opening", "load_set_opening",
    "load_set_commitment", "prove_claim", "default_rule", "verify_claim", "load_claim",
    "open_set", "ClaimVerification", "compute_metrics", "predict", "Claim", "ClaimEntry",
    "DecisionRule", "GroupRates", "Metrics", "SetCommitment", "SetOpening",
]
