"""The downloads: every inference matching the inferences page's filters, as CSV or JSON.

Both stream (never the whole set in memory) and are ``def``, in the thread pool: a download
reads the whole filtered set. A bad filter fails before the stream starts, so it gets the
error page (400/404) rather than a broken file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from zkml.serve.common import query_filters, ts
from zkml.serve.store import Store

__all__ = ["downloads_router"]

#: records per chunk of a download stream: each chunk is a hop to the thread pool and back
_CHUNK_ROWS = 200


def downloads_router(store: Store, *, router: APIRouter | None = None) -> APIRouter:
    """The download routes over ``store``, added to ``router`` (a new one by default)."""
    router = APIRouter() if router is None else router

    @router.get("/download/inferences.csv", include_in_schema=False)
    def download_csv(request: Request) -> StreamingResponse:
        f = query_filters(dict(request.query_params))

        def rows() -> Iterator[str]:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["block", "timestamp_utc", "inference_id", "model_id", "vk_digest",
                        "submitter", "decoded_outputs", "labels", "predicted",
                        "input_commitment", "model_retired", "tx_hash"])
            for n, r in enumerate(store.iter_inferences(f), 1):
                w.writerow([r["block_number"], ts(r["timestamp"]), r["inference_id"],
                            r["model_id"], r["vk_digest"], r["submitter"],
                            " ".join(f"{v:.6g}" for v in r["decoded_outputs"]),
                            " ".join(r["labels"] or []), r["predicted"],
                            r["input_commitment"], r["model_retired"], r["tx_hash"]])
                if n % _CHUNK_ROWS == 0:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue()

        store.inferences(f, per_page=1)  # a bad filter fails here, before the stream starts
        return StreamingResponse(rows(), media_type="text/csv", headers={
            "content-disposition": 'attachment; filename="inferences.csv"'})

    @router.get("/download/inferences.json", include_in_schema=False)
    def download_json(request: Request) -> StreamingResponse:
        f = query_filters(dict(request.query_params))

        def items() -> Iterator[str]:  # never the whole set in memory
            chunk = ["["]
            for n, r in enumerate(store.iter_inferences(f)):
                chunk.append(("\n" if n == 0 else ",\n") + json.dumps(r))
                if len(chunk) >= _CHUNK_ROWS:
                    yield "".join(chunk)
                    chunk = []
            yield "".join(chunk) + "\n]\n"

        store.inferences(f, per_page=1)  # a bad filter fails here, before the stream starts
        return StreamingResponse(items(), media_type="application/json", headers={
            "content-disposition": 'attachment; filename="inferences.json"'})

    return router
