"""A bounded load test of `zkml serve` (loopback only, fixed request count, stops by itself).

Builds a synthetic index of N inferences (the indexer's schema, two models, five submitters,
one inference per block, one block a minute), starts `zkml serve --db` (one uvicorn worker,
exactly as a user runs it) in a child process on 127.0.0.1, and sends R requests from C
concurrent clients of a lean asyncio HTTP/1.1 client in this process (one connection per
request, as from C distinct visitors; an httpx pool measures itself). The requests are spread
evenly over five kinds:

* ``models page``: ``/``;
* ``inference list``: ``/inferences?page=P``, P random over every page;
* ``filtered list``: by model, submitter, block range or date range, random page;
* ``model page + charts``: ``/models/ID`` and its two SVG charts;
* ``json api``: ``/api/inferences`` (random page, some filtered), ``/api/models``, one record.

Every route is requested once before the clock starts (the first chart render imports
matplotlib). Prints errors, p50/p95/p99/max latency and req/s per kind, the load average
before and after, the CPU seconds of server and client, and writes it all as JSON (``--out``).
Exits 1 on any error.

    .venv/bin/python benchmarks/serve_load.py [--inferences 10000] [--clients 50]
        [--requests 2000] [--out benchmarks/results/serve_load.json] [--note TEXT]

The code measured is whatever `zkml` imports: to measure another version, put its `zkml`
first on PYTHONPATH (the child server inherits it; see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import random
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MODELS = ["0x" + "ab" * 32, "0x" + "ef" * 32]
VKS = ["cd" * 32, "12" * 32]
SUBMITTERS = ["0x" + f"{i:040x}" for i in range(1, 6)]
T0 = 1_700_000_000
LIST_KINDS = ("models page", "inference list", "filtered list")


def build_index(db: Path, n: int) -> None:
    from zkml.serve.indexer import open_db

    conn = open_db(db)
    with conn:
        for k, (model, vk) in enumerate(zip(MODELS, VKS, strict=True)):
            conn.execute("INSERT INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (model, vk, SUBMITTERS[0], "0x" + "11" * 20, f"load-test {k}", T0,
                          1, k, "0x" + f"{k:064x}", 2, 0, 2, None, None, 13, "0"))
        rng = random.Random(0)
        rows = []
        for i in range(n):
            a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
            rows.append(("0x" + f"{i:064x}", MODELS[i % 4 == 3], "0", json.dumps(["1", "2"]),
                         json.dumps([a, b]), 0 if a >= b else 1,
                         SUBMITTERS[i % len(SUBMITTERS)], T0 + 60 * i, 2 + i, 0,
                         "0x" + f"{i:064x}"))
        conn.executemany("INSERT INTO inferences VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("chain_id", "31337"), ("last_block", str(n + 1)), ("registry", "0x0"),
            ("genesis_hash", "0x0"), ("sync_id", "load-test")])
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


def _day(i: int) -> str:
    return datetime.fromtimestamp(T0 + 60 * i, UTC).strftime("%Y-%m-%d")


def paths(n: int, count: int) -> list[tuple[str, str]]:
    """``count`` (kind, path) pairs, the five kinds in equal shares, in a fixed random order."""
    rng = random.Random(1)

    def pg(matching: int) -> int:
        return rng.randint(1, max(1, matching // 50))

    def filtered() -> str:
        k = rng.randrange(4)
        if k == 0:
            return f"/inferences?model={rng.choice(VKS)}&page={pg(n // 4)}"
        if k == 1:
            return f"/inferences?submitter={rng.choice(SUBMITTERS)}&page={pg(n // 5)}"
        a = rng.randrange(n)
        b = min(n - 1, a + rng.randrange(1, 3000))
        if k == 2:
            return f"/inferences?from_block={a + 2}&to_block={b + 2}&page={pg(b - a)}"
        return f"/inferences?from_time={_day(a)}&to_time={_day(b)}&page=1"

    def model() -> str:
        m = rng.choice(MODELS)
        return rng.choice([f"/models/{m}", f"/models/{m}/activity.svg",
                           f"/models/{m}/outputs.svg"])

    def api() -> str:
        k = rng.randrange(4)
        if k == 0:
            return "/api/models"
        if k == 1:
            return f"/api/inferences/0x{rng.randrange(n):064x}"
        if k == 2:
            return f"/api/inferences?submitter={rng.choice(SUBMITTERS)}&page={pg(n // 5)}"
        return f"/api/inferences?page={pg(n)}&per_page=50"

    makers: list[tuple[str, Callable[[], str]]] = [
        ("models page", lambda: "/"), ("inference list", lambda: f"/inferences?page={pg(n)}"),
        ("filtered list", filtered), ("model page + charts", model), ("json api", api)]
    out = [(kind, make()) for i in range(count) for kind, make in [makers[i % 5]]]
    rng.shuffle(out)
    return out


async def run(port: int, work: list[tuple[str, str]], clients: int
              ) -> tuple[dict[str, list[float]], dict[str, int]]:
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for w in work:
        queue.put_nowait(w)
    times: dict[str, list[float]] = {}
    errors: dict[str, int] = {}

    async def client() -> None:
        while not queue.empty():
            kind, path = queue.get_nowait()
            dt, ok = await one(port, path)
            times.setdefault(kind, []).append(dt)
            errors[kind] = errors.get(kind, 0) + (not ok)

    await asyncio.gather(*(client() for _ in range(clients)))
    return times, errors


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _ms(v: float) -> float:
    return round(v * 1e3, 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inferences", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=2_000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/serve_load.json"))
    ap.add_argument("--note", default="", help="What is measured, kept in the JSON.")
    a = ap.parse_args()
    load_before = os.getloadavg()
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
            work = paths(a.inferences, a.requests)
            warm = ["/", "/inferences", f"/inferences?model={VKS[0]}", "/api/models",
                    "/api/inferences", *(f"/models/{m}{c}" for m in MODELS
                                         for c in ("", "/activity.svg", "/outputs.svg"))]
            for path in warm:
                asyncio.run(one(port, path))
            server_cpu0 = _cpu_seconds(proc.pid)
            client_cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            times, errors = asyncio.run(run(port, work, a.clients))
            wall = time.perf_counter() - t0
            client_cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            server_cpu = _cpu_seconds(proc.pid) - server_cpu0
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    client_cpu = (client_cpu1.ru_utime + client_cpu1.ru_stime
                  - client_cpu0.ru_utime - client_cpu0.ru_stime)
    kinds: dict[str, Any] = {}
    for kind, ts in times.items():
        q = statistics.quantiles(ts, n=100, method="inclusive")
        kinds[kind] = {"n": len(ts), "errors": errors[kind], "p50_ms": _ms(q[49]),
                       "p95_ms": _ms(q[94]), "p99_ms": _ms(q[98]), "max_ms": _ms(max(ts)),
                       "req_per_s": round(len(ts) / wall, 1)}
    every = [t for ts in times.values() for t in ts]
    lists = [t for k in LIST_KINDS for t in times.get(k, [])]
    result = {
        "command": shlex.join(["benchmarks/serve_load.py", *sys.argv[1:]]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "inferences": a.inferences, "clients": a.clients, "requests": a.requests,
        "errors": sum(errors.values()), "seconds": round(wall, 2),
        "req_per_s": round(len(every) / wall, 1),
        "p95_ms_list_pages": _ms(statistics.quantiles(lists, n=100, method="inclusive")[94]),
        "p95_ms_all": _ms(statistics.quantiles(every, n=100, method="inclusive")[94]),
        "kinds": dict(sorted(kinds.items())),
        "server_cpu_s": round(server_cpu, 2), "client_cpu_s": round(client_cpu, 2),
        # what the load average of a shared machine moves least: the server's own work
        "server_cpu_ms_per_request": round(server_cpu / len(every) * 1e3, 2),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(), "python": platform.python_version(),
        # what uvicorn's loop="auto", http="auto" pick up in the server (same environment)
        "uvloop": _importable("uvloop"), "httptools": _importable("httptools"),
        "note": a.note,
    }
    print(f"{a.requests} requests, {a.clients} clients, {a.inferences} indexed inferences: "
          f"{wall:.1f} s, {result['req_per_s']:.0f} req/s, errors {result['errors']}; "
          f"load average before {load_before[0]:.2f}; CPU s: server {server_cpu:.1f} "
          f"({result['server_cpu_ms_per_request']} ms/request), client {client_cpu:.1f}")
    for kind, k in result["kinds"].items():
        print(f"  {kind:20s} n={k['n']:5d} err {k['errors']}  p50 {k['p50_ms']:6.1f}  p95 "
              f"{k['p95_ms']:6.1f}  p99 {k['p99_ms']:6.1f}  max {k['max_ms']:6.1f} ms  "
              f"{k['req_per_s']:5.0f} req/s")
    print(f"  list pages (first three kinds) p95 {result['p95_ms_list_pages']} ms")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = a.out.with_suffix(".tmp")
        tmp_out.write_text(json.dumps(result, indent=2) + "\n")
        tmp_out.replace(a.out)
        print(f"-> {a.out}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
