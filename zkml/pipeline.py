"""Calls that span stages, above every stage package and below the CLI.

A stage module takes the previous artifact and returns its own; a call here composes stages
for the caller: compiling with the tuner's settings (the tuner needs the proof stage to
measure candidates) and publishing a verification package (it carries the Solidity verifier,
which the chain stage builds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

from zkml.artifacts import (
    Circuit,
    ExportedModel,
    Keys,
    ModelRegistration,
    VerificationPackage,
    VerifierContract,
)
from zkml.circuit.compile import CompileConfig
from zkml.errors import ZkmlValueError
from zkml.split_artifacts import SplitCircuit

__all__ = ["compile_model", "publish"]


@overload
def compile_model(
    exported: ExportedModel, calibration_inputs: Any, *, preset: str = ...,
    config: CompileConfig | None = ..., tune: bool | str = ..., eval_inputs: Any = ...,
    segments: None = None, max_memory: int | None = ..., floor: bool = ...,
) -> Circuit: ...


@overload
def compile_model(
    exported: ExportedModel, calibration_inputs: Any, *, preset: str = ...,
    config: CompileConfig | None = ..., tune: Literal[False] = ..., eval_inputs: Any = ...,
    segments: int | str, max_memory: int | None = ..., floor: bool = ...,
) -> SplitCircuit: ...


def compile_model(
    exported: ExportedModel,
    calibration_inputs: Any,
    *,
    preset: str = "private-input",
    config: CompileConfig | None = None,
    tune: bool | str = False,
    eval_inputs: Any = None,
    segments: int | str | None = None,
    max_memory: int | None = None,
    floor: bool = True,
) -> Circuit | SplitCircuit:
    """Calibrate and compile ``exported`` for ``preset``; cached by content.

    Args:
        exported: the ONNX artifact from :func:`zkml.export`.
        calibration_inputs: representative samples (array-like, several inputs stacked) that
            cover the real input range; inputs outside it are rejected at prove time.
        preset: a privacy preset name (see ``zkml.PRESETS``).
        config: cost-driving settings; defaults suit small models. With ``tune``, the base
            the tuner varies (max_logrows, margins, visibility overrides).
        tune: search the cheapest settings within the default accuracy bound first
            (:func:`zkml.tune`, cached) and compile with them: ``"quick"`` (layout estimates
            and at most two calibrations, no proof: seconds), ``"thorough"`` or ``True``
            (measures the best candidates by proving them, and their verifier gas: minutes
            on big models), ``False`` (no search).
        eval_inputs: held-out samples the tuner checks accuracy on; default: 16 of the
            calibration samples.
        segments: split proving (zkml.circuit.split): cut the graph into this many
            segments, or ``"auto"`` (the fewest whose estimated proving peak fits
            ``max_memory`` bytes); each is proven on its own worker. Not with ``tune``.
        max_memory: with ``segments="auto"``, the bytes one segment proof may use.
        floor: never settle for settings estimated dearer (prove time or peak memory; in
            thorough mode, measured time) than ezkl's own calibrated defaults: where the
            chosen circuit is, ezkl's default circuit is returned instead. The decision and
            both estimates are in ``circuit.choice``. ezkl's default is calibrated only when
            the chosen circuit is above logrows 15. ``False``: exactly ``config``.

    Returns:
        The :class:`Circuit` artifact, with logrows, rows and a quantization report; with
        ``segments``, a :class:`SplitCircuit` (one circuit per segment).

    Raises:
        UnboundModelError: params ``private`` without ``allow_unbound_model``.
        InputError: calibration samples malformed or non-finite.
        CompileError: calibration or compilation failed.
        ZkmlValueError: ``tune`` is not a bool, "quick" or "thorough".

    Example:
        >>> circuit = zkml.compile_model(exported, X_train[:64], preset="private-input")
        >>> fast = zkml.compile_model(exported, X_train, tune="quick", eval_inputs=X_test[:16])
    """
    cfg = config or CompileConfig()
    mode = _tune_mode(tune)
    if segments is not None:
        if mode is not None:
            raise ZkmlValueError("tune and segments together: tune the whole model or split "
                                 "it, not both (give tune=False with segments).")
        from zkml.circuit.split import compile_split

        return compile_split(exported, calibration_inputs, segments=segments,
                             max_memory=max_memory, preset=preset, config=config)
    from zkml.tuning.cached import tune_cached
    from zkml.tuning.common import TuneTask
    from zkml.tuning.floor import settle

    # the samples converted once, here: every tuning step takes the task
    task = TuneTask.of(exported, calibration_inputs, eval_inputs, preset=preset, base=cfg)
    why, measured = "", None
    if mode == "quick":  # nothing is proven, so no verifier gas to weigh
        cfg, report = tune_cached(task, mode=mode)
        why = str(report["message"]).rstrip(".")
    elif mode is not None:
        from zkml.chain.gas import VerifyGasMeter

        with VerifyGasMeter() as meter:  # verifier gas is part of the tuner's objective
            cfg, report = tune_cached(task, gas_meter=meter)
        chosen_s, default_s = report["chosen"]["prove_s"], report["default"]["prove_s"]
        if chosen_s is not None and default_s is not None:
            measured = (float(chosen_s), float(default_s))
        why = str(report["message"]).rstrip(".")
    circuit = task.compile(cfg)
    if not floor:
        return circuit
    return settle(task, circuit, mode=mode or "none", why=why, measured=measured)


def _tune_mode(tune: object) -> str | None:
    """compile_model's ``tune``: None (no search), "quick" or "thorough" (True)."""
    from zkml.tuning.tuner import check_mode

    if tune is True:
        return "thorough"
    if tune is False or tune is None:
        return None
    if not isinstance(tune, str):
        raise ZkmlValueError(f"tune={tune!r}: give False, True, \"quick\" or \"thorough\".")
    return check_mode(tune)


def publish(
    keys: Keys,
    out: str | Path,
    *,
    verifier: VerifierContract | None = None,
    registrations: list[ModelRegistration] | None = None,
    with_srs: bool = False,
    labels: list[str] | None = None,
) -> VerificationPackage:
    """Write a verification package: what a third party needs to check this model's bundles
    on their own machine (:func:`zkml.verify` with ``package=``), and nothing private.

    Args:
        keys: the model's keys (from :func:`zkml.setup`).
        out: the package folder to create (replaced whole if it is an older package).
        verifier: the compiled Solidity verifier; built (cached) when None.
        registrations: the model's registry registrations, to publish its registry ids.
        with_srs: include the SRS file itself (needed when it is a development SRS, which
            exists only on this machine); otherwise the package names it by sha256.
        labels: one name per output (e.g. class names), shown with decoded outputs.

    Returns:
        The :class:`VerificationPackage` manifest (also written as ``out/package.json``).

    Raises:
        ArtifactError: ``out`` exists and is not a package, or labels do not fit the outputs.

    Example:
        >>> zkml.publish(keys, "pkg", with_srs=True)
        >>> assert zkml.verify("bundle.json", package="pkg")
    """
    from zkml.chain.contract import build_verifier
    from zkml.proof.package import write_package

    return write_package(keys, out, verifier or build_verifier(keys),
                         registrations=registrations or [], with_srs=with_srs, labels=labels)
