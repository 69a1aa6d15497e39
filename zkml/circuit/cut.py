"""Cut an ONNX graph into K contiguous segments at tensor boundaries, balanced by rows.

A cut point is a place in the (topologically ordered) node list; the computed tensors that
cross it (made before, used after; at most :data:`MAX_BOUNDARY_TENSORS`) become the previous
segment's outputs and the next segment's inputs, committed on both sides (ezkl's
``polycommit``). A tensor that crosses several cuts (a residual connection, the model input
carried past a layer cut into channel groups) passes through the segments between, each
committing it again. The graph is first cut at every such point into blocks; ezkl lays each
block out (rows, in about a second) and a linear partition groups the blocks into K segments
whose largest row count is as small as possible, since the largest segment sets the shared
logrows and so every segment's proving memory. A layer too big for one segment's share is
first rewritten as output-channel groups (:mod:`zkml.circuit.cut_layers`), which adds cut points
inside it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from zkml.circuit.compile import CompileConfig
from zkml.circuit.cost import estimate_cost, max_logrows_for_memory
from zkml.circuit.cut_layers import split_layers, splittable_channels
from zkml.circuit.layout import estimate_rows_of
from zkml.circuit.segments import block_rows, check_rows_per_value, tensor_values
from zkml.errors import CompileError, ZkmlValueError

if TYPE_CHECKING:
    import onnx

__all__ = ["CutPlan", "cut_points", "plan_cuts", "choose_segments", "write_segments",
           "segment_logrows", "segment_model", "MAX_BOUNDARY_TENSORS"]

#: the most tensors one boundary may carry (each costs a commitment in both proofs)
MAX_BOUNDARY_TENSORS = 8
#: blocks laid out when planning (each costs one ezkl layout); fewer-tensor points first
_MAX_POINTS = 48
#: a segment this much above the even share is worth cutting a layer into channel groups
_IMBALANCE = 1.25
_CARRY = "__zkml_carry"


@dataclass(frozen=True)
class CutPlan:
    """Where to cut: ``boundaries[i]`` are the tensors between segment i and i + 1."""

    #: node index ranges [start, end) of each segment, in the graph after ``layer_groups``
    ranges: list[tuple[int, int]]
    boundaries: list[list[str]]
    #: the layout estimate of rows of each segment (sum of its blocks)
    rows: list[int]
    #: layers cut into output-channel groups: node name -> groups
    layer_groups: dict[str, int] = field(default_factory=dict)


def _load(onnx_path: Path) -> onnx.ModelProto:
    import onnx

    model = onnx.load(str(onnx_path))
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - boundaries without a known shape are skipped below
        return model


def _graph_inputs(model: onnx.ModelProto) -> list[str]:
    static = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in static]


def _revealing(model: onnx.ModelProto, dynamic: set[str]) -> set[str]:
    """The tensors computed from the graph inputs without any float weight (the inputs
    themselves, reshapes, slices, ReLUs of them...): whoever guesses the input can compute
    them, and so confirm the guess against a boundary commitment, which is not blinded."""
    g = model.graph
    weights = {i.name for i in g.initializer if i.data_type in (1, 10, 11)}  # float types
    revealing = set(_graph_inputs(model))
    for n in g.node:
        dyn = [i for i in n.input if i in dynamic]
        if dyn and all(i in revealing for i in dyn) and not any(i in weights for i in n.input):
            revealing.update(o for o in n.output if o)
    return revealing


def cut_points(model: onnx.ModelProto, max_tensors: int = MAX_BOUNDARY_TENSORS, *,
               hide_inputs: bool = False) -> list[tuple[int, list[str]]]:
    """Every (node index, crossing tensors) where the graph can be cut before that node.

    The crossing tensors are listed in the order they were made (graph inputs first). A point
    qualifies when the node before it computes something (not a constant), at most
    ``max_tensors`` tensors cross, each a float tensor of a fully known shape and none a graph
    output, and not only graph inputs cross (the segment before would compute nothing). With
    ``hide_inputs`` (the input is not public) no crossing tensor may be computable from the
    input without the model's weights: its unblinded commitment would let anyone confirm a
    guessed input.
    """
    g = model.graph
    inputs = _graph_inputs(model)
    # Constant subgraphs (shapes, Constant nodes) are copied into whichever segment needs them.
    dynamic = set(inputs)
    for n in g.node:
        if any(i in dynamic for i in n.input):
            dynamic.update(o for o in n.output if o)
    hidden = _revealing(model, dynamic) if hide_inputs else set()
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
    live = list(inputs)
    for idx, n in enumerate(g.node):
        if idx > 0 and any(o in dynamic for o in g.node[idx - 1].output):
            crossing = [t for t in live if last_use.get(t, -1) >= idx]
            if (crossing and len(crossing) <= max_tensors
                    and all(t in shapes and t not in outputs and t not in hidden
                            for t in crossing)
                    and not set(crossing) <= set(inputs)):
                points.append((idx, crossing))
        live.extend(o for o in n.output if o in dynamic and o not in live)
    return points


def segment_model(model: onnx.ModelProto, inputs: list[str], outputs: list[str],
                  *, carry: bool = True) -> onnx.ModelProto:
    """The part of ``model`` from tensors ``inputs`` to tensors ``outputs`` (in those orders).

    An output that is also an input passes through an ``Identity`` (renamed, since ONNX has
    no graph output equal to an input) when ``carry``; else it is left out and an input no
    node reads is dropped (the layout of the computing part only, for the row estimate).
    """
    import onnx.utils
    from onnx import helper

    computed = [t for t in outputs if t not in inputs]
    passed = [t for t in outputs if t in inputs] if carry else []
    if not computed:
        raise CompileError(f"a segment from {inputs} to {outputs} computes nothing; this "
                           "cut plan is not usable.")
    m = onnx.utils.Extractor(model).extract_model(inputs, computed)
    g = m.graph
    read = {i for n in g.node for i in n.input}
    keep = [vi for vi in g.input if vi.name in read or vi.name in passed]
    del g.input[:]
    g.input.extend(keep)
    by_name = {vi.name: vi for vi in [*g.input, *g.output]}
    for t in passed:
        g.node.append(helper.make_node("Identity", [t], [t + _CARRY], name=t + _CARRY))
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(by_name[t])
        vi.name = t + _CARRY
        by_name[t + _CARRY] = vi
    ordered = [by_name[t + _CARRY if t in passed else t] for t in outputs if t in computed
               or t in passed]
    del g.output[:]
    g.output.extend(ordered)
    return m


def _partition(rows: list[int], k: int, edges: list[int] | None = None) -> list[int]:
    """Split ``rows`` into ``k`` contiguous groups minimising the largest cost; returns the
    indices where groups 2..k start (a classic linear-partition dynamic programme). A group
    of blocks [s, i) costs their rows plus ``edges[s] + edges[i]`` (the range checks of the
    tensors crossing its two ends; ``edges`` has one entry per block boundary, n + 1)."""
    n = len(rows)
    edge = edges or [0] * (n + 1)
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
                cost = max(best[j - 1][s], prefix[i] - prefix[s] + edge[s] + edge[i])
                if cost < best[j][i]:
                    best[j][i], back[j][i] = cost, s
    starts, i = [], n
    for j in range(k, 0, -1):
        i = back[j][i]
        starts.append(i)
    return sorted(starts)[1:]


@dataclass(frozen=True)
class _Blocks:
    model: onnx.ModelProto
    points: list[tuple[int, list[str]]]
    #: computing rows of each block
    rows: list[int]
    #: range-check rows of the tensors at each block boundary (n + 1: model input first)
    edges: list[int]


def _hides_input(preset: str) -> bool:
    from zkml.presets import get_preset

    return get_preset(preset).input_visibility != "public"


def _blocks(model: onnx.ModelProto, preset: str, cfg: CompileConfig) -> _Blocks:
    points = cut_points(model, hide_inputs=_hides_input(preset))
    if len(points) > _MAX_POINTS:
        points = sorted(sorted(points, key=lambda p: (len(p[1]), p[0]))[:_MAX_POINTS])
    names = [_graph_inputs(model), *(t for _, t in points), [model.graph.output[0].name]]
    blocks = [segment_model(model, names[k], names[k + 1], carry=False)
              for k in range(len(names) - 1)]
    per_value = check_rows_per_value(preset, cfg)
    return _Blocks(model, points, block_rows(blocks, preset, cfg),
                   [math.ceil(per_value * tensor_values(model, n)) for n in names])


def _group(blocks: _Blocks, segments: int, groups: dict[str, int]) -> CutPlan:
    rows, points, edges = blocks.rows, blocks.points, blocks.edges
    starts = _partition(rows, segments, edges)
    bounds = [0, *starts, len(rows)]
    node_at = [0, *(i for i, _ in points), len(blocks.model.graph.node)]
    return CutPlan(
        ranges=[(node_at[a], node_at[b]) for a, b in itertools.pairwise(bounds)],
        boundaries=[points[s - 1][1] for s in starts],
        rows=[sum(rows[a:b]) + edges[a] + edges[b] for a, b in itertools.pairwise(bounds)],
        layer_groups=dict(groups),
    )


def _heaviest_layer(model: onnx.ModelProto, nodes: range, skip: dict[str, int],
                    base: onnx.ModelProto | None = None) -> str | None:
    """The splittable layer of the largest weight among ``nodes`` (by its name in the
    original graph; with ``base``, a layer already cut into groups counts too, as long as
    it has channels left for more groups), not in ``skip``."""
    import math as _m

    from zkml.circuit.cut_layers import GROUP_SUFFIX

    weights = {t.name: _m.prod(t.dims) for t in model.graph.initializer}
    originals = {n.name: n for n in (base or model).graph.node}
    best: tuple[int, str] | None = None
    for idx in nodes:
        n = model.graph.node[idx]
        name = n.name.split(GROUP_SUFFIX)[0] if base is not None else n.name
        if not name or name in skip or (base is None and GROUP_SUFFIX in n.name):
            continue
        if name not in originals or splittable_channels(base or model, originals[name]) < 2:
            continue
        size = weights.get(n.input[1], 0) if len(n.input) > 1 else 0
        if best is None or size > best[0]:
            best = (size, name)
    return best[1] if best else None


def _node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    node: onnx.NodeProto = next(n for n in model.graph.node if n.name == name)
    return node


def _named(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give every node a unique name (layer_groups refers to layers by name)."""
    seen: set[str] = set()
    for idx, n in enumerate(model.graph.node):
        if not n.name or n.name in seen:
            n.name = f"{n.op_type}_{idx}__zkml"
        seen.add(n.name)
    return model


