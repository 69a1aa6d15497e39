"""The CLI, stage by stage, as a user runs it (in-process through typer's runner)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from zkml.circuit.cost import relative_cost
from zkml.cli.main import app
from zkml.tuning.tuner import Candidate


def _run(*args: str) -> tuple[int, str]:
    """Exit code and stdout (progress and errors go to stderr: checked via output)."""
    res = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout if "--json" in args else res.output


def test_cli_pipeline(tmp_path: Path) -> None:
    d = str(tmp_path / "tiny")
    assert _run("export", "tiny-mlp", "--dir", d)[0] == 0
    code, out = _run("compile", "--dir", d, "--json")
    assert code == 0 and json.loads(out)["logrows"] <= 12
    code, out = _run("setup", "--dir", d, "--json")
    assert code == 0 and len(json.loads(out)["vk_digest"]) == 64
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps([[0.1, -0.2, 0.3, 0.4]]))
    bundle = str(tmp_path / "bundle.json")
    code, out = _run("prove", "--dir", d, str(inp), "-o", bundle, "--json")
    assert code == 0 and len(json.loads(out)["outputs"]) == 2
    assert _run("verify", bundle)[0] == 0
    # tamper with the public output: exit code 1, not a crash
    b = json.loads(Path(bundle).read_text())
    b["instances"][-1] = str(int(b["instances"][-1]) + 1)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(b))
    code, out = _run("verify", str(bad))
    assert code == 1 and "INVALID" in out
    code, out = _run("contract", "--dir", d, "--out-dir", str(tmp_path / "sol"), "--json")
    assert code == 0 and json.loads(out)["runtime_size"] > 0
    assert list((tmp_path / "sol").glob("Verifier_*.sol"))
    code, out = _run("verify-onchain", bundle, "--dir", d, "--json")
    assert code == 0 and json.loads(out)["valid"] is True
    code, out = _run("verify-onchain", str(bad), "--dir", d)
    assert code == 1 and "REJECTED" in out


def test_cli_bad_input_is_a_clean_error(tmp_path: Path) -> None:
    d = str(tmp_path / "tiny")
    _run("export", "tiny-mlp", "--dir", d)
    _run("compile", "--dir", d)
    _run("setup", "--dir", d)
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps([[0.1, 0.2]]))
    code, out = _run("prove", "--dir", d, str(inp))
    assert code == 2
    assert "InputShapeError" in out and "but the model takes (1, 4)" in out
    code, out = _run("setup", "--dir", str(tmp_path / "missing"))
    assert code == 2 and "run the stage that writes it first" in out


def test_cli_registry_on_anvil(tmp_path: Path, anvil: object) -> None:
    url = anvil.url  # type: ignore[attr-defined]
    d = str(tmp_path / "tiny")
    reg = str(tmp_path / "registry.json")
    for args in (["export", "tiny-mlp", "--dir", d], ["compile", "--dir", d],
                 ["setup", "--dir", d], ["contract", "--dir", d, "--out-dir", str(tmp_path)]):
        assert _run(*args)[0] == 0
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps([[0.5, -0.5, 0.25, 0.0]]))
    bundle = str(tmp_path / "bundle.json")
    assert _run("prove", "--dir", d, str(inp), "-o", bundle)[0] == 0
    code, out = _run("registry", "deploy", "--rpc-url", url, "--registry", reg)
    assert code == 0, out
    code, out = _run("registry", "register", "--dir", d, "--rpc-url", url, "--registry", reg,
                     "--json")
    assert code == 0, out
    model_id = json.loads(out)["onchain_model_id"]
    code, out = _run("registry", "submit", bundle, "--dir", d, "--rpc-url", url,
                     "--registry", reg, "--json")
    assert code == 0, out
    inference = json.loads(out)["inference_id"]
    code, out = _run("registry", "submit", bundle, "--dir", d, "--rpc-url", url,
                     "--registry", reg)
    assert code == 1 and "rejected (replay)" in out
    csv_path = tmp_path / "log.csv"
    code, _ = _run("registry", "log", "--rpc-url", url, "--registry", reg, "--model", model_id,
                   "--format", "csv", "--output", str(csv_path))
    rows = csv_path.read_text().strip().splitlines()
    assert code == 0 and len(rows) == 2 and rows[1].split(",")[1] == inference
    # the same model by its vk digest: resolved, said so, same record
    vk_digest = json.loads(Path(d, "keys.json").read_text())["model_id"]
    res = CliRunner().invoke(app, ["registry", "log", "--rpc-url", url, "--registry", reg,
                                   "--model", vk_digest, "--format", "csv"])
    assert res.exit_code == 0 and "read as a vk digest" in res.output
    assert f"registry model id(s) {model_id}" in res.output
    assert res.output.count(inference) == 1
    code, out = _run("registry", "log", "--rpc-url", url, "--registry", reg, "--format", "json")
    outputs = json.loads(out)[0]["decoded_outputs"]
    assert outputs == json.loads(Path(bundle).read_text())["outputs"]
    assert _run("registry", "check", bundle, "--dir", d, "--rpc-url", url, "--registry",
                reg)[0] == 0
    assert _run("registry", "retire", "--dir", d, "--rpc-url", url, "--registry", reg)[0] == 0
    code, out = _run("registry", "show", inference, "--rpc-url", url, "--registry", reg)
    assert code == 0 and json.loads(out)["model_retired"] is True


def test_cli_registry_needs_rpc_url(tmp_path: Path) -> None:
    code, out = _run("registry", "deploy", "--registry", str(tmp_path / "r.json"))
    assert code == 2 and "registry commands need a persistent chain" in out


class CostClock:
    """The tuner's clock, on which a layout's setup and each proof take exactly its modelled
    cost, (columns + 1) x 2^logrows x 10 us: the tuner's choice follows the layouts, not the
    machine's load, while setup and prove still run for real."""

    def __init__(self) -> None:
        self.now = 0.0
        self.tick = 0.0

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


