"""The content-addressed artifact cache.

Layout: ``<root>/<kind>/<key>/`` holding the artifact files and a ``manifest.json`` that lists
each file's sha256. An entry is built in a private temp directory and renamed into place under
a file lock, so a crash leaves no half-written entry, and a concurrent builder waits and reuses.
Hashes are re-checked on every load: an entry that fails the check is discarded and rebuilt.
A passed check is remembered by the files' identities (inode, size, mtime, ctime), in this
process and under ``<root>/intact/``, so a multi-GB proving key is hashed again only after one
of its files changed, not by every ``zkml prove`` process (0.7 s per GB).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from zkml._utils import atomic_write_json, sha256_bytes, sha256_file
from zkml.errors import ArtifactError

__all__ = [
    "cache_root", "CacheEntry", "get_or_build", "lookup", "ensure_intact", "ensure_file_hash",
    "private_workdir",
]

MANIFEST = "manifest.json"


def cache_root() -> Path:
    """The cache directory: ``$ZKML_CACHE_DIR`` if set, else the platform's user cache dir."""
    env = os.environ.get("ZKML_CACHE_DIR")
    if env:
        root = Path(env)
    else:
        from platformdirs import user_cache_dir

        root = Path(user_cache_dir("zkml"))
    root.mkdir(parents=True, exist_ok=True)
    return root


class CacheEntry:
    """A finished, hash-checked cache directory."""

    def __init__(self, path: Path, meta: dict[str, object], hit: bool) -> None:
        self.path = path
        self.meta = meta
        self.hit = hit

    def file(self, name: str) -> Path:
        return self.path / name


def _check(path: Path) -> dict[str, object] | None:
    """Return the entry's metadata if every file matches its recorded hash, else None."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text())
        files: dict[str, str] = data["files"]
        stamps = _stamps(path)
        known = bool(stamps) and all(s in _intact for s in stamps)
        if known or _persisted(path, stamps, "entry"):
            _intact.update(stamps)
            return dict(data.get("meta", {}))
        for name, digest in files.items():
            f = path / name
            if not f.is_file() or sha256_file(f) != digest:
                return None
        meta: dict[str, object] = data.get("meta", {})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    _remember(path)  # hashes just checked: not again until a file changes
    return meta


def lookup(kind: str, key: str) -> CacheEntry | None:
    """Return the verified entry ``kind/key`` if it exists, else None."""
    path = cache_root() / kind / key
    meta = _check(path)
    return CacheEntry(path, meta, hit=True) if meta is not None else None


def get_or_build(
    kind: str, key: str, build: Callable[[Path], dict[str, object]]
) -> CacheEntry:
    """Return the entry ``kind/key``, building it with ``build(tmpdir) -> meta`` if absent.

    ``build`` writes its files into the directory it is given; every file there is hashed into
    the manifest. Only a complete build is ever renamed into place.
    """
    root = cache_root() / kind
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    meta = _check(final)
    if meta is not None:
        return CacheEntry(final, meta, hit=True)
    from filelock import FileLock  # 15 ms of every process, and only a build needs it

    with FileLock(str(root / f"{key}.lock")):
        meta = _check(final)  # another process may have built it while we waited
        if meta is not None:
            return CacheEntry(final, meta, hit=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}."))
        try:
            meta = build(tmp)
            files = {
                p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()
            }
            atomic_write_json(tmp / MANIFEST, {"files": files, "meta": meta})
            if final.exists():  # a corrupt leftover: never trusted, replaced whole
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    _remember(final)
    return CacheEntry(final, meta, hit=False)


#: A file's identity for the memo below: (path, inode, size, mtime_ns, ctime_ns).
Stamp = tuple[str, int, int, int, int]

# Stamps of entries whose hashes this process has checked: a big proving key is hashed once
# per process, not once per proof. The inode catches a file replaced by rename; ctime catches
# an in-place rewrite even when the writer resets mtime (utime cannot set ctime). Both clocks
# are coarse (a kernel tick), so a same-size rewrite within one tick of the check can still
# go unnoticed until the file changes again. The memo is persisted (``_persist``): it guards
# against corruption and stale files, as the hashes do; whoever can write the cache can
# rewrite its manifests too, so neither is a defence against a writer (a tampered key makes
# proofs that the verifier rejects).
_intact: set[Stamp] = set()
#: files checked against a given sha256 (``ensure_file_hash``), by identity and digest
_files_ok: set[tuple[Stamp, str]] = set()


def ensure_intact(path: str | Path, what: str) -> None:
    """Raise ArtifactError unless the cache entry at ``path`` matches its manifest's hashes.

    Args:
        path: the entry directory (e.g. ``keys.dir``).
        what: what it holds, for the message (e.g. "proving/verifying keys").
    """
    p = Path(path)
    stamp = _stamps(p)
    if stamp and all(s in _intact for s in stamp):
        return
    if _check(p) is None:
        raise ArtifactError(
            f"the {what} in {p} are missing or corrupt (sha256 mismatch with the cache "
            "manifest); run the stage that makes them again (it rebuilds the entry)."
        )


def _stamp(f: Path, st: os.stat_result) -> Stamp:
    return (str(f), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _stamps(p: Path) -> list[Stamp]:
    if not p.is_dir():
        return []
    return [_stamp(f, f.stat()) for f in sorted(p.glob("*"))]


def _remember(p: Path) -> None:
    """Mark an entry whose hashes were just checked or written as intact (this process, and
    the persisted memo for the next ones)."""
    stamps = _stamps(p)
    _intact.update(stamps)
    _persist(p, stamps, "entry")


def _memo_file(p: Path) -> Path:
    return cache_root() / "intact" / sha256_bytes(str(p.resolve()).encode())[:40]


def _persisted(p: Path, stamps: list[Stamp], tag: str) -> bool:
    """Whether an earlier process checked ``p`` (``tag``: what was checked) and none of its
    files changed since (the same identities, ctime included: no write can keep it)."""
    try:
        data = json.loads(_memo_file(p).read_text())
        return bool(stamps) and data["tag"] == tag and \
            [tuple(s) for s in data["stamps"]] == stamps
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _persist(p: Path, stamps: list[Stamp], tag: str) -> None:
    try:
        memo = _memo_file(p)
        memo.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(memo, {"path": str(p), "tag": tag, "stamps": stamps}, indent=None)
    except OSError:
        pass  # a read-only cache: the next process hashes again


def ensure_file_hash(path: str | Path, sha256: str, what: str) -> None:
    """Raise ArtifactError unless the file at ``path`` has this sha256 (memoised per process)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise ArtifactError(f"the {what} {p} is missing; run the stage that makes it.") from None
    stamp = _stamp(p, st)
    if (stamp, sha256) in _files_ok or _persisted(p, [stamp], sha256):
        _files_ok.add((stamp, sha256))
        return
    if sha256_file(p) != sha256:
        raise ArtifactError(
            f"the {what} {p} is corrupt or was replaced (sha256 mismatch); restore it or run "
            "setup again."
        )
    _files_ok.add((stamp, sha256))
    _persist(p, [stamp], sha256)


def private_workdir(kind: str) -> Path:
    """A fresh scratch directory for private intermediates (witness, inputs), named by pid.

    Scratch dirs of processes that died (e.g. SIGKILL mid-proof) are removed here, so a
    witness never outlives the process that made it for longer than the next run.
    """
    root = cache_root()
    for stale in root.glob("scratch-*"):
        try:
            pid = int(stale.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"scratch-{os.getpid()}-{kind}-", dir=root))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
