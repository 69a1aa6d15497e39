"""`zkml claim ...`: accuracy and fairness claims on a committed evaluation set (zkml/claims).

Off-chain: commit, prove, verify, open. On-chain (a persistent chain, like `zkml registry`):
deploy-registry, publish-set (before proving), record, check-onchain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zkml.chain import DEFAULT_KEY_ENV
from zkml.cli._dir import BuildDir
from zkml.cli.common import (
    DEFAULT_REGISTRY,
    Backend,
    BackendOpt,
    DirOpt,
    JsonOpt,
    KeyEnvOpt,
    RegistryOpt,
    backend_name,
    emit,
    err,
    handle_errors,
    need_file,
    need_registry,
    registry_chain,
)
from zkml.cli.common import RegistryRpcOpt as RpcOpt
from zkml.errors import RegistryError

if TYPE_CHECKING:
    from zkml.artifacts import RegistryDeployment
    from zkml.claims import Claim

app = typer.Typer(help="Proven model claims: commit a labelled evaluation set, prove every "
                  "sample, state accuracy and fairness metrics anyone can check.",
                  no_args_is_help=True)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


@app.command("commit")
@handle_errors
def commit_cmd(
    data: Annotated[Path, typer.Argument(help="Labelled set: .csv (header), .jsonl ({input, "
                                         "label, group}), .npz (x, y, group) or .npy.")],
    dir: DirOpt,
    label_column: Annotated[str, typer.Option(help="Label column / key (.npy: an index; "
                                              "default the last column).")] = "label",
    group_column: Annotated[str | None, typer.Option(help="PUBLIC group attribute column / "
                                                     "key for fairness rates.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The PUBLIC set commitment.")]
    = Path("set.json"),
    opening: Annotated[Path, typer.Option(help="Where the PRIVATE opening goes (features, "
                                          "labels, salts; mode 0600).")]
    = Path("set.opening.json"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing opening (its published "
                                        "root can then never be opened).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Commit a labelled evaluation set: a public root, a private opening.

    For the model in --dir (committed-input preset). Publish the root BEFORE proving; keep
    the opening (features, labels, salts) private."""
    from zkml.artifacts import save_artifact
    from zkml.claims import commit_set, read_labelled, write_set_opening
    from zkml.errors import InputError, ZkmlValueError

    need_file(data, "a labelled evaluation set (.csv, .jsonl, .npz or .npy)", InputError)
    if opening.exists() and not force:
        raise ZkmlValueError(f"{opening} exists: it opens a set you may have published; keep "
                             "it, choose another --opening, or pass --force.")
    keys = BuildDir(dir).keys()
    ds = read_labelled(data, label_column=label_column, group_column=group_column)
    public, private = commit_set(keys, ds)
    write_set_opening(private, opening)
    save_artifact(public, output)
    emit({"root": public.root, "samples": public.samples, "set": str(output),
          "opening": str(opening), "vk_digest": public.model_id}, as_json,
         f"committed {public.samples} samples: root {public.root}\n  public: {output} (publish "
         f"it before proving: `zkml claim publish-set`)\n  PRIVATE opening: {opening}")


