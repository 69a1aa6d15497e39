"""`zkml import | inspect`: bring your own ONNX model (and ezkl-style input files)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zkml.cli._dir import BuildDir
from zkml.cli.common import JsonOpt, handle_errors
from zkml.cli.common import emit as _emit

if TYPE_CHECKING:
    from zkml.artifacts import ExportedModel

app = typer.Typer()  # commands merged into the top-level `zkml` app

_DOC_INPUTS = ("ezkl's input.json ({'input_data': [[...]]}, one list per graph input), a JSON "
               "list, .npy, .csv (a row per sample) or .jsonl (a sample per line; several "
               "graph inputs: a dict by input name or a list of one value per input)")


def _range_samples(lo: float, hi: float, shape: list[int], dtype: str, n: int = 16) -> Any:
    import numpy as np

    rng = np.random.default_rng(0)  # reproducible: the circuit digest depends on the samples
    edges = np.stack([np.full(shape, lo), np.full(shape, hi)])
    inner = rng.uniform(lo, hi, size=(n, *shape))
    samples = np.concatenate([edges, inner])
    return np.round(samples).astype(dtype) if np.dtype(dtype).kind in "iub" else samples


@app.command("import")
@handle_errors
def import_cmd(
    model: Annotated[Path, typer.Argument(help="The .onnx file.")],
    input: Annotated[Path, typer.Option("--input", "-i", help="One or more inputs: "
                                        + _DOC_INPUTS + ".")],
    dir: Annotated[Path | None, typer.Option("--dir", "-d", help="Build directory (default "
                                             "build/<model name>).")] = None,
    calibration: Annotated[Path | None, typer.Option(
        help="Samples covering the real input range (same formats); default: --input.")] = None,
    input_range: Annotated[str | None, typer.Option(
        "--range", help="LO,HI: calibrate for inputs anywhere in [LO, HI] instead.")] = None,
    eval_inputs: Annotated[Path | None, typer.Option(
        "--eval", help="Held-out samples for the tuner's accuracy check.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Use an existing ONNX model: check it, read its inputs, write the build directory that
    `zkml compile / setup / prove ...` continue from."""
    import shutil

    import numpy as np

    from zkml._utils import atomic_write_bytes
    from zkml.errors import InputError, ZkmlValueError
    from zkml.model.export import UPGRADE_OPSET, check_onnx, upgrade_opset
    from zkml.model.inputs import graph_inputs, read_input_samples

    try:
        data = model.read_bytes()
    except OSError as e:
        raise InputError(f"{model}: cannot read the ONNX file ({e.strerror}).") from e
    declared = graph_inputs(check_onnx(data, source=str(model)))
    gi = declared[0]
    # a graph older than onnxruntime runs is converted (same computation, newer op versions)
    data, old_opset = upgrade_opset(data)
    d = dir or Path("build") / model.stem
    d.mkdir(parents=True, exist_ok=True)
    # one graph input: samples (n, *shape); several: packed rows, each input's values in turn
    samples = read_input_samples(input, declared)
    dest = d / BuildDir.MODEL
    if old_opset is not None:
        atomic_write_bytes(dest, data)
    elif model.resolve() != dest.resolve():
        shutil.copyfile(model, dest)
    exported = _load(dest, samples[0], model.stem)
    if old_opset is not None and not as_json:
        typer.echo(f"note: {model} uses ONNX opset {old_opset}, older than onnxruntime runs; "
                   f"converted to opset {UPGRADE_OPSET} in {dest}.", err=True)
    if exported.reference == "onnx-reference" and not as_json:
        typer.echo("note: onnxruntime cannot run this graph (ezkl's reach is wider than its "
                   "type checker's); the float reference comes from onnx's reference "
                   "evaluator instead.", err=True)
    note = None
    if calibration is not None:
        cal = read_input_samples(calibration, declared)
    elif input_range is not None:
        try:
            lo, hi = (float(v) for v in input_range.split(","))
        except ValueError as e:
            raise ZkmlValueError(f"--range {input_range!r}: give LO,HI, e.g. --range 0,1.") \
                from e
        if not lo < hi:
            raise ZkmlValueError(f"--range {input_range!r}: LO must be below HI.")
        if len(declared) == 1:
            extra = _range_samples(lo, hi, gi.shape, gi.dtype)
        else:
            extra = np.hstack([_range_samples(lo, hi, [i.size], i.dtype) for i in declared])
        cal = np.concatenate([samples, extra])
    else:
        cal = samples
        lo, hi = float(samples.min()), float(samples.max())
        note = (f"calibrated on the {len(samples)} given input(s) only (values in [{lo:.4g}, "
                f"{hi:.4g}]): inputs far outside that range will be refused at prove time. "
                "Widen it with --calibration FILE (representative samples) or --range LO,HI.")
    np.save(d / BuildDir.CALIBRATION, cal)
    held = read_input_samples(eval_inputs, declared) if eval_inputs is not None else cal[:16]
    np.save(d / BuildDir.EVAL, held)
    BuildDir(d).save(exported, BuildDir.EXPORTED)
    if note and not as_json:
        typer.echo(f"note: {note}", err=True)
    _emit({**exported.model_dump(), "dir": str(d), "calibration_samples": len(cal),
           "note": note}, as_json,
          f"imported {exported.name}: input{'s' if len(declared) > 1 else ''} "
          + ", ".join(f"{i.name!r} {tuple(i.shape)} {i.dtype}" for i in declared) + " -> output "
          f"{tuple(exported.output_shape)}; ops {', '.join(exported.ops)}\n"
          f"  {len(cal)} calibration sample(s); next: zkml compile --dir {d}")


