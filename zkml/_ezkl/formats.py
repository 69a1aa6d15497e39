"""ezkl's file formats (settings, input, proof, witness, generated verifier), read and written
here only and handed to the stages as typed values.

A fact that cannot be read raises: a check must never be switched off because ezkl's format
moved under us.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
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
    "input_file_values",
    "read_proof",
    "write_proof",
    "witness_outputs",
    "verifier_proof_length",
    "G1_POINT_BYTES",
    "PolycommitLayout",
    "polycommit_layout",
    "set_logrows",
    "write_chained_input",
]

def _installed_ezkl_version() -> str:
    """The installed ezkl's version, from the dist-info beside the package (one directory
    listing; ``importlib.metadata`` scans every installed distribution: 35 ms of each CLI
    process) and without importing ezkl (this module describes formats only)."""
    spec = importlib.util.find_spec("ezkl")
    if spec is not None and spec.origin:
        site = Path(spec.origin).parent.parent
        found = sorted(site.glob("ezkl-*.dist-info"))
        if len(found) == 1:
            return found[0].name[len("ezkl-"):-len(".dist-info")]
    from importlib import metadata

    return metadata.version("ezkl")


#: the installed ezkl (pinned in pyproject); part of every cache key
EZKL_VERSION: str = _installed_ezkl_version()

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
    num_inner_cols: int = 2
    decomp_base: int = 16384
    decomp_legs: int = 2
    scale_rebase_multiplier: int = 1
    #: entries of the largest lookup table (ezkl's ``lookup_range`` span; 0 without lookups)
    lookup_entries: int = 0
    #: a tensor is committed by KZG (``polycommit``): witness generation needs the vk and SRS
    kzg_commits: bool = False

    @property
    def num_instances(self) -> int:
        return self.poseidon_instances + sum(math.prod(s) for s in self.model_instance_shapes)


def _lookup_entries(s: dict[str, Any], ra: dict[str, Any]) -> int:
    lo, hi = ra.get("lookup_range") or (0, -1)
    return int(hi) - int(lo) + 1 if s.get("required_lookups") else 0


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
            num_inner_cols=int(ra.get("num_inner_cols", 2)),
            decomp_base=int(ra.get("decomp_base", 16384)),
            decomp_legs=int(ra.get("decomp_legs", 2)),
            scale_rebase_multiplier=int(ra.get("scale_rebase_multiplier", 1)),
            lookup_entries=_lookup_entries(s, ra),
            kzg_commits="KZGCommit" in (ra.get("input_visibility"), ra.get("param_visibility"),
                                        ra.get("output_visibility")),
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


def input_file_values(data: Any) -> Any | None:
    """``data["input_data"]`` when ``data`` is an ezkl input object (one list per graph
    input), else None."""
    if isinstance(data, dict) and "input_data" in data:
        return data["input_data"]
    return None


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


# Split proving (zkml.circuit.split, zkml.proof.split_prove) --------------------------------

#: bytes of one G1 point (x then y, 32 bytes each) at the head of an ezkl proof
G1_POINT_BYTES = 64


@dataclass(frozen=True)
class PolycommitLayout:
    """Where a segment proof carries its committed (``polycommit``) tensors.

    ezkl writes the KZG commitment of every polycommit tensor as the first G1 points of the
    proof, in the order inputs, params, outputs; ``inputs``/``outputs`` are byte offsets of
    those points in the proof. The proof's own ``split`` field is written by the prover and
    checked by nothing, so the offsets come from the settings.
    """

    inputs: list[int]
    outputs: list[int]


def polycommit_layout(path: Path) -> PolycommitLayout:
    """The commitment points of a circuit's polycommit inputs and outputs (one per tensor).

    Raises:
        ArtifactError: the settings do not say how many points there are, or a committed
            tensor would not fit one column (then ezkl would write more than one point).
    """
    try:
        s = json.loads(Path(path).read_text())
        ra = s["run_args"]
        sizes = [int(v) for v in s.get("module_sizes", {}).get("polycommit", [])]
        n_in = len(s["model_input_scales"]) if ra["input_visibility"] == "KZGCommit" else 0
        n_par = 1 if ra["param_visibility"] == "KZGCommit" else 0
        n_out = len(s["model_output_scales"]) if ra["output_visibility"] == "KZGCommit" else 0
        logrows = int(ra["logrows"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArtifactError(f"{path}: cannot read the polycommit sizes ({e}); compile the "
                            "split again.") from e
    if n_par or n_in + n_out != len(sizes):
        raise ArtifactError(f"{path}: {len(sizes)} polycommit tensors for {n_in} input(s) and "
                            f"{n_out} output(s) (params must be fixed); compile the split again.")
    if any(size >= 2**logrows - 64 for size in sizes):
        raise ArtifactError(f"{path}: a committed boundary tensor ({max(sizes)} values) does not "
                            f"fit one column at logrows {logrows}; cut at a smaller tensor.")
    first_out = len(sizes) - n_out
    return PolycommitLayout(
        inputs=[G1_POINT_BYTES * i for i in range(n_in)],
        outputs=[G1_POINT_BYTES * i for i in range(first_out, len(sizes))],
    )


@dataclass(frozen=True)
class CommittedLayout:
    """Where a proof with committed (``polycommit``) inputs, params and outputs carries each
    one's points (byte offsets), and how many values each committed tensor holds."""

    inputs: list[int]
    params: list[int]
    outputs: list[int]
    sizes: list[int]


