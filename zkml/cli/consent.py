"""`zkml consent ...`: the data owner signs, checks and revokes consent; the processor submits
with it. The owner's key is read from the environment only (``--key-env``)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zkml.chain import DEFAULT_KEY_ENV
from zkml.cli._dir import BuildDir
from zkml.cli.common import (
    DEFAULT_REGISTRY,
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
    registry_chain,
)
from zkml.cli.common import RegistryRpcOpt as RpcOpt
from zkml.errors import ArtifactError, BundleError, ZkmlValueError

if TYPE_CHECKING:
    from zkml.artifacts import RegistryDeployment
    from zkml.chain.consent import Consent

app = typer.Typer(help="Data-owner consent (EIP-712): the owner of an input signs which model "
                  "may be run on it and who may record the result; the registry checks it.",
                  no_args_is_help=True)

ConsentArg = Annotated[Path, typer.Argument(help="A consent file (from `zkml consent sign`).")]
OptDir = Annotated[Path | None, typer.Option(
    "--dir", "-d", help="Build directory whose registration.json names the model.")]
_CONSENT = "a consent file (from `zkml consent sign`)"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not m or int(m.group(1)) == 0:
        raise ZkmlValueError(f"--expires-in {text[:40]!r} is not a duration: give e.g. 3600, "
                             "90m, 12h or 7d.")
    return int(m.group(1)) * _UNITS[m.group(2) or "s"]


def _load(path: Path) -> Consent:
    from zkml.artifacts import load_artifact
    from zkml.chain.consent import Consent

    return load_artifact(Consent, need_file(path, _CONSENT))


def _model_id(model: str | None, dir: Path | None) -> str:
    if (model is None) == (dir is None):
        raise ZkmlValueError("give the model either as --model (a registry model id, 0x + 64 "
                             "hex) or as --dir (a build directory with registration.json).")
    if model is not None:
        return check_bytes32(model, "--model", "give a registry model id (0x + 64 hex, printed "
                             "by `zkml registry register`).", require_0x=True)

    assert dir is not None
    return BuildDir(dir).registration().onchain_model_id


@app.command("sign")
@handle_errors
def sign(
    processor: Annotated[str, typer.Option(help="The one address allowed to submit the "
                                           "result (0x...).")],
    purpose: Annotated[str, typer.Option(help="What the inference is for (short text; its "
                                         "keccak256 is signed), or a 0x + 64 hex hash.")],
    model: Annotated[str | None, typer.Option(help="Registry model id (0x + 64 hex).")] = None,
    dir: OptDir = None,
    commitment: Annotated[str | None, typer.Option(
        help="The input commitment (decimal field element) the consent covers.")] = None,
    bundle: Annotated[Path | None, typer.Option(
        help="Read the input commitment from this proof bundle instead.")] = None,
    opening: Annotated[Path | None, typer.Option(
        help="With --bundle: first check that the bundle commits to this opening (your input "
        "and its salt, from the processor); refuse to sign otherwise.")] = None,
    expires_in: Annotated[str, typer.Option(help="Validity: seconds or 90m / 12h / 7d.")] = "7d",
    nonce: Annotated[int | None, typer.Option(min=0, help="The consent's nonce (default: "
                                              "random); revoke it with this number.")] = None,
    registry: RegistryOpt = DEFAULT_REGISTRY,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the signed "
                                         "consent.")] = Path("consent.json"),
    as_json: JsonOpt = False,
) -> None:
    """The data owner signs a consent (offline) with the key in $KEY_ENV (never on the command
    line) for the registry in --registry."""
    from zkml.artifacts import save_artifact
    from zkml.chain.consent import sign_consent

    processor = check_address(processor, "--processor")
    model_id = _model_id(model, dir)
    if (commitment is None) == (bundle is None):
        raise ZkmlValueError("give the input commitment either as --commitment VALUE or as "
                             "--bundle FILE (a proof of the `committed-input` preset).")
    if bundle is not None:
        from zkml.proof.bundle import load_bundle

        loaded = load_bundle(need_file(bundle, "a proof bundle (from `zkml prove`)",
                                       BundleError))
        value = loaded.input_commitment
        if value is None:
            raise ZkmlValueError(f"{bundle} commits to no input (its preset is not "
                                 "`committed-input`): consent needs an input commitment.")
        commitment = value
        if opening is not None:
            from zkml.proof.commitment import check_commitment, load_opening

            if not check_commitment(loaded, load_opening(need_file(
                    opening, "an opening file (X.opening.json)", ArtifactError))):
                raise ZkmlValueError(f"{bundle} does not commit to the input and salt in "
                                     f"{opening}: not signed. Ask the processor which input "
                                     "this proof is of.")
    elif opening is not None:
        raise ZkmlValueError("--opening checks a bundle: give it with --bundle.")
    assert commitment is not None
    if not commitment.strip().isdigit():
        raise ZkmlValueError(f"--commitment {commitment[:80]!r} is not a decimal field element.")
    key = os.environ.get(key_env, "")
    if not key:
        raise ZkmlValueError(f"${key_env} is not set: export the data owner's private key in it "
                             "(or name another variable with --key-env).")
    reg = need_registry(registry)
    if output.is_dir():
        raise ZkmlValueError(f"--output {output} is a directory; give the file to write.")
    c = sign_consent(key, chain_id=reg.chain_id, registry=reg.address,
                     onchain_model_id=model_id, input_commitment=commitment.strip(),
                     processor=processor, purpose=purpose,
                     expiry=int(time.time()) + _seconds(expires_in), nonce=nonce)
    save_artifact(c, output)
    emit({**c.model_dump(), "path": str(output)}, as_json,
         f"consent {c.nonce} by {c.owner} for {c.processor} until {c.expiry} -> {output}")


@app.command("verify")
@handle_errors
def verify(
    consent: ConsentArg,
    bundle: Annotated[Path | None, typer.Option(
        help="Also check the bundle's input commitment is the consented one.")] = None,
    processor: Annotated[str | None, typer.Option(
        help="Also check this address may submit.")] = None,
    rpc_url: Annotated[str | None, typer.Option(
        "--rpc-url", envvar="ZKML_RPC_URL",
        help="Also ask the registry on this chain: same domain, nonce not used or revoked.")
    ] = None,
    registry: RegistryOpt = DEFAULT_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """Check a consent as the registry would: canonical signature by its owner, expiry, and
    with the options the bundle, the processor and the on-chain state. Exit 0 valid, 1 not."""
    from zkml.chain.consent import verify_consent

    c = _load(consent)
    b = None
    if bundle is not None:
        from zkml.proof.bundle import load_bundle

        b = load_bundle(need_file(bundle, "a proof bundle (from `zkml prove`)", BundleError))
    if processor is not None:
        processor = check_address(processor, "--processor")
    reg: RegistryDeployment | None = None
    if rpc_url or registry != DEFAULT_REGISTRY or registry.is_file():
        reg = need_registry(registry)
    chain = registry_chain(rpc_url, DEFAULT_KEY_ENV) if rpc_url else None
    res = verify_consent(c, registry=reg, chain=chain, bundle=b, processor=processor)
    emit({"ok": res.ok, "signer": res.signer, "digest": res.digest, "status": res.status,
          "problems": res.problems}, as_json,
         (f"✓ consent {c.nonce} signed by {res.signer}" + (f" ({res.status})" if res.status
                                                           else "")) if res.ok else
         "\n".join(f"✗ {p}" for p in res.problems))
    raise typer.Exit(0 if res.ok else 1)


@app.command("revoke")
@handle_errors
def revoke(
    consent: Annotated[Path | None, typer.Argument(help="The consent file to revoke.")] = None,
    nonce: Annotated[int | None, typer.Option(min=0, help="Revoke this nonce instead of a "
                                              "file's.")] = None,
    rpc_url: RpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    registry: RegistryOpt = DEFAULT_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """The data owner (key in $KEY_ENV) withdraws an unused consent on the registry. Exit 1
    if the registry refuses (already used or already revoked)."""
    from zkml.chain.consent import revoke_consent
    from zkml.errors import RegistryError

    if (consent is None) == (nonce is None):
        raise ZkmlValueError("give the consent file or --nonce N (not both).")
    reg = need_registry(registry)
    c = _load(consent) if consent is not None else None
    if c is not None and (c.chain_id != reg.chain_id or c.registry.lower()
                          != reg.address.lower()):
        raise ArtifactError(f"{consent} is for registry {c.registry} on chain {c.chain_id}, "
                            f"not {reg.address} on chain {reg.chain_id}: pass its --registry.")
    if not os.environ.get(key_env):
        raise ZkmlValueError(f"${key_env} is not set: export the data owner's private key in "
                             "it (a revocation is sent from the owner's address).")
    chain = registry_chain(rpc_url, key_env)
    if c is not None and chain.account.lower() != c.owner.lower():
        raise ZkmlValueError(f"${key_env} is the key of {chain.account}, but the consent was "
                             f"signed by {c.owner}: only its owner can revoke it.")
    n = c.nonce if c is not None else nonce
    assert n is not None
    try:
        gas = revoke_consent(chain, reg, n)
    except RegistryError as e:
        err.print(f"refused ({e.reason}): {e}", markup=False, style="red")
        raise typer.Exit(1) from e
    emit({"owner": chain.account, "nonce": n, "revoked": True, "gas_used": gas}, as_json,
         f"consent {n} of {chain.account} revoked (gas {gas:,})")


@app.command("submit")
@handle_errors
def submit(
    bundle: Annotated[Path, typer.Argument(help="The proof bundle (from `zkml prove`).")],
    consent: Annotated[Path, typer.Option(help="The data owner's consent file.")],
    dir: Annotated[Path, typer.Option("--dir", "-d", help="Build directory of the model "
                                      "(registration.json).")],
    rpc_url: RpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    registry: RegistryOpt = DEFAULT_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """The processor (key in $KEY_ENV) submits a proof with the owner's consent. Exit 1 if
    the registry rejects it (the reason is printed), 2 on other errors."""
    from zkml.chain.consent import submit_with_consent
    from zkml.errors import RegistryError
    from zkml.proof.bundle import load_bundle

    b = load_bundle(need_file(bundle, "a proof bundle (from `zkml prove`)", BundleError))
    c = _load(consent)
    m = BuildDir(dir).registration()
    reg = need_registry(registry)
    try:
        s = submit_with_consent(registry_chain(rpc_url, key_env), reg, m.onchain_model_id, b, c)
    except RegistryError as e:
        err.print(f"rejected ({e.reason}): {e}", markup=False, style="red")
        raise typer.Exit(1) from e
    emit({**s.__dict__, "data_owner": c.owner}, as_json,
         f"recorded inference {s.inference_id} with the consent of {c.owner} in block "
         f"{s.block_number} (gas {s.gas_used:,})")
