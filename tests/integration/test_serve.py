"""The audit-trail indexer and web app against a real anvil node: resume, idempotence, a
restarted chain, a reorg, the JSON API, downloads, the verify endpoint, and the security
properties (read-only routes, upload cap, CSP, escaping). The browser tests
(test_serve_browser.py) reuse the ``world`` fixture."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import zkml
from tests.integration.conftest import Pipeline
from zkml.chain import registry as R
from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from zkml.serve.app import Background, create_app
from zkml.serve.checks import Verdict
from zkml.serve.indexer import Indexer
from zkml.serve.store import Filters, ModelInfo, Store

pytestmark = [pytest.mark.anvil, pytest.mark.timeout(600)]

XSS_URI = '<script>alert(1)</script>"onmouseover=alert(2) x="'
XSS_LABEL = "<img src=x onerror=alert(3)>"


def _zip(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return out


@dataclass
class World:
    """An anvil chain with a registry, the tiny model registered (metadata: an XSS attempt),
    three recorded inferences from two submitters, the index, and the app on a free port."""

    node: Anvil
    chain: zkml.Chain
    registry: Any
    reg: Any
    bundles: list[zkml.ProofBundle]
    db: Path
    indexer: Indexer
    url: str
    files: Path
    background: Background

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=60, **kw)


def _serve(app: Any) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def world(tiny: Pipeline, tiny_b: Pipeline, bundle: zkml.ProofBundle,
          bundle_b: zkml.ProofBundle, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    files = tmp_path_factory.mktemp("serve")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)
        node = Anvil()
        try:
            chain = zkml.connect(node.url)
            registry = R.deploy_registry(chain)
            reg = R.register_model(chain, registry, tiny.keys, metadata_uri=XSS_URI)
            bundles = [bundle, *(zkml.prove(tiny.keys, x) for x in tiny.zoo.test_inputs[1:3])]
            R.submit_inference(chain, registry, reg.onchain_model_id, bundles[0])
            R.submit_inference(chain, registry, reg.onchain_model_id, bundles[1])
            other = chain.with_account(chain.w3.eth.accounts[1])
            R.submit_inference(other, registry, reg.onchain_model_id, bundles[2])
            zkml.publish(tiny.keys, files / "pkg", labels=[XSS_LABEL, "malignant"])
            zkml.publish(tiny_b.keys, files / "pkg_b", labels=["cat", "dog"])
            _zip(files / "pkg_b", files / "pkg_b.zip")
            (files / "bundle.json").write_text(bundle.model_dump_json())
            tampered = bundle.model_copy(update={"outputs": [v + 1.0 for v in bundle.outputs]})
            (files / "tampered.json").write_text(tampered.model_dump_json())
            (files / "foreign.json").write_text(bundle_b.model_dump_json())
            db = files / "index.sqlite"
            reader = zkml.connect(node.url, key_env="ZKML_TEST_NO_SUCH_KEY")
            indexer = Indexer(reader, registry, db, reorg_depth=4)
            indexer.sync()
            man = json.loads((files / "pkg" / "package.json").read_text())
            store = Store(db, {man["vk_digest"]: ModelInfo(man["name"], man["preset"],
                                                           man["binds"], man["labels"])})
            background = Background(indexer.sync, 0.5)
            app = create_app(store, background=background,
                             server_packages={man["vk_digest"]: files / "pkg"})
            server, thread, url = _serve(app)
            try:
                yield World(node, chain, registry, reg, bundles, db, indexer, url, files,
                            background)
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        finally:
            node.stop()


def test_index_holds_the_chain_and_a_rerun_adds_nothing(world: World) -> None:
    sync_id = Store(world.db).status()["sync_id"]
    r = world.indexer.sync()
    assert (r.new_models, r.new_inferences, r.reindexed) == (0, 0, None)
    # nothing changed: the app's cached totals and charts stay valid
    assert Store(world.db).status()["sync_id"] == sync_id
    # resumed: only the last reorg_depth blocks were read again
    assert r.from_block == max(0, r.to_block - 4 + 1) > 0
    audit = R.audit_log(world.chain, world.registry)
    assert r.total_inferences == len(audit) >= 3
    api = world.get("/api/inferences", params={"per_page": 500}).json()
    assert {a.inference_id for a in audit} <= {i["inference_id"] for i in api["items"]}
    by_id = {i["inference_id"]: i for i in api["items"]}
    for a in audit:
        assert by_id[a.inference_id]["decoded_outputs"] == a.decoded_outputs
        assert by_id[a.inference_id]["tx_hash"] == a.tx_hash


def test_a_reorg_inside_the_window_drops_the_orphaned_record(world: World, tiny: Pipeline
                                                              ) -> None:
    w3 = world.chain.w3
    before = world.indexer.sync().total_inferences
    snap = w3.provider.make_request("evm_snapshot", [])["result"]
    extra = zkml.prove(tiny.keys, tiny.zoo.test_inputs[5])
    receipt = R.submit_inference(world.chain, world.registry, world.reg.onchain_model_id, extra)
    assert world.indexer.sync().total_inferences == before + 1
    w3.provider.make_request("evm_revert", [snap])
    w3.provider.make_request("anvil_mine", [3])  # a longer fork
    r = world.indexer.sync()
    assert r.reindexed is None and r.total_inferences == before  # re-read window, no rebuild
    missing = world.get(f"/api/inferences/{receipt.inference_id}")
    assert missing.status_code == 404


def test_another_chain_is_reindexed_not_mixed(world: World, tmp_path: Path) -> None:
    db = tmp_path / "ix.sqlite"
    reader = zkml.connect(world.node.url, key_env="ZKML_TEST_NO_SUCH_KEY")
    assert Indexer(reader, world.registry, db).sync().total_inferences >= 3
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)
        with Anvil() as fresh:  # a restarted node: same deployer, same registry address
            chain = zkml.connect(fresh.url)
            registry = R.deploy_registry(chain)
            assert registry.address == world.registry.address
            r = Indexer(zkml.connect(fresh.url, key_env="X_NONE"), registry, db).sync()
    assert r.reindexed is not None and "genesis" in r.reindexed
    assert (r.total_inferences, r.new_models) == (0, 0)
    assert Store(db).models() == []


def test_models_api_gives_both_ids_layout_and_counts(world: World, tiny: Pipeline) -> None:
    models = world.get("/api/models").json()
    assert len(models) == 1
    m = models[0]
    assert m["model_id"] == world.reg.onchain_model_id
    assert m["vk_digest"] == tiny.keys.model_id
    assert m["owner"] == world.reg.owner and m["verifier"] == world.reg.verifier
    assert m["metadata_uri"] == XSS_URI and m["retired"] is False
    assert m["inferences"] >= 3 and m["preset"] == tiny.circuit.preset
    assert m["layout"]["num_outputs"] == 2 and m["labels"] == [XSS_LABEL, "malignant"]
    by_vk = world.get(f"/api/models/{tiny.keys.model_id}").json()
    assert by_vk["model_id"] == m["model_id"]


def test_inference_filters_pagination_and_errors(world: World, tiny: Pipeline) -> None:
    everything = world.get("/api/inferences").json()
    by_model = world.get("/api/inferences", params={"model": world.reg.onchain_model_id}).json()
    by_vk = world.get("/api/inferences", params={"model": tiny.keys.model_id}).json()
    assert everything["total"] == by_model["total"] == by_vk["total"] >= 3
    second = world.chain.w3.eth.accounts[1]
    mine = world.get("/api/inferences", params={"submitter": second.lower()}).json()
    assert mine["total"] == 1 and mine["items"][0]["submitter"] == second
    items = everything["items"]
    assert [i["block_number"] for i in items] == sorted((i["block_number"] for i in items),
                                                        reverse=True)
    first_block = items[-1]["block_number"]
    ranged = world.get("/api/inferences", params={"from_block": first_block,
                                                  "to_block": first_block}).json()
    assert ranged["total"] == 1 and ranged["items"][0]["block_number"] == first_block
    page2 = world.get("/api/inferences", params={"per_page": 2, "page": 2}).json()
    assert page2["items"][0]["inference_id"] == items[2]["inference_id"]
    assert world.get("/api/inferences", params={"model": "0x1234"}).status_code == 400
    assert world.get("/api/inferences", params={"model": "ab" * 32}).status_code == 404
    assert world.get("/api/inferences", params={"submitter": "bob"}).status_code == 400
    html = world.get("/inferences", params={"model": "nope"})
    assert html.status_code == 400 and "32 bytes of hex" in html.text
    # a digit that is not ASCII ("²".isdigit() holds, int("²") fails): 400, not a 500
    for path in ("/inferences", "/download/inferences.csv"):
        odd = world.get(path, params={"from_block": "²"})
        assert odd.status_code == 400 and "is not a block number" in odd.text, path


def test_csv_download_has_one_row_per_filtered_record(world: World) -> None:
    second = world.chain.w3.eth.accounts[1]
    r = world.get("/download/inferences.csv", params={"submitter": second})
    assert r.headers["content-disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1 and rows[0]["submitter"] == second
    assert rows[0]["labels"] == f"{XSS_LABEL} malignant"
    full = world.get("/download/inferences.json").json()
    assert len(full) == world.get("/api/inferences").json()["total"]


def _verify(world: World, name: str, package: str | None = None) -> dict[str, Any]:
    files = {"bundle": (name, (world.files / name).read_bytes(), "application/json")}
    if package:
        files["package"] = (package, (world.files / package).read_bytes(), "application/zip")
    r = httpx.post(world.url + "/api/verify", files=files, timeout=120)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_verify_endpoint_says_valid_tampered_and_foreign(world: World) -> None:
    ok = _verify(world, "bundle.json")
    assert (ok["status"], ok["onchain"], ok["matches_record"]) == ("valid", "recorded", True)
    assert ok["checked_with"] == "package"
    assert [o["label"] for o in ok["outputs"]] == [XSS_LABEL, "malignant"]
    bad = _verify(world, "tampered.json")
    assert bad["status"] == "invalid" and bad["reason"].startswith("outputs")
    assert bad["onchain"] == "recorded" and bad["matches_record"] is False
    foreign = _verify(world, "foreign.json", "pkg_b.zip")
    assert foreign["status"] == "valid" and foreign["checked_with"] == "package"
    assert foreign["onchain"] == "not registered"
    assert [o["label"] for o in foreign["outputs"]] == ["cat", "dog"]


def test_a_zip_with_an_escaping_path_is_refused(world: World) -> None:
    evil = world.files / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../outside.txt", "x")
        zf.writestr("package.json", "{}")
    v = _verify(world, "foreign.json", "evil.zip")
    assert v["status"] == "unchecked" and "unsafe entry" in v["reason"]
    assert not (world.files.parent / "outside.txt").exists()


def test_uploads_are_capped_at_one_megabyte(world: World) -> None:
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    r = httpx.post(world.url + "/api/verify", files={"bundle": ("b.json", big)}, timeout=60)
    assert r.status_code == 413
    huge = b"x" * (3 * 1024 * 1024)
    r = httpx.post(world.url + "/api/verify", content=huge, timeout=60,
                   headers={"content-type": "application/octet-stream"})
    assert r.status_code == 413


def test_read_only_routes_headers_and_escaping(world: World) -> None:
    from fastapi.routing import APIRoute

    app = create_app(Store(world.db))
    posts = {r.path for r in app.routes if isinstance(r, APIRoute) and r.methods - {"GET",
                                                                                    "HEAD"}}
    assert posts == {"/verify", "/api/verify"}  # uploads to check, nothing that writes
    page = world.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;onmouseover=" in page.text
    model = world.get(f"/models/{world.reg.onchain_model_id}")
    assert "<img src=x" not in model.text and "&lt;img src=x onerror=alert(3)&gt;" in model.text
    svg = world.get(f"/models/{world.reg.onchain_model_id}/activity.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<?xml") and "<img" not in svg.text
    docs = world.get("/docs")
    assert "/docs-assets/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert world.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert "/api/inferences" in world.get("/openapi.json").json()["paths"]
    # HEAD (curl -I, monitors): GET's status and headers, CSP included, and no body
    head = httpx.head(world.url + "/inferences", timeout=60)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-security-policy"] == csp
    assert httpx.head(world.url + "/api/models/0x" + "00" * 32, timeout=60).status_code == 404


def _app_store(world: World) -> Store:
    """A store as the app's: the index, with what the served package says about its model."""
    man = json.loads((world.files / "pkg" / "package.json").read_text())
    return Store(world.db, {man["vk_digest"]: ModelInfo(man["name"], man["preset"],
                                                        man["binds"], man["labels"])})


