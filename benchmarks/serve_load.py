"""A bounded load test of `zkml serve`'s list pages (loopback only, fixed request count).

Builds a synthetic index of N inferences (the indexer's schema, one model), serves it with one
uvicorn worker in a child process on 127.0.0.1, and sends R requests from C concurrent clients
of a lean asyncio HTTP/1.1 client (an httpx pool measures itself, see shared notes), spread over
the models page, inference list pages (random page, some filtered by model or submitter) and
the JSON API. Prints errors and p50/p95/max latency per kind; exits 1 on any error.

    .venv/bin/python benchmarks/serve_load.py [--inferences 10000] [--clients 50]
        [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "0x" + "ab" * 32
VK = "cd" * 32
SUBMITTERS = ["0x" + f"{i:040x}" for i in range(1, 6)]


def build_index(db: Path, n: int) -> None:
    from zkml.serve.indexer import open_db

    conn = open_db(db)
    with conn:
        conn.execute("INSERT INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (MODEL, VK, SUBMITTERS[0], "0x" + "11" * 20, "load-test", 1_700_000_000,
                      1, 0, "0x" + "00" * 32, 2, 0, 2, None, None, 13, "0"))
        rng = random.Random(0)
        rows = []
        for i in range(n):
            a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
            rows.append(("0x" + f"{i:064x}", MODEL, "0", json.dumps(["1", "2"]),
                         json.dumps([a, b]), 0 if a >= b else 1,
                         SUBMITTERS[i % len(SUBMITTERS)], 1_700_000_000 + 60 * i, 2 + i, 0,
                         "0x" + f"{i:064x}"))
        conn.executemany("INSERT INTO inferences VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("chain_id", "31337"), ("last_block", str(n + 1)), ("registry", "0x0"),
            ("genesis_hash", "0x0")])
    conn.close()


async def one(port: int, path: str) -> tuple[float, bool]:
    t0 = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                     .encode())
        await writer.drain()
        data = await reader.read()
        writer.close()
        ok = data.startswith(b"HTTP/1.1 200")
    except OSError:
        ok = False
    return time.perf_counter() - t0, ok


def paths(n_inferences: int, count: int) -> list[tuple[str, str]]:
    rng = random.Random(1)
    pages = max(1, n_inferences // 50)
    out = []
    for i in range(count):
        k = i % 5
        if k == 0:
            out.append(("models page", "/"))
        elif k == 1:
            out.append(("inferences page", f"/inferences?page={rng.randint(1, pages)}"))
        elif k == 2:
            out.append(("inferences page", f"/inferences?model={VK}&page="
                        f"{rng.randint(1, pages)}"))
        elif k == 3:
            out.append(("inferences page", f"/inferences?submitter={rng.choice(SUBMITTERS)}"))
        else:
            out.append(("api", f"/api/inferences?page={rng.randint(1, pages)}&per_page=50"))
    return out


async def run(port: int, work: list[tuple[str, str]], clients: int
              ) -> dict[str, list[float]] | None:
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for w in work:
        queue.put_nowait(w)
    times: dict[str, list[float]] = {}
    errors = 0

    async def client() -> None:
        nonlocal errors
        while not queue.empty():
            kind, path = queue.get_nowait()
            dt, ok = await one(port, path)
            times.setdefault(kind, []).append(dt)
            errors += not ok

    await asyncio.gather(*(client() for _ in range(clients)))
    print(f"errors: {errors}")
    return None if errors else times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inferences", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=2_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "index.sqlite"
        build_index(db, a.inferences)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        exe = str(Path(sys.executable).with_name("zkml"))
        proc = subprocess.Popen([exe, "serve", "--db", str(db), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while asyncio.run(one(port, "/api/status"))[1] is False:
                if time.monotonic() > deadline or proc.poll() is not None:
                    print("the server did not start")
                    return 1
                time.sleep(0.3)
            t0 = time.perf_counter()
            times = asyncio.run(run(port, paths(a.inferences, a.requests), a.clients))
            wall = time.perf_counter() - t0
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"{a.requests} requests, {a.clients} clients, {a.inferences} indexed inferences: "
          f"{wall:.1f} s, {a.requests / wall:.0f} req/s")
    if times is None:
        return 1
    for kind, ts in sorted(times.items()):
        q = statistics.quantiles(ts, n=100)
        print(f"  {kind:16s} n={len(ts):5d} p50 {q[49] * 1e3:6.1f} ms  p95 {q[94] * 1e3:6.1f} ms"
              f"  max {max(ts) * 1e3:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
