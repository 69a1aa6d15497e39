"""`zkml setup | prove | verify | prove-batch`: keys, proofs and local verification."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkml.cli._dir import BuildDir
from zkml.cli.common import (
    DEFAULT_KEY_ENV,
    Backend,
    BackendOpt,
    DirOpt,
    JsonOpt,
    KeyEnvOpt,
    RegistryRpcOpt,
    backend_name,
    err,
    handle_errors,
    need_file,
)
from zkml.cli.common import emit as _emit
from zkml.cli.prover import finish_prove, hand_off, handoff_pending

app = typer.Typer()  # commands merged into the top-level `zkml` app


@app.command("setup")
@handle_errors
def setup_cmd(
    dir: DirOpt,
    dev_srs: Annotated[bool, typer.Option(help="Allow the unsafe development SRS if no public "
                                          "one is imported.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Generate (or reuse from the cache) the proving and verifying keys."""
    from zkml.proof.keys import setup

    keys = setup(BuildDir(dir).circuit(), allow_dev_srs=dev_srs)
    BuildDir(dir).save(keys, BuildDir.KEYS)
    _emit({"vk_digest": keys.model_id, "srs": keys.srs_source, "cache_hit": keys.cache_hit},
          as_json, f"vk digest (model id) {keys.model_id}\n  srs: {keys.srs_source}"
          + ("  (cached)" if keys.cache_hit else ""))


