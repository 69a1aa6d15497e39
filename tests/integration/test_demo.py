"""The README's first command, run through its Python entry point so it cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zkml.cli.demo_flow import run_demo


@pytest.mark.timeout(900)  # two whole demo runs (train, compile, setup, prove, deploy)
def test_demo_proves_and_verifies_a_diagnosis(tmp_path: Path) -> None:
    r = run_demo(tmp_path / "demo", patient=3)
    assert r.verified_locally and r.verified_onchain
    assert r.diagnosis in {"malignant", "benign"}
    assert int(np.argmax(r.outputs)) == int(np.argmax(r.reference))
    assert np.max(np.abs(np.array(r.outputs) - np.array(r.reference))) < 0.05
    assert r.deploy_gas > 1_000_000 and r.verify_gas and r.verify_gas > 200_000
    assert r.logrows <= 12 and r.proof_bytes > 1000
    assert r.audit_entry["decoded_outputs"] == r.outputs
    assert r.registry_gas["submit"] < 1.15 * r.verify_gas
    bundle = json.loads(Path(r.bundle_path).read_text())
    assert bundle["model_id"] == r.model_id and bundle["srs_source"] == "dev-unsafe"
    # warm: the second run reuses the compiled circuit and keys
    warm = run_demo(tmp_path / "demo2", patient=3)
    assert warm.extra["cache_hits"] == {"circuit": True, "keys": True}
    assert warm.model_id == r.model_id


@pytest.mark.anvil
@pytest.mark.timeout(900)
def test_demo_serve_indexes_the_diagnosis_and_serves_it(tmp_path: Path) -> None:
    """`zkml demo --serve`: a newcomer sees the recorded diagnosis in the web app, one command."""
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    zkml = str(Path(sys.executable).with_name("zkml"))
    proc = subprocess.Popen([zkml, "demo", "--serve", "--port", str(port), "--dir",
                             str(tmp_path / "d")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        data = None
        deadline = time.monotonic() + 600  # bounds the wait; the assertions are on content
        while data is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/inferences",
                                            timeout=5) as r:
                    data = json.loads(r.read())
            except OSError:
                time.sleep(1)
        assert data is not None, proc.stderr.read() if proc.poll() is not None else "no page"
        [item] = data["items"]
        assert item["labels"] == ["malignant", "benign"] and item["predicted"] in item["labels"]
        bundle = json.loads((tmp_path / "d" / "bundle.json").read_text())
        assert item["decoded_outputs"] == bundle["outputs"]
        assert (tmp_path / "d" / "package" / "package.json").is_file()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 130)
