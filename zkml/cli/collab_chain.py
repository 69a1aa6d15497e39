"""`zkml collab deploy | submit`: a collaborative model on-chain (zkml/chain/collab.py).

Registered on ``zkml.cli.collab.app`` (the `zkml collab` group) when this module is imported
(``zkml.cli.main`` does). `deploy` deploys each segment's verifier and the CollabVerifier that
checks every segment's weight commitment against its contributor's, then registers it in the
InferenceRegistry; `submit` sends a collaborative bundle to the registry. Both need a
persistent chain (--rpc-url). Files written next to the model: collab-deployment.json,
registration.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkml.chain import DEFAULT_KEY_ENV
from zkml.cli.collab import ModelOpt, SrsOpt, app
from zkml.cli.common import (
    DEFAULT_REGISTRY,
    JsonOpt,
    KeyEnvOpt,
    RegistryOpt,
    RegistryRpcOpt,
    check_address,
    emit,
    err,
    handle_errors,
    need_file,
    need_registry,
    registry_chain,
)

__all__ = ["deploy_cmd", "submit_cmd", "DEPLOYMENT_FILE", "REGISTRATION_FILE"]

DEPLOYMENT_FILE = "collab-deployment.json"
REGISTRATION_FILE = "registration.json"


def _contributors(value: str | None) -> list[str] | None:
    """``ADDR,ADDR`` -> one address per segment ("" where the contribution names its owner)."""
    if value is None:
        return None
    return [check_address(a, "--contributors") if a.strip() else ""
            for a in value.split(",")]


@app.command("deploy")
@handle_errors
def deploy_cmd(
    model: ModelOpt,
    srs: SrsOpt,
    contributors: Annotated[str | None, typer.Option(
        help="Each segment's contributor address, in segment order, comma-separated (an empty "
        "entry: the address its contribution names as owner).")] = None,
    rpc_url: RegistryRpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    registry: RegistryOpt = DEFAULT_REGISTRY,
    metadata_uri: Annotated[str, typer.Option(help="Where the model card lives.")] = "",
    allow_oversize: Annotated[bool, typer.Option(
        "--allow-oversize", help="Accept verifiers over the EIP-170 size (local chains).")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Deploy the model's CollabVerifier (and its segment verifiers) and register it.

    The CollabVerifier rejects a segment proved with other weights than its contributor
    registered, a broken link between segments, or a segment its verifier rejects. The
    caller becomes the model's owner in the registry."""
    from zkml.artifacts import save_artifact
    from zkml.chain.collab import deploy_collab_verifier, read_contributors, register_collab
    from zkml.collab import load_model
    from zkml.errors import SrsError

    given = _contributors(contributors)
    m = load_model(model)
    need_file(srs, "the model's SRS file", SrsError)
    reg = need_registry(registry)
    chain = registry_chain(rpc_url, key_env)
    dep = deploy_collab_verifier(chain, model, srs, given, allow_oversize=allow_oversize)
    save_artifact(dep, model / DEPLOYMENT_FILE)
    r = register_collab(chain, reg, dep, m, metadata_uri=metadata_uri)
    save_artifact(r, model / REGISTRATION_FILE)
    people = read_contributors(chain, dep.address)
    emit({"verifier": dep.address, "deploy_gas": dep.gas_used,
          "registry_model_id": r.onchain_model_id, "model_id": r.model_id,
          "register_gas": r.gas_used,
          "contributors": [p.__dict__ for p in people]}, as_json,
         f"CollabVerifier at {dep.address} ({len(people)} segments, total deploy gas "
         f"{dep.gas_used:,}) -> {model / DEPLOYMENT_FILE}\nregistered: registry model id "
         f"{r.onchain_model_id} (gas {r.gas_used:,}) -> {model / REGISTRATION_FILE}\n"
         + "\n".join(f"  segment {p.position}: {p.address} (weights {p.weight_digest[:18]}...)"
                     for p in people))


@app.command("submit")
@handle_errors
def submit_cmd(
    bundle: Annotated[Path, typer.Argument(help="The collaborative bundle (the last party's "
                                           "`zkml collab prove`).")],
    model: ModelOpt,
    rpc_url: RegistryRpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    registry: RegistryOpt = DEFAULT_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """Submit a collaborative bundle to the registry, which records it once.

    The registry verifies it through the model's CollabVerifier. Exit 1 if rejected (the
    reason is printed: which segment's weights, which link), 2 on other errors."""
    from zkml.artifacts import ModelRegistration, load_artifact
    from zkml.chain.collab import submit_collab
    from zkml.collab import load_collab_bundle
    from zkml.errors import ArtifactError, BundleError, RegistryError

    b = load_collab_bundle(need_file(bundle, "a collaborative bundle", BundleError))
    if not (model / REGISTRATION_FILE).is_file():
        raise ArtifactError(f"{model / REGISTRATION_FILE}: no such file; register the model "
                            f"first: `zkml collab deploy --model {model} --srs FILE "
                            "--rpc-url URL`.")
    reg_model = load_artifact(ModelRegistration, model / REGISTRATION_FILE)
    reg = need_registry(registry)
    try:
        s = submit_collab(registry_chain(rpc_url, key_env), reg, reg_model.onchain_model_id, b)
    except RegistryError as e:
        err.print(f"rejected ({e.reason}): {e}", markup=False, style="red")
        raise typer.Exit(1) from e
    emit(s.__dict__, as_json, f"recorded inference {s.inference_id} in block "
         f"{s.block_number} (gas {s.gas_used:,})")