@pytest.fixture
def cost_clock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CostClock:
    tuner = importlib.import_module("zkml.tuning.tuner")
    clock, measure = CostClock(), tuner._measure

    def measured_on_the_clock(cand: Candidate, x: Any, gas_meter: Any = None) -> None:
        assert cand.logrows is not None
        clock.tick = relative_cost(cand.config.num_inner_cols, cand.logrows) * 1e-5
        measure(cand, x, gas_meter)

    monkeypatch.setattr(tuner, "_clock", clock)
    monkeypatch.setattr(tuner, "_measure", measured_on_the_clock)
    # a cache of its own: the search this test checks is never one measured on another clock
    monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / "cache"))
    return clock


@pytest.mark.timeout(900)  # the whole default grid: ~30 s here, minutes under load
def test_cli_tune_then_compile(tmp_path: Path, cost_clock: CostClock) -> None:
    d = str(tmp_path / "tiny")
    assert _run("export", "tiny-mlp", "--dir", d)[0] == 0
    code, out = _run("tune", "--dir", d, "--json")
    assert code == 0, out
    report = json.loads(out)
    # measured on the cost clock: the cheapest accurate layout beats the defaults by far
    assert report["beat_default"] is True and cost_clock.now > 0
    chosen, default = report["chosen"], report["default"]
    assert chosen["prove_s"] == pytest.approx(relative_cost(chosen["cols"], chosen["logrows"])
                                              * 1e-5)
    assert chosen["prove_s"] <= 0.9 * default["prove_s"]  # the required 10% gain
    cands = report["candidates"][1:]
    assert len(cands) >= 10
    for c in cands:
        if c["logrows"] is not None:  # the layout estimate is a lower bound on logrows
            assert c["est_logrows"] <= c["logrows"], c
        if c["decomp"] == "16384^2" and c["cols"] >= 2:
            # the defaults' table and at least their columns: never cheaper, never calibrated
            assert c["logrows"] is None and "cannot beat" in c["skipped"], c
    calibrated = [c for c in cands if c["logrows"] is not None]
    assert 1 <= len(calibrated) < len(cands)
    assert report["chosen"]["logrows"] == min(c["logrows"] for c in calibrated if c["accurate"])
    code, out = _run("compile", "--dir", d, "--json")
    assert code == 0 and json.loads(out)["logrows"] == report["chosen"]["logrows"]
    # `compile --tune` on a fresh export of the same model: the cached search, same choice
    d2 = str(tmp_path / "tiny2")
    assert _run("export", "tiny-mlp", "--dir", d2)[0] == 0
    code, out = _run("compile", "--dir", d2, "--tune", "thorough", "--json")
    assert code == 0 and json.loads(out)["logrows"] == report["chosen"]["logrows"]
    # the human report of the same (cached) search: the pick, and why others were not tried
    d3 = str(tmp_path / "tiny3")
    assert _run("export", "tiny-mlp", "--dir", d3)[0] == 0
    code, out = _run("tune", "--dir", d3)
    assert code == 0 and out.splitlines()[0] == report["message"]
    picked = [line for line in out.splitlines() if line.startswith(" * ")]
    assert len(picked) == 1 and f"logrows {report['chosen']['logrows']}" in picked[0]
    assert "not calibrated (logrows >= 15): its fewest rows cannot beat the defaults" in out
