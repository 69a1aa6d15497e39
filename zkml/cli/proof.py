"""`zkml setup | prove | verify | prove-batch`: keys, proofs and local verification."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from zkml.cli.common import (
    DEFAULT_KEY_ENV,
    DirOpt,
    JsonOpt,
    KeyEnvOpt,
    RpcOpt,
    err,
    handle_errors,
)
from zkml.cli.common import emit as _emit

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
    from zkml.artifacts import Circuit, load_artifact, save_artifact
    from zkml.proof.keys import setup

    keys = setup(load_artifact(Circuit, dir / "circuit.json"), allow_dev_srs=dev_srs)
    save_artifact(keys, dir / "keys.json")
    _emit({"model_id": keys.model_id, "srs": keys.srs_source, "cache_hit": keys.cache_hit},
          as_json, f"model id {keys.model_id}\n  srs: {keys.srs_source}"
          + ("  (cached)" if keys.cache_hit else ""))


@app.command("prove")
@handle_errors
def prove_cmd(
    dir: DirOpt,
    input: Annotated[Path, typer.Argument(help="Input as .json (list or {'input_data': ...}) "
                                          "or .npy.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the bundle.")]
    = Path("bundle.json"),
    as_json: JsonOpt = False,
) -> None:
    """Prove one inference; write a proof bundle (public: no private values)."""
    from zkml.artifacts import Keys, load_artifact, save_artifact
    from zkml.proof.prove import prove

    bundle = prove(load_artifact(Keys, dir / "keys.json"), input)
    save_artifact(bundle, output)
    _emit({"bundle": str(output), "outputs": bundle.outputs, "model_id": bundle.model_id},
          as_json, f"outputs {[round(v, 6) for v in bundle.outputs]}\n  bundle: {output} "
          f"({len(bundle.proof) // 2 - 1} byte proof)")


@app.command("verify")
@handle_errors
def verify_cmd(
    bundle: Path,
    keys: Annotated[Path | None, typer.Option(help="keys.json; default: found by model id in "
                                              "the cache.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a proof bundle locally. Exit code 0 valid, 1 invalid, 2 error."""
    from zkml.artifacts import Keys, load_artifact
    from zkml.proof.verify import verify

    ok = verify(bundle, load_artifact(Keys, keys) if keys else None)
    _emit({"valid": ok}, as_json, "[green]valid[/green]" if ok else "[red]INVALID[/red]")
    raise typer.Exit(0 if ok else 1)


@app.command("prove-batch")
@handle_errors
def prove_batch_cmd(
    dir: DirOpt,
    inputs: Annotated[Path, typer.Argument(help="A .jsonl or .npy file, or a directory of "
                                           ".json/.npy inputs.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Bundles + manifest.json.")]
    = Path("build/batch"),
    backend: Annotated[str, typer.Option(help="local (process pool) or ray.")] = "local",
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
    rpc_url: RpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    registry: Annotated[Path, typer.Option(help="Registry deployment JSON (with --submit).")]
    = Path("build/registry.json"),
    as_json: JsonOpt = False,
) -> None:
    """Prove many inputs (one bundle each, plus a manifest); resumable. Exit code 1 if any
    input failed."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from zkml.artifacts import Keys, ModelRegistration, RegistryDeployment, load_artifact
    from zkml.proof.batch import prove_batch

    if backend not in ("local", "ray"):
        raise typer.BadParameter("backend must be local or ray")
    cols = (TextColumn("proving"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
            TimeRemainingColumn())
    keys = load_artifact(Keys, dir / "keys.json")
    with Progress(*cols, console=err, transient=as_json) as bar:
        task = bar.add_task("prove", total=None, rate="")
        t0 = time.perf_counter()

        def on_result(entry: Any, done: int, total: int) -> None:
            rate = 60 * done / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:.1f} proofs/min")
            if entry.status == "error":
                bar.console.print(f"[red]✗[/red] {entry.input_id}: {entry.error_type}: "
                                  f"{entry.error}", markup=True, highlight=False)

        res = prove_batch(keys, inputs, out_dir, backend=backend,  # type: ignore[arg-type]
                          address=address, workers=workers,
                          max_memory=int(max_memory * 1e9) if max_memory else None,
                          verify=verify, on_result=on_result)
    submitted: dict[str, str] = {}
    if submit:
        from zkml.artifacts import ModelRegistration, RegistryDeployment
        from zkml.chain.registry import submit_batch
        from zkml.cli.registry import _chain

        reg_model = load_artifact(ModelRegistration, dir / "registration.json")
        submitted = submit_batch(_chain(rpc_url, key_env),
                                 load_artifact(RegistryDeployment, registry),
                                 reg_model.onchain_model_id, res.manifest_path)
    summary = {"proved": res.proved, "skipped": res.skipped, "failed": res.failed,
               "workers": res.workers, "elapsed_s": round(res.elapsed, 2),
               "proofs_per_minute": round(res.throughput_per_minute, 2),
               "manifest": str(res.manifest_path), "submitted": submitted}
    _emit(summary, as_json, f"proved {res.proved}, skipped {res.skipped} (already done), "
          f"failed {res.failed} with {res.workers} worker(s) in {res.elapsed:.1f}s "
          f"({res.throughput_per_minute:.1f} proofs/min)\n  manifest: {res.manifest_path}"
          + (f"\n  registry: {len(submitted)} submitted" if submit else ""))
    raise typer.Exit(1 if res.failed else 0)
