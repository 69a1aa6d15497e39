"""The `zkml` command line: a thin wrapper on the Python API, one sub-command per stage.

Artifacts live in a build directory (``--dir``, default ``build/<model>``) as JSON files
(exported.json, circuit.json, keys.json, verifier.json, deployment.json) next to the files they
describe. Progress goes to stderr, results to stdout (``--json`` for machine-readable output).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .artifacts import (
    Circuit,
    Deployment,
    ExportedModel,
    Keys,
    VerifierContract,
    load_artifact,
    save_artifact,
)
from .cli_common import (
    DEFAULT_KEY_ENV,
    DirOpt,
    JsonOpt,
    KeyEnvOpt,
    RpcOpt,
    err,
    handle_errors,
    out,
    spinner,
)
from .cli_common import emit as _emit
from .cli_registry import app as registry_app
from .errors import ZkmlError
from .presets import PRESETS

app = typer.Typer(
    help="zkml: prove ML inferences with zero-knowledge proofs and verify them on-chain.\n\n"
    "Stages: export -> [tune] -> compile -> srs -> setup -> prove -> verify -> contract -> "
    "deploy -> verify-onchain -> registry; prove-batch for many inputs. `zkml demo` runs the "
    "main job end to end.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
srs_app = typer.Typer(help="Manage the structured reference string (trusted setup) store.",
                      no_args_is_help=True)
app.add_typer(srs_app, name="srs")
app.add_typer(registry_app, name="registry")


def _load_zoo(spec: str) -> Any:
    """A zoo name, or ``file.py:function`` returning a ``circuits.ZooModel``."""
    import circuits

    if ":" in spec:
        file, fn = spec.rsplit(":", 1)
        loader = importlib.util.spec_from_file_location("zkml_user_model", file)
        if loader is None or loader.loader is None or not Path(file).is_file():
            raise typer.BadParameter(f"{file}: no such Python file")
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        return getattr(module, fn)()
    try:
        return circuits.build(spec)
    except KeyError as e:
        raise typer.BadParameter(str(e.args[0])) from None


@app.command("export")
@handle_errors
def export_cmd(
    model: Annotated[str, typer.Argument(help="Zoo model (tiny-mlp, breast-cancer) or "
                                         "FILE.py:FUNCTION returning a circuits.ZooModel.")],
    dir: Annotated[Path | None, typer.Option("--dir", "-d", help="Build directory.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a PyTorch model to ONNX with its float reference; save calibration samples."""
    from .export import export

    zoo = _load_zoo(model)
    d = dir or Path("build") / zoo.name
    with spinner(f"Exporting {zoo.name} to ONNX"):
        exported = export(zoo.model, zoo.example_input, d / "model.onnx", name=zoo.name)
    np.save(d / "calibration.npy", zoo.calibration)
    np.save(d / "eval.npy", zoo.test_inputs[:16])  # held out: the tuner's accuracy check
    save_artifact(exported, d / "exported.json")
    (d / "zoo.json").write_text(json.dumps({"preset": zoo.preset,
                                            "config": zoo.config.model_dump()}))
    _emit(exported.model_dump(exclude={"example_input", "reference_output"}), as_json,
          f"exported {exported.name}: ops {', '.join(exported.ops)}, input "
          f"{exported.input_shape} -> output {exported.output_shape}\n  {d}/exported.json")