def _load(path: Path, example: Any, name: str) -> ExportedModel:
    """``load_onnx``; a graph without a float reference is imported all the same, with a plain
    warning on stderr (printed as is: an engine's message may hold brackets)."""
    import warnings

    from zkml.model.export import load_onnx
    from zkml.model.reference import NoReferenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exported = load_onnx(path, example, name=name)
    for w in caught:
        if issubclass(w.category, NoReferenceWarning):
            typer.echo(f"warning: {w.message}", err=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return exported


@app.command("inspect")
@handle_errors
def inspect_cmd(
    model: Annotated[Path, typer.Argument(help="The .onnx file.")],
    as_json: JsonOpt = False,
) -> None:
    """What proving this model would take, in about a second (no calibration): its ops and
    whether ezkl can lay each out, parameters, rows, logrows, memory and prove time."""
    from collections import Counter

    import numpy as np
    from onnx import numpy_helper

    from zkml.circuit.compile import CompileConfig
    from zkml.circuit.layout import estimate_cost, estimate_rows_of
    from zkml.errors import InputError, UnsupportedOpError
    from zkml.model.export import check_onnx
    from zkml.model.inputs import graph_inputs

    try:
        data = model.read_bytes()
    except OSError as e:
        raise InputError(f"{model}: cannot read the ONNX file ({e.strerror}).") from e
    graph = check_onnx(data, source=str(model))
    ops = Counter(n.op_type for n in graph.graph.node)
    params = int(sum(np.prod(numpy_helper.to_array(i).shape) for i in graph.graph.initializer))
    status = {op: "ok" for op in ops}
    report: dict[str, Any] = {
        "model": str(model), "inputs": [i.__dict__ for i in graph_inputs(graph)],
        "parameters": params, "nodes": sum(ops.values()), "ops": dict(sorted(ops.items())),
    }
    # ezkl's default layout: what `zkml import` + `zkml compile` start from
    defaults = CompileConfig(decomp_base=16384, decomp_legs=2, num_inner_cols=2)
    try:
        rows, logrows = estimate_rows_of(model, config=defaults)
    except UnsupportedOpError as e:
        for op in e.ops:
            status[op] = f"not implemented in ezkl (node {', '.join(e.nodes)})"
        report.update(status=status, provable=False, error=str(e))
        _emit(report, as_json, _human(report))
        raise typer.Exit(1) from None
    cost = estimate_cost(logrows, defaults.num_inner_cols)
    report.update(status=status, provable=True, rows=rows, logrows=logrows,
                  estimate={"prove_seconds": round(cost.prove_seconds, 1),
                            "proving_key_gb": round(cost.proving_key_bytes / 1e9, 3),
                            "peak_memory_gb": round(cost.peak_memory_bytes / 1e9, 3),
                            "basis": "ezkl default settings, layout before calibration, "
                                     "measured cost per cell on a 2-core machine"})
    _emit(report, as_json, _human(report))


def _human(r: dict[str, Any]) -> str:
    lines = [f"{r['model']}: {r['nodes']} nodes, {r['parameters']:,} parameters; inputs "
             + ", ".join(f"{i['name']} {tuple(i['shape'])} {i['dtype']}" for i in r["inputs"])]
    lines += [f"  {op:<22} x{n:<4} {r['status'][op]}" for op, n in r["ops"].items()]
    if r["provable"]:
        e = r["estimate"]
        lines.append(f"  rows {r['rows']:,} -> logrows {r['logrows']}; proving "
                     f"~{e['prove_seconds']} s, proving key ~{e['proving_key_gb']} GB, peak "
                     f"~{e['peak_memory_gb']} GB (ezkl defaults; `zkml compile --tune` may "
                     "shrink it)")
    else:
        lines.append(f"  NOT provable as is: {r['error']}")
    return "\n".join(lines)