def test_openapi_names_a_response_model_for_every_api_endpoint(world: World) -> None:
    schema = world.get("/openapi.json").json()
    components = schema["components"]["schemas"]

    def component(ref_holder: dict[str, Any]) -> dict[str, Any]:
        ref = ref_holder.get("$ref") or (ref_holder.get("type") == "array"
                                         and ref_holder["items"].get("$ref"))
        assert ref and ref.startswith("#/components/schemas/"), ref_holder
        return dict(components[ref.removeprefix("#/components/schemas/")])

    def response(path: str, method: str = "get") -> dict[str, Any]:
        op = schema["paths"][path][method]
        return component(op["responses"]["200"]["content"]["application/json"]["schema"])

    gets = {p for p, ops in schema["paths"].items() if p.startswith("/api/") and "get" in ops}
    assert gets >= {"/api/status", "/api/models", "/api/models/{model}", "/api/inferences",
                    "/api/inferences/{inference_id}", "/api/claims", "/api/claims/{claim_id}"}
    for path in gets:
        assert response(path)["properties"], path
    # the fields of each model are exactly the keys the store gives
    store = _app_store(world)
    models = store.models()
    items, _ = store.inferences(Filters())
    record = store.inference(items[0]["inference_id"])
    assert {"inference_id", "decoded_outputs"} <= set(record)
    one = response("/api/inferences/{inference_id}")
    assert set(one["properties"]) == set(record)
    assert component(one["properties"]["contributors"])["properties"].keys() == {
        "segment", "address", "weight_digest"}
    page = response("/api/inferences")
    assert set(page["properties"]) == {"total", "page", "per_page", "items"}
    assert set(component(page["properties"]["items"])["properties"]) == set(items[0])
    for path in ("/api/models", "/api/models/{model}"):
        model = response(path)
        assert set(model["properties"]) == set(models[0])
        assert set(component(model["properties"]["layout"])["properties"]) == set(
            models[0]["layout"])
    status = response("/api/status")
    assert set(status["properties"]) >= {*store.status(), "indexer_error"}
    verdict = response("/api/verify", "post")
    assert set(verdict["properties"]) == set(Verdict("valid").as_dict())
    assert set(component(verdict["properties"]["record"]["anyOf"][0])["properties"]) == set(
        record)
    assert set(component(verdict["properties"]["outputs"])["properties"]) == {"label", "value"}


