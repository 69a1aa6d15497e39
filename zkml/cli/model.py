"""`zkml export | compile | tune`: from a model to a compiled circuit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zkml.cli._dir import BuildDir
from zkml.cli._source import load_source
from zkml.cli.common import (
    DirOpt,
    JsonOpt,
    PresetName,
    SearchMode,
    TuneMode,
    Visibility,
    handle_errors,
    make_dir,
    need_file,
    out,
)
from zkml.cli.common import emit as _emit
from zkml.cli.output import spinner
from zkml.errors import InputError, ZkmlValueError
from zkml.presets import PRESETS

if TYPE_CHECKING:
    from zkml.artifacts import QuantizationReport

app = typer.Typer()  # commands merged into the top-level `zkml` app


@app.command("export")
@handle_errors
def export_cmd(
    model: Annotated[str, typer.Argument(
        help="Zoo model (tiny-mlp, breast-cancer, ...) or FILE.py:FUNCTION returning a torch "
        "nn.Module (with --example) or a circuits.ZooModel.")],
    dir: Annotated[Path | None, typer.Option("--dir", "-d", help="Build directory.")] = None,
    example: Annotated[Path | None, typer.Option(
        help="One input (.npy or .json, batch dimension included): required for a plain "
        "nn.Module; several forward arguments: a .json object or .npz by argument name.")]
    = None,
    calibration: Annotated[Path | None, typer.Option(
        help=".npy of calibration samples shaped (n, *input_shape) (.npz by input name for "
        "several inputs); default: the zoo's, or the --example input alone.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a PyTorch model to ONNX (checked against onnxruntime on the example input);
    save calibration and held-out samples next to it."""
    import numpy as np

    from zkml.model.export import export

    if dir is not None:
        make_dir(dir)  # before the model is built: a bad --dir fails fast
    src = load_source(model, example, calibration)
    d = make_dir(dir or Path("build") / src.name)
    with spinner(f"Exporting {src.name} to ONNX"):
        exported = export(src.model, src.example, d / BuildDir.MODEL, name=src.name)
    cal, held = src.calibration, src.held_out
    if isinstance(cal, dict):  # several inputs: packed rows, as `zkml import` stores them
        from zkml.model.inputs import coerce_inputs

        cal = coerce_inputs(cal, exported.inputs)
        held = cal[:16]
    np.save(d / BuildDir.CALIBRATION, cal)
    np.save(d / BuildDir.EVAL, held)  # held out: the tuner's accuracy check
    BuildDir(d).save(exported, BuildDir.EXPORTED)
    if src.zoo is not None:
        (d / BuildDir.ZOO).write_text(json.dumps(src.zoo))
    else:  # a zoo model exported here before: its settings are not this model's
        (d / BuildDir.ZOO).unlink(missing_ok=True)
    if src.note and not as_json:
        typer.echo(f"note: {src.note}", err=True)
    _emit({**exported.model_dump(), "dir": str(d), "note": src.note}, as_json,
          f"exported {exported.name}: ops {', '.join(exported.ops)}, input "
          f"{exported.input_shape} -> output {exported.output_shape}\n  {d}/exported.json")


def _build_settings(dir: Path) -> dict[str, Any]:
    """DIR/zoo.json: the preset and compile settings `export` (zoo models) and `tune` chose."""
    path = dir / BuildDir.ZOO
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ZkmlValueError(f"{path}: not readable JSON ({e}); delete it (the defaults are "
                             f"used) or run `zkml tune --dir {dir}` again.") from e
    if not isinstance(data, dict) or not isinstance(data.get("config", {}), dict):
        raise ZkmlValueError(f"{path}: not zkml's build settings; delete it (the defaults "
                             "are used).")
    return data


def _config(cfg: dict[str, Any], dir: Path) -> Any:
    from pydantic import ValidationError

    from zkml.circuit.compile import CompileConfig

    try:
        return CompileConfig(**cfg)
    except ValidationError as e:
        first = e.errors()[0]
        raise ZkmlValueError(f"compile setting {'.'.join(map(str, first['loc']))}: "
                             f"{first['msg']} (from {dir}/zoo.json or an option); fix or "
                             "delete that file.") from e


