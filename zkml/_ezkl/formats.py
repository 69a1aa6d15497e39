"""ezkl's file formats (settings, input, proof, witness, generated verifier), read and written
here only and handed to the stages as typed values.

A fact that cannot be read raises: a check must never be switched off because ezkl's format
moved under us.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from zkml._utils import atomic_write_json, felt_from_le_hex, felt_to_le_hex
from zkml.errors import ArtifactError, ContractError, InputError, ProveError

__all__ = [
    "EZKL_VERSION",
    "Settings",
    "ProofFile",
    "read_settings",
    "write_input",
    "read_input_data",
    "read_proof",
    "write_proof",
    "witness_outputs",
    "verifier_proof_length",
]

#: the installed ezkl (pinned in pyproject); part of every cache key
EZKL_VERSION: str = metadata.version("ezkl")

@dataclass(frozen=True)
class Settings:
    """The facts zkml uses from an ezkl ``settings.json``."""

    logrows: int
    num_rows: int
    input_scale: int
    param_scale: int
    output_scales: list[int]
    #: shapes of the model's public tensors among the instances (public input, outputs)
    model_instance_shapes: list[list[int]]
    #: instances contributed by the Poseidon module (a hashed input or hashed params)
    poseidon_instances: int
    has_lookups: bool

    @property
    def num_instances(self) -> int:
        return self.poseidon_instances + sum(math.prod(s) for s in self.model_instance_shapes)


def read_settings(path: Path) -> Settings:
    """Read ezkl's settings file.

    Raises:
        ArtifactError: the file is missing, or lacks a field zkml relies on (an ezkl version
            whose format zkml does not know).
    """
    try:
        s = json.loads(Path(path).read_text())
        ra = s["run_args"]
        poseidon = s.get("module_sizes", {}).get("poseidon", [0, [0]])[1]
        return Settings(
            logrows=int(ra["logrows"]),
            num_rows=int(s["num_rows"]),
            input_scale=int(ra["input_scale"]),
            param_scale=int(ra["param_scale"]),
            output_scales=[int(v) for v in s["model_output_scales"]],
            model_instance_shapes=[[int(d) for d in shape]
                                   for shape in s["model_instance_shapes"]],
            poseidon_instances=int(sum(poseidon)),
            has_lookups=bool(s.get("required_lookups")),
        )
    except FileNotFoundError as e:
        raise ArtifactError(f"{path}: ezkl settings file missing; compile again.") from e
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise ArtifactError(
            f"{path}: not an ezkl {EZKL_VERSION} settings file ({type(e).__name__}: {e}); "
            "compile again with this ezkl version."
        ) from e


def write_input(path: Path, inputs: Sequence[Sequence[float]]) -> None:
    """Write ezkl's input file: one flat list of values per graph input."""
    atomic_write_json(path, {"input_data": [list(x) for x in inputs]}, indent=None)


def read_input_data(data: Any, source: str) -> Any:
    """The values of an ezkl-style input object (``{"input_data": [...]}``), else ``data``.

    Raises:
        InputError: an object without ``input_data``.
    """
    if isinstance(data, dict):
        if "input_data" not in data:
            raise InputError(f"{source}: a JSON object input needs an 'input_data' key "
                             "(ezkl's input.json format).")
        return data["input_data"]
    return data


@dataclass(frozen=True)
class ProofFile:
    """An ezkl proof: the proof bytes and the public instances, as field elements."""

    proof: bytes
    instances: list[int]


def read_proof(path: Path) -> ProofFile:
    """Read the proof JSON ezkl's ``prove`` wrote.

    Raises:
        ProveError: the file is not a proof of this ezkl version's format.
    """
    try:
        raw = json.loads(Path(path).read_text())
        return ProofFile(
            proof=bytes(raw["proof"]),
            instances=[felt_from_le_hex(v) for col in raw["instances"] for v in col],
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ProveError(f"ezkl wrote an unreadable proof file ({type(e).__name__}: {e}).") from e


def write_proof(path: Path, proof: bytes, instances: Sequence[int]) -> None:
    """Write a proof file ezkl's ``verify`` reads (one instance column)."""
    atomic_write_json(
        path, {"instances": [[felt_to_le_hex(v) for v in instances]], "proof": list(proof)}
    )


def witness_outputs(witness: dict[str, Any]) -> list[list[int]]:
    """The model outputs of a witness returned by :func:`gen_witness`, as field elements."""
    try:
        return [[felt_from_le_hex(v) for v in out] for out in witness["outputs"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ProveError(f"ezkl returned a witness without readable outputs ({e}).") from e


_PROOF_LEN = re.compile(r"eq\(0x([0-9a-fA-F]+), proof\.length\)")


def verifier_proof_length(solidity: str) -> int:
    """The exact proof length (bytes) the generated Solidity verifier accepts.

    Raises:
        ContractError: the source does not pin a proof length (an ezkl verifier template zkml
            does not know); never a silent "no check".
    """
    m = _PROOF_LEN.findall(solidity)
    if len(m) != 1:
        raise ContractError(
            f"cannot read the proof length from the ezkl {EZKL_VERSION} verifier "
            f"({len(m)} matches); this ezkl version's verifier template is not supported."
        )
    return int(m[0], 16)
