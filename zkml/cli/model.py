"""`zkml export | compile | tune`: from a model to a compiled circuit."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from zkml.cli.common import (
    DirOpt,
    JsonOpt,
    handle_errors,
    out,
    spinner,
)
from zkml.cli.common import emit as _emit
from zkml.errors import ZkmlError
from zkml.presets import PRESETS

app = typer.Typer()  # commands merged into the top-level `zkml` app


def _load_zoo(spec: str) -> Any:
    """A zoo name, or ``file.py:function`` returning a ``circuits.ZooModel``."""
    import circuits

    if ":" in spec:
        file, fn = spec.rsplit(":", 1)
        loader = importlib.util.spec_from_file_location("zkml_user_model", file)
        if loader is None or loader.loader is None or not Path(file).is_file():
            raise typer.BadParameter(f"{file}: no such Python file")
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        return getattr(module, fn)()
    try:
        return circuits.build(spec)
    except KeyError as e:
        raise typer.BadParameter(str(e.args[0])) from None


@app.command("export")
@handle_errors
def export_cmd(
    model: Annotated[str, typer.Argument(help="Zoo model (tiny-mlp, breast-cancer) or "
                                         "FILE.py:FUNCTION returning a circuits.ZooModel.")],
    dir: Annotated[Path | None, typer.Option("--dir", "-d", help="Build directory.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a PyTorch model to ONNX with its float reference; save calibration samples."""
    import numpy as np

    from zkml.artifacts import save_artifact
    from zkml.model.export import export

    zoo = _load_zoo(model)
    d = dir or Path("build") / zoo.name
    with spinner(f"Exporting {zoo.name} to ONNX"):
        exported = export(zoo.model, zoo.example_input, d / "model.onnx", name=zoo.name)
    np.save(d / "calibration.npy", zoo.calibration)
    np.save(d / "eval.npy", zoo.test_inputs[:16])  # held out: the tuner's accuracy check
    save_artifact(exported, d / "exported.json")
    (d / "zoo.json").write_text(json.dumps({"preset": zoo.preset,
                                            "config": zoo.config.model_dump()}))
    _emit(exported.model_dump(exclude={"example_input", "reference_output"}), as_json,
          f"exported {exported.name}: ops {', '.join(exported.ops)}, input "
          f"{exported.input_shape} -> output {exported.output_shape}\n  {d}/exported.json")


@app.command("compile")
@handle_errors
def compile_cmd(
    dir: DirOpt,
    preset: Annotated[str | None, typer.Option(help="Privacy preset: " + "; ".join(
        f"{p.name}: {p.guarantee}" for p in PRESETS.values()))] = None,
    calibration: Annotated[Path | None, typer.Option(help=".npy of calibration samples.")] = None,
    param_visibility: Annotated[str | None, typer.Option(help="Override: fixed, hashed, public, "
                                                         "private (needs the flag below).")] = None,
    allow_unbound_model: Annotated[bool, typer.Option(
        help="Accept param visibility 'private': proofs are then NOT bound to this model."),
    ] = False,
    tune: Annotated[bool, typer.Option(
        "--tune", help="Search the fastest settings within the accuracy bound first (as "
        "`zkml tune`, cached; minutes on big models).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Calibrate and compile the circuit; report logrows, rows and quantization error."""
    import numpy as np

    from zkml.api import compile_model
    from zkml.artifacts import ExportedModel, load_artifact, save_artifact
    from zkml.circuit.compile import CompileConfig

    exported = load_artifact(ExportedModel, dir / "exported.json")
    zoo = json.loads((dir / "zoo.json").read_text()) if (dir / "zoo.json").exists() else {}
    cfg = dict(zoo.get("config", {}))
    if param_visibility:
        cfg["param_visibility"] = param_visibility
    cfg["allow_unbound_model"] = allow_unbound_model
    samples = np.load(calibration or dir / "calibration.npy", allow_pickle=False)
    held_out = dir / "eval.npy"
    circuit = compile_model(
        exported, samples, preset=preset or zoo.get("preset", "private-input"),
        config=CompileConfig(**cfg), tune=tune,
        eval_inputs=np.load(held_out, allow_pickle=False) if held_out.exists() else None)
    save_artifact(circuit, dir / "circuit.json")
    q = circuit.quantization
    _emit(circuit.model_dump(exclude={"exported"}), as_json,
          f"circuit {circuit.preset}: logrows {circuit.logrows}, rows {circuit.num_rows}, "
          f"scales in/params {circuit.input_scale}/{circuit.param_scale}\n"
          f"  quantization: max abs error {q.max_abs_error:.4g} (output range "
          f"{q.output_range:.4g}), argmax agreement {q.argmax_agreement:.0%} on {q.samples} "
          f"samples\n  input range accepted: [{circuit.input_range[0]:.4g}, "
          f"{circuit.input_range[1]:.4g}]" + ("  (cached)" if circuit.cache_hit else ""))


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
    as_json: JsonOpt = False,
) -> None:
    """Search circuit settings for the fastest circuit within the accuracy bound (cached);
    the next `zkml compile` uses them. Never picks settings slower than ezkl's defaults."""
    import numpy as np

    from zkml.artifacts import ExportedModel, load_artifact
    from zkml.circuit.compile import CompileConfig
    from zkml.tuning.tuner import AccuracyBound, tune_cached

    exported = load_artifact(ExportedModel, dir / "exported.json")
    zoo_path = dir / "zoo.json"
    try:
        zoo = json.loads(zoo_path.read_text()) if zoo_path.exists() else {}
        base = CompileConfig(**zoo.get("config", {}))
        samples = np.load(dir / "calibration.npy", allow_pickle=False)
        held_out = np.load(eval_inputs or dir / "eval.npy", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ZkmlError(f"cannot read the tuning inputs: {e}") from e
    cfg, report = tune_cached(
        exported, samples, held_out, preset=zoo.get("preset", "private-input"), base=base,
        bound=AccuracyBound(max_error_fraction=max_error, same_argmax=same_argmax),
        min_gain=min_gain)
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
            tail = (f"logrows {c['logrows']}  max err {(c['max_abs_error'] or 0):.3g}  "
                    + ("ok" if c["accurate"] else "too coarse")
                    + (f"  prove {c['prove_s']:.2f}s" if c["prove_s"] else ""))
        out.print(head + tail, highlight=False, markup=False)