def plan_cuts(onnx_path: Path, segments: int, *, preset: str = "private-input",
              config: CompileConfig | None = None) -> CutPlan:
    """Plan ``segments`` contiguous segments of the graph, balanced by estimated rows.

    When the graph has too few cut points, or one segment ends up well above the even share
    of rows, its heaviest Gemm / MatMul / Conv is cut into output-channel groups (greedily, up
    to four steps, kept only if the shared logrows drops), which adds cut points and evens the
    segments out. With a private input, no boundary is computable from the input without the
    weights (:func:`cut_points` ``hide_inputs``).

    Raises:
        ZkmlValueError: ``segments`` < 1.
        CompileError: the graph has more than one output, or too few cut points even after
            cutting layers into channel groups (it names how many).
    """
    if segments < 1:
        raise ZkmlValueError(f"segments must be at least 1, not {segments}.")
    cfg = config or CompileConfig()
    base = _named(_load(onnx_path))
    if len(base.graph.output) != 1:
        raise CompileError(f"{onnx_path.name} has {len(base.graph.output)} outputs; split "
                           "proving takes a model of one output: compile without segments.")
    if segments == 1:
        return CutPlan(ranges=[(0, len(base.graph.node))], boundaries=[], rows=[0])
    groups: dict[str, int] = {}
    model = base
    hide = _hides_input(preset)
    points = cut_points(model, hide_inputs=hide)
    tried: dict[str, int] = {}
    while segments - 1 > len(points):
        # too few places to cut: cut the biggest layer into as many groups as segments
        name = _heaviest_layer(model, range(len(model.graph.node)), {**groups, **tried})
        if name is None:
            private = (" and, as the input is not public, none computable from it without "
                       "the weights" if hide else "")
            raise CompileError(
                f"{onnx_path.name} can be cut in {len(points)} place(s) only (at most "
                f"{MAX_BOUNDARY_TENSORS} float tensors crossing{private}; no Gemm/MatMul/Conv "
                f"left to cut into channel groups), so at most {len(points) + 1} segments; ask "
                "for fewer segments.")
        node = next(n for n in model.graph.node if n.name == name)
        trial = {**groups, name: min(segments, splittable_channels(model, node))}
        more = cut_points(split_layers(base, trial), hide_inputs=hide)
        if len(more) == len(points):  # e.g. its groups would carry a private input: no gain
            tried[name] = 0
            continue
        groups = trial
        model = split_layers(base, groups)
        points = more
    blocks = _blocks(model, preset, cfg)
    plan = _group(blocks, segments, groups)

    def logrows(p: CutPlan) -> int:
        return segment_logrows(max(p.rows), cfg)

    # Greedy: cut the heaviest layer of the largest segment into the group count that
    # lowers the largest segment most, up to four layers; keep the result only if it lowers
    # the shared logrows, since proving cost follows 2^logrows: a cut that only evens rows
    # out below the same logrows adds boundaries (commitments, range checks) for nothing.
    start_plan, start_groups = plan, dict(groups)
    for _ in range(4):
        share = sum(plan.rows) / segments
        worst = max(range(segments), key=lambda i: plan.rows[i])
        if plan.rows[worst] <= _IMBALANCE * share:
            break
        full = {k: v for k, v in groups.items()
                if v >= splittable_channels(base, _node(base, k))}
        name = _heaviest_layer(model, range(*plan.ranges[worst]), full, base)
        if name is None:
            break
        channels = splittable_channels(base, _node(base, name))
        best: tuple[tuple[int, int], dict[str, int], _Blocks, CutPlan] | None = None
        for n_groups in range(groups.get(name, 1) + 1, min(channels, 2 * segments) + 1):
            trial = {**groups, name: n_groups}
            candidate = _blocks(split_layers(base, trial), preset, cfg)
            if len(candidate.rows) < segments:
                continue
            option = _group(candidate, segments, trial)
            score = (max(option.rows), n_groups)
            if best is None or score < best[0]:
                best = (score, trial, candidate, option)
        if best is None or best[0][0] >= max(plan.rows):
            break
        groups, model, plan = best[1], best[2].model, best[3]
    if plan is not start_plan and logrows(plan) >= logrows(start_plan):
        plan, groups = start_plan, start_groups
    return plan


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
    peak, tried = 0, 0
    for k in range(1, max_segments + 1):
        try:
            plan = plan_cuts(onnx_path, k, preset=preset, config=cfg)
        except CompileError:
            if k == 1:
                raise
            break
        tried = k
        if k == 1:
            rows, _ = estimate_rows_of(onnx_path, preset=preset, config=cfg)
            plan = CutPlan(plan.ranges, [], [rows])
        peak = estimate_cost(segment_logrows(max(plan.rows), cfg),
                             cfg.num_inner_cols).peak_memory_bytes
        if peak <= budget:
            return plan
    raise CompileError(
        f"no cut of {onnx_path.name} into at most {tried} segments fits {budget / 1e9:.1f} GB "
        f"per proof (the finest needs about {peak / 1e9:.1f} GB); raise --max-memory, or use a "
        "model with more places to cut"
        + (" (the input is not public, so the layer reading it is never cut into channel "
           "groups and may set the floor)." if _hides_input(preset) else "."))


def write_segments(onnx_path: Path, plan: CutPlan, out_dir: Path) -> list[Path]:
    """Write each segment of ``plan`` as its own ONNX file (``segment{i}.onnx``): inputs are
    the boundary before it (the graph's inputs for the first), outputs the boundary after it
    (the graph's output for the last), in the plan's order."""
    import onnx

    model = split_layers(_named(_load(onnx_path)), plan.layer_groups)
    names = [_graph_inputs(model), *plan.boundaries, [model.graph.output[0].name]]
    paths = []
    for i in range(len(plan.ranges)):
        path = out_dir / f"segment{i}.onnx"
        onnx.save(segment_model(model, names[i], names[i + 1]), str(path))
        paths.append(path)
    return paths
