"""Stage 3: the structured reference string (KZG trusted setup), stored per logrows.

Two sources: the public Perpetual Powers of Tau files (``ppot``), accepted only when their
sha256 matches the table shipped in ``zkml/data``; and locally generated ``dev-unsafe`` files
for development and tests. Whoever generated a dev SRS knows its toxic waste and can forge
proofs: never use one in production. A dev SRS is made once per logrows and reused, because
keys made with one SRS reject proofs made with another.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from functools import cache as memoize
from importlib import resources
from pathlib import Path
from typing import Literal

from zkml import _ezkl, cache
from zkml._progress import step
from zkml._utils import sha256_file
from zkml.errors import SrsError

__all__ = [
    "SrsFile", "import_srs", "dev_srs", "fetch_srs", "resolve_srs", "list_srs", "DevSrsWarning"
]

SRS_NAME = "kzg.srs"


class DevSrsWarning(UserWarning):
    """A locally generated, unsafe SRS is in use."""


@dataclass(frozen=True)
class SrsFile:
    path: Path
    logrows: int
    sha256: str
    source: Literal["ppot", "dev-unsafe"]


@memoize
def ppot_table() -> dict[int, str]:
    raw = resources.files("zkml").joinpath("data/ppot_srs_sha256.json").read_text()
    return {int(k): v for k, v in json.loads(raw)["sha256_by_logrows"].items()}


def _check_logrows(logrows: int) -> None:
    if not 1 <= logrows <= 26:
        raise SrsError(f"logrows must be between 1 and 26, not {logrows}.")


def import_srs(file: str | Path, logrows: int) -> SrsFile:
    """Store a public Powers-of-Tau SRS file after checking its sha256.

    Raises:
        SrsError: the file is missing or its sha256 is not the published one for ``logrows``.
    """
    _check_logrows(logrows)
    file = Path(file)
    if not file.is_file():
        raise SrsError(f"{file}: no such file.")
    with step(f"Checking sha256 of {file.name}"):
        digest = sha256_file(file)
    expected = ppot_table()[logrows]
    if digest != expected:
        raise SrsError(
            f"{file} is not the public Powers-of-Tau SRS for logrows {logrows}: sha256 "
            f"{digest} != published {expected}. Check the logrows, or download kzg{logrows}.srs "
            "again."
        )

    def build(tmp: Path) -> dict[str, object]:
        shutil.copyfile(file, tmp / SRS_NAME)
        if sha256_file(tmp / SRS_NAME) != expected:
            raise SrsError(f"{file} changed while being copied; try again.")
        return {"logrows": logrows, "source": "ppot"}

    entry = cache.get_or_build("srs", f"ppot-{logrows}", build)
    return SrsFile(entry.file(SRS_NAME), logrows, expected, "ppot")


def dev_srs(logrows: int) -> SrsFile:
    """Return this machine's development SRS for ``logrows``, generating it once (UNSAFE)."""
    _check_logrows(logrows)

    def build(tmp: Path) -> dict[str, object]:
        with step(f"Generating development SRS (logrows {logrows}; unsafe for production)"):
            _ezkl.gen_srs(tmp / SRS_NAME, logrows)
        return {"logrows": logrows, "source": "dev-unsafe"}

    entry = cache.get_or_build("srs", f"dev-{logrows}", build)
    return SrsFile(entry.file(SRS_NAME), logrows, sha256_file(entry.file(SRS_NAME)), "dev-unsafe")


def fetch_srs(logrows: int) -> SrsFile:
    """Download the public SRS with ezkl (needs the network), check it and store it."""
    _check_logrows(logrows)
    tmpdir = cache.cache_root() / "downloads"
    tmpdir.mkdir(exist_ok=True)
    target = tmpdir / f"kzg{logrows}.srs"
    try:
        with step(f"Downloading public SRS for logrows {logrows}"):
            _ezkl.get_srs(target, logrows)
        return import_srs(target, logrows)
    finally:
        target.unlink(missing_ok=True)


def list_srs() -> list[SrsFile]:
    """Every SRS in the store, public ones first."""
    out = []
    sources: tuple[tuple[Literal["ppot", "dev-unsafe"], str], ...] = (
        ("ppot", "ppot-"), ("dev-unsafe", "dev-")
    )
    for source, prefix in sources:
        for k in range(1, 27):
            entry = cache.lookup("srs", f"{prefix}{k}")
            if entry:
                path = entry.file(SRS_NAME)
                out.append(SrsFile(path, k, sha256_file(path), source))
    return out


def resolve_srs(logrows: int, *, allow_dev: bool = True) -> SrsFile:
    """The SRS for ``logrows``: the imported public one if present, else a dev one if allowed."""
    entry = cache.lookup("srs", f"ppot-{logrows}")
    if entry is not None:
        return SrsFile(entry.file(SRS_NAME), logrows, ppot_table()[logrows], "ppot")
    if not allow_dev:
        raise SrsError(
            f"no public SRS for logrows {logrows}: run `zkml srs import kzg{logrows}.srs "
            f"--logrows {logrows}` (or `zkml srs fetch --logrows {logrows}` online)."
        )
    warnings.warn(
        f"using a locally generated SRS for logrows {logrows}: fine for development, UNSAFE for "
        "production (import the public Powers-of-Tau file instead).",
        DevSrsWarning,
        stacklevel=2,
    )
    return dev_srs(logrows)
