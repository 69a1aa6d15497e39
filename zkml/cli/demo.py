"""`zkml demo`: the main job end to end (the flow itself is in ``demo_flow``, imported lazily)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from zkml.cli.common import JsonOpt, RpcOpt, handle_errors, make_dir, out
from zkml.errors import ZkmlValueError

app = typer.Typer()  # commands merged into the top-level `zkml` app


@app.command("demo")
@handle_errors
def demo_cmd(
    dir: Annotated[Path, typer.Option("--dir", "-d", help="Where the demo's artifacts go.")]
    = Path("build/demo"),
    patient: Annotated[int, typer.Option(help="Index of the held-out patient to diagnose "
                                         "(0 to 113).")] = 0,
    rpc_url: RpcOpt = None,
    serve: Annotated[bool, typer.Option(
        "--serve", help="Run against a local anvil node it starts (unless --rpc-url), index "
        "the registry and serve the audit-trail web app until Ctrl-C.")] = False,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port of the web app with "
                                      "--serve.")] = 8000,
    as_json: JsonOpt = False,
) -> None:
    """Prove a breast-cancer diagnosis on private patient data, verify it on-chain and record
    it in the inference registry (--serve: then browse it in the audit-trail web app)."""
    from zkml.cli.demo_flow import run_demo

    if patient < 0:
        raise ZkmlValueError(f"--patient {patient}: give the index of a held-out patient, "
                             "0 or more.")
    make_dir(dir)
    if serve:
        _demo_and_serve(dir, patient, rpc_url, port, as_json)
        return
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


def _demo_and_serve(dir: Path, patient: int, rpc_url: str | None, port: int,
                    as_json: bool) -> None:
    """The demo on a persistent chain (the embedded one dies with the process), then the
    indexer and the web app over its registry, the model's package giving labels."""
    import contextlib

    from zkml.chain.devnode import Anvil
    from zkml.cli.common import err
    from zkml.cli.demo_flow import run_demo
    from zkml.cli.serve import serve as serve_cmd

    with contextlib.ExitStack() as stack:
        if not rpc_url or rpc_url == "embedded":
            node = stack.enter_context(Anvil())
            rpc_url = node.url
            err.print(f"started a local anvil node at {rpc_url} (stopped on exit)")
        r = run_demo(dir, patient=patient, rpc_url=rpc_url)
        err.print(f"diagnosis for patient #{r.patient}: {r.diagnosis} (p={r.probability:.3f})"
                  f", verified locally {r.verified_locally}, on-chain {r.verified_onchain}; "
                  f"recorded as inference {r.audit_entry['inference_id']}")
        serve_cmd(rpc_url=rpc_url, registry=str(dir / "registry.json"),
                  db=dir / "index.sqlite", host="127.0.0.1", port=port,
                  package=[dir / "package"], refresh=2.0, reorg_depth=12, as_json=as_json)