@app.command("compile")
@handle_errors
def compile_cmd(
    dir: DirOpt,
    preset: Annotated[str | None, typer.Option(help="Privacy preset: " + "; ".join(
        f"{p.name}: {p.guarantee}" for p in PRESETS.values()))] = None,
    calibration: Annotated[Path | None, typer.Option(help=".npy of calibration samples.")] = None,
    param_visibility: Annotated[str | None, typer.Option(help="Override: fixed, hashed, public, "
                                                         "private (needs the flag below).")] = None,
    allow_unbound_model: Annotated[bool, typer.Option(
        help="Accept param visibility 'private': proofs are then NOT bound to this model."),
    ] = False,
    tune: Annotated[bool, typer.Option(
        "--tune", help="Search the fastest settings within the accuracy bound first (as "
        "`zkml tune`, cached; minutes on big models).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Calibrate and compile the circuit; report logrows, rows and quantization error."""
    from .circuit import CompileConfig, compile_model

    exported = load_artifact(ExportedModel, dir / "exported.json")
    zoo = json.loads((dir / "zoo.json").read_text()) if (dir / "zoo.json").exists() else {}
    cfg = dict(zoo.get("config", {}))
    if param_visibility:
        cfg["param_visibility"] = param_visibility
    cfg["allow_unbound_model"] = allow_unbound_model
    samples = np.load(calibration or dir / "calibration.npy", allow_pickle=False)
    held_out = dir / "eval.npy"
    circuit = compile_model(
        exported, samples, preset=preset or zoo.get("preset", "private-input"),
        config=CompileConfig(**cfg), tune=tune,
        eval_inputs=np.load(held_out, allow_pickle=False) if held_out.exists() else None)
    save_artifact(circuit, dir / "circuit.json")
    q = circuit.quantization
    _emit(circuit.model_dump(exclude={"exported"}), as_json,
          f"circuit {circuit.preset}: logrows {circuit.logrows}, rows {circuit.num_rows}, "
          f"scales in/params {circuit.input_scale}/{circuit.param_scale}\n"
          f"  quantization: max abs error {q.max_abs_error:.4g} (output range "
          f"{q.output_range:.4g}), argmax agreement {q.argmax_agreement:.0%} on {q.samples} "
          f"samples\n  input range accepted: [{circuit.input_range[0]:.4g}, "
          f"{circuit.input_range[1]:.4g}]" + ("  (cached)" if circuit.cache_hit else ""))


@app.command("tune")
@handle_errors
def tune_cmd(
    dir: DirOpt,
    eval_inputs: Annotated[Path | None, typer.Option("--eval", help=".npy of held-out samples "
                                                     "(default: DIR/eval.npy).")] = None,
    max_error: Annotated[float, typer.Option(help="Max |circuit - float| as a fraction of the "
                                             "output range.")] = 0.01,
    same_argmax: Annotated[bool, typer.Option(help="Require the float model's argmax on every "
                                              "sample (classifiers).")] = True,
    min_gain: Annotated[float, typer.Option(help="Measured prove-time gain needed to leave "
                                            "ezkl's defaults (0.1 = 10%).")] = 0.1,
    as_json: JsonOpt = False,
) -> None:
    """Search circuit settings for the fastest circuit within the accuracy bound (cached);
    the next `zkml compile` uses them. Never picks settings slower than ezkl's defaults."""
    from .circuit import CompileConfig
    from .tune import AccuracyBound, tune_cached

    exported = load_artifact(ExportedModel, dir / "exported.json")
    zoo_path = dir / "zoo.json"
    try:
        zoo = json.loads(zoo_path.read_text()) if zoo_path.exists() else {}
        base = CompileConfig(**zoo.get("config", {}))
        samples = np.load(dir / "calibration.npy", allow_pickle=False)
        held_out = np.load(eval_inputs or dir / "eval.npy", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ZkmlError(f"cannot read the tuning inputs: {e}") from e
    cfg, report = tune_cached(
        exported, samples, held_out, preset=zoo.get("preset", "private-input"), base=base,
        bound=AccuracyBound(max_error_fraction=max_error, same_argmax=same_argmax),
        min_gain=min_gain)
    zoo_path.write_text(json.dumps({**zoo, "config": cfg.model_dump()}))
    if as_json:
        out.print_json(json.dumps(report, default=str))
        return
    out.print(report["message"])
    for c in report["candidates"]:
        mark = "*" if c == report["chosen"] else " "
        head = (f" {mark} decomp {c['decomp']:>8} cols {c['cols']} scales "
                f"{c['scales'] or 'auto'!s:>9} lookup margin {c['lookup_margin']:g}  ")
        if c["skipped"] or c["error"]:
            tail = (f"not calibrated (logrows >= {c['est_logrows']}): {c['skipped']}"
                    if c["skipped"] else f"failed: {c['error']}")
        else:
            tail = (f"logrows {c['logrows']}  max err {(c['max_abs_error'] or 0):.3g}  "
                    + ("ok" if c["accurate"] else "too coarse")
                    + (f"  prove {c['prove_s']:.2f}s" if c["prove_s"] else ""))
        out.print(head + tail, highlight=False, markup=False)


@srs_app.command("import")
@handle_errors
def srs_import(
    file: Path,
    logrows: Annotated[int, typer.Option(help="The SRS's logrows (k).")],
) -> None:
    """Store a public Powers-of-Tau SRS file after checking its published sha256."""
    from .srs import import_srs

    s = import_srs(file, logrows)
    out.print(f"imported public SRS logrows {s.logrows} (sha256 {s.sha256}) -> {s.path}")


@srs_app.command("dev")
@handle_errors
def srs_dev(logrows: Annotated[int, typer.Option(help="logrows (k).")]) -> None:
    """Generate (once) a local test SRS. UNSAFE for production: its maker can forge proofs."""
    from .srs import dev_srs

    s = dev_srs(logrows)
    out.print(f"development SRS logrows {s.logrows} (UNSAFE for production) -> {s.path}")


@srs_app.command("fetch")
@handle_errors
def srs_fetch(logrows: Annotated[int, typer.Option(help="logrows (k).")]) -> None:
    """Download the public SRS through ezkl (needs the internet) and check its sha256."""
    from .srs import fetch_srs

    s = fetch_srs(logrows)
    out.print(f"public SRS logrows {s.logrows} -> {s.path}")


@srs_app.command("list")
def srs_list() -> None:
    """List the SRS files in the store."""
    from .srs import list_srs

    for s in list_srs():
        out.print(f"logrows {s.logrows:2d}  {s.source:10s}  {s.sha256[:16]}...  {s.path}")


@app.command("setup")
@handle_errors
def setup_cmd(
    dir: DirOpt,
    dev_srs: Annotated[bool, typer.Option(help="Allow the unsafe development SRS if no public "
                                          "one is imported.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Generate (or reuse from the cache) the proving and verifying keys."""
    from .keys import setup

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
    from .prove import prove

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
    from .verify import verify

    ok = verify(bundle, load_artifact(Keys, keys) if keys else None)
    _emit({"valid": ok}, as_json, "[green]valid[/green]" if ok else "[red]INVALID[/red]")
    raise typer.Exit(0 if ok else 1)


@app.command("contract")
@handle_errors
def contract_cmd(
    dir: DirOpt,
    out_dir: Annotated[Path, typer.Option(help="Where to copy the generated .sol.")]
    = Path("verifier_contracts/generated"),
    allow_oversize: Annotated[bool, typer.Option(
        help="Accept runtime code over 24,576 bytes (local chains only).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate the Solidity verifier with ezkl and compile it with the pinned solc-js."""
    from .contract import build_verifier

    c = build_verifier(load_artifact(Keys, dir / "keys.json"), out_dir=out_dir,
                       allow_oversize=allow_oversize)
    save_artifact(c, dir / "verifier.json")
    _emit({"sol": c.sol_path, "runtime_size": c.runtime_size, "solc": c.solc_version}, as_json,
          f"verifier {c.sol_path}: runtime {c.runtime_size} bytes, solc {c.solc_version}")


@app.command("deploy")
@handle_errors
def deploy_cmd(dir: DirOpt, rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
               as_json: JsonOpt = False) -> None:
    """Deploy the verifier. On the embedded chain the deployment lives only in this process:
    use `verify-onchain` (which deploys and verifies in one go) instead."""
    from .chain import connect, deploy_verifier

    chain = connect(rpc_url, key_env=key_env)
    dep = deploy_verifier(chain, load_artifact(VerifierContract, dir / "verifier.json"))
    save_artifact(dep, dir / "deployment.json")
    _emit(dep.model_dump(exclude={"abi"}), as_json,
          f"verifier at {dep.address} on chain {dep.chain_id}, gas {dep.gas_used:,}")


@app.command("verify-onchain")
@handle_errors
def verify_onchain_cmd(
    bundle: Path, dir: DirOpt, rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    as_json: JsonOpt = False,
) -> None:
    """Verify a bundle with the deployed verifier (embedded chain: deploys first).
    Exit code 0 valid, 1 rejected, 2 error."""
    from .chain import connect, deploy_verifier, verify_onchain
    from .verify import load_bundle

    b = load_bundle(bundle)
    chain = connect(rpc_url, key_env=key_env)
    if chain.embedded or not (dir / "deployment.json").exists():
        dep = deploy_verifier(chain, load_artifact(VerifierContract, dir / "verifier.json"))
    else:
        dep = load_artifact(Deployment, dir / "deployment.json")
    res = verify_onchain(chain, dep, b)
    _emit({"valid": res.valid, "gas_used": res.gas_used, "address": dep.address}, as_json,
          (f"[green]accepted[/green] on chain {dep.chain_id} (verify gas {res.gas_used:,})"
           if res.valid else "[red]REJECTED[/red] by the verifier contract"))
    raise typer.Exit(0 if res.valid else 1)


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

    from .batch import prove_batch

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
        from .artifacts import ModelRegistration, RegistryDeployment
        from .cli_registry import _chain
        from .registry import submit_batch

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


@app.command("demo")
@handle_errors
def demo_cmd(
    dir: Annotated[Path, typer.Option("--dir", "-d")] = Path("build/demo"),
    patient: Annotated[int, typer.Option(help="Index of the held-out patient to diagnose.")] = 0,
    rpc_url: RpcOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove a breast-cancer diagnosis on private patient data, verify it on-chain and record
    it in the inference registry."""
    from .demo import run_demo

    r = run_demo(dir, patient=patient, rpc_url=rpc_url)
    if as_json:
        out.print_json(json.dumps(r.__dict__, default=str))
        return
    t = r.timings
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in t.items() if k != "total")
    out.print(
        f"\n[bold]Diagnosis for held-out patient #{r.patient}[/bold]: {r.diagnosis} "
        f"(p={r.probability:.3f}; true label: {r.true_label})\n"
        f"  decoded logits {[round(v, 4) for v in r.outputs]} vs float reference "
        f"{[round(v, 4) for v in r.reference]} (max quantization error "
        f"{r.extra['max_abs_error']:.2g})\n"
        f"  model id (vk sha256): {r.model_id}\n"
        f"  circuit logrows {r.logrows}; proof {r.proof_bytes} bytes; srs {r.extra['srs']}\n"
        f"  verified locally: {r.verified_locally}; on {r.extra['chain']}: "
        f"{r.verified_onchain}\n"
        f"  gas: deploy verifier {r.deploy_gas:,}, verifyProof {r.verify_gas or 0:,}\n"
        f"  registry gas: deploy {r.registry_gas['deploy']:,}, registerModel "
        f"{r.registry_gas['register']:,}, submitInference {r.registry_gas['submit']:,} "
        f"({r.registry_gas['submit'] / (r.verify_gas or 1) - 1:+.1%} over verifyProof)\n"
        f"  timings: {stages}; total {t['total']:.1f}s\n"
        f"  bundle: {r.bundle_path}\n"
        f"\n[bold]Audit-log entry[/bold] (InferenceRegistry on {r.extra['chain']}):"
    )
    a = r.audit_entry
    out.print(
        f"  inference {a['inference_id']}\n  model {a['onchain_model_id']}\n"
        f"  outputs {[round(v, 4) for v in a['decoded_outputs']]} submitted by "
        f"{a['submitter']} in block {a['block_number']} at {a['timestamp']}",
        markup=False, highlight=False,
    )
    if not (r.verified_locally and r.verified_onchain):
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