@app.command("prove")
@handle_errors
def prove_cmd(
    dir: DirOpt,
    opening: Annotated[Path, typer.Option(help="The PRIVATE set opening from `zkml claim "
                                          "commit`.")] = Path("set.opening.json"),
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="The claim's PUBLIC folder "
                                          "(claim.json + proofs/).")] = Path("claim"),
    threshold: Annotated[float | None, typer.Option(help="One-output model: label 1 when the "
                                                    "output >= this (default 0.5).")] = None,
    positive_label: Annotated[int, typer.Option(help="The label selection and true-positive "
                                                "rates count.")] = 1,
    backend: BackendOpt = Backend.local,
    address: Annotated[str | None, typer.Option(help="Ray cluster to join.")] = None,
    workers: Annotated[int | None, typer.Option(help="Concurrent proofs (default: CPUs).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove every committed sample; write the claim with its metrics.

    The metrics come from the proven outputs only. Resumable: a re-run keeps the samples
    already proven."""
    from zkml.claims import DecisionRule, default_rule, load_set_opening, prove_claim
    from zkml.cli._bar import proof_bar
    from zkml.cli.common import make_dir
    from zkml.errors import ArtifactError, ZkmlValueError

    if workers is not None and workers < 1:
        raise ZkmlValueError(f"--workers {workers}: give 1 or more.")
    priv = load_set_opening(need_file(opening, "the set opening from `zkml claim commit`",
                                      ArtifactError))
    keys = BuildDir(dir).keys()
    rule = (DecisionRule(kind="threshold", threshold=threshold, positive_label=positive_label)
            if threshold is not None else default_rule(keys, positive_label))
    make_dir(out_dir, "--out")
    with proof_bar(as_json, "proving samples") as on_result:
        claim = prove_claim(keys, priv, out_dir, rule=rule, backend=backend_name(backend),
                            address=address, workers=workers, on_result=on_result)
    m = claim.metrics
    emit({"claim": str(out_dir / "claim.json"), "samples": claim.samples,
          "accuracy": m.accuracy, "demographic_parity_difference":
          m.demographic_parity_difference, "equal_opportunity_difference":
          m.equal_opportunity_difference, "set_root": claim.set_root,
          "proofs_root": claim.proofs_root}, as_json,
         f"claim: {out_dir / 'claim.json'} ({claim.samples} proofs)\n  accuracy "
         f"{_pct(m.accuracy)}; demographic parity difference "
         f"{_pct(m.demographic_parity_difference)}; equal opportunity difference "
         f"{_pct(m.equal_opportunity_difference)}")


@app.command("verify")
@handle_errors
def verify_cmd(
    claim: Annotated[Path, typer.Argument(help="claim.json or its folder.")],
    package: Annotated[Path | None, typer.Option(help="The model's verification package "
                                                 "(`zkml publish`).")] = None,
    keys: Annotated[Path | None, typer.Option(help="keys.json instead of a package.")] = None,
    set_file: Annotated[Path | None, typer.Option("--set", help="The PUBLISHED set "
                                                  "commitment to hold the claim to.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a claim: every proof, every committed sample, every metric.

    None missing, doubled, swapped or relabelled; each metric recomputed from the proofs.
    Exit 0 valid, 1 invalid, 2 error."""
    from zkml.artifacts import Keys, load_artifact
    from zkml.claims import load_set_commitment, verify_claim
    from zkml.errors import ArtifactError, ZkmlValueError

    if (package is None) == (keys is None):
        raise ZkmlValueError("give the model's --package (or --keys), one of them.")
    commitment = (load_set_commitment(need_file(set_file, "the set commitment (set.json)",
                                                ArtifactError)) if set_file else None)
    v = verify_claim(claim, package=package,
                     keys=load_artifact(Keys, keys) if keys else None, commitment=commitment)
    m = v.metrics
    emit({"valid": v.valid, "reasons": v.reasons, "proofs_checked": v.proofs_checked,
          "metrics": m.model_dump() if m else None}, as_json,
         (f"[green]valid[/green]: {v.proofs_checked} proofs; accuracy {_pct(m.accuracy)}"
          if v.valid and m else "[red]INVALID[/red]:\n  " + "\n  ".join(v.reasons)))
    raise typer.Exit(0 if v.valid else 1)


@app.command("open")
@handle_errors
def open_cmd(
    set_file: Annotated[Path, typer.Argument(help="The published set commitment (set.json).")],
    opening: Annotated[Path, typer.Argument(help="The PRIVATE set opening.")],
    claim: Annotated[Path | None, typer.Option(help="Also check this claim's entries.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a committed set (auditor with the data): every leaf recomputed.

    Each sample's commitment from its features and salt, the root, and (with --claim) each
    claim entry. Exit 0 all open, 1 not."""
    from zkml.claims import load_claim, load_set_commitment, load_set_opening, open_set
    from zkml.errors import ArtifactError

    pub = load_set_commitment(need_file(set_file, "the set commitment", ArtifactError))
    priv = load_set_opening(need_file(opening, "the set opening", ArtifactError))
    problems = open_set(pub, priv, load_claim(claim)[0] if claim else None)
    emit({"open": not problems, "problems": problems, "samples": len(priv.samples)}, as_json,
         f"[green]opened[/green]: all {len(priv.samples)} samples match the root"
         if not problems else "[red]DOES NOT OPEN[/red]:\n  " + "\n  ".join(problems))
    raise typer.Exit(0 if not problems else 1)


# On-chain: the ClaimRegistry (needs a persistent chain, like `zkml registry`) ---------------

ClaimRegOpt = Annotated[Path, typer.Option("--claim-registry", help="The ClaimRegistry "
                                           "deployment JSON (`zkml claim deploy-registry`).")]
DEFAULT_CLAIM_REGISTRY = Path("build/claim-registry.json")


def _claim_registry(path: Path) -> RegistryDeployment:
    from zkml.artifacts import RegistryDeployment, load_artifact
    from zkml.errors import ArtifactError

    cmd = f"zkml claim deploy-registry --rpc-url URL --claim-registry {path}"
    if not path.is_file():
        raise ArtifactError(f"{path}: no such ClaimRegistry deployment; run `{cmd}` first (or "
                            "pass --claim-registry FILE).")
    return load_artifact(RegistryDeployment, path)


@app.command("deploy-registry")
@handle_errors
def deploy_registry_cmd(
    rpc_url: RpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    registry: RegistryOpt = DEFAULT_REGISTRY,
    claim_registry: ClaimRegOpt = DEFAULT_CLAIM_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """Deploy a ClaimRegistry beside an InferenceRegistry (whose models claims name)."""
    from zkml.artifacts import save_artifact
    from zkml.chain.claims import deploy_claim_registry
    from zkml.errors import ZkmlValueError

    if claim_registry.is_dir():
        raise ZkmlValueError(f"--claim-registry {claim_registry} is a directory; give the JSON "
                             "file to write, e.g. build/claim-registry.json.")
    reg = need_registry(registry)
    dep = deploy_claim_registry(registry_chain(rpc_url, key_env), reg)
    save_artifact(dep, claim_registry)
    emit({"address": dep.address, "chain_id": dep.chain_id, "gas_used": dep.gas_used,
          "file": str(claim_registry)}, as_json,
         f"ClaimRegistry at {dep.address} (chain {dep.chain_id}, gas {dep.gas_used:,})\n"
         f"  written to {claim_registry}")


@app.command("publish-set")
@handle_errors
def publish_set_cmd(
    set_file: Annotated[Path, typer.Argument(help="The set commitment (set.json).")],
    rpc_url: RpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    claim_registry: ClaimRegOpt = DEFAULT_CLAIM_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """Record the set's root on-chain BEFORE proving: block and time fix it in advance.

    Exit 0 recorded, 1 rejected by the registry (e.g. this address committed it already)."""
    from zkml.chain.claims import commit_set_onchain
    from zkml.claims import load_set_commitment
    from zkml.errors import ArtifactError

    pub = load_set_commitment(need_file(set_file, "the set commitment (set.json)",
                                        ArtifactError))
    creg = _claim_registry(claim_registry)
    chain = registry_chain(rpc_url, key_env)
    try:
        r = commit_set_onchain(chain, creg, pub)
    except RegistryError as e:
        raise _rejected(e, as_json) from e
    emit({"set_root": pub.root, "committer": chain.account, "tx_hash": r.tx_hash,
          "gas_used": r.gas_used, "block": r.block}, as_json,
         f"set {pub.root} committed by {chain.account} in block {r.block} "
         f"(gas {r.gas_used:,})")


def _rejected(e: RegistryError, as_json: bool) -> typer.Exit:
    """The registry refused (a verdict, exit 1): its reason on stderr, or JSON on stdout."""
    if as_json:
        emit({"rejected": e.reason, "message": str(e)}, True, "")
    else:
        err.print(f"rejected ({e.reason}): {e}", markup=False, style="red")
    return typer.Exit(1)


def _digest(claim_dir: Path) -> tuple[Claim, str]:
    import hashlib

    from zkml.claims import load_claim

    c, root = load_claim(claim_dir)
    return c, hashlib.sha256((root / "claim.json").read_bytes()).hexdigest()


@app.command("record")
@handle_errors
def record_cmd(
    claim: Annotated[Path, typer.Argument(help="claim.json or its folder.")],
    dir: DirOpt,
    set_committer: Annotated[str | None, typer.Option(
        help="Who committed the set on-chain (default: the sender).")] = None,
    rpc_url: RpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    claim_registry: ClaimRegOpt = DEFAULT_CLAIM_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """Record a claim on-chain (the model's registered owner only): its digest, roots and
    metrics; run `zkml claim verify` first. Exit 0 recorded, 1 rejected by the registry."""
    from zkml.chain.claims import record_claim
    from zkml.cli.common import check_address

    committer = check_address(set_committer, "--set-committer") if set_committer else None
    c, digest = _digest(claim)
    reg_model = BuildDir(dir).registration()
    creg = _claim_registry(claim_registry)
    chain = registry_chain(rpc_url, key_env)
    try:
        r = record_claim(chain, creg, reg_model.onchain_model_id, c, digest,
                         set_committer=committer)
    except RegistryError as e:
        raise _rejected(e, as_json) from e
    emit({"claim_id": r.claim_id, "tx_hash": r.tx_hash, "gas_used": r.gas_used,
          "block": r.block, "claim_digest": digest}, as_json,
         f"claim {r.claim_id} recorded in block {r.block} (gas {r.gas_used:,})")


@app.command("check-onchain")
@handle_errors
def check_onchain_cmd(
    claim: Annotated[Path, typer.Argument(help="claim.json or its folder.")],
    model_id: Annotated[str, typer.Option(help="The model's registry id (0x + 64 hex: "
                                          "`zkml registry register` printed it).")],
    set_committer: Annotated[str, typer.Option(help="Who committed the set on-chain.")],
    rpc_url: RpcOpt = None,
    key_env: KeyEnvOpt = DEFAULT_KEY_ENV,
    claim_registry: ClaimRegOpt = DEFAULT_CLAIM_REGISTRY,
    as_json: JsonOpt = False,
) -> None:
    """Is this claim file the one recorded on-chain (digest, roots, count, metrics, a set
    committed before it)? Check the proofs with `zkml claim verify`. Exit 0 yes, 1 no."""
    from zkml.chain.claims import check_claim_onchain
    from zkml.cli.common import check_address, check_bytes32

    mid = check_bytes32(model_id, "--model-id", "give the registry model id.", require_0x=True)
    committer = check_address(set_committer, "--set-committer")
    c, digest = _digest(claim)
    creg = _claim_registry(claim_registry)
    reason = check_claim_onchain(registry_chain(rpc_url, key_env), creg, mid, c, digest,
                                 set_committer=committer)
    emit({"recorded": reason is None, "reason": reason, "claim_digest": digest}, as_json,
         "[green]recorded[/green]: this claim file is the one on-chain" if reason is None
         else f"[red]NOT RECORDED AS IS[/red]: {reason}")
    raise typer.Exit(0 if reason is None else 1)
