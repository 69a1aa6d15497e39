"""The audit web app's claim pages over an index of a ClaimRegistry on the embedded EVM:
indexing (resumable, idempotent), the list and claim pages, the JSON API and its OpenAPI
schema, the CSV, 404s, and escaping of user-supplied group names. The browser test
(test_serve_claims_browser.py) reuses the ``claims_world`` fixture. The app is served as
test_serve.py serves it (uvicorn on a free port, no indexer thread: the embedded EVM is
indexed once, before serving)."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import zkml
from tests.integration.conftest import Pipeline
from tests.integration.test_claim_chain import (
    digest_of_claim,
    make_claim,
    make_metrics,
    make_set,
)
from zkml.artifacts import ModelRegistration, RegistryDeployment
from zkml.chain import claims as C
from zkml.chain import registry as R
from zkml.claims.formats import Claim

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import httpx

from tests.integration.test_serve import _serve
from zkml.serve.app import create_app
from zkml.serve.indexer import Indexer
from zkml.serve.store import Store

XSS_GROUP = "<img src=x onerror=alert(7)>"
FORMULA_GROUP = "=HYPERLINK(\"http://x\")"


@dataclass
class ClaimsWorld:
    """A registry with the tiny model, a claim registry, two committed sets, a claim on each
    (the second with hostile group names), the index and the app."""

    chain: zkml.Chain
    registry: RegistryDeployment
    claims: RegistryDeployment
    model: ModelRegistration
    plain: Claim
    plain_id: str
    hostile: Claim
    hostile_id: str
    db: Path
    indexer: Indexer
    url: str
    client: httpx.Client


def _record(chain: zkml.Chain, claims: RegistryDeployment, model: ModelRegistration,
            label: str, groups: tuple[str, str]) -> tuple[Claim, str]:
    commitment = make_set(label, model.model_id)
    C.commit_set_onchain(chain, claims, commitment)
    claim = make_claim(commitment, make_metrics(groups))
    return claim, C.record_claim(chain, claims, model.onchain_model_id, claim,
                                 digest_of_claim(claim)).claim_id


@pytest.fixture(scope="module")
def claims_world(embedded: zkml.Chain, tiny: Pipeline, embedded_deployment: zkml.Deployment,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClaimsWorld]:
    chain = embedded
    registry = R.deploy_registry(chain)
    model = R.register_model(chain, registry, tiny.keys, embedded_deployment,
                             metadata_uri="zkml://tiny")
    claims = C.deploy_claim_registry(chain, registry)
    # someone copies the plain set's root first, with another count: a commitment of theirs,
    # which the index keeps apart from the owner's
    copier = chain.with_account(chain.w3.eth.accounts[4])
    C.commit_set_onchain(copier, claims, make_set("serve plain", model.model_id, samples=3))
    plain, plain_id = _record(chain, claims, model, "serve plain", ("north", "south"))
    hostile, hostile_id = _record(chain, claims, model, "serve hostile",
                                  (XSS_GROUP, FORMULA_GROUP))
    db = tmp_path_factory.mktemp("claims") / "index.sqlite"
    indexer = Indexer(chain, registry, db, reorg_depth=4, claim_registry=claims)
    indexer.sync()
    with _served(create_app(Store(db))) as (url, client):
        yield ClaimsWorld(chain, registry, claims, model, plain, plain_id, hostile,
                          hostile_id, db, indexer, url, client)


@contextlib.contextmanager
def _served(app: Any) -> Iterator[tuple[str, httpx.Client]]:
    """The app on a free port (uvicorn in a thread, as test_serve.py) and a client to it."""
    server, thread, url = _serve(app)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield url, client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_index_holds_sets_and_claims_and_a_rerun_adds_nothing(claims_world: ClaimsWorld
                                                               ) -> None:
    w = claims_world
    r = w.indexer.sync()
    assert (r.new_claims, r.total_claims, r.reindexed) == (0, 2, None)
    stored = {c["claim_id"]: c for c in Store(w.db).claims()}
    assert set(stored) == {w.plain_id, w.hostile_id}
    onchain = C.get_onchain_claim(w.chain, w.claims, w.plain_id)
    c = stored[w.plain_id]
    assert (c["model_id"], c["set_root"], c["claim_digest"], c["claimant"]) == (
        w.model.onchain_model_id, w.plain.set_root, onchain.claim_digest, onchain.claimant)
    assert dict(c["metrics"]) == onchain.metrics
    assert c["set_block"] < c["block_number"] == onchain.block
    # the plain root was committed twice (the copier's first): the claim's set is the owner's
    sets = sqlite3.connect(w.db).execute(
        "SELECT committer, samples, block FROM sets WHERE set_root = ? ORDER BY block",
        (w.plain.set_root,)).fetchall()
    assert [(who, n) for who, n, _ in sets] == [(w.chain.w3.eth.accounts[4], 3),
                                                (w.chain.account, 10)]
    assert (c["set_committer"], c["set_block"]) == (w.chain.account, sets[1][2])
    assert c["set_model_digest"] == w.model.model_id


def test_claims_page_lists_claims_per_model(claims_world: ClaimsWorld) -> None:
    w = claims_world
    html = w.client.get("/claims").text
    assert html.count('class="claim"') == 2
    assert f'href="/models/{w.model.onchain_model_id}"' in html
    for cid in (w.plain_id, w.hostile_id):
        assert f'href="/claims/{cid}"' in html
    by_vk = w.client.get("/claims", params={"model": w.model.model_id})
    assert by_vk.status_code == 200 and by_vk.text.count('class="claim"') == 2
    assert w.client.get("/claims", params={"model": "0x" + "12" * 32}).status_code == 404
    model_page = w.client.get(f"/models/{w.model.onchain_model_id}").text
    assert 'id="model-claims"' in model_page
    assert f'href="/claims/{w.plain_id}"' in model_page


def test_claim_page_shows_metrics_times_and_groups(claims_world: ClaimsWorld) -> None:
    w = claims_world
    r = w.client.get(f"/claims/{w.plain_id}")
    assert r.status_code == 200
    html = r.text
    stored = Store(w.db).claim(w.plain_id)
    for text in (w.plain_id, w.plain.set_root, w.plain.proofs_root,
                 "0x" + digest_of_claim(w.plain), f'id="set-committer">{w.chain.account}<',
                 f"block {stored['set_block']}", f"block {stored['block_number']}"):
        assert text in html
    assert '<td id="m-accuracy">0.8</td>' in html
    assert '<td id="m-dp">0.416667</td>' in html
    assert 'id="m-eo"><span class="dim">—</span>' in html  # not defined: one group has no TPR
    assert html.count('class="group"') == 2 and ">north<" in html and ">south<" in html
    assert f'src="/claims/{w.plain_id}/groups.svg"' in html
    svg = w.client.get(f"/claims/{w.plain_id}/groups.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert 'id="sel-0"' in svg.text and 'id="sel-1"' in svg.text and 'id="tpr-0"' in svg.text
    assert 'id="tpr-1"' not in svg.text  # south has no positive: no TPR bar
    assert ">north</text>" in svg.text and ">south</text>" in svg.text


def test_claim_json_matches_the_chain_and_openapi_describes_it(claims_world: ClaimsWorld
                                                              ) -> None:
    w = claims_world
    j = w.client.get(f"/api/claims/{w.plain_id}").json()
    onchain = C.get_onchain_claim(w.chain, w.claims, w.plain_id)
    assert (j["claim_id"], j["set_root"], j["proofs_root"], j["claim_digest"], j["samples"]) == (
        w.plain_id, onchain.set_root, onchain.proofs_root, onchain.claim_digest, 10)
    assert {m["name"]: m["value_ppm"] for m in j["metrics"]} == onchain.metrics
    assert j["accuracy"] == 0.8 and j["equal_opportunity_difference"] is None
    assert [g["group"] for g in j["groups"]] == ["north", "south"]
    assert j["groups"][0] == {"group": "north", "selection_rate": 0.666667,
                              "true_positive_rate": 0.75, "accuracy": 0.833333}
    assert j["groups"][1]["true_positive_rate"] is None
    assert j["set_block"] < j["block_number"] and j["set_timestamp"] <= j["timestamp"]
    listed = w.client.get("/api/claims", params={"model": w.model.onchain_model_id}).json()
    assert {c["claim_id"] for c in listed} == {w.plain_id, w.hostile_id}

    spec = w.client.get("/openapi.json").json()
    op = spec["paths"]["/api/claims/{claim_id}"]["get"]
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    for field in ("claim_id", "set_root", "claim_digest", "claimant", "accuracy",
                  "demographic_parity_difference", "equal_opportunity_difference", "groups",
                  "metrics", "set_timestamp", "timestamp"):
        assert field in schema["properties"], field
    assert "GroupRow" in spec["components"]["schemas"]
    assert "/api/claims" in spec["paths"]


def test_claim_csv_has_one_row_per_metric(claims_world: ClaimsWorld) -> None:
    w = claims_world
    r = w.client.get(f"/claims/{w.plain_id}.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    names, values = C.onchain_metrics(w.plain.metrics)
    assert [row["name"] for row in rows] == names
    assert [int(row["value_ppm"]) for row in rows] == values
    assert {row["claim_id"] for row in rows} == {w.plain_id}
    assert [row["group"] for row in rows if row["metric"] == "selection_rate"] == ["north",
                                                                                 "south"]


def test_unknown_or_malformed_claim_ids(claims_world: ClaimsWorld) -> None:
    w = claims_world
    unknown = "0x" + "00" * 32
    for path in (f"/claims/{unknown}", f"/api/claims/{unknown}", f"/claims/{unknown}.csv",
                 f"/claims/{unknown}/groups.svg"):
        assert w.client.get(path).status_code == 404, path
    assert "no claim" in w.client.get(f"/api/claims/{unknown}").json()["error"]
    assert w.client.get("/claims/not-an-id").status_code == 400
    assert w.client.get("/api/claims/0x1234").status_code == 400


def test_hostile_group_names_are_escaped_everywhere(claims_world: ClaimsWorld) -> None:
    w = claims_world
    escaped = "&lt;img src=x onerror=alert(7)&gt;"
    for path in (f"/claims/{w.hostile_id}", f"/claims/{w.hostile_id}/groups.svg"):
        body = w.client.get(path).text
        assert XSS_GROUP not in body and "<img src=x" not in body, path
        assert escaped in body, path
    j = w.client.get(f"/api/claims/{w.hostile_id}").json()
    assert [g["group"] for g in j["groups"]] == [XSS_GROUP, FORMULA_GROUP]  # data, unchanged
    rows = list(csv.DictReader(io.StringIO(w.client.get(f"/claims/{w.hostile_id}.csv").text)))
    groups = {row["group"] for row in rows if row["group"]}
    assert groups == {XSS_GROUP, "'" + FORMULA_GROUP}  # a formula is quoted, never run


def test_an_index_without_claims_serves_empty_claim_pages(claims_world: ClaimsWorld,
                                                          tmp_path: Path) -> None:
    w = claims_world
    old = tmp_path / "old.sqlite"
    shutil.copy(w.db, old)
    with sqlite3.connect(old) as conn:  # as an index made before claims were indexed
        conn.execute("DROP TABLE claims")
        conn.execute("DROP TABLE sets")
    with _served(create_app(Store(old))) as (_, client):
        page = client.get("/claims")
        assert page.status_code == 200 and 'id="no-claims"' in page.text
        assert client.get(f"/claims/{w.plain_id}").status_code == 404
        assert 'id="no-model-claims"' in client.get(f"/models/{w.model.onchain_model_id}").text


def test_an_index_of_the_older_format_is_made_again(claims_world: ClaimsWorld,
                                                   tmp_path: Path) -> None:
    """Format 1 kept one commitment per root and no committer in a claim: served without
    claims until the indexer runs, which drops its tables and indexes again."""
    w = claims_world
    old = tmp_path / "v1.sqlite"
    shutil.copy(w.db, old)
    with sqlite3.connect(old) as conn:
        conn.execute("DROP TABLE claims")
        conn.execute("CREATE TABLE claims (claim_id TEXT PRIMARY KEY, model_id TEXT NOT NULL, "
                     "set_root TEXT NOT NULL, claimant TEXT NOT NULL, block INTEGER NOT NULL, "
                     "log_index INTEGER NOT NULL)")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    assert Store(old).claims() == []
    r = Indexer(w.chain, w.registry, old, claim_registry=w.claims).sync()
    assert r.reindexed is not None and "index format" in r.reindexed and r.total_claims == 2
    assert {c["claim_id"] for c in Store(old).claims()} == {w.plain_id, w.hostile_id}


def test_adding_a_claim_registry_reindexes_and_another_registrys_is_refused(
        claims_world: ClaimsWorld, tmp_path: Path) -> None:
    w = claims_world
    db = tmp_path / "ix.sqlite"
    first = Indexer(w.chain, w.registry, db).sync()
    assert first.total_claims == 0
    again = Indexer(w.chain, w.registry, db, claim_registry=w.claims).sync()
    assert again.reindexed is not None and "claim registry" in again.reindexed
    assert again.total_claims == 2
    other = R.deploy_registry(w.chain)
    with pytest.raises(zkml.ZkmlValueError, match="records claims of the registry"):
        Indexer(w.chain, other, db, claim_registry=w.claims)
    meta = dict(sqlite3.connect(db).execute("SELECT key, value FROM meta").fetchall())
    assert meta["claim_registry"] == w.claims.address.lower()
