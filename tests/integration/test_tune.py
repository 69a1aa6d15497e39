"""The tuner's decisions on real circuits (tiny model: calibrations take seconds)."""

from __future__ import annotations

import importlib
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

import circuits
import zkml
from zkml.chain.gas import VerifyGasMeter
from zkml.circuit.compile import CompileConfig
from zkml.circuit.cost import relative_cost
from zkml.circuit.layout import estimate_rows
from zkml.tuning.tuner import EZKL_DEFAULT, Candidate, _pick, tune

from .conftest import Pipeline

ONE = {"decomp": [(256, 4)], "num_inner_cols": [2], "scales": [None]}


def test_keeps_the_defaults_without_the_required_gain(tiny: Pipeline,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Real calibrations; the timer is fixed (a 5% gain) so the decision is not at the mercy
    of machine load."""
    def timed(cand: Candidate, x: Any, gas_meter: Any = None) -> None:
        cand.setup_seconds = 1.0
        cand.prove_seconds = 1.0 if cand.config.decomp_base == EZKL_DEFAULT.decomp_base else 0.95

    monkeypatch.setattr(importlib.import_module("zkml.tuning.tuner"), "_measure", timed)
    z = tiny.zoo
    r = tune(tiny.exported, z.calibration, z.test_inputs[:8], base=z.config, grid=ONE)
    assert not r.beat_default
    assert r.config.decomp_base == EZKL_DEFAULT.decomp_base and r.config.num_inner_cols == 2
    assert r.chosen is r.default
    assert "at least 10% faster" in r.message and "keeping ezkl's default" in r.message
    # the candidate was calibrated, accurate and measured faster, just not by 10%
    cand = r.candidates[1]
    assert cand.accurate and cand.logrows is not None and cand.logrows < r.default.logrows
    assert cand.prove_seconds == 0.95


def test_an_unreachable_accuracy_bound_keeps_the_defaults(tiny: Pipeline) -> None:
    z = tiny.zoo
    r = tune(tiny.exported, z.calibration, z.test_inputs[:8], base=z.config, grid=ONE,
             bound=zkml.AccuracyBound(max_error_fraction=0.0))
    assert not r.beat_default and r.candidates[1].accurate is False
    assert r.message.startswith("no candidate within the accuracy bound is cheaper")
    assert r.default.prove_seconds is None  # nothing to compare against: no proof spent


@pytest.mark.parametrize("decomp,cols", [((256, 4), 2), ((1024, 3), 4), ((16384, 2), 2)])
def test_layout_estimate_is_a_lower_bound(tiny: Pipeline, decomp: tuple[int, int],
                                          cols: int) -> None:
    cfg = CompileConfig(decomp_base=decomp[0], decomp_legs=decomp[1], num_inner_cols=cols)
    rows, logrows = estimate_rows(tiny.exported, config=cfg)
    circuit = zkml.compile_model(tiny.exported, tiny.zoo.calibration, config=cfg)
    assert rows <= circuit.num_rows and logrows <= circuit.logrows
    assert 2**logrows > decomp[0]  # the range-check table alone needs base rows


def test_cost_estimate_orders_layouts() -> None:
    # attention measured: cols 4 at logrows 13 (12.2 s) beat cols 2 at 14 (14.0 s)
    assert relative_cost(4, 13) < relative_cost(2, 14)
    assert relative_cost(2, 9) < relative_cost(4, 9) < relative_cost(2, 10)


def test_lookup_margin_sizes_the_lookup_tables(tmp_path: Path) -> None:
    """The attention block's exp lookup spans twice the calibrated range by default, once at
    margin 1 (a smaller table; inputs beyond the calibrated range then fail to prove)."""
    zoo = circuits.build("attention")
    ex = zkml.export(zoo.model, zoo.example_input, tmp_path / "attention.onnx")
    spans = {}
    for margin in (2.0, 1.0):
        cfg = zoo.config.model_copy(update={"scales": [6], "lookup_margin": margin})
        c = zkml.compile_model(ex, zoo.calibration[:16], config=cfg)
        lo, hi = json.loads(Path(c.settings_path).read_text())["run_args"]["lookup_range"]
        spans[margin] = hi - lo
    assert spans[1.0] > 0 and spans[2.0] == pytest.approx(2 * spans[1.0], rel=0.02)


def test_equal_prove_times_pick_the_cheaper_verifier(tiny: Pipeline,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two candidates set up, proved and verified for real (their verifiers on one anvil or the
    embedded EVM); the clock makes every interval 1 s, so only the verify gas tells them apart.
    The defaults (logrows 15, ~20 s to measure) are given a slower time without proving."""
    tuner = importlib.import_module("zkml.tuning.tuner")
    ticks = itertools.count()
    monkeypatch.setattr(tuner, "_clock", lambda: float(next(ticks)))
    real = tuner._measure

    def measure(cand: Candidate, x: Any, gas_meter: Any = None) -> None:
        if cand.config.decomp_base == EZKL_DEFAULT.decomp_base:
            cand.setup_seconds = cand.prove_seconds = 10.0
        else:
            real(cand, x, gas_meter)

    monkeypatch.setattr(tuner, "_measure", measure)
    z = tiny.zoo
    grid = {"decomp": [(256, 4)], "num_inner_cols": [4, 2], "scales": [None],
            "lookup_margin": [2.0]}
    with VerifyGasMeter() as meter:
        r = tune(tiny.exported, z.calibration, z.test_inputs[:8], base=z.config, grid=grid,
                 gas_meter=meter)
    measured = {c.config.num_inner_cols: c for c in r.candidates[1:]}
    assert {c.prove_seconds for c in measured.values()} == {1.0}
    gas = {cols: c.verify_gas for cols, c in measured.items()}
    assert gas[2] is not None and gas[4] is not None and gas[2] < gas[4], gas
    assert r.beat_default and r.chosen is measured[2] and r.config.num_inner_cols == 2
    assert r.chosen.summary()["verify_gas"] == gas[2]


def _cand(cols: int, prove: float, gas: int | None) -> Candidate:
    c = Candidate(CompileConfig(num_inner_cols=cols))
    c.prove_seconds, c.verify_gas = prove, gas
    return c


def test_pick_takes_the_cheapest_verifier_within_the_tolerance() -> None:
    default = _cand(2, 10.0, 1_120_000)
    four, two = _cand(4, 5.0, 1_790_000), _cand(2, 5.4, 1_120_000)
    slow = _cand(2, 6.0, 500_000)  # 20% slower than the fastest: out, however cheap
    assert _pick([four, two, slow], default, 0.1) is two
    cheap_four = _cand(4, 5.2, 400_000)  # gas decides, not columns
    assert _pick([four, two, cheap_four], default, 0.1) is cheap_four
    two.verify_gas = None  # gas unknown: fewer columns stand in for it
    assert _pick([four, two], default, 0.1) is two
    # only candidates at least min_gain faster than the defaults qualify
    assert _pick([_cand(2, 9.5, 1)], default, 0.1) is None
    fast = _cand(4, 8.8, 2_000_000)
    assert _pick([fast, _cand(2, 9.5, 1)], default, 0.1) is fast


class Hooks:
    """Counts what the tuner does through its hooks: calibrations (``build_circuit``), and
    setups, proofs and measurements, which the quick mode must never make."""

    def __init__(self, tuner: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: dict[str, int] = {"build_circuit": 0, "setup": 0, "prove": 0, "_measure": 0}
        common = importlib.import_module("zkml.tuning.common")  # both modes calibrate there
        for name in self.calls:
            where = common if name == "build_circuit" else tuner
            monkeypatch.setattr(where, name, self._counting(name, getattr(where, name)))

    def _counting(self, name: str, real: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return real(*args, **kwargs)
        return counted


def test_quick_mode_proves_nothing_and_beats_the_defaults_estimate(
        tiny: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    tuner = importlib.import_module("zkml.tuning.tuner")
    hooks = Hooks(tuner, monkeypatch)
    z = tiny.zoo
    r = tune(tiny.exported, z.calibration, z.test_inputs[:8], base=z.config, mode="quick")
    assert hooks.calls["setup"] == hooks.calls["prove"] == hooks.calls["_measure"] == 0
    assert hooks.calls["build_circuit"] == 1  # the first candidate, below the range table
    assert all(c.prove_seconds is None and c.setup_seconds is None for c in r.candidates)
    assert r.beat_default and r.chosen is not r.default and r.chosen.accurate
    # ezkl's defaults were laid out, not calibrated: their range table alone needs 15
    assert r.default.logrows is None and r.default.est_logrows == 15
    assert r.chosen.logrows is not None and r.chosen.logrows < 15
    # never more columns than ezkl's 2
    assert r.chosen.config.num_inner_cols in (1, 2)
    assert r.config == r.chosen.config
    assert r.message.startswith(f"quick: logrows {r.chosen.logrows} with "
                                f"{r.chosen.config.num_inner_cols} column")
    assert "vs ezkl's default logrows >= 15" in r.message
    # every candidate was laid out; only the calibrated ones have a real logrows
    assert all(c.est_logrows is not None for c in r.candidates)
    assert sum(c.logrows is not None for c in r.candidates) == hooks.calls["build_circuit"]


def test_quick_mode_never_takes_a_layout_estimated_worse_than_the_defaults(
        tiny: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    tuner = importlib.import_module("zkml.tuning.tuner")
    hooks = Hooks(tuner, monkeypatch)
    z = tiny.zoo
    # the range table of 16384 rows alone needs logrows 15: more columns only cost more
    worse = {"decomp": [(16384, 2)], "num_inner_cols": [4, 8], "scales": [None, [6, 7, 8]]}
    r = tune(tiny.exported, z.calibration, z.test_inputs[:8], base=z.config, grid=worse,
             mode="quick")
    assert not r.beat_default and r.chosen is r.default
    assert r.config.decomp_base == EZKL_DEFAULT.decomp_base and r.config.num_inner_cols == 2
    # only ezkl's default was calibrated (as ezkl's own flow does): no candidate could win
    assert hooks.calls["build_circuit"] == 1 and r.default.logrows == 15
    for c in r.candidates[1:]:
        assert c.config.num_inner_cols == 2  # the grid's 4 and 8 columns are never tried
        assert (c.est_logrows or 0) >= r.default.logrows
        assert c.skipped == "its fewest rows cannot beat ezkl's defaults"
    assert "keeping ezkl's default settings" in r.message


def test_compile_model_tune_modes(tiny: Pipeline) -> None:
    z = tiny.zoo
    quick = zkml.compile_model(tiny.exported, z.calibration, tune="quick",
                               eval_inputs=z.test_inputs[:8])
    assert quick.logrows < 15  # ezkl's defaults need 2^15 rows for their range table alone
    with pytest.raises(zkml.ZkmlValueError, match="tune mode 'fast': choose quick"):
        zkml.compile_model(tiny.exported, z.calibration, tune="fast")
    with pytest.raises(zkml.ZkmlValueError, match="give False, True"):
        zkml.compile_model(tiny.exported, z.calibration, tune=1)  # type: ignore[arg-type]
    with pytest.raises(zkml.ZkmlValueError, match="tune mode 'fast'"):
        tune(tiny.exported, z.calibration, z.test_inputs[:8], mode="fast")


def test_cli_quick_modes(tmp_path: Path) -> None:
    """`zkml tune --tune quick` and `zkml compile --tune quick`: one cached quick search, no
    candidate proved, the same pick for both."""
    from typer.testing import CliRunner

    from zkml.cli.main import app

    def run(*args: str) -> Any:
        res = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    d, d2 = str(tmp_path / "a"), str(tmp_path / "b")
    run("export", "tiny-mlp", "--dir", d)
    report = run("tune", "--dir", d, "--tune", "quick")
    assert report["mode"] == "quick" and report["beat_default"] is True
    assert all(c["prove_s"] is None for c in report["candidates"])
    assert report["default"]["logrows"] is None and report["default"]["est_logrows"] == 15
    assert json.loads((tmp_path / "a" / "zoo.json").read_text())["config"] == report["config"]
    run("export", "tiny-mlp", "--dir", d2)
    circuit = run("compile", "--dir", d2, "--tune", "quick")
    assert circuit["logrows"] == report["chosen"]["logrows"] < 15
    # both estimates and why, in --json and in the human report
    choice = circuit["choice"]
    assert choice["mode"] == "quick" and choice["chose"] == "zkml"
    assert choice["chosen"]["logrows"] == circuit["logrows"]
    assert choice["ezkl_default"] == {**choice["ezkl_default"], "logrows": 15,
                                      "calibrated": False, "decomp": "16384^2"}
    assert choice["chosen"]["prove_seconds"] < choice["ezkl_default"]["prove_seconds"]
    res = CliRunner().invoke(app, ["compile", "--dir", d2, "--tune", "quick"])
    assert res.exit_code == 0
    cols = report["chosen"]["cols"]
    assert f"settings (quick): zkml's: logrows {circuit['logrows']}, {cols} column" in res.output
    assert "ezkl's default: logrows >= 15, 2 columns, decomp 16384^2: estimated" in res.output
    assert "why: quick: logrows" in res.output


def test_compile_never_settles_for_settings_dearer_than_ezkls_default(tiny: Pipeline) -> None:
    """The floor (issue #22): 8 columns at ezkl's own logrows cost more than ezkl's 2, so
    compile returns ezkl's default circuit, says why, and keeps both estimates."""
    z = tiny.zoo
    dear = zkml.CompileConfig(decomp_base=16384, decomp_legs=2, num_inner_cols=8)
    exact = zkml.compile_model(tiny.exported, z.calibration, config=dear, floor=False)
    assert exact.choice is None
    assert json.loads(Path(exact.settings_path).read_text())["run_args"]["num_inner_cols"] == 8
    got = zkml.compile_model(tiny.exported, z.calibration, config=dear)
    assert got.choice is not None and got.choice.chose == "ezkl-default"
    assert json.loads(Path(got.settings_path).read_text())["run_args"]["num_inner_cols"] == 2
    assert got.digest != exact.digest and got.logrows == 15
    c = got.choice
    assert c.mode == "none" and c.ezkl_default.calibrated and c.chosen == c.ezkl_default
    assert "kept ezkl's default settings: the choice was not faster" in c.reason
    assert "8 columns vs ezkl's default logrows 15 / 2 columns" in c.reason
    # zkml's own defaults: below the range table's logrows, no calibration of ezkl's needed
    mine = zkml.compile_model(tiny.exported, z.calibration)
    assert mine.choice is not None and mine.choice.chose == "zkml"
    assert mine.logrows < 15 and not mine.choice.ezkl_default.calibrated
    assert mine.choice.chosen.prove_seconds < mine.choice.ezkl_default.prove_seconds
    assert mine.choice.chosen.peak_memory_bytes < mine.choice.ezkl_default.peak_memory_bytes


def test_thorough_pick_refuses_a_faster_but_heavier_candidate() -> None:
    """Thorough mode judges time by measurement, memory by the estimate: 4 columns one logrows
    below ezkl's default are estimated heavier than 2 columns at the default's logrows."""
    default = Candidate(EZKL_DEFAULT, logrows=16, prove_seconds=10.0)
    heavy = Candidate(EZKL_DEFAULT.model_copy(update={"num_inner_cols": 4}), logrows=16,
                      prove_seconds=5.0)
    light = Candidate(EZKL_DEFAULT.model_copy(update={"decomp_base": 256, "decomp_legs": 4}),
                      logrows=15, prove_seconds=6.0)
    assert _pick([heavy], default, 0.1) is None
    assert _pick([heavy, light], default, 0.1) is light


def _sigmoid_mlp(tmp_path: Path) -> tuple[zkml.ExportedModel, Any, Any]:
    """4-16-2 with a Sigmoid: a lookup table whose size (not its rows) sets ezkl's logrows."""
    import numpy as np
    import torch

    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Sigmoid(),
                              torch.nn.Linear(16, 2)).eval()
    x = np.random.default_rng(3).uniform(-2.0, 2.0, size=(72, 1, 4))
    x[:2] = [[[-2.0] * 4], [[2.0] * 4]]
    return zkml.export(net, x[:1], tmp_path / "sig.onnx"), x[:64], x[64:]


def test_quick_mode_prices_candidates_by_the_floors_lookup_tables(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lookup model: ezkl's default is calibrated first; its scale and table size predict
    every layout's logrows; the cheapest prediction that proves accurate is taken, below the
    floor's cost, within the budget (one calibration pass each)."""
    from zkml.circuit.cost import relative_cost

    tuner = importlib.import_module("zkml.tuning.tuner")
    hooks = Hooks(tuner, monkeypatch)
    exported, cal, evals = _sigmoid_mlp(tmp_path)
    r = tune(exported, cal, evals, mode="quick")
    floor = r.default
    assert floor.logrows is not None and floor.circuit is not None
    found = zkml._ezkl.read_settings(Path(floor.circuit.settings_path))
    assert found.lookup_entries > 0
    assert r.beat_default and r.chosen.accurate and r.chosen.logrows is not None
    chosen = relative_cost(r.chosen.config.num_inner_cols, r.chosen.logrows)
    assert chosen < relative_cost(2, floor.logrows)
    assert r.chosen.config.num_inner_cols <= 2
    # one pass at ezkl's found scale or one or two below it, with its rebase multiplier
    assert r.chosen.config.scales and found.input_scale - r.chosen.config.scales[0] in (0, 1, 2)
    assert r.chosen.config.rebase_multipliers == [found.scale_rebase_multiplier]
    # the floor plus at most two candidates calibrated; every other one says why not
    assert hooks.calls["build_circuit"] <= 3 and hooks.calls["prove"] == 0
    for c in r.candidates:
        assert c.logrows is not None or c.skipped or c.error, c.summary()
    # a prediction never undercuts what the tables alone need at that scale
    for c in r.candidates:
        if c.config.scales and c.est_logrows and c.est_logrows < 99:
            table = found.lookup_entries / 2 ** (found.input_scale - c.config.scales[0])
            assert 2 ** c.est_logrows >= table
    assert r.message.startswith(f"quick: logrows {r.chosen.logrows} with ")
    # ezkl's default is judged on the held-out samples only if an inaccurate candidate needed
    # the comparison (a witness per sample)
    tried = [c for c in r.candidates[1:] if c.logrows is not None]
    assert (floor.max_abs_error is None) == all(c.accurate for c in tried)


def test_quick_mode_takes_no_worse_than_an_inaccurate_default() -> None:
    """Where ezkl's own default misses the accuracy bound (it proves some graphs wrong), a
    candidate no less accurate than it counts, and one less accurate does not."""
    from zkml.tuning.quick import _no_worse

    floor = Candidate(EZKL_DEFAULT, max_abs_error=0.77, argmax_agreement=1.0)
    same = Candidate(CompileConfig(), max_abs_error=0.77, argmax_agreement=1.0)
    worse = Candidate(CompileConfig(), max_abs_error=0.78, argmax_agreement=1.0)
    flips = Candidate(CompileConfig(), max_abs_error=0.5, argmax_agreement=0.9)
    assert _no_worse(same, floor) and not _no_worse(worse, floor)
    assert not _no_worse(flips, floor)
    assert not _no_worse(same, Candidate(EZKL_DEFAULT))  # the floor was never measured
    assert _no_worse(Candidate(CompileConfig(), accurate=True), Candidate(EZKL_DEFAULT))
