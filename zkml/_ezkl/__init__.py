"""The ezkl adapter: the one place zkml meets ezkl.

``calls`` wraps ezkl's functions (keyword arguments only, coroutines run safely inside or
outside a running event loop, bare ``RuntimeError``s and Rust panics turned into typed zkml
errors that name the stage and the fix); ``formats`` reads and writes ezkl's files and hands
the stages typed values. Stages use ``from zkml import _ezkl`` and never import ezkl.
"""

from zkml._ezkl.calls import (
    WitnessRangeError,
    WitnessShapeError,
    calibrate,
    calibrate_segment,
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
    PolycommitLayout,
    ProofFile,
    Settings,
    polycommit_layout,
    read_input_data,
    read_proof,
    read_settings,
    set_logrows,
    verifier_proof_length,
    witness_outputs,
    write_chained_input,
    write_input,
    write_proof,
)

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
