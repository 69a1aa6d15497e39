from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from zkml import cache


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own cache root: no test sees an entry (or a builds.log) another made."""
    root = tmp_path / "cache"
    monkeypatch.setenv("ZKML_CACHE_DIR", str(root))
    return root


def _writer(tmp: Path) -> dict[str, object]:
    (tmp / "data.bin").write_bytes(b"x" * 100)
    counter = Path(os.environ["ZKML_CACHE_DIR"]) / "builds.log"
    with open(counter, "a") as f:
        f.write("built\n")
    return {"n": 1}


def test_second_call_is_a_hit() -> None:
    a = cache.get_or_build("t", "k1", _writer)
    b = cache.get_or_build("t", "k1", _writer)
    assert not a.hit and b.hit
    assert b.meta == {"n": 1}
    assert (b.path / "data.bin").read_bytes() == b"x" * 100


def test_corrupt_entry_is_rebuilt_not_trusted() -> None:
    a = cache.get_or_build("t", "k2", _writer)
    (a.path / "data.bin").write_bytes(b"tampered")
    assert cache.lookup("t", "k2") is None
    b = cache.get_or_build("t", "k2", _writer)
    assert not b.hit
    assert (b.path / "data.bin").read_bytes() == b"x" * 100


def test_failed_build_leaves_nothing() -> None:
    def bad(tmp: Path) -> dict[str, object]:
        (tmp / "half.bin").write_bytes(b"half")
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        cache.get_or_build("t", "k3", bad)
    root = cache.cache_root() / "t"
    assert not (root / "k3").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".k3.")]


def _race(key: str) -> str:
    return str(cache.get_or_build("race", key, _writer).path)


def test_concurrent_builders_build_once() -> None:
    log = cache.cache_root() / "builds.log"
    with mp.get_context("spawn").Pool(4) as pool:
        paths = pool.map(_race, ["same"] * 4)
    assert len(set(paths)) == 1
    assert log.read_text().count("built") == 1


def test_an_entry_is_hashed_once_per_process_until_it_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A big proving key is not re-hashed by the prove that follows setup in one process, but
    a file changed afterwards is still caught."""
    entry = cache.get_or_build("t", "k-memo", _writer)
    calls: list[str] = []
    real = cache.sha256_file

    def counting(p: str | Path) -> str:
        calls.append(str(p))
        return real(p)

    monkeypatch.setattr(cache, "sha256_file", counting)
    cache.ensure_intact(entry.path, "test files")
    cache.ensure_intact(entry.path, "test files")
    assert calls == []  # just built: its hashes were written by this process
    f = entry.path / "data.bin"
    before = f.stat()
    f.write_bytes(b"y" * 100)  # same size, new content...
    # ...and a distinct mtime set explicitly: whether the clock ticked since the build (Linux
    # timestamps are coarse) must not decide the outcome
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    with pytest.raises(cache.ArtifactError, match="missing or corrupt"):
        cache.ensure_intact(entry.path, "test files")
    assert [Path(c).name for c in calls] == ["data.bin"]


def test_a_file_replaced_with_its_old_size_and_mtime_is_still_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Replaced by rename (a new inode) with size and mtime copied over, as ``cp -p`` or an
    editor's save would: the memo must not vouch for the new file."""
    entry = cache.get_or_build("t", "k-replaced", _writer)
    calls: list[str] = []
    real = cache.sha256_file

    def counting(p: str | Path) -> str:
        calls.append(str(p))
        return real(p)

    monkeypatch.setattr(cache, "sha256_file", counting)
    cache.ensure_intact(entry.path, "test files")
    assert calls == []
    f = entry.path / "data.bin"
    before = f.stat()
    other = entry.path.parent / "data.bin.new"
    other.write_bytes(b"z" * 100)
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, f)
    assert (f.stat().st_size, f.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    with pytest.raises(cache.ArtifactError, match="missing or corrupt"):
        cache.ensure_intact(entry.path, "test files")
    assert [Path(c).name for c in calls] == ["data.bin"]


def test_ensure_file_hash_checks_once_then_catches_a_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zkml._utils import sha256_file

    f = tmp_path / "srs.bin"
    f.write_bytes(b"s" * 64)
    digest = sha256_file(f)
    calls: list[str] = []
    real = cache.sha256_file

    def counting(p: str | Path) -> str:
        calls.append(str(p))
        return real(p)

    monkeypatch.setattr(cache, "sha256_file", counting)
    cache.ensure_file_hash(f, digest, "SRS")
    cache.ensure_file_hash(f, digest, "SRS")
    assert calls == [str(f)]  # hashed once, then remembered
    before = f.stat()
    f.write_bytes(b"t" * 64)
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    with pytest.raises(cache.ArtifactError, match="corrupt or was replaced"):
        cache.ensure_file_hash(f, digest, "SRS")
    assert calls == [str(f), str(f)]


def _counting_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = cache.sha256_file

    def counting(p: str | Path) -> str:
        calls.append(Path(p).name)
        return real(p)

    monkeypatch.setattr(cache, "sha256_file", counting)
    return calls


def test_a_check_is_remembered_by_the_next_process_until_a_file_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `zkml prove` is a new process: the proving key checked by setup (or by the last
    prove) is not hashed again (0.7 s per GB), but a file changed since is, even one rewritten
    with its old size and mtime (its ctime moves)."""
    entry = cache.get_or_build("t", "k-persist", _writer)
    calls = _counting_hashes(monkeypatch)
    monkeypatch.setattr(cache, "_intact", set())  # a new process: nothing in memory
    cache.ensure_intact(entry.path, "test files")
    assert cache.lookup("t", "k-persist") is not None
    assert calls == []
    f = entry.path / "data.bin"
    before = f.stat()
    f.write_bytes(b"y" * 100)
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    monkeypatch.setattr(cache, "_intact", set())
    with pytest.raises(cache.ArtifactError, match="missing or corrupt"):
        cache.ensure_intact(entry.path, "test files")
    assert calls == ["data.bin"]


def test_a_file_hash_is_remembered_for_its_digest_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zkml._utils import sha256_file

    f = tmp_path / "srs.bin"
    f.write_bytes(b"s" * 64)
    digest = sha256_file(f)
    cache.ensure_file_hash(f, digest, "SRS")
    calls = _counting_hashes(monkeypatch)
    monkeypatch.setattr(cache, "_files_ok", set())  # a new process: nothing in memory
    cache.ensure_file_hash(f, digest, "SRS")
    assert calls == []
    # a check for another digest is not vouched for by the memo of this one
    with pytest.raises(cache.ArtifactError, match="sha256 mismatch"):
        cache.ensure_file_hash(f, "0" * 64, "SRS")
    assert calls == ["srs.bin"]
