"""zkml's version and the format tags its files carry (standard library only: the lean
prover, zkml/cli/prover.py, writes bundles and openings without pydantic)."""

__version__ = "0.1.0"

#: the ``format`` of a proof bundle (zkml.artifacts.ProofBundle)
BUNDLE_FORMAT = "zkml-proof-bundle/1"
#: the ``format`` of a committed input's opening (zkml.proof.commitment.CommitmentOpening)
OPENING_FORMAT = "zkml-commitment-opening/1"
