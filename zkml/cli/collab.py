"""`zkml collab ...`: a model whose segments belong to different parties (zkml/collab).

Each party runs its own commands in its own folder (its weights never leave it): join,
finalize, prove. Anyone runs agree, assemble and verify on the public files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from zkml.cli.common import JsonOpt, emit, handle_errors, make_dir, need_file

app = typer.Typer(help="Collaborative models: each party proves its own segment with its "
                  "weights kept private; the whole inference verifies as one.",
                  no_args_is_help=True)

PartyOpt = Annotated[Path, typer.Option("--party-dir", help="This party's own folder "
                                        "(PRIVATE: its weights and keys).")]
ModelOpt = Annotated[Path, typer.Option("--model", help="The assembled model folder (public; "
                                        "`zkml collab assemble`).")]
SrsOpt = Annotated[Path, typer.Option("--srs", help="The SRS file all parties agreed on.")]


@app.command("join")
@handle_errors
def join_cmd(
    segment: Annotated[Path, typer.Argument(help="This party's segment (ONNX).")],
    party_dir: PartyOpt,
    name: Annotated[str, typer.Option(help="This party's name.")],
    position: Annotated[int, typer.Option(help="The segment's position, 0 first.")],
    parties: Annotated[int, typer.Option(help="How many segments the model has.")],
    calibration: Annotated[Path, typer.Option(help=".npy samples of the segment's input (from "
                                              "the previous party after position 0).")],
    input_scale: Annotated[int | None, typer.Option(help="The previous party's output scale "
                                                    "(its draft.json).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Calibrate this party's segment in its own folder.

    Writes the public draft.json and, if a party follows, next_calibration.npy (give it to
    that party only)."""
    import numpy as np

    from zkml.collab import join
    from zkml.errors import InputError

    need_file(segment, "this party's segment (.onnx)", InputError)
    cal = np.load(need_file(calibration, "calibration samples (.npy)", InputError))
    d = join(segment, cal, make_dir(party_dir, "--party-dir"), name=name, position=position,
             parties=parties, input_scale=input_scale)
    nxt = party_dir / "next_calibration.npy"
    emit({**d.model_dump(), "draft": str(party_dir / "draft.json"),
          "next_calibration": str(nxt) if nxt.exists() else None}, as_json,
         f"{name}: segment {position} of {parties} calibrated (input scale {d.input_scale}, "
         f"output scale {d.output_scale}, needs logrows {d.logrows})\n  public draft: "
         f"{party_dir / 'draft.json'}" + (f"\n  for the next party only: {nxt}"
                                          if nxt.exists() else ""))


@app.command("agree")
@handle_errors
def agree_cmd(
    drafts: Annotated[list[Path], typer.Argument(help="Every party's draft.json.")],
    as_json: JsonOpt = False,
) -> None:
    """The logrows every party finalizes at: the largest any segment needs."""
    from zkml.collab import Draft
    from zkml.errors import ArtifactError

    ds = []
    for p in drafts:
        try:
            ds.append(Draft.model_validate_json(need_file(p, "a draft.json").read_text()))
        except ValueError as e:
            raise ArtifactError(f"{p}: not a draft ({str(e).splitlines()[0][:100]}).") from e
    logrows = max(d.logrows for d in ds)
    emit({"logrows": logrows, "parties": [d.name for d in ds]}, as_json,
         f"logrows {logrows} (segments need {[d.logrows for d in ds]})")


