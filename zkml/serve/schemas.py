"""The JSON API's response models: what /openapi.json describes for every /api/* endpoint.

Each model's fields are exactly the keys of the dict the store gives (``Store._model``,
``Store._record``, ``Store.inference``, ``Store.status``, ``contributors.by_model``) or of
``checks.Verdict.as_dict``: FastAPI sends a response through its model, so a key missing here
would silently vanish from the JSON (tests/integration/test_serve.py compares the two). The
claim models are ``zkml.serve.claims``'.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["IndexStatus", "Contributor", "ModelLayout", "RegisteredModel", "InferenceRecord",
           "Inference", "InferencePage", "LabelledOutput", "VerifyResult"]


class IndexStatus(BaseModel):
    """The indexer's ``meta`` table (every value a string) and the background indexer's last
    error. extra="allow": the keys are whatever the indexer wrote (an index made by an older
    version lacks some, a newer one may add some); the route leaves out the unset fields, so
    a key that is not in ``meta`` is not in the JSON either."""

    model_config = ConfigDict(extra="allow")

    schema_: str | None = Field(None, alias="schema", description="index format version")
    chain_id: str | None = None
    genesis_hash: str | None = None
    registry: str | None = Field(None, description="InferenceRegistry address (lower case)")
    registry_code_hash: str | None = None
    claim_registry: str | None = Field(None, description="ClaimRegistry address, or \"\"")
    claim_registry_code_hash: str | None = None
    last_block: str | None = Field(None, description="the last indexed block")
    anchor_block: str | None = Field(None, description="a block past the reorg window, "
                                     "whose hash is checked on the next run")
    sync_id: str | None = Field(None, description="new whenever an indexed row changed")
    anchor_hash: str | None = None
    updated_at: str | None = Field(None, description="last run (unix seconds)")
    indexer_error: str | None = Field(description="the background indexer's last failure "
                                      "(None: its last run succeeded, or it is not running)")


class Contributor(BaseModel):
    segment: int = Field(description="the segment's position in the collaborative model")
    address: str
    weight_digest: str = Field(description="keccak256 of the segment's weight commitment")


class ModelLayout(BaseModel):
    num_instances: int
    output_offset: int
    num_outputs: int
    input_commitment_index: int | None
    weights_hash_index: int | None
    output_scale: int
    weights_hash: str


class RegisteredModel(BaseModel):
    model_id: str = Field(description="registry model id")
    vk_digest: str
    owner: str
    first_owner: str
    verifier: str
    metadata_uri: str
    registered_at: int
    block: int
    tx_hash: str
    retired: bool
    retired_block: int | None
    inferences: int = Field(description="number of recorded inferences")
    last_inference: int | None = Field(description="when the newest was recorded (unix "
                                       "seconds)")
    name: str | None = Field(description="from the verification package given to the server")
    labels: list[str] | None
    preset: str
    binds: str = Field(description="what a valid proof of this model binds")
    preset_source: str
    contributors: list[Contributor] = Field(description="a collaborative model's segment "
                                            "contributors ([] for another model)")
    layout: ModelLayout


class InferenceRecord(BaseModel):
    inference_id: str
    model_id: str
    vk_digest: str
    submitter: str
    timestamp: int
    block_number: int
    tx_hash: str
    input_commitment: str
    outputs: list[str] = Field(description="the output instances (field elements, decimal)")
    decoded_outputs: list[float]
    labels: list[str] | None
    predicted: str | int | None = Field(description="the top output's label (its index "
                                        "when the labels are unknown; None: no output)")
    model_retired: bool


class Inference(InferenceRecord):
    contributors: list[Contributor]


class InferencePage(BaseModel):
    total: int = Field(description="records matching the filters")
    page: int
    per_page: int
    items: list[InferenceRecord]


class LabelledOutput(BaseModel):
    label: str
    value: float


class VerifyResult(BaseModel):
    status: str = Field(description="valid, invalid or unchecked")
    reason: str | None
    checked_with: str | None
    vk_digest: str | None
    outputs: list[LabelledOutput]
    onchain: str = Field(description="recorded, not recorded, not registered or unknown")
    onchain_detail: str
    matches_record: bool
    record: Inference | None
    registry_model_ids: list[str]
