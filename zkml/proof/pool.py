"""The worker pool every many-proof job runs on: a local process pool or Ray.

One unit of work is ``work(*head, id, value, verify) -> dict`` (a result, or an error in the
dict: a unit never raises for a bad input). :func:`run_local` runs units in a bounded
process pool, rebuilt when a worker dies, each lost input retried up to ``MAX_ATTEMPTS``
times; :func:`run_ray` runs them as Ray tasks, retried by Ray, at most ``workers`` in flight.
Keys go to Ray nodes once per node: ``shipped`` bytes go into the object store once and
:func:`node_keys` writes them under a content-addressed folder on each node.

Used by zkml.proof.batch (one proof per input), zkml.proof.split_prove (one segment per
task) and, through the batch, zkml.claims. This is the only module that imports ray (lazily: the
``[distributed]`` extra).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from zkml._utils import atomic_write_bytes, atomic_write_json, sha256_file
from zkml.artifacts import Keys
from zkml.errors import ZkmlValueError

__all__ = ["MAX_ATTEMPTS", "Work", "run_local", "run_ray", "key_files", "node_keys",
           "limit_threads"]

MAX_ATTEMPTS = 3
#: one unit: (*head, input id, value, verify) -> a result dict with "input_id"
Work = Callable[..., dict[str, Any]]


def limit_threads(threads: int) -> None:
    """ezkl proves with a rayon pool as wide as the machine; concurrent provers would fight
    over the cores, so each worker gets its share (read when the pool first starts)."""
    os.environ["RAYON_NUM_THREADS"] = str(threads)


def run_local(keys_json: str, todo: list[tuple[str, Any]], workers: int, verify: bool,
              work: Work) -> Iterator[dict[str, Any]]:
    """``work(keys_json, id, value, verify)`` for every input in a bounded process pool;
    yields each result (with its ``attempts``) as it lands."""
    attempts: dict[str, int] = {}
    pending = list(todo)
    while pending:
        retry: list[tuple[str, Any]] = []
        threads = max(1, (os.cpu_count() or 1) // workers)
        with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                    initializer=limit_threads, initargs=(threads,)) as pool:
            futures = {pool.submit(work, keys_json, i, v, verify): (i, v)
                       for i, v in pending}
            for fut in cf.as_completed(futures):
                i, v = futures[fut]
                attempts[i] = attempts.get(i, 0) + 1
                try:
                    res = fut.result()
                except cf.process.BrokenProcessPool:
                    if attempts[i] < MAX_ATTEMPTS:
                        retry.append((i, v))
                        continue
                    res = {"input_id": i, "error": "the worker proving this input died "
                           f"{attempts[i]} times", "error_type": "WorkerDied"}
                res["attempts"] = attempts[i]
                yield res
        pending = retry


def run_ray(work: Work, head: tuple[Any, ...], todo: list[tuple[str, Any]], workers: int,
            verify: bool, address: str | None, *,
            shipped: dict[str, bytes] | None = None) -> Iterator[dict[str, Any]]:
    """``work(*head, id, value, verify)`` as Ray tasks (``work(files_ref, *head, ...)`` with
    ``shipped``: its object-store reference comes first); a local cluster is started unless
    ``address`` names one. Values must be cheap to ship (lists, not arrays).

    Raises:
        ZkmlValueError: ray is not installed.
    """
    try:
        import ray
    except ImportError as e:
        raise ZkmlValueError("the ray backend needs the [distributed] extra: pip install "
                             "'zkml[distributed]'.") from e
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        # One core per task, and ezkl's rayon pool sized to match (see limit_threads).
        opts: dict[str, Any] = {
            "num_cpus": 1, "max_retries": MAX_ATTEMPTS - 1, "retry_exceptions": False,
            "runtime_env": {"env_vars": {"RAYON_NUM_THREADS": "1"}}}
        if shipped is not None:
            head = (ray.put(shipped), *head)
        yield from _stream(ray, ray.remote(**opts)(work), head, todo, workers, verify)
    finally:
        if started:
            ray.shutdown()


def _stream(ray: Any, task: Any, head: tuple[Any, ...], todo: list[tuple[str, Any]],
            workers: int, verify: bool) -> Iterator[dict[str, Any]]:
    """At most ``workers`` tasks in flight; yields each result as it lands."""
    inflight: dict[Any, str] = {}
    queue = list(todo)
    while queue or inflight:
        while queue and len(inflight) < workers:
            i, v = queue.pop(0)
            inflight[task.remote(*head, i, v, verify)] = i
        done, _ = ray.wait(list(inflight), num_returns=1)
        for ref in done:
            i = inflight.pop(ref)
            try:
                res = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - a task lost after all its retries
                res = {"input_id": i, "error": f"worker failed: {str(e)[:200]}",
                       "error_type": "WorkerDied"}
            yield res


def key_files(keys: Keys) -> dict[str, str]:
    """The files a node needs to prove with ``keys``, by the name :func:`node_keys` uses."""
    c = keys.circuit
    return {"pk.key": keys.pk_path, "vk.key": keys.vk_path, "model.compiled": c.compiled_path,
            "settings.json": c.settings_path, "kzg.srs": keys.srs_path}


def node_keys(files: dict[str, bytes], digest: str, keys_json: str) -> Keys:
    """This node's copy of the keys: written once per node, reused by every task on it."""
    from filelock import FileLock

    from zkml import cache

    root = Path(os.environ.get("ZKML_RAY_NODE_DIR", "/tmp/zkml-ray")) / digest
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if not (root / "done").exists():
            root.mkdir(exist_ok=True)
            for name, data in files.items():
                atomic_write_bytes(root / name, data)
            # a cache manifest, so prove()'s integrity checks accept this copy
            atomic_write_json(root / cache.MANIFEST, {
                "files": {name: sha256_file(root / name) for name in files}, "meta": {}})
            (root / "done").write_text("ok")
    keys = Keys.model_validate_json(keys_json)
    circuit = keys.circuit.model_copy(update={
        "dir": str(root), "settings_path": str(root / "settings.json"),
        "compiled_path": str(root / "model.compiled")})
    return keys.model_copy(update={
        "circuit": circuit, "dir": str(root), "pk_path": str(root / "pk.key"),
        "vk_path": str(root / "vk.key"), "srs_path": str(root / "kzg.srs")})
