"""Progress reporting for long steps.

The library reports through ``logging`` by default; the CLI installs a reporter that shows a
spinner with elapsed time. Messages never carry input values or weights.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

log = logging.getLogger("zkml")

Reporter = Callable[[str], contextlib.AbstractContextManager[None]]


@contextlib.contextmanager
def _log_reporter(message: str) -> Iterator[None]:
    log.info("%s ...", message)
    yield


_reporter: Reporter = _log_reporter
timings: dict[str, float] = {}


def set_reporter(reporter: Reporter | None) -> None:
    global _reporter
    _reporter = reporter or _log_reporter


@contextlib.contextmanager
def step(message: str, key: str | None = None) -> Iterator[None]:
    """Report a long step; record its wall time under ``key``."""
    t0 = time.perf_counter()
    with _reporter(message):
        yield
    elapsed = time.perf_counter() - t0
    if key:
        timings[key] = elapsed
    log.info("%s done in %.2fs", message, elapsed)
