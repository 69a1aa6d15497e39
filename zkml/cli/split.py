"""`zkml split ...`: one model cut into segments, proven in parallel, linked by commitments.

Artifacts in the build directory: split.json (the segment circuits), split-keys.json,
split-deployment.json (the SplitVerifier). The model's exported.json and calibration.npy
come from `zkml export` / `zkml import` as for a monolithic proof.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkml.cli._dir import BuildDir
from zkml.cli.common import (
    DEFAULT_PRESET,
    Backend,
    BackendOpt,
    DirOpt,
    JsonOpt,
    KeyEnvOpt,
    PresetName,
    RegistryRpcOpt,
    backend_name,
    need_file,
    registry_chain,
)
from zkml.cli.common import emit as _emit
from zkml.cli.common import handle_errors as _handle_errors
from zkml.errors import ZkmlValueError
from zkml.presets import PRESETS

app = typer.Typer(help="Split proving: cut one model into segments proven in parallel "
                  "(compile, setup, prove, verify, deploy, verify-onchain).",
                  no_args_is_help=True)

_KEY_ENV = "ZKML_PRIVATE_KEY"


def _segments(value: str) -> int | str:
    if value == "auto":
        return "auto"
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise ZkmlValueError(f"--segments {value!r}: give a positive integer or 'auto'.")
    return k


def _need(dir: Path, name: str, cmd: str) -> Path:
    from zkml.errors import ArtifactError

    path = dir / name
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file; run `zkml split {cmd} --dir {dir}` first.")
    return path


@app.command("compile")
@_handle_errors
def compile_cmd(
    dir: DirOpt,
    segments: Annotated[str, typer.Option(
        "--segments", help="Number of segments, or 'auto': the fewest whose estimated proving "
        "peak fits --max-memory.")] = "auto",
    max_memory: Annotated[float | None, typer.Option(
        "--max-memory", help="GB one segment proof may use (with --segments auto); default: "
        "this machine's share for one proof.")] = None,
    preset: Annotated[PresetName, typer.Option(
        metavar="PRESET", help="Privacy preset of the model's own input and output: "
        + ", ".join(PRESETS) + ".")]
    = DEFAULT_PRESET,
    as_json: JsonOpt = False,
) -> None:
    """Cut the model at tensor boundaries (balanced by rows; a too-big layer into channel
    groups) and compile every segment."""
    compile_split_dir(dir, segments, max_memory, preset.value, as_json)


def compile_split_dir(dir: Path, segments: str, max_memory: float | None, preset: str,
                      as_json: bool) -> None:
    """`zkml split compile` and `zkml compile --segments`: DIR/split.json from DIR's export."""
    import numpy as np

    from zkml.circuit.split import compile_split
    from zkml.errors import InputError
    from zkml.presets import get_preset

    k = _segments(segments)
    if max_memory is not None and (max_memory <= 0 or k != "auto"):
        raise ZkmlValueError("--max-memory: a positive number of GB, with --segments auto.")
    get_preset(preset)
    exported = BuildDir(dir).exported()
    cal = need_file(dir / BuildDir.CALIBRATION, "calibration samples (`zkml export` writes them)",
                    InputError)
    split = compile_split(exported, np.load(cal, allow_pickle=False), segments=k,
                          max_memory=int(max_memory * 1e9) if max_memory else None,
                          preset=preset)
    BuildDir(dir).save(split, BuildDir.SPLIT)
    from rich.markup import escape

    # tensor names like "/net/net.0/Gemm_output_0" would read as markup tags
    cuts = escape(" | ".join(", ".join(b) for b in split.boundaries) or "nowhere")
    layers = "".join(f"; layer {escape(name)} cut into {n} channel groups"
                     for name, n in split.layer_groups.items())
    _emit({"segments": len(split.segments), "logrows": split.logrows,
           "boundaries": split.boundaries, "layer_groups": split.layer_groups,
           "estimated_rows": split.estimated_rows,
           "max_abs_error": split.quantization.max_abs_error}, as_json,
          f"{len(split.segments)} segments at logrows {split.logrows}; estimated rows "
          f"{split.estimated_rows}; cut at: {cuts}{layers}")


@app.command("setup")
@_handle_errors
def setup_cmd(dir: DirOpt, as_json: JsonOpt = False) -> None:
    """Make every segment's keys with one SRS; print the split model id."""
    from zkml.artifacts import load_artifact, save_artifact
    from zkml.proof.keys import setup
    from zkml.split_artifacts import SplitCircuit

    keys = setup(load_artifact(SplitCircuit, _need(dir, BuildDir.SPLIT, "compile")))
    save_artifact(keys, dir / "split-keys.json")
    _emit({"model_id": keys.model_id, "segments": [k.model_id for k in keys.segments]},
          as_json, f"split model id {keys.model_id} ({len(keys.segments)} segment keys)")


def _keys(dir: Path) -> object:
    from zkml.artifacts import load_artifact
    from zkml.split_artifacts import SplitKeys

    return load_artifact(SplitKeys, _need(dir, "split-keys.json", "setup"))


