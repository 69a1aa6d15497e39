"""`zkml contract | deploy | verify-onchain`: the Solidity verifier on a chain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zkml.cli._dir import BuildDir
from zkml.cli.common import (
    DEFAULT_KEY_ENV,
    DirOpt,
    JsonOpt,
    KeyEnvOpt,
    RpcOpt,
    handle_errors,
    make_dir,
    need_file,
)
from zkml.cli.common import emit as _emit
from zkml.errors import ArtifactError, BundleError, ChainError

if TYPE_CHECKING:
    from zkml.artifacts import VerifierContract

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
    from zkml.chain.contract import build_verifier

    keys = BuildDir(dir).keys()
    c = build_verifier(keys, out_dir=make_dir(out_dir, "--out-dir"),
                       allow_oversize=allow_oversize)
    BuildDir(dir).save(c, BuildDir.VERIFIER)
    _emit({"sol": c.sol_path, "runtime_size": c.runtime_size, "solc": c.solc_version}, as_json,
          f"verifier {c.sol_path}: runtime {c.runtime_size} bytes, solc {c.solc_version}")


def _has_verifier_source(dir: Path) -> None:
    """DIR holds verifier.json, or keys.json to build it from; else say which command to run."""
    if not BuildDir(dir).has(BuildDir.VERIFIER) and not BuildDir(dir).has(BuildDir.KEYS):
        BuildDir(dir).missing(BuildDir.KEYS)


def _verifier(dir: Path) -> VerifierContract:
    """DIR/verifier.json if it is the current keys' verifier; else built from DIR/keys.json
    (and saved), as `zkml contract` would."""
    from zkml.chain.contract import build_verifier

    if not BuildDir(dir).has(BuildDir.KEYS):
        return BuildDir(dir).verifier()
    keys = BuildDir(dir).keys()
    if BuildDir(dir).has(BuildDir.VERIFIER):
        v = BuildDir(dir).verifier()
        if v.model_id == keys.model_id:
            return v
    v = build_verifier(keys)
    BuildDir(dir).save(v, BuildDir.VERIFIER)
    return v


@app.command("deploy")
@handle_errors
def deploy_cmd(dir: DirOpt, rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
               as_json: JsonOpt = False) -> None:
    """Deploy the verifier (built from DIR/keys.json if `zkml contract` has not run). On the
    embedded chain the deployment lives only in this process: use `verify-onchain` (which
    deploys and verifies in one go) instead."""
    from zkml.chain.evm import connect, deploy_verifier

    _has_verifier_source(dir)
    chain = connect(rpc_url, key_env=key_env)
    dep = deploy_verifier(chain, _verifier(dir))
    BuildDir(dir).save(dep, BuildDir.DEPLOYMENT)
    _emit(dep.model_dump(exclude={"abi"}), as_json,
          f"verifier at {dep.address} on chain {dep.chain_id}, gas {dep.gas_used:,}")


@app.command("verify-onchain")
@handle_errors
def verify_onchain_cmd(
    bundle: Annotated[Path, typer.Argument(help="The proof bundle (from `zkml prove`).")],
    dir: DirOpt, rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    as_json: JsonOpt = False,
) -> None:
    """Verify a bundle with the deployed verifier (embedded chain: deploys first, building
    the verifier from DIR/keys.json if needed). Exit code 0 valid, 1 rejected, 2 error."""
    from zkml.chain.evm import connect, deploy_verifier, verify_onchain
    from zkml.proof.verify import load_bundle

    b = load_bundle(need_file(bundle, "a proof bundle (from `zkml prove`)", BundleError))
    deployed = BuildDir(dir).has(BuildDir.DEPLOYMENT)
    if not deployed or rpc_url in (None, "embedded"):
        _has_verifier_source(dir)
    chain = connect(rpc_url, key_env=key_env)
    if chain.embedded or not deployed:
        dep = deploy_verifier(chain, _verifier(dir))
    else:
        dep = BuildDir(dir).deployment()
        if dep.chain_id != chain.chain_id:
            raise ChainError(f"{dir}/deployment.json is on chain {dep.chain_id}, but "
                             f"{rpc_url} is chain {chain.chain_id}: run `zkml deploy --dir "
                             f"{dir} --rpc-url {rpc_url}` first.")
        if BuildDir(dir).has(BuildDir.KEYS):

            if BuildDir(dir).keys().model_id != dep.model_id:
                raise ArtifactError(f"{dir}/deployment.json is the verifier of earlier keys: "
                                    f"run `zkml deploy --dir {dir} --rpc-url {rpc_url}` again.")
    res = verify_onchain(chain, dep, b)
    _emit({"valid": res.valid, "gas_used": res.gas_used, "address": dep.address}, as_json,
          (f"[green]accepted[/green] on chain {dep.chain_id} (verify gas {res.gas_used:,})"
           if res.valid else "[red]REJECTED[/red] by the verifier contract"))
    raise typer.Exit(0 if res.valid else 1)