@app.command("prove")
@handle_errors
def prove_cmd(
    dir: DirOpt,
    input: Annotated[Path, typer.Argument(help="Input as .json (list or {'input_data': ...}) "
                                          "or .npy.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the bundle.")]
    = Path(BuildDir.BUNDLE),
    opening: Annotated[Path | None, typer.Option(
        help="committed-input: where to write the PRIVATE opening of the input commitment "
        "(input + salt, mode 0600; default: next to the bundle, X.opening.json).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove one inference; write a proof bundle (public: no private values). With the
    committed-input preset, also the commitment's opening (private: keep it, never share it)."""
    from zkml.errors import InputError, ZkmlValueError
    from zkml.presets import get_preset
    from zkml.proof.job import run_job
    from zkml.proof.prove import prepare_job

    need_file(input, "an input file: .json (a list, or {'input_data': ...}) or .npy", InputError)
    keys = BuildDir(dir).keys()
    if opening is not None and not get_preset(keys.circuit.preset).commits_input:
        raise ZkmlValueError(f"--opening: preset {keys.circuit.preset} commits to no input; "
                             "the opening is for committed-input proofs only.")
    job = prepare_job(keys, input)
    then = {"output": str(output), "as_json": as_json,
            "opening": str(opening) if opening is not None else None}
    if handoff_pending():
        hand_off(job, then)  # the lean prover, waiting in the parent process, proves
    run_job(job)
    finish_prove(job, then)


@app.command("verify")
@handle_errors
def verify_cmd(
    bundle: Path,
    keys: Annotated[Path | None, typer.Option(help="keys.json; default: found by the bundle's "
                                              "vk digest in this machine's cache.")] = None,
    package: Annotated[Path | None, typer.Option(
        help="A verification package folder (from `zkml publish`): verify on any machine, "
        "with an empty cache.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a proof bundle locally, with this machine's keys or a published package.
    Exit code 0 valid, 1 invalid (the reason names the field), 2 error."""
    from zkml.artifacts import Keys, load_artifact
    from zkml.errors import BundleError
    from zkml.proof.bundle import decoded_outputs, load_bundle
    from zkml.proof.verify import verify_detailed

    b = load_bundle(need_file(bundle, "a proof bundle (from `zkml prove`)", BundleError))
    v = verify_detailed(b, load_artifact(Keys, keys) if keys else None, package=package)
    shown = decoded_outputs(b) if v.valid else None
    _emit({"valid": v.valid, "reason": v.reason, "vk_digest": b.model_id,
           "checked_with": v.checked_with, "outputs": shown}, as_json,
          (f"[green]valid[/green] (vk digest {b.model_id[:16]}..., checked with "
           f"{v.checked_with}): outputs {[round(x, 6) for x in shown or []]}")
          if v.valid else f"[red]INVALID[/red]: {v.reason}")
    raise typer.Exit(0 if v.valid else 1)


@app.command("prove-batch")
@handle_errors
def prove_batch_cmd(
    dir: DirOpt,
    inputs: Annotated[Path, typer.Argument(help="A .jsonl or .npy file, or a directory of "
                                           ".json/.npy inputs.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Bundles + manifest.json.")]
    = Path("build/batch"),
    backend: BackendOpt = Backend.local,
    address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: start a "
                                                "local one).")] = None,
    workers: Annotated[int | None, typer.Option(help="Concurrent proofs (default: CPUs).")]
    = None,
    max_memory: Annotated[float | None, typer.Option(help="GB all concurrent proofs may use.")]
    = None,
    verify: Annotated[bool, typer.Option("--verify", help="Verify every bundle.")] = False,
    submit: Annotated[bool, typer.Option("--submit", help="Record the bundles in the registry "
                                         "(needs --rpc-url and `zkml registry register`).")]
    = False,
    rpc_url: RegistryRpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    registry: Annotated[Path, typer.Option(help="Registry deployment JSON (with --submit).")]
    = Path("build/registry.json"),
    consent_dir: Annotated[Path | None, typer.Option(
        help="With --submit: a folder of the data owners' consent files (`zkml consent sign "
        "--bundle`); each bundle is submitted with the consent for its input commitment, and "
        "never without one.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove many inputs (one bundle each, plus a manifest); resumable. Exit code 1 if any
    input failed, or (with --consent-dir) any input was not recorded for want of a valid
    consent."""
    from zkml.errors import ZkmlValueError
    from zkml.proof.batch import prove_batch, read_inputs

    # everything that can fail fast does, before the first proof
    items = read_inputs(inputs)
    target = None
    if consent_dir is not None and not submit:
        raise ZkmlValueError("--consent-dir is used when submitting: add --submit.")
    if consent_dir is not None and not consent_dir.is_dir():
        raise ZkmlValueError(f"--consent-dir {consent_dir}: no such directory; give the folder "
                             "of the owners' consent files.")
    if submit:
        from zkml.chain.consent_batch import consent_required
        from zkml.cli.common import need_registry
        from zkml.cli.common import registry_chain as _chain

        reg = need_registry(registry)
        reg_model = BuildDir(dir).registration()
        target = (_chain(rpc_url, key_env), reg, reg_model.onchain_model_id)
        if consent_dir is None and consent_required(*target):
            raise ZkmlValueError("this model records inferences only with the data owners' "
                                 "consent: prove first, collect a consent per bundle (`zkml "
                                 "consent sign --bundle`), then pass --consent-dir DIR.")
    from zkml.cli._bar import proof_bar

    keys = BuildDir(dir).keys()
    with proof_bar(as_json) as on_result:
        res = prove_batch(keys, items, out_dir, backend=backend_name(backend),
                          address=address, workers=workers,
                          max_memory=int(max_memory * 1e9) if max_memory else None,
                          verify=verify, on_result=on_result)
    submitted: dict[str, str] = {}
    unrecorded = False
    if target is not None and consent_dir is not None:
        from zkml.chain.consent_batch import all_recorded, submit_batch_with_consent

        submitted = submit_batch_with_consent(*target, res.manifest_path, consent_dir)
        unrecorded = not all_recorded(submitted)
        for i, status in submitted.items():
            if not status.startswith(("recorded", "already recorded")):
                err.print(f"✗ {i}: not recorded ({status})", markup=False, highlight=False)
    elif target is not None:
        from zkml.chain.registry import submit_batch

        submitted = submit_batch(*target, res.manifest_path)
    summary = {"proved": res.proved, "skipped": res.skipped, "failed": res.failed,
               "workers": res.workers, "elapsed_s": round(res.elapsed, 2),
               "proofs_per_minute": round(res.throughput_per_minute, 2),
               "manifest": str(res.manifest_path), "submitted": submitted}
    _emit(summary, as_json, f"proved {res.proved}, skipped {res.skipped} (already done), "
          f"failed {res.failed} with {res.workers} worker(s) in {res.elapsed:.1f}s "
          f"({res.throughput_per_minute:.1f} proofs/min)\n  manifest: {res.manifest_path}"
          + (f"\n  registry: {len(submitted)} submitted" if submit else ""))
    raise typer.Exit(1 if res.failed or unrecorded else 0)

