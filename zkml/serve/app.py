"""The read-only web app over the index: pages, charts, downloads, a verify page, a JSON API.

No endpoint sends a transaction and the server holds no key: it reads the SQLite index (kept
fresh by an optional background indexer thread) and checks uploaded bundles locally. Every
string from the chain or an upload reaches HTML through Jinja2 with autoescape on; a strict
Content-Security-Policy (no inline script, same-origin assets only, nothing from a CDN) backs
it. Request bodies are capped (two 1 MB uploads).

This module assembles the app (security headers and the body cap, static files, the indexer
thread, the page renderer, the error pages) from one router per resource: ``pages`` (HTML
and charts), ``downloads`` (CSV, JSON), ``api`` (/api, its response models in ``schemas``)
and ``claims``; what they share (the filters' parser, the upload check) is ``common``'s.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader

from zkml.serve.api import api_router
from zkml.serve.checks import MAX_UPLOAD
from zkml.serve.claims import claims_router
from zkml.serve.common import ts
from zkml.serve.downloads import downloads_router
from zkml.serve.pages import pages_router
from zkml.serve.store import BadQuery, Store
from zkml.version import __version__

__all__ = ["create_app", "CSP", "Background"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
#: Swagger UI (served from the swagger-ui-bundle package, never a CDN) sets inline styles
_DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
_BODY_LIMIT = 2 * MAX_UPLOAD + 64 * 1024
_STATIC = Path(__file__).with_name("static")

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


def _env() -> Environment:
    env = Environment(loader=PackageLoader("zkml.serve", "templates"), autoescape=True)
    env.filters["ts"] = ts
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


def create_app(store: Store, *, background: Background | None = None,
               server_packages: dict[str, Path] | None = None) -> FastAPI:
    """The app over ``store``; ``background`` (started with the app) keeps the index fresh;
    ``server_packages`` maps vk digest -> verification package folder for the verify page."""
    env = _env()

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

    # each resource's routes are added to the app's own router, not included: FastAPI
    # (0.165) keeps an included router's routes behind one entry of app.routes, out of sight
    # of a look at app.routes (such as test_serve.py's check that only the two upload routes
    # take a POST)
    claims_router(store, page, router=app.router)
    pages_router(store, page, server_packages=server_packages, router=app.router)
    downloads_router(store, router=app.router)
    api_router(store, indexer_error=lambda: background.last_error if background else None,
               server_packages=server_packages, router=app.router)

    @app.exception_handler(BadQuery)
    def _bad(request: Request, e: BadQuery) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(e)}, status_code=e.status)
        return page("error.html", e.status, message=str(e), title="not found"
                    if e.status == 404 else "bad request")

    return app
