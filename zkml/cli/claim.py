"""`zkml claim commit | prove | verify | open`: accuracy and fairness claims on a committed
evaluation set (zkml/claims). On-chain: `zkml claim publish-set` and `zkml claim record`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkml.cli.common import DirOpt, JsonOpt, emit, handle_errors, need_file

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
    from zkml.cli._dir import load_keys
    from zkml.errors import InputError, ZkmlValueError

    need_file(data, "a labelled evaluation set (.csv, .jsonl, .npz or .npy)", InputError)
    if opening.exists() and not force:
        raise ZkmlValueError(f"{opening} exists: it opens a set you may have published; keep "
                             "it, choose another --opening, or pass --force.")
    keys = load_keys(dir)
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
    backend: Annotated[str, typer.Option(help="local (process pool) or ray.")] = "local",
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
    from zkml.cli._dir import load_keys
    from zkml.cli.common import make_dir
    from zkml.errors import ArtifactError, ZkmlValueError

    if backend not in ("local", "ray"):
        raise ZkmlValueError(f"--backend {backend!r}: give local or ray.")
    if workers is not None and workers < 1:
        raise ZkmlValueError(f"--workers {workers}: give 1 or more.")
    priv = load_set_opening(need_file(opening, "the set opening from `zkml claim commit`",
                                      ArtifactError))
    keys = load_keys(dir)
    rule = (DecisionRule(kind="threshold", threshold=threshold, positive_label=positive_label)
            if threshold is not None else default_rule(keys, positive_label))
    make_dir(out_dir, "--out")
    with proof_bar(as_json, "proving samples") as on_result:
        claim = prove_claim(keys, priv, out_dir, rule=rule, backend=backend,  # type: ignore[arg-type]
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
