"""The read-only web app over the index: pages, charts, downloads, a verify page, a JSON API.

No endpoint sends a transaction and the server holds no key: it reads the SQLite index (kept
fresh by an optional background indexer thread) and checks uploaded bundles locally. Every
string from the chain or an upload reaches HTML through Jinja2 with autoescape on; a strict
Content-Security-Policy (no inline script, same-origin assets only, nothing from a CDN) backs
it. Request bodies are capped (two 1 MB uploads).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool

from zkml.serve import charts
from zkml.serve.checks import MAX_UPLOAD, check_upload
from zkml.serve.claims import claims_router
from zkml.serve.store import BadQuery, Filters, Store, parse_time
from zkml.version import __version__

__all__ = ["create_app", "CSP", "Background"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
#: Swagger UI (served from the swagger-ui-bundle package, never a CDN) sets inline styles
_DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
_BODY_LIMIT = 2 * MAX_UPLOAD + 64 * 1024
_STATIC = Path(__file__).with_name("static")
#: records per chunk of a download stream: each chunk is a hop to the thread pool and back
_CHUNK_ROWS = 200

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                Awaitable[None]]


class _TooLarge(Exception):
    pass


class _Guard:
    """Security headers on every response, and the request-body cap (413 past it)."""

    def __init__(self, app: ASGI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = _DOCS_CSP if scope["path"] == "/docs" else CSP
        # HEAD (curl -I, link checkers, monitors): the GET response's headers, no body
        head = scope.get("method") == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        async def send_with_headers(message: Message) -> None:
            if head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"content-security-policy", csp.encode()),
                                      (b"x-content-type-options", b"nosniff"),
                                      (b"referrer-policy", b"no-referrer"),
                                      (b"x-frame-options", b"DENY")]
            await send(message)

        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > _BODY_LIMIT:
            await _too_large(scope, receive, send_with_headers)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > _BODY_LIMIT:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send_with_headers)
        except _TooLarge:
            await _too_large(scope, receive, send_with_headers)


async def _too_large(scope: Scope, receive: Callable[[], Awaitable[Message]],
                     send: Callable[[Message], Awaitable[None]]) -> None:
    resp = JSONResponse({"error": f"request too large: uploads are limited to "
                         f"{MAX_UPLOAD // 1024} KB each"}, status_code=413)
    await resp(scope, receive, send)


class Background:
    """Run ``sync`` every ``interval`` seconds in a daemon thread; remembers the last outcome."""

    def __init__(self, sync: Callable[[], Any], interval: float) -> None:
        self.sync, self.interval = sync, interval
        self.stop = threading.Event()
        self.last_error: str | None = None
        self.thread = threading.Thread(target=self._run, name="zkml-indexer", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.sync()
                self.last_error = None
            except Exception as e:  # noqa: BLE001 - a node hiccup must not end the server
                self.last_error = (str(e).splitlines() or [type(e).__name__])[0][:300]
            self.stop.wait(self.interval)


def _ts(value: int | None) -> str:
    return "" if value is None else datetime.fromtimestamp(int(value), UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


def _env() -> Environment:
    env = Environment(loader=PackageLoader("zkml.serve", "templates"), autoescape=True)
    env.filters["ts"] = _ts
    env.filters["short"] = lambda v: (v[:10] + "…" + v[-6:]) if v and len(v) > 20 else v
    env.filters["num"] = lambda v: f"{v:.6g}"
    env.filters["outputs"] = _outputs
    return env


def _outputs(r: dict[str, Any]) -> str:
    """``label: value, ...`` (or the values alone): plain text, escaped by the template."""
    labels = r["labels"]
    values = [f"{v:.6g}" for v in r["decoded_outputs"]]
    return ", ".join(f"{label}: {v}" for label, v in zip(labels, values, strict=False)
                     ) if labels else ", ".join(values)


def _opt_int(q: dict[str, str], key: str) -> int | None:
    v = q.get(key, "").strip()
    if not v:
        return None
    if not v.isdigit():
        raise BadQuery(f"{key} {v[:40]!r} is not a block number.")
    return int(v)


def _filters(q: dict[str, str]) -> Filters:
    return Filters(model=q.get("model", "").strip() or None,
                   submitter=q.get("submitter", "").strip() or None,
                   from_block=_opt_int(q, "from_block"), to_block=_opt_int(q, "to_block"),
                   from_time=parse_time(q.get("from_time"), "from_time"),
                   to_time=parse_time(q.get("to_time"), "to_time", end=True))


_FILTER_KEYS = ("model", "submitter", "from_block", "to_block", "from_time", "to_time")


def create_app(store: Store, *, background: Background | None = None,
               server_packages: dict[str, Path] | None = None) -> FastAPI:
    """The app over ``store``; ``background`` (started with the app) keeps the index fresh;
    ``server_packages`` maps vk digest -> verification package folder for the verify page."""
    env = _env()
    chart_cache: dict[tuple[Any, ...], bytes] = {}
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if background is not None:
            background.thread.start()
        yield
        if background is not None:
            background.stop.set()

    app = FastAPI(lifespan=lifespan, title="zkml audit trail", version=__version__,
                  docs_url=None, redoc_url=None,
                  description="Read-only API over the InferenceRegistry's index: models, "
                  "verified inferences with decoded outputs, and bundle verification.")
    app.add_middleware(_Guard)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    try:
        import swagger_ui_bundle

        app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
                  name="docs-assets")
    except ImportError:  # pragma: no cover - the `serve` extra installs it
        pass

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        meta = store.status()
        ctx.setdefault("title", "zkml audit trail")
        html = env.get_template(name).render(
            meta=meta, indexer_error=background.last_error if background else None,
            version=__version__, **ctx)
        return HTMLResponse(html, status_code=status)

    app.include_router(claims_router(store, page))

    @app.exception_handler(BadQuery)
    def _bad(request: Request, e: BadQuery) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(e)}, status_code=e.status)
        return page("error.html", e.status, message=str(e), title="not found"
                    if e.status == 404 else "bad request")

    # --- pages ----------------------------------------------------------------------------
    # The read endpoints are `async def`: their SQLite work is an index look-up of well under
    # a millisecond, cheaper on the event loop than a hop to the thread pool and back
    # (measured: benchmarks/RESULTS.md). What can take longer stays `def`, in the pool:
    # charts (matplotlib), downloads (a stream of the whole filtered set), bundle checks.

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def models_page() -> HTMLResponse:
        return page("models.html", models=store.models(), title="Models")

    @app.get("/models/{model}", response_class=HTMLResponse, include_in_schema=False)
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

    @app.get("/models/{model}/activity.svg", include_in_schema=False)
    def activity_chart(model: str) -> Response:
        return _chart(model, "activity")

    @app.get("/models/{model}/outputs.svg", include_in_schema=False)
    def outputs_chart(model: str) -> Response:
        return _chart(model, "outputs")

    @app.get("/inferences", response_class=HTMLResponse, include_in_schema=False)
    async def inferences_page(request: Request) -> HTMLResponse:
        q = dict(request.query_params)
        f = _filters(q)
        page_no = _opt_int(q, "page") or 1
        per_page = _opt_int(q, "per_page") or 50
        rows, total = store.inferences(f, page=page_no, per_page=per_page)
        kept = {k: q[k] for k in _FILTER_KEYS if q.get(k, "").strip()}
        last = max(1, -(-total // per_page))

        def link(p: int) -> str:
            return "/inferences?" + urlencode({**kept, "page": p, "per_page": per_page})

        return page("inferences.html", rows=rows, total=total, page=page_no, last=last,
                    per_page=per_page, q=kept, link=link, title="Inferences",
                    download=urlencode(kept))

    @app.get("/inferences/{inference_id}", response_class=HTMLResponse, include_in_schema=False)
    async def inference_page(inference_id: str) -> HTMLResponse:
        return page("inference.html", r=store.inference(inference_id), title="Inference")

    @app.get("/download/inferences.csv", include_in_schema=False)
    def download_csv(request: Request) -> StreamingResponse:
        f = _filters(dict(request.query_params))

        def rows() -> Iterator[str]:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(["block", "timestamp_utc", "inference_id", "model_id", "vk_digest",
                        "submitter", "decoded_outputs", "labels", "predicted",
                        "input_commitment", "model_retired", "tx_hash"])
            for n, r in enumerate(store.iter_inferences(f), 1):
                w.writerow([r["block_number"], _ts(r["timestamp"]), r["inference_id"],
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

    @app.get("/download/inferences.json", include_in_schema=False)
    def download_json(request: Request) -> StreamingResponse:
        f = _filters(dict(request.query_params))

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

    @app.get("/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_form() -> HTMLResponse:
        return page("verify.html", verdict=None, title="Verify a proof bundle")

    async def _verdict(bundle: UploadFile, package: UploadFile | None) -> Any:
        data = await bundle.read(MAX_UPLOAD + 1)
        pkg = await package.read(MAX_UPLOAD + 1) if package is not None else b""
        if len(data) > MAX_UPLOAD or len(pkg) > MAX_UPLOAD:
            raise BadQuery(f"an upload is over {MAX_UPLOAD // 1024} KB: a proof bundle is a few "
                           "KB and a verification package zip (without SRS) well under 1 MB.",
                           413)
        if not data:
            raise BadQuery("no proof bundle uploaded: choose the bundle JSON file.")
        return await run_in_threadpool(check_upload, store, data, bundle.filename or "",
                                       pkg or None, server_packages)

    @app.post("/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_page(bundle: UploadFile = File(...),  # noqa: B008
                          package: UploadFile | None = File(None)) -> HTMLResponse:  # noqa: B008
        v = await _verdict(bundle, package if package and package.filename else None)
        return page("verify.html", verdict=v, title="Verify a proof bundle")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return page("docs.html", title="API")

    # --- JSON API -------------------------------------------------------------------------

    @app.get("/api/status", tags=["index"])
    async def api_status() -> dict[str, Any]:
        """The indexer's state: chain id, genesis hash, registry, last indexed block."""
        return {**store.status(), "indexer_error": background.last_error
                if background else None}

    @app.get("/api/models", tags=["models"])
    async def api_models() -> list[dict[str, Any]]:
        """Every registered model: both ids, owner, verifier, preset and what it binds,
        instance layout, retired or not, number of inferences."""
        return store.models()

    @app.get("/api/models/{model}", tags=["models"])
    async def api_model(model: str) -> dict[str, Any]:
        """One model, by registry model id or vk digest."""
        return store.model(model)

    @app.get("/api/inferences", tags=["inferences"])
    async def api_inferences(
        model: str | None = Query(None, description="registry model id or vk digest"),
        submitter: str | None = Query(None, description="0x address"),
        from_block: int | None = Query(None, ge=0), to_block: int | None = Query(None, ge=0),
        from_time: str | None = Query(None, description="unix seconds, YYYY-MM-DD or ISO"),
        to_time: str | None = Query(None, description="unix seconds, YYYY-MM-DD or ISO"),
        page: int = Query(1, ge=1), per_page: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        """Recorded inferences, newest first, with decoded outputs (labels when known)."""
        f = Filters(model, submitter, from_block, to_block,
                    parse_time(from_time, "from_time"), parse_time(to_time, "to_time", end=True))
        items, total = store.inferences(f, page=page, per_page=per_page)
        return {"total": total, "page": page, "per_page": per_page, "items": items}

    @app.get("/api/inferences/{inference_id}", tags=["inferences"])
    async def api_inference(inference_id: str) -> dict[str, Any]:
        """One recorded inference."""
        return store.inference(inference_id)

    @app.post("/api/verify", tags=["verify"])
    async def api_verify(bundle: UploadFile = File(...),  # noqa: B008
                         package: UploadFile | None = File(None)  # noqa: B008
                         ) -> dict[str, Any]:
        """Check a proof bundle (optionally with the model's verification package as a .zip):
        valid / invalid / unchecked and why, and whether it is the on-chain record."""
        v = await _verdict(bundle, package if package and package.filename else None)
        result: dict[str, Any] = v.as_dict()
        return result

    return app
