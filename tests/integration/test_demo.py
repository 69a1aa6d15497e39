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
