"""What both tuning modes share: the candidates, the accuracy bound, ezkl's defaults, the grid,
and calibrating one candidate. ``quick.py`` and ``tuner.py`` (thorough, and the ``tune``
entry point) build on it; neither imports the other's internals back.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from zkml._progress import step
from zkml.artifacts import Circuit, ExportedModel, Keys, ProofBundle, QuantizationReport
from zkml.circuit.compile import (
    CompileConfig,
    UnfaithfulCircuitWarning,
    build_circuit,
    evaluate,
    model_samples,
)
from zkml.circuit.cost import relative_cost
from zkml.circuit.layout import estimate_rows, estimate_rows_of
from zkml.errors import CompileError, InputRangeError, ZkmlValueError

__all__ = ["AccuracyBound", "Candidate", "TuneResult", "TuneTask", "DEFAULT_GRID", "EZKL_DEFAULT",
           "GasMeter", "MODES", "TOLERANCE", "check_mode", "default_config",
           "calibrate_candidate", "judge_candidate", "grid_configs", "label"]

#: ``thorough``: calibrate up to 10 candidates and measure the best by setting up and proving
#: them (minutes); ``quick``: layout estimates and at most two calibrations, no proof
#: (``zkml/tuning/quick.py``; seconds).
MODES = ("quick", "thorough")

#: ezkl's PyRunArgs defaults for the cost-driving settings.
EZKL_DEFAULT = CompileConfig(decomp_base=16384, decomp_legs=2, num_inner_cols=2)

DEFAULT_GRID: dict[str, list[Any]] = {
    "decomp": [(16384, 2), (4096, 3), (1024, 3), (256, 4)],
    "num_inner_cols": [1, 2, 4],
    "scales": [None, [6, 7, 8]],
}

#: Measured prove times within this fraction of the fastest count as equal: among them the
#: cheaper verifier wins (attention: 4 columns verify for 1.79M gas, 2 columns for 1.12M).
TOLERANCE = 0.10

#: Measures a proof's verifyProof gas on a chain (``zkml.chain.gas.VerifyGasMeter``; the tuner
#: may not import the chain package, so the caller passes one in).
GasMeter = Callable[[Keys, ProofBundle], int]

class AccuracyBound(BaseModel):
    """Max |circuit - float| as a fraction of the output range; same argmax (classifiers)."""

    model_config = ConfigDict(frozen=True)

    max_error_fraction: float = 0.01
    same_argmax: bool = True


@dataclass
class Candidate:
    config: CompileConfig
    est_rows: int | None = None
    est_logrows: int | None = None
    logrows: int | None = None
    num_rows: int | None = None
    cost: float | None = None
    max_abs_error: float | None = None
    argmax_agreement: float | None = None
    accurate: bool = False
    setup_seconds: float | None = None
    prove_seconds: float | None = None
    verify_gas: int | None = None
    gas_error: str | None = None
    error: str | None = None
    skipped: str | None = None
    circuit: Circuit | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        c = self.config
        return {
            "decomp": f"{c.decomp_base}^{c.decomp_legs}", "cols": c.num_inner_cols,
            "scales": c.scales, "lookup_margin": c.lookup_margin, "est_rows": self.est_rows,
            "est_logrows": self.est_logrows, "logrows": self.logrows, "rows": self.num_rows,
            "cost": self.cost, "max_abs_error": self.max_abs_error,
            "argmax_agreement": self.argmax_agreement, "accurate": self.accurate,
            "setup_s": self.setup_seconds, "prove_s": self.prove_seconds,
            "verify_gas": self.verify_gas, "gas_error": self.gas_error, "error": self.error,
            "skipped": self.skipped,
        }


@dataclass
class TuneResult:
    config: CompileConfig
    default: Candidate
    chosen: Candidate
    candidates: list[Candidate]
    beat_default: bool
    message: str

    @property
    def speedup(self) -> float | None:
        if self.default.prove_seconds and self.chosen.prove_seconds:
            return self.default.prove_seconds / self.chosen.prove_seconds
        return None


@dataclass(frozen=True, eq=False)
class TuneTask:
    """One search's subject, built once where the search starts (the API boundary, the CLI):
    the model, its calibration and held-out samples as the compile stage reads them
    (converted here, once), the preset, the settings the search varies and the accuracy
    bound. Every tuning step takes the task; only its methods hand the model to the compile
    stage."""

    exported: ExportedModel
    cal: np.ndarray
    evals: np.ndarray
    preset: str
    base: CompileConfig
    bound: AccuracyBound

    @classmethod
    def of(cls, exported: ExportedModel, calibration: Any, eval_inputs: Any = None, *,
           preset: str = "private-input", base: CompileConfig | None = None,
           bound: AccuracyBound | None = None) -> TuneTask:
        """The task for ``exported``; held-out samples default to 16 of the calibration
        samples, spread over them.

        Raises:
            InputShapeError, InputError: samples that do not fit the model's inputs.
        """
        cal = model_samples(calibration, exported)
        evals = (cal[np.linspace(0, len(cal) - 1, num=min(16, len(cal))).astype(int)]
                 if eval_inputs is None else model_samples(eval_inputs, exported))
        return cls(exported, cal, evals, preset, base or CompileConfig(),
                   bound or AccuracyBound())

    @property
    def classifier(self) -> bool:
        """Several outputs judged by their argmax too."""
        return int(np.prod(self.exported.output_shape)) > 1 and self.bound.same_argmax

    def compile(self, config: CompileConfig) -> Circuit:
        """The model calibrated on the task's samples and compiled with ``config`` (cached)."""
        return build_circuit(self.exported, self.cal, preset=self.preset, config=config)

    def lay_out(self, config: CompileConfig) -> tuple[int, int]:
        """(rows, logrows) the model lays out in with ``config``, without calibrating."""
        return estimate_rows(self.exported, preset=self.preset, config=config)

    def rows_with(self, config: CompileConfig, overrides: dict[str, Any]) -> int:
        """The rows the model lays out in with ``config`` and ezkl run-arg ``overrides``."""
        rows, _ = estimate_rows_of(Path(self.exported.onnx_path), preset=self.preset,
                                   config=config, overrides=overrides)
        return rows