def test_the_response_models_drop_no_key_and_change_no_value(world: World) -> None:
    store = _app_store(world)
    models = world.get("/api/models").json()
    assert set(models[0]) == set(store.models()[0])
    assert set(models[0]["layout"]) == set(store.models()[0]["layout"])
    assert models == json.loads(json.dumps(store.models()))
    one = world.get(f"/api/models/{models[0]['model_id']}").json()
    assert one == models[0]
    items, total = store.inferences(Filters())
    page = world.get("/api/inferences").json()
    assert set(page["items"][0]) == set(items[0])
    assert page == json.loads(json.dumps({"total": total, "page": 1, "per_page": 50,
                                          "items": items}))
    record = store.inference(items[0]["inference_id"])
    got = world.get(f"/api/inferences/{items[0]['inference_id']}").json()
    assert set(got) == set(record) and got == json.loads(json.dumps(record))
    status = world.get("/api/status").json()
    meta = store.status()
    assert set(status) == {*meta, "indexer_error"}  # no null for a key the index lacks
    # updated_at: rewritten by every background sync (each half second)
    assert {k: v for k, v in status.items() if k != "updated_at"} == {
        **{k: v for k, v in meta.items() if k != "updated_at"}, "indexer_error": None}
    ok = _verify(world, "bundle.json")
    assert set(ok) == set(Verdict("valid").as_dict())
    assert ok["record"] is not None and set(ok["record"]) == set(record)


