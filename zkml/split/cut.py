"""Cut an ONNX graph into K contiguous segments at tensor boundaries, balanced by rows.

A cut point is a place in the (topologically ordered) node list where exactly one computed
tensor crosses from the nodes before it to the nodes after it: that tensor becomes the
previous segment's output and the next segment's input, committed on both sides (ezkl's
``polycommit``). The graph is first cut at every such point into blocks; ezkl lays each block
out (rows, in about a second) and a linear partition groups the blocks into K segments whose
largest row count is as small as possible, since the largest segment sets the shared logrows
and so every segment's proving memory.
"""

from __future__ import annotations

import itertools
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zkml import cache
from zkml.circuit.compile import CompileConfig
from zkml.circuit.cost import estimate_cost, max_logrows_for_memory
from zkml.circuit.layout import estimate_rows_of
from zkml.errors import CompileError, ZkmlValueError

if TYPE_CHECKING:
    import onnx

__all__ = ["CutPlan", "cut_points", "plan_cuts", "choose_segments", "write_segments",
           "segment_logrows"]


@dataclass(frozen=True)
class CutPlan:
    """Where to cut: ``boundaries[i]`` is the tensor between segment i and i + 1."""

    #: node index ranges [start, end) of each segment
    ranges: list[tuple[int, int]]
    boundaries: list[str]
    #: the layout estimate of rows of each segment (sum of its blocks)
    rows: list[int]


def _load(onnx_path: Path) -> onnx.ModelProto:
    import onnx

    model = onnx.load(str(onnx_path))
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - boundaries without a known shape are skipped below
        return model


def cut_points(model: onnx.ModelProto) -> list[tuple[int, str]]:
    """Every (node index, tensor) where the graph can be cut before that node.

    Only computed float tensors of a fully known shape qualify, crossed alone (a residual
    connection spanning the point rules it out), and never a graph output.
    """
    g = model.graph
    static = {i.name for i in g.initializer}
    # Constant subgraphs (shapes, Constant nodes) are copied into whichever segment needs them.
    dynamic = {i.name for i in g.input if i.name not in static}
    for n in g.node:
        if any(i in dynamic for i in n.input):
            dynamic.update(o for o in n.output if o)
    shapes: dict[str, list[int]] = {}
    for vi in [*g.value_info, *g.input, *g.output]:
        t = vi.type.tensor_type
        if t.elem_type == 1 and all(d.HasField("dim_value") for d in t.shape.dim):
            shapes[vi.name] = [d.dim_value for d in t.shape.dim]
    last_use: dict[str, int] = {}
    for idx, n in enumerate(g.node):
        for i in n.input:
            last_use[i] = idx
    outputs = {o.name for o in g.output}
    points = []
    live: set[str] = set(dynamic & {i.name for i in g.input})
    for idx, n in enumerate(g.node):
        if idx > 0:
            crossing = {t for t in live if last_use.get(t, -1) >= idx}
            if len(crossing) == 1:
                (t,) = crossing
                if t in shapes and t not in outputs and t not in {i.name for i in g.input}:
                    points.append((idx, t))
        live.update(o for o in n.output if o in dynamic)
    return points


def _extract(model: onnx.ModelProto, inputs: list[str], outputs: list[str]) -> onnx.ModelProto:
    import onnx.utils

    return onnx.utils.Extractor(model).extract_model(inputs, outputs)


def _block_rows(model: onnx.ModelProto, names: list[str], preset: str,
                config: CompileConfig) -> list[int]:
    import onnx

    work = cache.private_workdir("cut")
    try:
        rows = []
        for k in range(len(names) - 1):
            path = work / f"block{k}.onnx"
            onnx.save(_extract(model, [names[k]], [names[k + 1]]), str(path))
            rows.append(estimate_rows_of(path, preset=preset, config=config)[0])
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _partition(rows: list[int], k: int) -> list[int]:
    """Split ``rows`` into ``k`` contiguous groups minimising the largest sum; returns the
    indices where groups 2..k start (a classic linear-partition dynamic programme)."""
    n = len(rows)
    prefix = [0]
    for r in rows:
        prefix.append(prefix[-1] + r)
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(k + 1)]
    back = [[0] * (n + 1) for _ in range(k + 1)]
    best[0][0] = 0
    for j in range(1, k + 1):
        for i in range(j, n + 1):
            for s in range(j - 1, i):
                cost = max(best[j - 1][s], prefix[i] - prefix[s])
                if cost < best[j][i]:
                    best[j][i], back[j][i] = cost, s
    starts, i = [], n
    for j in range(k, 0, -1):
        i = back[j][i]
        starts.append(i)
    return sorted(starts)[1:]