def calibrate_candidate(cand: Candidate, label: str, task: TuneTask, *,
                        judge: bool = True) -> None:
    """Calibrate and compile ``cand`` (cached by content), then (``judge``) check it on the
    task's held-out samples; without ``judge`` its accuracy is left unknown until
    :func:`judge_candidate`.

    The tuner's calibration hook: both modes calibrate through it (a test counts them)."""
    c = cand.config
    with step(label):
        try:
            with warnings.catch_warnings():  # the accuracy bound judges candidates
                warnings.simplefilter("ignore", UnfaithfulCircuitWarning)
                circuit = task.compile(c)
            report = evaluate(circuit, task.evals) if judge else None
        except (CompileError, InputRangeError) as e:
            cand.error = str(e).splitlines()[0][:200]
            return
    cand.circuit = circuit
    cand.logrows, cand.num_rows = circuit.logrows, circuit.num_rows
    cand.cost = relative_cost(c.num_inner_cols, circuit.logrows)
    if report is not None:
        _judge(cand, report, task.bound, task.classifier)


def judge_candidate(cand: Candidate, task: TuneTask) -> None:
    """Check a calibrated candidate on the task's held-out samples (when
    :func:`calibrate_candidate` did not): its error, argmax agreement and whether it is within
    the bound. A sample that does not fit its ranges leaves its accuracy unknown (``error``
    says why)."""
    if cand.circuit is None or cand.max_abs_error is not None:
        return
    try:
        report = evaluate(cand.circuit, task.evals)
    except (CompileError, InputRangeError) as e:
        cand.error = str(e).splitlines()[0][:200]
        return
    _judge(cand, report, task.bound, task.classifier)


def _judge(cand: Candidate, report: QuantizationReport, bound: AccuracyBound,
           classifier: bool) -> None:
    cand.max_abs_error = report.max_abs_error
    cand.argmax_agreement = report.argmax_agreement
    # no float reference: accuracy unknown, so never a reason to leave ezkl's defaults
    cand.accurate = (report.max_abs_error is not None and report.output_range is not None
                     and report.max_abs_error <= bound.max_error_fraction * report.output_range
                     and (not classifier or report.argmax_agreement == 1.0))


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`.

    Raises:
        ZkmlValueError: any other value (the message lists the modes).
    """
    if mode not in MODES:
        raise ZkmlValueError(f"tune mode {mode!r}: choose quick (layout estimates, 1-3 "
                             "calibrations, no proof; seconds) or thorough (measures the best "
                             "candidates by proving them; minutes).")
    return mode


def default_config(base: CompileConfig) -> CompileConfig:
    """``base`` with ezkl's own cost-driving defaults (the settings the tuner must beat)."""
    return base.model_copy(update={
        "decomp_base": EZKL_DEFAULT.decomp_base, "decomp_legs": EZKL_DEFAULT.decomp_legs,
        "num_inner_cols": EZKL_DEFAULT.num_inner_cols, "scales": None, "lookup_margin": 2.0})


def label(c: CompileConfig) -> str:
    margin = "" if c.lookup_margin == 2.0 else f", lookup margin {c.lookup_margin:g}"
    return (f"decomp {c.decomp_base}^{c.decomp_legs}, cols {c.num_inner_cols}, scales "
            f"{c.scales or 'auto'}{margin}")


def grid_configs(base: CompileConfig, grid: dict[str, list[Any]],
                  lookups: bool) -> list[CompileConfig]:
    margins = grid.get("lookup_margin") or ([2.0, 1.0] if lookups else [2.0])
    return [base.model_copy(update={"decomp_base": d[0], "decomp_legs": d[1],
                                    "num_inner_cols": cols, "scales": scales,
                                    "lookup_margin": m})
            for d, cols, scales, m in itertools.product(
                grid["decomp"], grid["num_inner_cols"], grid["scales"], margins)]
