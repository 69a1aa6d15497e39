"""`zkml contract | deploy | verify-onchain`: the Solidity verifier on a chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkml.cli.common import (
    DEFAULT_KEY_ENV,
    DirOpt,
    JsonOpt,
    KeyEnvOpt,
    RpcOpt,
    handle_errors,
)
from zkml.cli.common import emit as _emit

app = typer.Typer()  # commands merged into the top-level `zkml` app


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
    from zkml.artifacts import Keys, load_artifact, save_artifact
    from zkml.chain.contract import build_verifier

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
    from zkml.artifacts import VerifierContract, load_artifact, save_artifact
    from zkml.chain.evm import connect, deploy_verifier

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
    from zkml.artifacts import Deployment, VerifierContract, load_artifact
    from zkml.chain.evm import connect, deploy_verifier, verify_onchain
    from zkml.proof.verify import load_bundle

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
