"""The HTML pages: models, one model (with its two SVG charts), inferences (filtered,
paginated), one inference, the verify form and its result, and the API docs page.

The read endpoints are ``async def``: their SQLite work is an index look-up of well under a
millisecond, cheaper on the event loop than a hop to the thread pool and back (measured:
benchmarks/RESULTS.md). What can take longer stays ``def``, in the pool: charts (matplotlib),
downloads (``zkml.serve.downloads``), bundle checks (run in the pool by ``upload_verdict``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from zkml.serve import charts
from zkml.serve.common import FILTER_KEYS, Page, opt_int, query_filters, upload_verdict
from zkml.serve.store import Filters, Store

__all__ = ["pages_router"]


def pages_router(store: Store, page: Page, *, server_packages: dict[str, Path] | None = None,
                 router: APIRouter | None = None) -> APIRouter:
    """The pages over ``store``, added to ``router`` (a new one by default);
    ``server_packages`` maps vk digest -> verification package folder for the verify page."""
    router = APIRouter() if router is None else router
    chart_cache: dict[tuple[Any, ...], bytes] = {}

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def models_page() -> HTMLResponse:
        return page("models.html", models=store.models(), title="Models")

    @router.get("/models/{model}", response_class=HTMLResponse, include_in_schema=False)
    async def model_page(model: str) -> HTMLResponse:
        m = store.model(model)
        recent, total = store.inferences(Filters(model=m["model_id"]), per_page=10)
        return page("model.html", m=m, recent=recent, total=total, title="Model",
                    claims=store.claims([m["model_id"]]))

    def _chart(model: str, kind: str) -> Response:
        ids = store.resolve(model)
        m = store.models(ids[:1])[0]
        key = (kind, tuple(ids), store.version(), tuple(m["labels"] or ()))
        if key not in chart_cache:
            title = f"model {ids[0][:10]}… {m['name'] or ''}".strip()
            if kind == "activity":
                svg = charts.activity_svg(store.activity(ids), m["labels"], title)
            else:
                svg = charts.outputs_svg(store.outputs(ids), m["labels"], title)
            if len(chart_cache) > 128:
                chart_cache.clear()
            chart_cache[key] = svg
        return Response(chart_cache[key], media_type="image/svg+xml")

    @router.get("/models/{model}/activity.svg", include_in_schema=False)
    def activity_chart(model: str) -> Response:
        return _chart(model, "activity")

    @router.get("/models/{model}/outputs.svg", include_in_schema=False)
    def outputs_chart(model: str) -> Response:
        return _chart(model, "outputs")

    @router.get("/inferences", response_class=HTMLResponse, include_in_schema=False)
    async def inferences_page(request: Request) -> HTMLResponse:
        q = dict(request.query_params)
        f = query_filters(q)
        page_no = opt_int(q, "page") or 1
        per_page = opt_int(q, "per_page") or 50
        rows, total = store.inferences(f, page=page_no, per_page=per_page)
        kept = {k: q[k] for k in FILTER_KEYS if q.get(k, "").strip()}
        last = max(1, -(-total // per_page))

        def link(p: int) -> str:
            return "/inferences?" + urlencode({**kept, "page": p, "per_page": per_page})

        return page("inferences.html", rows=rows, total=total, page=page_no, last=last,
                    per_page=per_page, q=kept, link=link, title="Inferences",
                    download=urlencode(kept))

    @router.get("/inferences/{inference_id}", response_class=HTMLResponse,
                include_in_schema=False)
    async def inference_page(inference_id: str) -> HTMLResponse:
        return page("inference.html", r=store.inference(inference_id), title="Inference")

    @router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_form() -> HTMLResponse:
        return page("verify.html", verdict=None, title="Verify a proof bundle")

    @router.post("/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_page(bundle: UploadFile = File(...),  # noqa: B008
                          package: UploadFile | None = File(None)) -> HTMLResponse:  # noqa: B008
        v = await upload_verdict(store, bundle, package, server_packages)
        return page("verify.html", verdict=v, title="Verify a proof bundle")

    @router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return page("docs.html", title="API")

    return router
