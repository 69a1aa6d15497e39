"""`zkml registry ...`: the inference registry from the command line.

The embedded EVM lives inside one process, so these commands need a persistent chain
(`--rpc-url`, e.g. a local anvil); `zkml demo` shows the registry on the embedded chain.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zkml.chain import DEFAULT_KEY_ENV
from zkml.cli._dir import BuildDir
from zkml.cli.common import (
    DEFAULT_REGISTRY,
    DirOpt,
    JsonOpt,
    KeyEnvOpt,
    RegistryOpt,
    check_address,
    check_bytes32,
    emit,
    err,
    handle_errors,
    need_file,
    need_registry,
    out,
    registry_chain,
)
from zkml.cli.common import RegistryRpcOpt as RpcOpt
from zkml.errors import BundleError, ZkmlValueError

if TYPE_CHECKING:
    from zkml.artifacts import InferenceRecord

app = typer.Typer(help="The on-chain inference registry and its audit trail (needs --rpc-url: "
                  "a persistent chain such as anvil).", no_args_is_help=True)

BundleArg = Annotated[Path, typer.Argument(help="The proof bundle (from `zkml prove`).")]
#: what a bundle argument must be, said when it is not
_BUNDLE = "a proof bundle (from `zkml prove`)"


@app.command("deploy")
@handle_errors
def deploy(rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
           registry: RegistryOpt = DEFAULT_REGISTRY, as_json: JsonOpt = False) -> None:
    """Deploy a new InferenceRegistry."""
    from zkml.artifacts import save_artifact
    from zkml.chain.registry import deploy_registry

    if registry.is_dir():
        raise ZkmlValueError(f"--registry {registry} is a directory; give the JSON file to "
                             "write, e.g. build/registry.json.")
    reg = deploy_registry(registry_chain(rpc_url, key_env))
    save_artifact(reg, registry)
    emit(reg.model_dump(exclude={"abi"}), as_json,
         f"registry at {reg.address} on chain {reg.chain_id} (gas {reg.gas_used:,}) -> {registry}")


@app.command("register")
@handle_errors
def register(dir: DirOpt, rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
             registry: RegistryOpt = DEFAULT_REGISTRY,
             metadata_uri: Annotated[str, typer.Option(help="Where the model card lives.")] = "",
             require_consent: Annotated[bool, typer.Option(
                 "--require-consent", help="Record inferences only with the data owner's signed "
                 "consent (`zkml consent ...`; needs the committed-input preset).")] = False,
             as_json: JsonOpt = False) -> None:
    """Register the model in DIR (deploys its verifier first unless DIR/deployment.json is on
    this chain). The caller becomes the model's owner."""
    from zkml.chain.registry import register_model

    keys = BuildDir(dir).keys()
    reg = need_registry(registry)
    dep_path = dir / BuildDir.DEPLOYMENT
    dep = BuildDir(dir).deployment() if dep_path.exists() else None
    chain = registry_chain(rpc_url, key_env)
    if dep is not None and (dep.chain_id != chain.chain_id or dep.model_id != keys.model_id):
        dep = None
    r = register_model(chain, reg, keys, dep, metadata_uri=metadata_uri,
                       require_consent=require_consent)
    BuildDir(dir).save(r, BuildDir.REGISTRATION)
    emit({**r.model_dump(), "registry_model_id": r.onchain_model_id, "vk_digest": r.model_id,
          "require_consent": require_consent}, as_json,
         f"registered: registry model id {r.onchain_model_id} (vk digest {r.model_id[:16]}..., "
         f"verifier {r.verifier}, gas {r.gas_used:,})"
         + (", consent required" if require_consent else "")
         + f" -> {dir / 'registration.json'}")


