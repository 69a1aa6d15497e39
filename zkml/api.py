"""Calls that span stages, above every stage package and below the CLI.

A stage module takes the previous artifact and returns its own; a call here composes stages
for the caller: compiling with the tuner's settings (the tuner needs the proof stage to
measure candidates) and publishing a verification package (it carries the Solidity verifier,
which the chain stage builds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zkml.artifacts import (
    Circuit,
    ExportedModel,
    Keys,
    ModelRegistration,
    VerificationPackage,
    VerifierContract,
)
from zkml.circuit import compile as _compile
from zkml.circuit.compile import CompileConfig, as_samples

__all__ = ["compile_model", "publish"]


def compile_model(
    exported: ExportedModel,
    calibration_inputs: Any,
    *,
    preset: str = "private-input",
    config: CompileConfig | None = None,
    tune: bool = False,
    eval_inputs: Any = None,
) -> Circuit:
    """Calibrate and compile ``exported`` for ``preset``; cached by content.

    Args:
        exported: the ONNX artifact from :func:`zkml.export`.
        calibration_inputs: representative samples (array-like, several inputs stacked) that
            cover the real input range; inputs outside it are rejected at prove time.
        preset: a privacy preset name (see ``zkml.PRESETS``).
        config: cost-driving settings; defaults suit small models. With ``tune``, the base
            the tuner varies (max_logrows, margins, visibility overrides).
        tune: search the cheapest settings within the default accuracy bound first
            (:func:`zkml.tune`, cached; minutes on big models) and compile with them.
        eval_inputs: held-out samples the tuner checks accuracy on; default: 16 of the
            calibration samples.

    Returns:
        The :class:`Circuit` artifact, with logrows, rows and a quantization report.

    Raises:
        UnboundModelError: params ``private`` without ``allow_unbound_model``.
        InputError: calibration samples malformed or non-finite.
        CompileError: calibration or compilation failed.

    Example:
        >>> circuit = zkml.compile_model(exported, X_train[:64], preset="private-input")
        >>> fast = zkml.compile_model(exported, X_train, tune=True, eval_inputs=X_test[:16])
    """
    cfg = config or CompileConfig()
    if tune:
        from zkml.chain.gas import VerifyGasMeter
        from zkml.tuning.tuner import tune_cached

        cal = as_samples(calibration_inputs, exported.input_shape)
        held_out = (cal[np.linspace(0, len(cal) - 1, num=min(16, len(cal))).astype(int)]
                    if eval_inputs is None else eval_inputs)
        with VerifyGasMeter() as meter:  # verifier gas is part of the tuner's objective
            cfg, _ = tune_cached(exported, cal, held_out, preset=preset, base=cfg,
                                 gas_meter=meter)
    return _compile.compile_model(exported, calibration_inputs, preset=preset, config=cfg)


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