@app.command("prove")
@_handle_errors
def prove_cmd(
    dir: DirOpt,
    input: Annotated[Path, typer.Argument(help="Input as .json or .npy.")],
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("split.bundle.json"),
    backend: BackendOpt = Backend.local,
    workers: Annotated[int | None, typer.Option(help="Segment proofs at once.")] = None,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster address to join (segment keys travel with their tasks).")] = None,
    opening: Annotated[Path | None, typer.Option(
        help="committed-input: where to write the PRIVATE opening of the input commitment "
        "(input + salt, mode 0600; default: next to the bundle, X.opening.json).")] = None,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Prove every segment again (by default a run of the same input "
        "reuses the segment proofs an earlier, failed or stopped, run kept).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Prove one inference: witness chain once, segment proofs in parallel. With the
    committed-input preset, also the commitment's opening (private: keep it, never share it)."""
    from zkml.artifacts import save_artifact
    from zkml.errors import InputError
    from zkml.presets import get_preset
    from zkml.proof.commitment import opening_path_for, write_opening
    from zkml.proof.split_prove import prove_split_with_opening
    from zkml.split_artifacts import SplitKeys

    if workers is not None and workers < 1:
        raise ZkmlValueError("--workers: at least 1.")
    need_file(input, "an input file (.json or .npy)", InputError)
    keys = _keys(dir)
    assert isinstance(keys, SplitKeys)
    if opening is not None and not get_preset(keys.circuit.preset).commits_input:
        raise ZkmlValueError(f"--opening: preset {keys.circuit.preset} commits to no input; "
                             "the opening is for committed-input proofs only.")
    bundle, secret = prove_split_with_opening(keys, input, backend=backend_name(backend),
                                              workers=workers, address=address,
                                              reuse=not fresh)
    save_artifact(bundle, output)
    where = write_opening(secret, opening or opening_path_for(output)) if secret else None
    _emit({"bundle": str(output), "outputs": bundle.outputs, "model_id": bundle.model_id,
           "input_commitment": bundle.input_commitment,
           "opening": str(where) if where else None},
          as_json, f"split bundle {output}: outputs {bundle.outputs}"
          + (f"\n  opening (PRIVATE, input + salt): {where}" if where else ""))


@app.command("verify")
@_handle_errors
def verify_cmd(dir: DirOpt, bundle: Annotated[Path, typer.Argument()],
               as_json: JsonOpt = False) -> None:
    """Check every segment proof and every link; exit 1 if invalid."""
    from zkml.errors import BundleError
    from zkml.proof.split_verify import verify_split_detailed
    from zkml.split_artifacts import SplitKeys

    need_file(bundle, "a split bundle JSON (`zkml split prove` writes it)", BundleError)
    keys = _keys(dir)
    assert isinstance(keys, SplitKeys)
    v = verify_split_detailed(bundle, keys)
    _emit({"valid": v.valid, "reason": v.reason}, as_json,
          "valid" if v.valid else f"INVALID: {v.reason}")
    if not v.valid:
        raise typer.Exit(1)


@app.command("deploy")
@_handle_errors
def deploy_cmd(dir: DirOpt, rpc_url: RegistryRpcOpt = None, key_env: KeyEnvOpt = _KEY_ENV,
               as_json: JsonOpt = False) -> None:
    """Deploy every segment verifier and the SplitVerifier joining them."""
    from zkml.artifacts import save_artifact
    from zkml.chain.split import deploy_split_verifier
    from zkml.split_artifacts import SplitKeys

    keys = _keys(dir)
    assert isinstance(keys, SplitKeys)
    dep = deploy_split_verifier(registry_chain(rpc_url, key_env), keys)
    save_artifact(dep, dir / "split-deployment.json")
    _emit({"address": dep.address, "gas_used": dep.gas_used}, as_json,
          f"SplitVerifier at {dep.address} (total deploy gas {dep.gas_used:,})")


@app.command("verify-onchain")
@_handle_errors
def verify_onchain_cmd(dir: DirOpt, bundle: Annotated[Path, typer.Argument()],
                       rpc_url: RegistryRpcOpt = None, key_env: KeyEnvOpt = _KEY_ENV,
                       as_json: JsonOpt = False) -> None:
    """One SplitVerifier call; exit 1 if rejected."""
    from zkml.artifacts import Deployment, load_artifact
    from zkml.chain.split import verify_split_onchain
    from zkml.errors import BundleError
    from zkml.proof.split_verify import load_split_bundle

    need_file(bundle, "a split bundle JSON (`zkml split prove` writes it)", BundleError)
    dep = load_artifact(Deployment, _need(dir, "split-deployment.json", "deploy"))
    res = verify_split_onchain(registry_chain(rpc_url, key_env), dep, load_split_bundle(bundle))
    _emit({"valid": res.valid, "gas_used": res.gas_used, "reason": res.reason}, as_json,
          f"valid on-chain (gas {res.gas_used:,})" if res.valid else f"REJECTED: {res.reason}")
    if not res.valid:
        raise typer.Exit(1)
