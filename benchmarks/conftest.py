from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

warnings.simplefilter("ignore")


@pytest.fixture(scope="session", autouse=True)
def _bench_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Benchmarks use their own cache unless ZKML_BENCH_CACHE names one to reuse."""
    old = os.environ.get("ZKML_CACHE_DIR")
    os.environ["ZKML_CACHE_DIR"] = os.environ.get(
        "ZKML_BENCH_CACHE", str(tmp_path_factory.mktemp("bench-cache")))
    yield
    if old is None:
        os.environ.pop("ZKML_CACHE_DIR", None)
    else:
        os.environ["ZKML_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench")
