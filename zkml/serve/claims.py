"""The claim pages: proven model claims (accuracy, fairness) recorded in the ClaimRegistry.

``/claims`` lists them per model, ``/claims/{id}`` shows one (metrics, per-group table and
chart, when its set was committed and when it was recorded), ``/claims/{id}.csv`` gives one
row per metric and ``/api/claims[/{id}]`` the same as JSON (described in the OpenAPI schema).
Metrics are shown as the claimant recorded them on-chain (parts per million); that they follow
from the proofs is checked off-chain, from the claim file whose sha256 is the claim digest.
Group names come from users: they reach HTML only through the autoescaping templates, the
chart only as escaped ``<text>`` and the CSV as data (a formula-looking group is quoted).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from zkml.chain.claims import PPM
from zkml.serve import charts
from zkml.serve.store import Store

__all__ = ["claims_router", "ClaimSummary", "ClaimDetail", "GroupRow", "MetricValue",
           "summarize"]

_RATES = ("selection_rate", "true_positive_rate", "accuracy")


class MetricValue(BaseModel):
    name: str = Field(description="accuracy, demographic_parity_difference, "
                      "equal_opportunity_difference, or <metric>:<group>")
    value_ppm: int = Field(description="as recorded on-chain: parts per million")
    value: float


class GroupRow(BaseModel):
    group: str
    selection_rate: float | None
    true_positive_rate: float | None = Field(description="None: no positive in the group")
    accuracy: float | None


class ClaimSummary(BaseModel):
    claim_id: str = Field(description="keccak256(abi.encode(modelId, setRoot, setCommitter, "
                          "proofsRoot))")
    model_id: str = Field(description="registry model id")
    vk_digest: str | None
    set_root: str = Field(description="sha256 Merkle root of the committed evaluation set")
    set_committer: str = Field(description="who committed the set: a commitment is one root "
                               "committed by one address")
    claimant: str = Field(description="the model's owner, who recorded the claim")
    samples: int
    accuracy: float | None
    timestamp: int = Field(description="when the claim was recorded (unix seconds)")
    block_number: int
    model_retired: bool


class ClaimDetail(ClaimSummary):
    proofs_root: str = Field(description="sha256 Merkle root over the proof bundles' digests")
    claim_digest: str = Field(description="sha256 of the claim file")
    tx_hash: str
    set_timestamp: int | None = Field(description="when the set was committed (unix seconds; "
                                      "None: the commitment is not in this index)")
    set_block: int | None
    set_tx_hash: str | None
    demographic_parity_difference: float | None
    equal_opportunity_difference: float | None
    groups: list[GroupRow]
    metrics: list[MetricValue]


def summarize(metrics: list[list[Any]]) -> dict[str, Any]:
    """The recorded [[name, ppm], ...] as the overall metrics, per-group rows (in recorded
    order) and the full list."""
    overall: dict[str, float] = {}
    groups: dict[str, dict[str, Any]] = {}
    values = []
    for name, ppm in metrics:
        value = int(ppm) / PPM
        values.append(MetricValue(name=str(name), value_ppm=int(ppm), value=value))
        metric, sep, group = str(name).partition(":")
        if not sep:
            overall[metric] = value
        elif metric in _RATES:
            groups.setdefault(group, {"group": group, **dict.fromkeys(_RATES)})[metric] = value
    return {"accuracy": overall.get("accuracy"),
            "demographic_parity_difference": overall.get("demographic_parity_difference"),
            "equal_opportunity_difference": overall.get("equal_opportunity_difference"),
            "groups": [GroupRow(**g) for g in groups.values()], "metrics": values}


def _summary(c: dict[str, Any]) -> ClaimSummary:
    return ClaimSummary(**{k: c[k] for k in ClaimSummary.model_fields if k != "accuracy"},
                        accuracy=summarize(c["metrics"])["accuracy"])


def _detail(c: dict[str, Any]) -> ClaimDetail:
    s = summarize(c["metrics"])
    return ClaimDetail(**{k: c[k] for k in ClaimDetail.model_fields if k not in s}, **s)


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def claims_router(store: Store, page: Callable[..., HTMLResponse], *,
                  router: APIRouter | None = None) -> APIRouter:
    """The claim routes over ``store``, added to ``router`` (a new one by default);
    ``page(template, status, **context)`` renders HTML."""
    router = APIRouter() if router is None else router
    chart_cache: dict[tuple[Any, ...], bytes] = {}

    @router.get("/claims", response_class=HTMLResponse, include_in_schema=False)
    async def claims_page(model: str | None = None) -> HTMLResponse:
        ids = store.resolve(model) if model and model.strip() else None
        by_model: dict[str, list[ClaimSummary]] = {}
        for c in store.claims(ids):
            by_model.setdefault(c["model_id"], []).append(_summary(c))
        models = {m["model_id"]: m for m in store.models(list(by_model))} if by_model else {}
        return page("claims.html", by_model=by_model, models=models, model=model,
                    title="Claims")

    # before /claims/{claim_id}, whose parameter would also match "<id>.csv"
    @router.get("/claims/{claim_id}.csv", include_in_schema=False)
    async def claim_csv(claim_id: str) -> Response:
        c = store.claim(claim_id)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["claim_id", "name", "metric", "group", "value_ppm", "value"])
        for name, ppm in c["metrics"]:
            metric, _, group = str(name).partition(":")
            w.writerow([c["claim_id"], _cell(str(name)), metric, _cell(group), int(ppm),
                        f"{int(ppm) / PPM:.6f}"])
        return Response(buf.getvalue(), media_type="text/csv", headers={
            "content-disposition": f'attachment; filename="claim-{c["claim_id"][2:14]}.csv"'})

    @router.get("/claims/{claim_id}/groups.svg", include_in_schema=False)
    def claim_chart(claim_id: str) -> Response:  # matplotlib: in the thread pool
        c = store.claim(claim_id)
        key = (c["claim_id"], store.version())
        if key not in chart_cache:
            rows = summarize(c["metrics"])["groups"]
            svg = charts.groups_svg([(g.group, g.selection_rate or 0.0, g.true_positive_rate)
                                     for g in rows], f"claim {c['claim_id'][:10]}…: rates "
                                    "per group")
            if len(chart_cache) > 128:
                chart_cache.clear()
            chart_cache[key] = svg
        return Response(chart_cache[key], media_type="image/svg+xml")

    @router.get("/claims/{claim_id}", response_class=HTMLResponse, include_in_schema=False)
    async def claim_page(claim_id: str) -> HTMLResponse:
        return page("claim.html", c=_detail(store.claim(claim_id)), title="Claim")

    @router.get("/api/claims", tags=["claims"], response_model=list[ClaimSummary])
    async def api_claims(model: str | None = Query(
            None, description="registry model id or vk digest")) -> list[ClaimSummary]:
        """Recorded claims, newest first, with their overall accuracy."""
        return [_summary(c) for c in store.claims(store.resolve(model) if model else None)]

    @router.get("/api/claims/{claim_id}", tags=["claims"], response_model=ClaimDetail)
    async def api_claim(claim_id: str) -> ClaimDetail:
        """One claim: its metrics (overall, per group, every recorded value), its set's
        commitment and its record."""
        return _detail(store.claim(claim_id))

    return router
