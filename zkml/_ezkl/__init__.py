"""The ezkl adapter: the one place zkml meets ezkl.

``calls`` wraps ezkl's functions (keyword arguments only, coroutines run safely inside or
outside a running event loop, bare ``RuntimeError``s and Rust panics turned into typed zkml
errors that name the stage and the fix); ``formats`` reads and writes ezkl's files and hands
the stages typed values. Stages use ``from zkml import _ezkl`` and never import ezkl.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zkml._ezkl.calls import (
        WitnessRangeError,
        WitnessShapeError,
        calibrate,
        calibrate_segment,
        commitment_points,
        compile_circuit,
        create_evm_verifier,
        float_to_felt,
        gen_settings,
        gen_srs,
        gen_witness,
        get_srs,
        normalize_settings,
        poseidon_hash,
        prove,
        setup,
        verify,
    )
    from zkml._ezkl.formats import (
        EZKL_VERSION,
        G1_POINT_BYTES,
        CommittedLayout,
        PolycommitLayout,
        ProofFile,
        Settings,
        committed_layout,
        committed_sizes,
        polycommit_layout,
        read_input_data,
        read_proof,
        read_settings,
        set_logrows,
        verifier_proof_length,
        witness_boundary,
        witness_outputs,
        write_boundary_input,
        write_chained_input,
        write_input,
        write_proof,
    )

#: where each name lives: a stage's `_ezkl.x` imports that module on first use, so the lean
#: prover (zkml/cli/prover.py) loads ``run`` alone, without pydantic or the formats
_HOME = {name: "calls" for name in (
    "calibrate", "calibrate_segment", "commitment_points", "compile_circuit",
    "create_evm_verifier", "float_to_felt", "gen_settings", "gen_srs", "get_srs",
    "normalize_settings", "poseidon_hash", "setup", "verify")}
_HOME.update({name: "run" for name in (
    "WitnessRangeError", "WitnessShapeError", "gen_witness", "prove")})


def __getattr__(name: str) -> Any:
    import importlib

    module = importlib.import_module(f"zkml._ezkl.{_HOME.get(name, 'formats')}")
    try:
        value = getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


__all__ = [
    "WitnessRangeError",
    "WitnessShapeError",
    "EZKL_VERSION",
    "G1_POINT_BYTES",
    "ProofFile",
    "Settings",
    "calibrate",
    "calibrate_segment",
    "PolycommitLayout",
    "polycommit_layout",
    "CommittedLayout",
    "committed_layout",
    "commitment_points",
    "committed_sizes",
    "witness_boundary",
    "write_boundary_input",
    "set_logrows",
    "write_chained_input",
    "compile_circuit",
    "create_evm_verifier",
    "float_to_felt",
    "gen_settings",
    "gen_srs",
    "gen_witness",
    "get_srs",
    "normalize_settings",
    "poseidon_hash",
    "prove",
    "read_input_data",
    "read_proof",
    "read_settings",
    "setup",
    "verifier_proof_length",
    "verify",
    "write_input",
    "write_proof",
    "witness_outputs",
]