def test_the_app_follows_new_blocks(world: World, tiny: Pipeline) -> None:
    before = world.get("/api/inferences").json()["total"]
    sync_id = world.get("/api/status").json()["sync_id"]
    extra = zkml.prove(tiny.keys, tiny.zoo.test_inputs[7])
    s = R.submit_inference(world.chain, world.registry, world.reg.onchain_model_id, extra)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if world.get(f"/api/inferences/{s.inference_id}").status_code == 200:
            break
        time.sleep(0.3)
    assert world.get("/api/inferences").json()["total"] == before + 1  # not a cached total
    assert world.get("/api/status").json()["sync_id"] != sync_id
    assert world.background.last_error is None


def test_cli_index_twice_then_serve(world: World, tmp_path: Path) -> None:
    import subprocess
    import sys

    from zkml.artifacts import save_artifact

    exe = str(Path(sys.executable).with_name("zkml"))
    reg_file = save_artifact(world.registry, tmp_path / "registry.json")
    db = tmp_path / "cli.sqlite"
    args = [exe, "index", "--rpc-url", world.node.url, "--registry", str(reg_file), "--db",
            str(db), "--json"]
    env = {k: v for k, v in os.environ.items() if k != "ZKML_PRIVATE_KEY"}
    first = json.loads(subprocess.run(args, capture_output=True, text=True, check=True,
                                      env=env, timeout=120).stdout)
    again = json.loads(subprocess.run(args, capture_output=True, text=True, check=True,
                                      env=env, timeout=120).stdout)
    assert first["new_inferences"] == first["total_inferences"] >= 3
    assert (again["new_models"], again["new_inferences"]) == (0, 0)
    bad = subprocess.run([*args[:4], "--registry", "0x" + "00" * 20, "--db", str(db)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "no contract" in bad.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "serve", "--db", str(db), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.3)
        assert r.json()["last_block"] == str(again["to_block"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