def _npy(path: Path, what: str, *, producer: Path | None = None) -> Any:
    """A .npy array of numbers; a missing DIR file names the command that writes it."""
    import numpy as np

    if producer is not None and not path.is_file():
        BuildDir(producer).missing(path.name)
    need_file(path, f"{what}: a .npy array", InputError)
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path} ({what}): not a readable .npy array ({e}).") from e
    if arr.dtype.kind not in "iufb" or arr.ndim == 0:
        raise InputError(f"{path} ({what}): not an array of numbers (dtype {arr.dtype}, "
                         f"shape {arr.shape}).")
    return arr


@app.command("compile")
@handle_errors
def compile_cmd(
    dir: DirOpt,
    preset: Annotated[PresetName | None, typer.Option(
        metavar="PRESET", help="Privacy preset: " + ", ".join(PRESETS) + " (default "
        "private-input; README 'Privacy presets' says what each hides).")] = None,
    calibration: Annotated[Path | None, typer.Option(help=".npy of calibration samples.")] = None,
    param_visibility: Annotated[Visibility | None, typer.Option(
        metavar="VIS", help="Override: fixed, hashed, public, private (needs the flag "
        "below).")] = None,
    allow_unbound_model: Annotated[bool, typer.Option(
        "--allow-unbound-model",
        help="Accept param visibility 'private': proofs are then NOT bound to this model."),
    ] = False,
    tune: Annotated[TuneMode, typer.Option(
        "--tune", metavar="MODE", help="none: zkml's settings; quick: layout estimates and "
        "1-3 calibrations, no proof (seconds); thorough: proves the best candidates "
        "(minutes). Never dearer than ezkl's own defaults.")] = TuneMode.none,
    segments: Annotated[str | None, typer.Option(
        "--segments", help="Split proving: cut the model into K segments, or 'auto' (the "
        "fewest that fit --max-memory); as `zkml split compile`, then `zkml split setup|prove"
        "|verify`.")] = None,
    max_memory: Annotated[float | None, typer.Option(
        "--max-memory", help="GB one segment proof may use (with --segments auto).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Calibrate and compile the circuit; report logrows, rows and quantization error."""
    if segments is not None or max_memory is not None:
        from zkml.cli.split import compile_split_dir

        if tune is not TuneMode.none or calibration or param_visibility or allow_unbound_model:
            raise ZkmlValueError("--segments takes --max-memory and --preset only: split "
                                 "proving calibrates each segment on its own.")
        return compile_split_dir(dir, segments or "auto", max_memory,
                                 preset.value if preset else "private-input", as_json)
    from zkml.pipeline import compile_model
    from zkml.presets import get_preset, visibility_for
    mode = False if tune is TuneMode.none else tune.value
    exported = BuildDir(dir).exported()
    zoo = _build_settings(dir)
    chosen = preset.value if preset else zoo.get("preset", "private-input")
    visibility = param_visibility.value if param_visibility else None
    visibility_for(get_preset(chosen), param_visibility=visibility,
                   allow_unbound_model=allow_unbound_model)
    cfg = dict(zoo.get("config", {}))
    if visibility:
        cfg["param_visibility"] = visibility
    cfg["allow_unbound_model"] = allow_unbound_model
    samples = (_npy(calibration, "--calibration") if calibration
               else _npy(dir / BuildDir.CALIBRATION, "calibration samples", producer=dir))
    held_out = dir / BuildDir.EVAL
    circuit = compile_model(
        exported, samples, preset=chosen, config=_config(cfg, dir), tune=mode,
        eval_inputs=_npy(held_out, "held-out samples") if held_out.exists() else None)
    BuildDir(dir).save(circuit, BuildDir.CIRCUIT)
    q = circuit.quantization
    _emit(circuit.model_dump(exclude={"exported"}), as_json,
          f"circuit {circuit.preset}: logrows {circuit.logrows}, rows {circuit.num_rows}, "
          f"scales in/params {circuit.input_scale}/{circuit.param_scale}\n"
          f"  quantization: {_quantization_text(q)}\n"
          f"  input range accepted: [{circuit.input_range[0]:.4g}, "
          f"{circuit.input_range[1]:.4g}]" + ("  (cached)" if circuit.cache_hit else "")
          + _choice_text(circuit))


def _figures_text(f: Any) -> str:
    at = "logrows" if f.calibrated else "logrows >="
    from zkml.choice import columns_text

    return (f"{at} {f.logrows}, {columns_text(f.num_inner_cols)}, decomp {f.decomp}: estimated "
            f"prove {f.prove_seconds:.2f} s, peak {f.peak_memory_bytes / 1e9:.2f} GB")


def _quantization_text(q: QuantizationReport) -> str:
    if q.max_abs_error is None or q.output_range is None or q.argmax_agreement is None:
        return (f"NOT CHECKED: no float reference runs this graph ({q.samples} samples went "
                "through the circuit; compare a few proven outputs yourself)")
    return (f"max abs error {q.max_abs_error:.4g} (output range {q.output_range:.4g}), argmax "
            f"agreement {q.argmax_agreement:.0%} on {q.samples} samples")


def _choice_text(circuit: Any) -> str:
    """Both estimates and why (compile never settles for settings dearer than ezkl's)."""
    c = circuit.choice
    if c is None:
        return ""
    used = "zkml's" if c.chose == "zkml" else "ezkl's default"
    return (f"\n  settings ({c.mode}): {used}: {_figures_text(c.chosen)}"
            f"\n  ezkl's default: {_figures_text(c.ezkl_default)}\n  why: {c.reason}")


@app.command("tune")
@handle_errors
def tune_cmd(
    dir: DirOpt,
    eval_inputs: Annotated[Path | None, typer.Option("--eval", help=".npy of held-out samples "
                                                     "(default: DIR/eval.npy).")] = None,
    max_error: Annotated[float, typer.Option(help="Max |circuit - float| as a fraction of the "
                                             "output range.")] = 0.01,
    same_argmax: Annotated[bool, typer.Option(help="Require the float model's argmax on every "
                                              "sample (classifiers).")] = True,
    min_gain: Annotated[float, typer.Option(help="Measured prove-time gain needed to leave "
                                            "ezkl's defaults (0.1 = 10%).")] = 0.1,
    mode: Annotated[SearchMode, typer.Option(
        "--tune", "--mode", metavar="MODE", help="thorough: prove the best candidates "
        "(minutes); quick: layout estimates and 1-3 calibrations, no proof (seconds).")]
    = SearchMode.thorough,
    as_json: JsonOpt = False,
) -> None:
    """Search circuit settings for the fastest circuit within the accuracy bound (cached);
    the next `zkml compile` uses them. Never picks settings slower than ezkl's defaults."""
    from zkml.chain.gas import VerifyGasMeter
    from zkml.tuning.cached import tune_cached
    from zkml.tuning.tuner import AccuracyBound, TuneTask
    exported = BuildDir(dir).exported()
    zoo_path = dir / BuildDir.ZOO
    zoo = _build_settings(dir)
    base = _config(zoo.get("config", {}), dir)
    samples = _npy(dir / BuildDir.CALIBRATION, "calibration samples", producer=dir)
    held_out = (_npy(eval_inputs, "--eval") if eval_inputs
                else _npy(dir / BuildDir.EVAL, "held-out samples (or pass --eval FILE)",
                          producer=dir))
    with VerifyGasMeter() as meter:  # a local chain, started only if a candidate is measured
        task = TuneTask.of(exported, samples, held_out,
                           preset=zoo.get("preset", "private-input"), base=base,
                           bound=AccuracyBound(max_error_fraction=max_error,
                                               same_argmax=same_argmax))
        cfg, report = tune_cached(task, min_gain=min_gain,
                                  gas_meter=meter if mode is SearchMode.thorough else None,
                                  mode=mode.value)
    zoo_path.write_text(json.dumps({**zoo, "config": cfg.model_dump()}))
    if as_json:
        out.print_json(json.dumps(report, default=str))
        return
    out.print(report["message"])
    for c in report["candidates"]:
        mark = "*" if c == report["chosen"] else " "
        head = (f" {mark} decomp {c['decomp']:>8} cols {c['cols']} scales "
                f"{c['scales'] or 'auto'!s:>9} lookup margin {c['lookup_margin']:g}  ")
        if c["skipped"] or c["error"]:
            tail = (f"not calibrated (logrows >= {c['est_logrows']}): {c['skipped']}"
                    if c["skipped"] else f"failed: {c['error']}")
        else:
            judged = c["max_abs_error"] is not None
            tail = (f"logrows {c['logrows']}  "
                    + (f"max err {c['max_abs_error']:.3g}  "
                       + ("ok" if c["accurate"] else "too coarse") if judged
                       else "accuracy not checked: no candidate needed it")
                    + (f"  prove {c['prove_s']:.2f}s" if c["prove_s"] else "")
                    + (f"  verify gas {c['verify_gas']:,}" if c.get("verify_gas") else ""))
        out.print(head + tail, highlight=False, markup=False)
