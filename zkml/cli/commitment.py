"""`zkml commitment check`: open a committed-input proof's input commitment (input + salt)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zkml.cli.common import JsonOpt, emit, handle_errors, need_file
from zkml.errors import ArtifactError, BundleError

app = typer.Typer(help="Input commitments of the committed-input preset: a Poseidon hash of "
                  "the input and a random salt; the opening (input + salt) is a private file.",
                  no_args_is_help=True)


@app.command("check")
@handle_errors
def check(
    bundle: Annotated[Path, typer.Option(help="The proof bundle or split bundle "
                                         "(committed-input preset).")],
    opening: Annotated[Path, typer.Option(help="Its PRIVATE opening (X.opening.json, written "
                                          "by `zkml prove` / `prove-batch`).")],
    as_json: JsonOpt = False,
) -> None:
    """Does the bundle's input commitment open to this input and salt? Recomputes the
    Poseidon hash (the proof itself is checked by `zkml verify`). Exit 0 match, 1 no match."""
    from zkml.proof.commitment import check_commitment, load_any_bundle, load_opening

    b = load_any_bundle(need_file(bundle, "a proof bundle (from `zkml prove` or `zkml split "
                                          "prove`)", BundleError))
    o = load_opening(need_file(opening, "an opening file (X.opening.json from `zkml prove`)",
                               ArtifactError))
    ok = check_commitment(b, o)
    emit({"match": ok, "input_commitment": b.input_commitment, "vk_digest": b.model_id},
         as_json, "[green]match[/green]: the bundle commits to this input and salt" if ok
         else "[red]NO MATCH[/red]: the bundle does not commit to this input and salt")
    raise typer.Exit(0 if ok else 1)
