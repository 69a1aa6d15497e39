"""Collaborative models: parties that each own a segment and keep its weights private.

join (calibrate one's own segment) -> agree on logrows and one SRS -> finalize (keys and a
public contribution with the weights' commitment) -> assemble (anyone) -> prove hop by hop,
each party on its own machine -> finish (a public bundle) -> verify_collab (anyone).
"""

from zkml.collab.formats import CollabBundle, CollabModel, Contribution, Draft, Hop
from zkml.collab.model import assemble, load_collab_bundle, load_model, verify_collab
from zkml.collab.party import finalize, join, load_draft
from zkml.collab.prove import finish, load_hop, prove_hop, write_hop

__all__ = ["CollabBundle", "CollabModel", "Contribution", "Draft", "Hop", "assemble",
           "load_collab_bundle", "load_model", "verify_collab", "finalize", "join",
           "load_draft", "finish", "load_hop", "prove_hop", "write_hop"]
