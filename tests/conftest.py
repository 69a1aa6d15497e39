from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test session gets its own artifact cache: no state leaks from the user's."""
    root = tmp_path_factory.mktemp("zkml-cache")
    old = os.environ.get("ZKML_CACHE_DIR")
    os.environ["ZKML_CACHE_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("ZKML_CACHE_DIR", None)
    else:
        os.environ["ZKML_CACHE_DIR"] = old