@app.command("finalize")
@handle_errors
def finalize_cmd(
    party_dir: PartyOpt,
    logrows: Annotated[int, typer.Option(help="The agreed logrows (`zkml collab agree`).")],
    srs: SrsOpt,
    owner: Annotated[str | None, typer.Option(help="This party's address (credited).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Set up this party's segment and publish its contribution.

    PARTY_DIR/contribution/ (public): vk, settings and the commitment of its weights."""
    from zkml.cli.common import check_address
    from zkml.collab import finalize
    from zkml.errors import SrsError

    need_file(srs, "the agreed SRS file", SrsError)
    c = finalize(party_dir, logrows=logrows, srs_path=srs,
                 owner=check_address(owner, "--owner") if owner else None)
    emit({**c.model_dump(), "contribution": str(party_dir / "contribution")}, as_json,
         f"{c.name}: contribution {party_dir / 'contribution'} (public)\n  weight commitment "
         f"{c.weight_commitment[0][:34]}... ({len(c.weight_commitment)} point(s))")


@app.command("assemble")
@handle_errors
def assemble_cmd(
    contributions: Annotated[list[Path], typer.Argument(help="Every party's contribution "
                                                        "folder.")],
    srs: SrsOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="The model folder to write.")]
    = Path("collab-model"),
    as_json: JsonOpt = False,
) -> None:
    """Check that the contributions chain and write the public model folder."""
    from zkml.collab import assemble
    from zkml.errors import SrsError

    need_file(srs, "the agreed SRS file", SrsError)
    m = assemble(contributions, make_dir(out, "--out"), srs)
    emit({"model_id": m.model_id, "model": str(out),
          "parties": [c.name for c in m.contributions]}, as_json,
         f"model {m.model_id} ({' -> '.join(c.name for c in m.contributions)}): {out}")


@app.command("prove")
@handle_errors
def prove_cmd(
    party_dir: PartyOpt,
    model: ModelOpt,
    input: Annotated[Path | None, typer.Option(help="Party 0: the input (.json list or .npy).")]
    = None,
    hop: Annotated[Path | None, typer.Option(help="Later parties: the hop received.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The hop for the next party "
                                      "(PRIVATE), or the last party's bundle (public).")]
    = Path("hop.json"),
    as_json: JsonOpt = False,
) -> None:
    """Prove this party's segment of one inference, on the input or the hop received."""
    import numpy as np

    from zkml._utils import atomic_write_bytes
    from zkml.collab import finish, load_hop, load_model, prove_hop, write_hop
    from zkml.errors import ArtifactError, InputError

    m = load_model(model)
    value = None
    if input is not None:
        need_file(input, "an input file (.json list or .npy)", InputError)
        value = (np.load(input) if input.suffix == ".npy"
                 else np.asarray(json.loads(input.read_text()), dtype=np.float64))
    h = prove_hop(party_dir, m, value=value,
                  hop=load_hop(need_file(hop, "the hop file received", ArtifactError))
                  if hop is not None else None)
    if len(h.proofs) == len(m.contributions):
        b = finish(h, m)
        atomic_write_bytes(out, (b.model_dump_json(indent=1) + "\n").encode())
        emit({"bundle": str(out), "outputs": b.outputs}, as_json,
             f"bundle (public): {out}; outputs {[round(v, 6) for v in b.outputs]}")
    else:
        write_hop(h, out)
        emit({"hop": str(out), "segments_proved": len(h.proofs)}, as_json,
             f"segment {len(h.proofs) - 1} proved; hop for the next party only: {out}")


@app.command("verify")
@handle_errors
def verify_cmd(
    bundle: Annotated[Path, typer.Argument(help="The collaborative bundle.")],
    model: ModelOpt,
    srs: SrsOpt,
    as_json: JsonOpt = False,
) -> None:
    """Verify one inference: every segment, its weights and its links.

    Each segment proof under its party's key, proved with the weights its party published,
    and linked to the next. Exit 0 valid, 1 invalid, 2 error."""
    from zkml.collab import load_collab_bundle, verify_collab
    from zkml.errors import BundleError, SrsError

    b = load_collab_bundle(need_file(bundle, "a collaborative bundle", BundleError))
    v = verify_collab(b, model, need_file(srs, "the model's SRS file", SrsError))
    emit({"valid": v.valid, "reason": v.reason, "outputs": b.outputs if v.valid else None},
         as_json, f"[green]valid[/green]: outputs {[round(x, 6) for x in b.outputs]}"
         if v.valid else f"[red]INVALID[/red]: {v.reason}")
    raise typer.Exit(0 if v.valid else 1)
