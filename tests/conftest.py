"""Session-wide isolation: a private artifact cache, and a guard that every test leaves the
environment and the checkout as it found them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Environment variables that may change while a test runs, each set on purpose by something
#: other than our tests. Anything else a test changes must be undone (use ``monkeypatch``).
ENV_ALLOWED = frozenset({
    "PYTEST_CURRENT_TEST",  # pytest: the running test's id and phase, rewritten every phase
    # scikit-learn and joblib setdefault these OpenMP workarounds when first imported (the zoo
    # trains with scikit-learn's datasets): whichever test imports them first "sets" them
    "KMP_DUPLICATE_LIB_OK",
    "KMP_INIT_AT_FORK",
    # importing ray and ray.init set these in the driver; ray.shutdown leaves them (the Ray
    # backend of prove_batch)
    "PYTHONBREAKPOINT",
    "RAY_AUTH_MODE",
    "RAY_CLIENT_MODE",
    "RAY_USAGE_STATS_ENABLED",
    # torch's inductor records its default cache dir here the first time it looks it up (seen
    # when LeNet-5 is trained and exported, in the `slow` test)
    "TORCHINDUCTOR_CACHE_DIR",
})

#: New untracked files with these suffixes are not blamed on a test: they are what people
#: author in the checkout while a suite runs (other engineers share this work tree). A test
#: that writes one into the checkout is therefore not caught; none writes source files (tests
#: write JSON, CSV, ONNX, keys, SRS, Solidity, plots: all still caught).
AUTHORED_SUFFIXES = (".py", ".md", ".ipynb", ".html", ".js", ".css")


def _untracked() -> set[str] | None:
    """Untracked files outside ignored directories (None when the checkout is not a git
    work tree, e.g. an unpacked sdist: then the work-tree check is off)."""
    try:
        r = subprocess.run(
            ["git", "--no-optional-locks", "ls-files", "--others", "--exclude-standard", "-z"],
            cwd=ROOT, capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return {p for p in r.stdout.decode().split("\0") if p and not p.endswith(AUTHORED_SUFFIXES)}


def _env_changes(before: dict[str, str]) -> list[str]:
    after = dict(os.environ)
    keys = (set(before) | set(after)) - ENV_ALLOWED
    return sorted(f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys
                  if before.get(k) != after.get(k))


def _restore_env(before: dict[str, str]) -> None:
    kept = {k: v for k, v in os.environ.items() if k in ENV_ALLOWED}
    os.environ.clear()
    os.environ.update({**before, **kept})


def _check(before_env: dict[str, str], before_files: set[str] | None, who: str) -> None:
    problems = []
    changed = _env_changes(before_env)
    if changed:
        _restore_env(before_env)  # so the next test starts clean and is not blamed too
        problems.append("changed os.environ (use monkeypatch): " + "; ".join(changed))
    if before_files is not None:
        new = sorted((_untracked() or set()) - before_files)
        if new:
            problems.append("left untracked files in the checkout (write to tmp_path): "
                            + ", ".join(new))
    if problems:
        pytest.fail(f"{who} " + " and ".join(problems), pytrace=False)


@pytest.fixture(autouse=True, scope="session")
def _session_leaves_no_trace() -> Iterator[None]:
    """Catches what fixtures of any scope leave behind (module fixtures set up and torn down
    outside any single test's window)."""
    env, files = dict(os.environ), _untracked()
    yield
    _check(env, files, "the test session")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(_session_leaves_no_trace: None,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test session gets its own artifact cache: no state leaks from the user's."""
    root = tmp_path_factory.mktemp("zkml-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZKML_CACHE_DIR", str(root))
        yield root


@pytest.fixture(autouse=True)
def _test_leaves_no_trace(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test (an error at teardown) if it changed os.environ or left new untracked
    files in the checkout. Function fixtures such as ``monkeypatch`` are undone before this
    check; fixtures of wider scope are set up before the snapshot and checked per session."""
    env, files = dict(os.environ), _untracked()
    yield
    _check(env, files, request.node.nodeid)