def plan_cuts(onnx_path: Path, segments: int, *, preset: str = "private-input",
              config: CompileConfig | None = None) -> CutPlan:
    """Plan ``segments`` contiguous segments of the graph, balanced by estimated rows.

    Raises:
        ZkmlValueError: ``segments`` < 1.
        CompileError: the graph has fewer cut points than ``segments - 1`` (it names how many).
    """
    if segments < 1:
        raise ZkmlValueError(f"segments must be at least 1, not {segments}.")
    cfg = config or CompileConfig()
    model = _load(onnx_path)
    points = cut_points(model)
    if segments - 1 > len(points):
        raise CompileError(
            f"{onnx_path.name} can be cut in {len(points)} place(s) only (single tensors between "
            f"layers), so at most {len(points) + 1} segments; ask for fewer segments.")
    g = model.graph
    names = [g.input[0].name, *(t for _, t in points), g.output[0].name]
    rows = _block_rows(model, names, preset, cfg) if segments > 1 else [0]
    starts = _partition(rows, segments) if segments > 1 else []
    bounds = [0, *starts, len(rows)]
    node_at = [0, *(i for i, _ in points), len(g.node)]
    return CutPlan(
        ranges=[(node_at[a], node_at[b]) for a, b in itertools.pairwise(bounds)],
        boundaries=[names[s] for s in starts],
        rows=[sum(rows[a:b]) for a, b in itertools.pairwise(bounds)],
    )


def segment_logrows(rows: int, config: CompileConfig) -> int:
    """The logrows a segment of ``rows`` needs at least (the range table sets a floor)."""
    return math.ceil(math.log2(max(rows, config.decomp_base) + 8))


def choose_segments(onnx_path: Path, *, max_memory: int | None, max_segments: int = 8,
                    preset: str = "private-input", config: CompileConfig | None = None
                    ) -> CutPlan:
    """The fewest segments whose estimated proving peak fits ``max_memory`` bytes (default:
    what this machine's memory allows one proof, as the compile step assumes).

    Raises:
        CompileError: even the finest cut does not fit (the error gives the smallest peak).
    """
    cfg = config or CompileConfig()
    if max_memory is None:
        budget = estimate_cost(max_logrows_for_memory(cfg.num_inner_cols),
                               cfg.num_inner_cols).peak_memory_bytes
    else:
        budget = max_memory
    points = len(cut_points(_load(onnx_path)))
    peak = 0
    for k in range(1, min(max_segments, points + 1) + 1):
        plan = plan_cuts(onnx_path, k, preset=preset, config=cfg)
        if k == 1:
            rows, _ = estimate_rows_of(onnx_path, preset=preset, config=cfg)
            plan = CutPlan(plan.ranges, [], [rows])
        peak = estimate_cost(segment_logrows(max(plan.rows), cfg),
                             cfg.num_inner_cols).peak_memory_bytes
        if peak <= budget:
            return plan
    raise CompileError(
        f"no cut of {onnx_path.name} into at most {min(max_segments, points + 1)} segments "
        f"fits {budget / 1e9:.1f} GB per proof (the finest needs about {peak / 1e9:.1f} GB); "
        "raise --max-memory, or use a model with more places to cut (single tensors between "
        "layers).")


def write_segments(onnx_path: Path, plan: CutPlan, out_dir: Path) -> list[Path]:
    """Write each segment of ``plan`` as its own ONNX file (``segment{i}.onnx``)."""
    import onnx

    model = _load(onnx_path)
    g = model.graph
    names = [g.input[0].name, *plan.boundaries, g.output[0].name]
    paths = []
    for i in range(len(plan.ranges)):
        path = out_dir / f"segment{i}.onnx"
        onnx.save(_extract(model, [names[i]], [names[i + 1]]), str(path))
        paths.append(path)
    return paths