@app.command("submit")
@handle_errors
def submit(bundle: BundleArg, dir: DirOpt, rpc_url: RpcOpt = None,
           key_env: KeyEnvOpt = DEFAULT_KEY_ENV, registry: RegistryOpt = DEFAULT_REGISTRY,
           as_json: JsonOpt = False) -> None:
    """Submit a proof bundle: the registry verifies it and records the inference once.
    Exit code 1 if the registry rejects it (the reason is printed), 2 on other errors."""
    from zkml.chain.registry import submit_inference
    from zkml.errors import RegistryError
    from zkml.proof.verify import load_bundle

    b = load_bundle(need_file(bundle, _BUNDLE, BundleError))
    reg_model = BuildDir(dir).registration()
    reg = need_registry(registry)
    try:
        s = submit_inference(registry_chain(rpc_url, key_env), reg, reg_model.onchain_model_id, b)
    except RegistryError as e:
        err.print(f"rejected ({e.reason}): {e}", markup=False, style="red")
        raise typer.Exit(1) from e
    emit(s.__dict__, as_json, f"recorded inference {s.inference_id} in block "
         f"{s.block_number} (gas {s.gas_used:,})")


def _render(records: list[InferenceRecord], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([r.model_dump() for r in records], indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["block", "inference_id", "model_id", "submitter", "timestamp",
                    "decoded_outputs", "input_commitment", "model_retired", "tx_hash"])
        for r in records:
            w.writerow([r.block_number, r.inference_id, r.onchain_model_id, r.submitter,
                        r.timestamp, " ".join(f"{v:.6g}" for v in r.decoded_outputs),
                        r.input_commitment, r.model_retired, r.tx_hash])
        return buf.getvalue()
    lines = [f"{len(records)} inference(s)"]
    for r in records:
        lines.append(f"block {r.block_number}  {r.inference_id[:18]}...  model "
                     f"{r.onchain_model_id[:12]}...  by {r.submitter}  outputs "
                     f"{[round(v, 6) for v in r.decoded_outputs]}"
                     + ("  [model retired]" if r.model_retired else ""))
    return "\n".join(lines)


@app.command("log")
@handle_errors
def log(rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
        registry: RegistryOpt = DEFAULT_REGISTRY,
        model: Annotated[str | None, typer.Option(
            help="Only this model: a registry model id (0x + 64 hex, from `zkml registry "
            "register`) or a vk digest (64 hex, from `zkml setup`).")] = None,
        submitter: Annotated[str | None, typer.Option(
            help="Only this submitter's records (a 0x address).")] = None,
        from_block: Annotated[int, typer.Option(min=0, help="First block to read.")] = 0,
        to_block: Annotated[int | None, typer.Option(min=0, help="Last block to read "
                                                     "(default: the latest).")] = None,
        format: Annotated[str, typer.Option(help="table, json or csv.")] = "table",
        output: Annotated[Path | None, typer.Option(help="Write to this file.")] = None,
        as_json: JsonOpt = False) -> None:
    """The audit trail: every recorded inference, in order, with decoded outputs
    (--json: the same as --format json)."""
    from zkml.chain.registry import audit_log

    if format not in {"table", "json", "csv"}:
        raise typer.BadParameter("format must be table, json or csv")
    if as_json:
        format = "json"
    if model is not None:
        check_bytes32(model, "--model", "give a registry model id (0x + 64 hex, printed by "
                      "`zkml registry register`) or a vk digest (64 hex, printed by `zkml "
                      "setup`).")
    if submitter is not None:
        check_address(submitter, "--submitter")
    reg = need_registry(registry)
    chain = registry_chain(rpc_url, key_env)
    if model is not None:  # say which id form it was, and what it stands for
        from zkml.chain.audit import resolve_model

        r = resolve_model(chain, reg, model)
        err.print(f"--model read as a {r.form.replace('_', ' ')}: registry model id(s) "
                  f"{', '.join(r.registry_model_ids)}, vk digest {r.vk_digest}")
    records = audit_log(chain, reg, model=model, submitter=submitter,
                        from_block=from_block, to_block=to_block)
    text = _render(records, format)
    if output:
        try:
            output.write_text(text)
        except OSError as e:
            raise ZkmlValueError(f"--output {output}: cannot write it ({e.strerror}); choose "
                                 "another path.") from e
        err.print(f"{len(records)} record(s) -> {output}")
    else:
        out.print(text, markup=False, highlight=False)


@app.command("show")
@handle_errors
def show(inference_id: Annotated[str, typer.Argument(
             help="0x + 64 hex, printed by `zkml registry submit` and `zkml registry log`.")],
         rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
         registry: RegistryOpt = DEFAULT_REGISTRY, as_json: JsonOpt = False) -> None:
    """One recorded inference, as JSON (--json is accepted: the output is JSON anyway)."""
    from zkml.chain.registry import get_record

    inference_id = check_bytes32(inference_id, "inference id", "give 0x + 64 hex, printed by "
                                 "`zkml registry submit` and `zkml registry log`.")
    reg = need_registry(registry)
    r = get_record(registry_chain(rpc_url, key_env), reg, inference_id)
    out.print_json(r.model_dump_json())


@app.command("check")
@handle_errors
def check(bundle: BundleArg, dir: DirOpt, rpc_url: RpcOpt = None,
          key_env: KeyEnvOpt = DEFAULT_KEY_ENV, registry: RegistryOpt = DEFAULT_REGISTRY,
          data_owner: Annotated[str | None, typer.Option(
              help="Check the record made with this data owner's consent (0x address).")]
          = None,
          as_json: JsonOpt = False) -> None:
    """Confirm a local bundle matches an on-chain record (same model id and instances) and
    verifies locally. Exit code 0 if all hold, 1 if not."""
    from zkml.chain.registry import check_bundle
    from zkml.proof.verify import load_bundle

    if data_owner is not None:
        data_owner = check_address(data_owner, "--data-owner")
    b = load_bundle(need_file(bundle, _BUNDLE, BundleError))
    reg_model = BuildDir(dir).registration()
    keys = BuildDir(dir).keys()
    reg = need_registry(registry)
    c = check_bundle(registry_chain(rpc_url, key_env), reg, reg_model, b, keys,
                     data_owner=data_owner)
    facts = {"recorded": c.recorded, "same_model": c.same_model,
             "same_instances": c.same_instances, "proof_valid": c.proof_valid}
    emit({**facts, "ok": c.ok}, as_json,
         "\n".join(f"{'✓' if v else '✗'} {k.replace('_', ' ')}" for k, v in facts.items()))
    raise typer.Exit(0 if c.ok else 1)


@app.command("retire")
@handle_errors
def retire(dir: DirOpt, rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
           registry: RegistryOpt = DEFAULT_REGISTRY, as_json: JsonOpt = False) -> None:
    """Owner only: reject new submissions for the model (its records stay, marked)."""
    from zkml.chain.registry import retire_model

    m = BuildDir(dir).registration()
    reg = need_registry(registry)
    gas = retire_model(registry_chain(rpc_url, key_env), reg, m.onchain_model_id)
    emit({"onchain_model_id": m.onchain_model_id, "retired": True, "gas_used": gas}, as_json,
         f"model {m.onchain_model_id} retired (gas {gas:,})")


@app.command("transfer")
@handle_errors
def transfer(dir: DirOpt,
             new_owner: Annotated[str, typer.Argument(help="The new owner's 0x address.")],
             rpc_url: RpcOpt = None, key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
             registry: RegistryOpt = DEFAULT_REGISTRY, as_json: JsonOpt = False) -> None:
    """Owner only: transfer the model to NEW_OWNER."""
    from zkml.chain.registry import transfer_model

    new_owner = check_address(new_owner, "NEW_OWNER")
    m = BuildDir(dir).registration()
    reg = need_registry(registry)
    gas = transfer_model(registry_chain(rpc_url, key_env), reg, m.onchain_model_id, new_owner)
    emit({"onchain_model_id": m.onchain_model_id, "owner": new_owner, "gas_used": gas},
         as_json, f"model {m.onchain_model_id} now owned by {new_owner} (gas {gas:,})")
