"""What the web app's routers share: the inference filters read from a request (one parser
for the inferences page, both downloads and /api/inferences), the time format of pages and
the CSV, and the check of an uploaded bundle behind the verify page and /api/verify."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from fastapi import UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from zkml.serve.checks import MAX_UPLOAD, Verdict, check_upload
from zkml.serve.store import BadQuery, Filters, Store, parse_time

__all__ = ["Page", "FILTER_KEYS", "ts", "number", "opt_int", "filters", "query_filters",
           "upload_verdict"]

#: ``page(template, status=200, **context)``: an HTML page (create_app's renderer)
Page = Callable[..., HTMLResponse]
#: the query parameters that filter inferences (kept in the page links and download links)
FILTER_KEYS = ("model", "submitter", "from_block", "to_block", "from_time", "to_time")


def ts(value: int | None) -> str:
    return "" if value is None else datetime.fromtimestamp(int(value), UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


def number(value: int | str | None, key: str) -> int | None:
    """A block number (or page number) given as text, or already an int (the API's typed
    parameters); blank: None."""
    if isinstance(value, int):
        return value
    v = (value or "").strip()
    if not v:
        return None
    if not (v.isascii() and v.isdigit()):  # "²".isdigit() is True, int("²") fails
        raise BadQuery(f"{key} {v[:40]!r} is not a block number.")
    return int(v)


def opt_int(q: Mapping[str, str], key: str) -> int | None:
    return number(q.get(key), key)


def filters(model: str | None = None, submitter: str | None = None,
            from_block: int | str | None = None, to_block: int | str | None = None,
            from_time: str | None = None, to_time: str | None = None) -> Filters:
    """The inference filters from query values; a blank value is no filter.

    Raises:
        BadQuery: a block number or time that cannot be read (the model and submitter are
            checked by the store's query).
    """
    return Filters(model=(model or "").strip() or None,
                   submitter=(submitter or "").strip() or None,
                   from_block=number(from_block, "from_block"),
                   to_block=number(to_block, "to_block"),
                   from_time=parse_time(from_time, "from_time"),
                   to_time=parse_time(to_time, "to_time", end=True))


def query_filters(q: Mapping[str, str]) -> Filters:
    """:func:`filters` from a request's query parameters (the pages and downloads)."""
    return filters(**{k: q.get(k) for k in FILTER_KEYS})


async def upload_verdict(store: Store, bundle: UploadFile, package: UploadFile | None,
                         server_packages: dict[str, Path] | None) -> Verdict:
    """Check an uploaded bundle (and package zip: a form's empty file field is none) in the
    thread pool.

    Raises:
        BadQuery: an upload is over the cap (413) or the bundle is empty (400).
    """
    if package is not None and not package.filename:
        package = None
    data = await bundle.read(MAX_UPLOAD + 1)
    pkg = await package.read(MAX_UPLOAD + 1) if package is not None else b""
    if len(data) > MAX_UPLOAD or len(pkg) > MAX_UPLOAD:
        raise BadQuery(f"an upload is over {MAX_UPLOAD // 1024} KB: a proof bundle is a few "
                       "KB and a verification package zip (without SRS) well under 1 MB.", 413)
    if not data:
        raise BadQuery("no proof bundle uploaded: choose the bundle JSON file.")
    return await run_in_threadpool(check_upload, store, data, bundle.filename or "",
                                   pkg or None, server_packages)
