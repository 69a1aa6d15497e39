"""The tuner's decisions on real circuits (tiny model: calibrations take seconds)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

import circuits
import zkml
from zkml.circuit.compile import CompileConfig
from zkml.circuit.layout import estimate_rows
from zkml.tuning.tuner import EZKL_DEFAULT, Candidate, cost_estimate, tune

from .conftest import Pipeline

ONE = {"decomp": [(256, 4)], "num_inner_cols": [2], "scales": [None]}


def test_keeps_the_defaults_without_the_required_gain(tiny: Pipeline,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Real calibrations; the timer is fixed (a 5% gain) so the decision is not at the mercy
    of machine load."""
    def timed(cand: Candidate, x: Any) -> None:
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
    assert cost_estimate(4, 13) < cost_estimate(2, 14)
    assert cost_estimate(2, 9) < cost_estimate(4, 9) < cost_estimate(2, 10)


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
