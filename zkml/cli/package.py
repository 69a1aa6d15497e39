"""`zkml publish`: a verification package third parties check bundles with, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkml.cli._dir import BuildDir
from zkml.cli.common import DirOpt, JsonOpt, handle_errors
from zkml.cli.common import emit as _emit

app = typer.Typer()  # commands merged into the top-level `zkml` app


@app.command("publish")
@handle_errors
def publish_cmd(
    dir: DirOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="The package folder to write.")],
    with_srs: Annotated[bool, typer.Option(
        "--with-srs", help="Include the SRS file itself (required for a development SRS, "
        "which exists only on this machine).")] = False,
    labels: Annotated[str | None, typer.Option(
        help="Comma-separated output names, e.g. benign,malignant.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a verification package: verifying key, settings, SRS identity, verifier, ids,
    layout. Public by construction; `zkml verify BUNDLE --package PKG` works on any machine."""
    from zkml.artifacts import ModelRegistration, VerifierContract, load_artifact
    from zkml.pipeline import publish

    keys = BuildDir(dir).keys()
    verifier = (load_artifact(VerifierContract, dir / BuildDir.VERIFIER)
                if BuildDir(dir).has(BuildDir.VERIFIER) else None)
    if verifier is not None and verifier.model_id != keys.model_id:
        verifier = None  # made for earlier keys: build the current one
    regs = ([load_artifact(ModelRegistration, dir / BuildDir.REGISTRATION)]
            if BuildDir(dir).has(BuildDir.REGISTRATION) else [])
    names = [s.strip() for s in labels.split(",")] if labels else None
    pkg = publish(keys, out, verifier=verifier, registrations=regs, with_srs=with_srs,
                  labels=names)
    if pkg.srs.source == "dev-unsafe" and not with_srs:
        typer.echo("warning: the keys use this machine's development SRS: other machines "
                   "cannot verify without it; publish again with --with-srs.", err=True)
    _emit({"package": str(out), "vk_digest": pkg.vk_digest,
           "registry_model_ids": [r.registry_model_id for r in pkg.registry],
           "srs": pkg.srs.model_dump(), "files": sorted(pkg.files)}, as_json,
          f"package {out}: vk digest {pkg.vk_digest}"
          + "".join(f"\n  registry model id {r.registry_model_id} (chain {r.chain_id})"
                    for r in pkg.registry)
          + f"\n  srs: {pkg.srs.source} logrows {pkg.srs.logrows}"
          + (" (included)" if pkg.srs.included else f" (not included; sha256 "
             f"{pkg.srs.sha256[:16]}...)"))
