"""The JSON API under /api: the index's state, models, inferences (filtered, paginated, the
same filters as the inferences page) and bundle verification. Every endpoint has a response
model (``zkml.serve.schemas``), so /openapi.json describes what it returns; the claims' are
``zkml.serve.claims``'. Errors are ``{"error": message}`` (create_app's BadQuery handler).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, File, Query, UploadFile

from zkml.serve.common import filters, upload_verdict
from zkml.serve.schemas import (
    IndexStatus,
    Inference,
    InferencePage,
    RegisteredModel,
    VerifyResult,
)
from zkml.serve.store import Store

__all__ = ["api_router"]


def api_router(store: Store, *, indexer_error: Callable[[], str | None] = lambda: None,
               server_packages: dict[str, Path] | None = None,
               router: APIRouter | None = None) -> APIRouter:
    """The /api routes over ``store``, added to ``router`` (a new one by default);
    ``indexer_error()`` is the background indexer's last failure (None: none, or no
    indexer), ``server_packages`` as for the verify page."""
    router = APIRouter() if router is None else router

    # the keys are the index's: one not in its meta table is left out, not sent as null
    @router.get("/api/status", tags=["index"], response_model=IndexStatus,
                response_model_exclude_unset=True)
    async def api_status() -> dict[str, Any]:
        """The indexer's state: chain id, genesis hash, registry, last indexed block."""
        return {**store.status(), "indexer_error": indexer_error()}

    @router.get("/api/models", tags=["models"], response_model=list[RegisteredModel])
    async def api_models() -> list[dict[str, Any]]:
        """Every registered model: both ids, owner, verifier, preset and what it binds,
        instance layout, retired or not, number of inferences."""
        return store.models()

    @router.get("/api/models/{model}", tags=["models"], response_model=RegisteredModel)
    async def api_model(model: str) -> dict[str, Any]:
        """One model, by registry model id or vk digest."""
        return store.model(model)

    @router.get("/api/inferences", tags=["inferences"], response_model=InferencePage)
    async def api_inferences(
        model: str | None = Query(None, description="registry model id or vk digest"),
        submitter: str | None = Query(None, description="0x address"),
        from_block: int | None = Query(None, ge=0), to_block: int | None = Query(None, ge=0),
        from_time: str | None = Query(None, description="unix seconds, YYYY-MM-DD or ISO"),
        to_time: str | None = Query(None, description="unix seconds, YYYY-MM-DD or ISO"),
        page: int = Query(1, ge=1), per_page: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        """Recorded inferences, newest first, with decoded outputs (labels when known)."""
        f = filters(model, submitter, from_block, to_block, from_time, to_time)
        items, total = store.inferences(f, page=page, per_page=per_page)
        return {"total": total, "page": page, "per_page": per_page, "items": items}

    @router.get("/api/inferences/{inference_id}", tags=["inferences"], response_model=Inference)
    async def api_inference(inference_id: str) -> dict[str, Any]:
        """One recorded inference."""
        return store.inference(inference_id)

    @router.post("/api/verify", tags=["verify"], response_model=VerifyResult)
    async def api_verify(bundle: UploadFile = File(...),  # noqa: B008
                         package: UploadFile | None = File(None)  # noqa: B008
                         ) -> dict[str, Any]:
        """Check a proof bundle (optionally with the model's verification package as a .zip):
        valid / invalid / unchecked and why, and whether it is the on-chain record."""
        v = await upload_verdict(store, bundle, package, server_packages)
        return v.as_dict()

    return router