def committed_layout(path: Path, param_points: int) -> CommittedLayout:
    """The commitment points of a circuit whose params are ``polycommit`` (zkml.collab):
    one point per committed input and output tensor (each must fit one column), and
    ``param_points`` for the params (count them with :func:`commitment_points`).

    Raises:
        ArtifactError: the settings do not describe such a circuit.
    """
    try:
        s = json.loads(Path(path).read_text())
        ra = s["run_args"]
        sizes = [int(v) for v in s.get("module_sizes", {}).get("polycommit", [])]
        n_in = len(s["model_input_scales"]) if ra["input_visibility"] == "KZGCommit" else 0
        n_out = len(s["model_output_scales"]) if ra["output_visibility"] == "KZGCommit" else 0
        committed_params = ra["param_visibility"] == "KZGCommit"
        logrows = int(ra["logrows"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArtifactError(f"{path}: cannot read the polycommit sizes ({e}).") from e
    if not committed_params or len(sizes) != n_in + 1 + n_out or param_points < 1:
        raise ArtifactError(f"{path}: not a circuit with committed params ({len(sizes)} "
                            f"polycommit tensors for {n_in} input(s), {n_out} output(s)).")
    boundary = sizes[:n_in] + sizes[n_in + 1:]
    if any(size >= 2**logrows - 64 for size in boundary):
        raise ArtifactError(f"{path}: a committed boundary tensor ({max(boundary)} values) does "
                            f"not fit one column at logrows {logrows}; cut at a smaller tensor.")
    p = G1_POINT_BYTES
    return CommittedLayout(
        inputs=[p * i for i in range(n_in)],
        params=[p * (n_in + i) for i in range(param_points)],
        outputs=[p * (n_in + param_points + i) for i in range(n_out)],
        sizes=sizes,
    )


def committed_sizes(path: Path) -> list[int]:
    """How many values each ``polycommit`` tensor of a circuit holds (inputs, params,
    outputs, in that order).

    Raises:
        ArtifactError: not a readable settings file.
    """
    try:
        return [int(v) for v in json.loads(Path(path).read_text())["module_sizes"]["polycommit"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArtifactError(f"{path}: cannot read the polycommit sizes ({e}).") from e


def witness_boundary(witness: dict[str, Any]) -> list[list[str]]:
    """A witness's outputs exactly as ezkl wrote them (field elements, little-endian hex):
    what the next segment's input file takes (:func:`write_boundary_input`)."""
    try:
        return [[str(v) for v in out] for out in witness["outputs"]]
    except (KeyError, TypeError) as e:
        raise ProveError(f"ezkl returned a witness without outputs ({e}).") from e


def write_boundary_input(path: Path, boundary: Sequence[Sequence[str]]) -> None:
    """The next segment's input file from :func:`witness_boundary`'s field elements."""
    atomic_write_json(path, {"input_data": [list(b) for b in boundary]}, indent=None)


def set_logrows(path: Path, logrows: int) -> None:
    """Raise a calibrated circuit's logrows (every segment of a split shares one SRS, and a
    commitment depends on the logrows, so all segments are compiled at the largest)."""
    try:
        s = json.loads(Path(path).read_text())
        s["run_args"]["logrows"] = int(logrows)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArtifactError(f"{path}: not an ezkl settings file ({e}).") from e
    atomic_write_json(path, s, indent=None)


def write_chained_input(path: Path, witness: dict[str, Any]) -> None:
    """The next segment's input: this segment's witness outputs, as ezkl's field elements
    (not floats), so the values carry over exactly and the boundary commitments match."""
    try:
        outputs = [[str(v) for v in out] for out in witness["outputs"]]
    except (KeyError, TypeError) as e:
        raise ProveError(f"ezkl returned a witness without outputs ({e}).") from e
    atomic_write_json(path, {"input_data": outputs}, indent=None)
