"""Batch proving on a local pool and on a local Ray cluster (2 CPUs)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

import zkml
from zkml.proof.batch import ManifestEntry, estimate_proof_memory

from .conftest import Pipeline


def _items(tiny: Pipeline, n: int) -> list[tuple[str, object]]:
    good = [(f"p{i:02d}", tiny.zoo.calibration[i]) for i in range(n)]
    return [*good[: n // 2], ("bad-range", [[1e6, 0.0, 0.0, 0.0]]), *good[n // 2:]]


def _children_matching(pred: object) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (d / "stat").read_text().split()
        except OSError:
            continue
        if pred(cmd, int(stat[3])):  # type: ignore[operator]
            pids.append(int(d.name))
    return pids


def _check_manifest(out: Path, items: list[tuple[str, object]], keys: zkml.Keys) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    entries = {e["input_id"]: e for e in manifest["entries"]}
    assert set(entries) == {i for i, _ in items} and manifest["total"] == len(items)
    assert entries["bad-range"]["status"] == "error"
    assert entries["bad-range"]["error_type"] == "InputRangeError"
    for i, _ in items:
        if i != "bad-range":
            assert entries[i]["status"] in ("ok", "skipped"), entries[i]
            assert zkml.verify(Path(entries[i]["bundle"]), keys)
    return entries


def test_local_pool_survives_a_killed_worker_and_resumes(tiny: Pipeline, tmp_path: Path
                                                        ) -> None:
    items = _items(tiny, 10)
    killed: list[int] = []

    def kill_a_worker(entry: ManifestEntry, done: int, total: int) -> None:
        if killed:
            return
        me = os.getpid()
        pids = _children_matching(lambda cmd, ppid: ppid == me and "spawn" in cmd)
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    res = zkml.prove_batch(tiny.keys, items, tmp_path, workers=2, verify=True,
                           on_result=kill_a_worker)
    assert killed, "the test must kill a worker mid-batch"
    entries = _check_manifest(tmp_path, items, tiny.keys)
    assert res.proved == 10 and res.failed == 1
    assert max(e["attempts"] for e in entries.values()) >= 2  # something was retried
    assert all(e["verified"] for i, e in entries.items() if i != "bad-range")
    again = zkml.prove_batch(tiny.keys, items, tmp_path, workers=2)
    assert again.skipped == 10 and again.proved == 0 and again.failed == 1
    # the killed worker's scratch dir (its witness) is gone once anything runs again
    from zkml import cache

    assert not [d for d in cache.cache_root().glob("scratch-*")
                if int(d.name.split("-")[1]) in killed]


def test_memory_budget_caps_workers(tiny: Pipeline, tmp_path: Path) -> None:
    per = estimate_proof_memory(tiny.keys)
    res = zkml.prove_batch(tiny.keys, _items(tiny, 2), tmp_path, workers=8,
                           max_memory=int(per * 1.5))
    assert res.workers == 1
    with pytest.raises(zkml.ZkmlValueError, match="below one proof's estimated peak"):
        zkml.prove_batch(tiny.keys, _items(tiny, 2), tmp_path, max_memory=per // 2)


@pytest.mark.timeout(600)  # starts a local Ray cluster twice
def test_ray_cluster_batch_with_a_killed_worker(tiny: Pipeline, tmp_path: Path) -> None:
    items = _items(tiny, 12)
    killed: list[int] = []

    def kill_a_busy_worker(entry: ManifestEntry, done: int, total: int) -> None:
        deadline = time.time() + 3
        while not killed and time.time() < deadline:
            pids = _children_matching(lambda cmd, ppid: cmd.startswith("ray::_ray_prove"))
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.02)

    res = zkml.prove_batch(tiny.keys, items, tmp_path, backend="ray", workers=2,
                           on_result=kill_a_busy_worker)
    assert killed, "the test must kill a busy Ray worker"
    _check_manifest(tmp_path, items, tiny.keys)
    assert res.proved == 12 and res.failed == 1
    again = zkml.prove_batch(tiny.keys, items, tmp_path, backend="ray", workers=2)
    assert again.skipped == 12 and again.proved == 0


def test_cli_prove_batch_and_submit(tiny: Pipeline, tmp_path: Path, anvil: object) -> None:
    from typer.testing import CliRunner

    from zkml.chain import registry as R
    from zkml.cli.main import app

    d = tmp_path / "d"
    d.mkdir()
    zkml.save_artifact(tiny.keys, d / "keys.json")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("\n".join(
        [json.dumps({"id": f"pt{i}", "input": tiny.zoo.calibration[i].tolist()})
         for i in range(3)] + ['{"id": "nan", "input": [[0, NaN, 0, 0]]}']))
    url = anvil.url  # type: ignore[attr-defined]
    chain = zkml.connect(url)
    reg = R.deploy_registry(chain)
    zkml.save_artifact(reg, tmp_path / "registry.json")
    zkml.save_artifact(R.register_model(chain, reg, tiny.keys), d / "registration.json")
    res = CliRunner().invoke(app, [
        "prove-batch", "--dir", str(d), str(inputs), "--out", str(tmp_path / "out"),
        "--workers", "2", "--submit", "--rpc-url", url, "--registry",
        str(tmp_path / "registry.json"), "--json"])
    assert res.exit_code == 1  # one input failed
    summary = json.loads(res.stdout)
    assert summary["proved"] == 3 and summary["failed"] == 1
    assert summary["submitted"] == {"pt0": "recorded", "pt1": "recorded", "pt2": "recorded"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    ids = {e["input_id"]: e for e in manifest["entries"]}
    assert ids["nan"]["error_type"] == "InputError"
    assert [r.inference_id for r in R.audit_log(chain, reg)] == [
        ids[f"pt{i}"]["inference_id"] for i in range(3)]
