"""The web app's read side over a synthetic index (the indexer's schema, no chain): every
filter and page agrees with a plain reading of all rows, list queries walk an index in page
order (no sort of the matching set), cached totals follow the indexer's commits, and the
downloads of a 10,000-row set stream in chunks."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from zkml.serve.indexer import open_db
from zkml.serve.store import BadQuery, Filters, Store

MODELS = ["0x" + "ab" * 32, "0x" + "ef" * 32, "0x" + "01" * 32]
VKS = ["cd" * 32, "12" * 32, "cd" * 32]  # the third registers the first's vk again
SUBMITTERS = ["0x" + f"{i:040x}" for i in range(1, 6)]  # digits only: checksummed as is
T0 = 1_700_000_000


def _build(db: Path, n: int) -> list[dict[str, Any]]:
    """``n`` inferences, a few per block (several log indexes), blocks a minute apart; the
    rows as plain dicts for the reference answers."""
    conn = open_db(db)
    rng = random.Random(7)
    rows, block, log = [], 10, 0
    for i in range(n):
        if rng.random() < 0.6:
            block, log = block + rng.randint(1, 3), 0
        else:
            log += 1
        rows.append({"inference_id": "0x" + f"{i:064x}", "model_id": MODELS[i % 7 % 3],
                     "submitter": SUBMITTERS[rng.randrange(5)], "block": block,
                     "log_index": log, "timestamp": T0 + 60 * block})
    with conn:
        for k, (model, vk) in enumerate(zip(MODELS, VKS, strict=True)):
            conn.execute("INSERT INTO models VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (model, vk, SUBMITTERS[0], "0x" + "11" * 20, "m", T0, 1, k,
                          "0x" + f"{k:064x}", 2, 0, 2, None, None, 13, "0"))
        conn.executemany("INSERT INTO inferences VALUES (?,?,?,?,?,?,?,?,?,?,?)", [
            (r["inference_id"], r["model_id"], "0", json.dumps(["1", "2"]),
             json.dumps([0.5, -0.25]), 0, r["submitter"], r["timestamp"], r["block"],
             r["log_index"], "0x" + "77" * 32) for r in rows])
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("chain_id", "31337"), ("last_block", str(block)), ("sync_id", "a")])
    conn.close()
    return rows


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    db = tmp_path_factory.mktemp("serve") / "index.sqlite"
    return db, _build(db, 3000)


def _day(block: int) -> str:
    return datetime.fromtimestamp(T0 + 60 * block, UTC).strftime("%Y-%m-%d")


def _expected(rows: list[dict[str, Any]], f: Filters, t: tuple[int | None, int | None]
              ) -> list[str]:
    ids = {m for m, v in zip(MODELS, VKS, strict=True) if f.model in (m, v)}
    keep = [r for r in rows if (not f.model or r["model_id"] in ids)
            and (not f.submitter or r["submitter"].lower() == f.submitter.lower())
            and (f.from_block is None or r["block"] >= f.from_block)
            and (f.to_block is None or r["block"] <= f.to_block)
            and (t[0] is None or r["timestamp"] >= t[0])
            and (t[1] is None or r["timestamp"] <= t[1])]
    keep.sort(key=lambda r: (r["block"], r["log_index"]), reverse=True)
    return [r["inference_id"] for r in keep]


def _filters(rows: list[dict[str, Any]]) -> list[Filters]:
    last = rows[-1]["block"]
    mid = rows[len(rows) // 2]["block"]
    day = 86_400
    return [
        Filters(), Filters(model=VKS[0]), Filters(model=MODELS[1]),
        Filters(submitter=SUBMITTERS[2].lower()),
        Filters(from_block=mid, to_block=mid + 500),
        Filters(from_block=mid), Filters(to_block=mid),
        Filters(from_time=T0 + 60 * mid), Filters(to_time=T0 + 60 * mid + 30),
        Filters(from_time=T0 + 60 * mid - 10, to_time=T0 + 60 * mid + 2 * day),
        Filters(model=MODELS[0], submitter=SUBMITTERS[1], from_time=T0 + 60 * mid),
        Filters(model=VKS[0], submitter=SUBMITTERS[4], to_time=T0 + 60 * mid),
        Filters(from_time=T0 + 60 * (last + 1)),  # after the last record: nothing
        Filters(to_time=T0 - day),  # before the first: nothing
        Filters(from_time=T0 + 60 * mid + 1, to_time=T0 + 60 * mid + 2),  # between blocks
        Filters(from_block=mid, to_block=mid + 300, from_time=T0 + 60 * (mid + 100)),
        Filters(from_block=mid, to_block=mid + 300, to_time=T0 + 60 * (mid + 100)),
    ]


def test_every_filter_and_page_matches_a_plain_reading(
        index: tuple[Path, list[dict[str, Any]]]) -> None:
    db, rows = index
    store = Store(db)
    for f in _filters(rows):
        want = _expected(rows, f, (f.from_time, f.to_time))
        _, total = store.inferences(f, per_page=500)
        assert total == len(want), f
        per_page = 37
        for page in (1, 2, max(1, len(want) // per_page), len(want) // per_page + 1):
            got, _ = store.inferences(f, page=page, per_page=per_page)
            assert [r["inference_id"] for r in got] == \
                want[(page - 1) * per_page:page * per_page], (f, page)
        assert [r["inference_id"] for r in store.iter_inferences(f)] == want[::-1], f
    assert store.inferences(Filters(), page=10_000)[0] == []


def test_date_filters_cover_whole_days(index: tuple[Path, list[dict[str, Any]]]) -> None:
    from zkml.serve.store import parse_time

    db, rows = index
    store = Store(db)
    day = _day(rows[len(rows) // 2]["block"])
    f = Filters(from_time=parse_time(day, "from"), to_time=parse_time(day, "to", end=True))
    got, total = store.inferences(f, per_page=500)
    assert total == len([r for r in rows if _day(r["block"]) == day]) > 0
    assert {_day(r["block_number"]) for r in got} == {day}


def test_list_queries_walk_an_index_in_page_order(
        index: tuple[Path, list[dict[str, Any]]]) -> None:
    """The page's rows are found by walking one index in page order, whatever the filter:
    the cost of a page is its offset on an index, never a sort of the matching set."""
    db, rows = index
    store = Store(db)
    seen: list[str] = []
    conn = store._conn()
    conn.set_trace_callback(seen.append)  # the statements, with their values bound
    store._local.conn = conn
    check = sqlite3.connect(db)
    for f in _filters(rows):
        seen.clear()
        store.inferences(f, page=20, per_page=50)
        (sql,) = [s for s in seen if "OFFSET" in s]
        plan = [r[3] for r in check.execute("EXPLAIN QUERY PLAN " + sql)]
        inner = plan[1:plan.index("SCAN p")]  # the page's rowids (then 50 rows by rowid)
        if f.model == VKS[0]:  # registered twice: the newest 1000 of each, merged
            assert "MERGE (UNION ALL)" in inner and "LIMIT 1000)" in sql, (f, plan)
            searches = [p for p in inner if p.startswith("SEARCH")]
            assert len(searches) == 2 and all(p.startswith("SEARCH i USING ") and "INDEX"
                                              in p for p in searches), (f, plan)
            continue
        assert len(inner) == 1, (f, plan)  # one index, no "USE TEMP B-TREE FOR ORDER BY"
        assert inner[0].startswith("SEARCH i USING ") or \
            inner[0] == "SCAN i USING COVERING INDEX inf_order", (f, plan)
    check.close()


def test_cached_totals_follow_the_indexers_commits(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    rows = _build(db, 200)
    store = Store(db)
    assert store.inferences(Filters())[1] == 200
    assert len(store.models()) == 3
    w = open_db(db)
    with w:  # what a sync that found a new record commits: rows and a new sync_id together
        w.execute("INSERT INTO inferences SELECT '0x' || printf('%064x', 99999), model_id, "
                  "input_commitment, outputs, decoded, top, submitter, timestamp + 60, "
                  "block + 1, 0, tx_hash FROM inferences WHERE inference_id = ?",
                  (rows[-1]["inference_id"],))
        w.execute("INSERT OR REPLACE INTO meta VALUES ('sync_id', 'b')")
    w.close()
    assert store.inferences(Filters())[1] == 201
    assert store.inferences(Filters(model=MODELS[rows[-1]["model_id"] == MODELS[1]]))[0][0][
        "inference_id"] == "0x" + f"{99999:064x}"
    assert store.models([rows[-1]["model_id"]])[0]["inferences"] == 1 + sum(
        r["model_id"] == rows[-1]["model_id"] for r in rows)


def test_a_bad_filter_is_a_bad_query(index: tuple[Path, list[dict[str, Any]]]) -> None:
    store = Store(index[0])
    with pytest.raises(BadQuery, match="32 bytes of hex"):
        store.inferences(Filters(model="0x12"))
    with pytest.raises(BadQuery) as e:
        store.inferences(Filters(model="99" * 32))
    assert e.value.status == 404
    with pytest.raises(BadQuery, match="per_page"):
        store.inferences(Filters(), per_page=501)


def _get(app: Any, path: str) -> tuple[int, list[bytes]]:
    """Run one GET through the ASGI app; the body as the chunks the app sent."""
    p, _, q = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": p, "raw_path": p.encode(),
             "query_string": q.encode(), "root_path": "", "headers": [(b"host", b"t")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)  # the client never disconnects
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], [m["body"] for m in sent[1:] if m.get("body")]


def test_downloads_of_ten_thousand_rows_stream_in_chunks(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from zkml.serve.app import create_app

    db = tmp_path / "index.sqlite"
    rows = _build(db, 10_000)
    app = create_app(Store(db))
    status, chunks = _get(app, "/download/inferences.json")
    body = b"".join(chunks)
    assert status == 200
    records = json.loads(body)
    assert [r["inference_id"] for r in records] == [r["inference_id"] for r in rows]
    assert len(chunks) >= 10 and max(map(len, chunks)) < len(body) / 10  # streamed
    status, chunks = _get(app, f"/download/inferences.csv?submitter={SUBMITTERS[3]}")
    table = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert [r["inference_id"] for r in table] == [
        r["inference_id"] for r in rows if r["submitter"] == SUBMITTERS[3]]
    assert len(chunks) >= 5
    status, chunks = _get(app, "/download/inferences.json?from_time=2099-01-01")
    assert (status, json.loads(b"".join(chunks))) == (200, [])
    assert _get(app, "/download/inferences.json?submitter=bob")[0] == 400
