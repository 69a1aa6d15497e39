"""The op-coverage corpus: one tiny seeded model per operator family, each run through
export -> compile -> setup -> prove -> verify (``tests/integration/test_op_corpus.py``).

Every model is built here in code (seeded weights, inputs the code makes; nothing is
downloaded). Each :class:`Entry` states the status measured with ezkl 23 and zkml's default
:class:`~zkml.circuit.compile.CompileConfig`: ``"ok"`` (compiles, proves, verifies and the
proven outputs are within ``tolerance`` of onnxruntime's) or ``"unsupported: <why>"`` (what
ezkl fails on). The test asserts that status, so a regression or a fix both fail it until the
entry is updated.

Regenerate the table in ``docs/op-coverage.md`` (about a minute on 2 cores)::

    python -m circuits.corpus --table docs/op-coverage.md
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["ENTRIES", "Entry", "Result", "by_name", "calibration", "run", "table"]

#: calibration: the example plus this many seeded perturbations of it
CALIBRATION_EXTRA = 7
#: default tolerance on |proven - onnxruntime| for float outputs: fixed point at the calibrated
#: scale (the measured errors are in docs/op-coverage.md; most are below 0.02)
TOLERANCE = 0.05


@dataclass(frozen=True)
class Entry:
    """One corpus model: what it covers, how to build it, and the measured expectation."""

    name: str
    covers: str  # the operator family it exercises, in the words
    build: Callable[[], tuple[Any, np.ndarray]]  # seeded (model, example input)
    #: as measured: "ok", "unsupported: <why>" (ezkl fails), or "wrong: <why>" (the proof
    #: verifies but its outputs are not the model's: recorded so a fix shows up)
    expected: str = "ok"
    tolerance: float = TOLERANCE  # max |proven - float| allowed (float outputs)
    exact: bool = False  # integer outputs (indices, comparisons): proven == float exactly
    id_range: int | None = None  # integer input: ids drawn from [0, id_range)
    spread: float = 0.3  # std of the calibration perturbations (float inputs)

    @property
    def expected_status(self) -> str:
        return self.expected.split(":", 1)[0]


@dataclass
class Result:
    """What one corpus run measured (one row of the table)."""

    name: str
    ops: list[str]
    status: str  # "ok", "unsupported" (ezkl failed), "wrong" (verified, outputs off)
    detail: str = ""
    logrows: int | None = None
    rows: int | None = None
    prove_seconds: float | None = None
    max_abs_error: float | None = None
    verified: bool | None = None


# --------------------------------------------------------------------------- the models

def _seed(seed: int = 0) -> np.random.Generator:
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _x(*shape: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return (rng.uniform(-1.0, 1.0, size=shape) * scale).astype(np.float32)


class _Fn(nn.Module):
    """A module around a function of its input (with optional layers it uses)."""

    def __init__(self, fn: Callable[..., torch.Tensor], **layers: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.layers = nn.ModuleDict(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x, **dict(self.layers.items()))


def _layer(make: Callable[[], nn.Module], *shape: int) -> Callable[[], tuple[Any, np.ndarray]]:
    def build() -> tuple[Any, np.ndarray]:
        _seed()
        return make(), _x(*shape)

    return build


def _fn(fn: Callable[..., torch.Tensor], *shape: int, **layers: Callable[[], nn.Module]
        ) -> Callable[[], tuple[Any, np.ndarray]]:
    def build() -> tuple[Any, np.ndarray]:
        _seed()
        return _Fn(fn, **{k: make() for k, make in layers.items()}), _x(*shape)

    return build


def _batchnorm() -> tuple[Any, np.ndarray]:
    rng = _seed()
    bn = nn.BatchNorm2d(2)
    assert bn.running_mean is not None and bn.running_var is not None
    with torch.no_grad():  # running statistics that are not the identity
        bn.running_mean.copy_(torch.as_tensor(rng.normal(0, 0.2, 2)))
        bn.running_var.copy_(torch.as_tensor(rng.uniform(0.5, 1.5, 2)))
        bn.weight.copy_(torch.as_tensor(rng.uniform(0.5, 1.5, 2)))
        bn.bias.copy_(torch.as_tensor(rng.normal(0, 0.2, 2)))
    return bn, _x(1, 2, 3, 3)


def _embedding() -> tuple[Any, np.ndarray]:
    _seed()
    emb = nn.Embedding(10, 4)
    return _Fn(lambda x, emb: emb(x), emb=emb), np.array([[1, 4, 7, 9, 0]], dtype=np.int64)


def _rnn(kind: type[nn.LSTM] | type[nn.GRU]) -> Callable[[], tuple[Any, np.ndarray]]:
    def build() -> tuple[Any, np.ndarray]:
        _seed()
        return _Fn(lambda x, rnn: rnn(x)[0], rnn=kind(3, 4, batch_first=True)), _x(1, 3, 3)

    return build


def _attention(x: torch.Tensor, q: nn.Module, k: nn.Module, v: nn.Module) -> torch.Tensor:
    scores = q(x) @ k(x).transpose(-1, -2) / math.sqrt(x.shape[-1])
    out: torch.Tensor = torch.softmax(scores, dim=-1) @ v(x)
    return out


def _forest() -> tuple[Any, np.ndarray]:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, size=(120, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] > 0).astype(np.int64)
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    return forest, X[:1]


def _lin(i: int, o: int) -> Callable[[], nn.Module]:
    return lambda: nn.Linear(i, o)


ENTRIES: tuple[Entry, ...] = (
    Entry("gemm", "Gemm", _layer(lambda: nn.Linear(4, 3), 1, 4)),
    Entry("matmul", "MatMul", _fn(lambda x, w: x @ w.weight.T, 1, 3, 4, w=_lin(4, 2))),
    Entry("conv1d", "Conv1d", _layer(lambda: nn.Conv1d(1, 2, 3), 1, 1, 8)),
    Entry("conv2d", "Conv2d", _layer(lambda: nn.Conv2d(1, 2, 3), 1, 1, 5, 5)),
    Entry("conv-transpose", "ConvTranspose", _layer(lambda: nn.ConvTranspose2d(1, 1, 2, stride=2),
                                                     1, 1, 3, 3)),
    Entry("batchnorm", "BatchNorm", _batchnorm),
    Entry("layernorm", "LayerNorm", _layer(lambda: nn.LayerNorm(6), 1, 2, 6)),
    Entry("relu", "ReLU", _layer(lambda: nn.ReLU(), 1, 8)),
    Entry("leaky-relu", "LeakyReLU", _layer(lambda: nn.LeakyReLU(0.1), 1, 8)),
    Entry("sigmoid", "Sigmoid", _layer(lambda: nn.Sigmoid(), 1, 8)),
    Entry("tanh", "Tanh", _layer(lambda: nn.Tanh(), 1, 8)),
    Entry("gelu", "GELU", _layer(lambda: nn.GELU(), 1, 8)),
    Entry("softmax", "Softmax", _layer(lambda: nn.Softmax(dim=-1), 1, 8)),
    Entry("maxpool", "MaxPool", _layer(lambda: nn.MaxPool2d(2), 1, 1, 4, 4)),
    Entry("avgpool", "AvgPool", _layer(lambda: nn.AvgPool2d(2), 1, 1, 4, 4)),
    Entry("upsample", "Upsample/Resize (nearest)",
          _layer(lambda: nn.Upsample(scale_factor=2, mode="nearest"), 1, 1, 2, 2)),
    Entry("upsample-bilinear", "Upsample/Resize (bilinear)",
          _layer(lambda: nn.Upsample(scale_factor=2, mode="bilinear"), 1, 1, 2, 2),
          expected="wrong: ezkl proves Resize mode=linear as nearest-neighbour (each input "
          "pixel repeated; onnxruntime interpolates): verifies, max abs error 0.29"),
    Entry("where", "Where, Greater",
          _fn(lambda x: torch.where(x > 0.2, x, -0.5 * x), 1, 8)),
    Entry("compare", "Less, Equal, Cast (0/1 outputs)",
          _fn(lambda x: torch.cat([(x[:, :4] < x[:, 4:]).float(),
                                   (torch.round(x[:, :4] * 2) == 1.0).float()], dim=1), 1, 8),
          exact=True),
    Entry("topk", "TopK (values)", _fn(lambda x: torch.topk(x, 3).values, 1, 8)),
    Entry("topk-indices", "TopK (indices)", _fn(lambda x: torch.topk(x, 3).indices, 1, 8),
          exact=True,
          expected="unsupported: ezkl cannot lay out TopK's second output (the indices): "
          "gen_settings fails with 'a requested node is missing in the graph: 1'"),
    Entry("argmax", "ArgMax", _fn(lambda x: torch.argmax(x, dim=-1, keepdim=True), 1, 8),
          exact=True),
    Entry("concat", "Concat", _fn(lambda x: torch.cat([x, 2 * x], dim=1), 1, 2, 3)),
    Entry("slice", "Slice", _fn(lambda x: x[:, :, 1:4], 1, 2, 6)),
    Entry("gather", "Gather", _fn(lambda x: x[:, torch.tensor([3, 0, 2])], 1, 6)),
    Entry("reshape", "Reshape", _fn(lambda x: x.reshape(1, 3, 4) * 2, 1, 12)),
    Entry("transpose", "Transpose", _fn(lambda x: x.transpose(1, 2) * 2, 1, 2, 3)),
    Entry("embedding", "Embedding (int64 ids -> Gather)", _embedding, id_range=10),
    Entry("lstm", "LSTM", _rnn(nn.LSTM)),
    Entry("gru", "GRU", _rnn(nn.GRU)),
    Entry("self-attention", "one-head self-attention (MatMul, Softmax)",
          _fn(_attention, 1, 3, 4, q=_lin(4, 4), k=_lin(4, 4), v=_lin(4, 4))),
    Entry("residual", "residual Add",
          _fn(lambda x, f: x + torch.relu(f(x)), 1, 4, f=_lin(4, 4))),
    Entry("random-forest", "tree ensemble (RandomForest 3 x depth 3, hummingbird)", _forest),
)


def by_name(name: str) -> Entry:
    for entry in ENTRIES:
        if entry.name == name:
            return entry
    raise KeyError(f"no corpus entry {name!r}; choose one of: "
                   + ", ".join(e.name for e in ENTRIES))


def calibration(entry: Entry, example: np.ndarray, seed: int = 0) -> np.ndarray:
    """The example plus seeded perturbations, shaped (n, *example.shape); random valid ids
    for an integer input."""
    rng = np.random.default_rng(seed)
    shape = (CALIBRATION_EXTRA, *example.shape)
    if entry.id_range is not None:
        extra = rng.integers(0, entry.id_range, size=shape).astype(example.dtype)
    else:
        extra = (example + rng.normal(0.0, entry.spread, size=shape)).astype(example.dtype)
    return np.concatenate([example[None], extra])


# --------------------------------------------------------------------------- running one

def run(entry: Entry, workdir: str | Path) -> Result:
    """Export, compile, set up, prove and verify ``entry``; what happened, never raising for
    what ezkl cannot do (``ZkmlError`` from compile, setup or prove: status "unsupported")."""
    import zkml
    from zkml.model.export import run_onnx

    model, example = entry.build()
    exported = zkml.export(model, example, Path(workdir) / f"{entry.name}.onnx",
                           name=entry.name)
    result = Result(entry.name, exported.ops, status="ok")
    stage = "compile"
    try:
        circuit = zkml.compile_model(exported, calibration(entry, example))
        result.logrows, result.rows = circuit.logrows, circuit.num_rows
        stage = "setup"
        keys = zkml.setup(circuit)
        stage = "prove"
        start = time.perf_counter()
        bundle = zkml.prove(keys, example)
        result.prove_seconds = time.perf_counter() - start
        stage = "verify"
        result.verified = zkml.verify(bundle, keys)
    except zkml.ZkmlError as e:
        result.status, result.detail = "unsupported", f"{stage}: {type(e).__name__}: {e}"
        return result
    reference = run_onnx(Path(exported.onnx_path).read_bytes(), example).ravel()
    proven = np.asarray(zkml.decoded_outputs(bundle), dtype=np.float64)
    if proven.shape != reference.shape:
        result.status = "wrong"
        result.detail = f"{proven.size} outputs proven, {reference.size} expected"
        return result
    result.max_abs_error = float(np.max(np.abs(proven - reference)))
    if not result.verified:
        result.status, result.detail = "wrong", "the proof did not verify"
    elif entry.exact and not np.array_equal(proven, reference):
        result.status, result.detail = "wrong", f"proven {proven}, expected {reference}"
    elif result.max_abs_error > entry.tolerance:
        result.status = "wrong"
        result.detail = f"max abs error {result.max_abs_error:.3g} > {entry.tolerance}"
    return result


# --------------------------------------------------------------------------- the table

def table(results: list[Result]) -> str:
    """docs/op-coverage.md: one row per entry."""
    by = {e.name: e for e in ENTRIES}
    lines = [
        "# Op coverage",
        "",
        "Generated by `python -m circuits.corpus --table docs/op-coverage.md` (the corpus is",
        "`circuits/corpus.py`; `tests/integration/test_op_corpus.py` proves every entry and",
        "asserts the status below). Each entry is a tiny seeded model built in code, compiled",
        "with zkml's default `CompileConfig` and preset `private-input`, calibrated on the",
        f"example plus {CALIBRATION_EXTRA} seeded perturbations (random valid ids for integer",
        "inputs). *Max abs error* is |proven output - onnxruntime| on the example; *tol* is",
        "what the test allows (`exact`: integer outputs must be equal). Prove seconds are wall",
        "time on the machine that generated the table.",
        "",
        "Reading it: the entries at logrows 13-14 (Sigmoid, Tanh, GELU's Erf, Softmax's Exp,",
        "LSTM/GRU gates, the comparisons' range checks) are sized by their lookup tables, not",
        "by their rows. A **wrong** status means the proof verifies but proves something other",
        "than the model (so a verifier cannot tell): avoid that op or replace it.",
        "",
        "| entry | covers | ONNX ops | status | logrows | rows | prove s | max abs error | tol |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(v: float | int | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    for r in results:
        e = by[r.name]
        if r.status == "ok":
            status = "ok"
        elif r.status == e.expected_status:  # as documented: the entry says why
            status = f"**{e.expected}**"
        else:
            status = f"**{r.status}** (expected {e.expected_status}): {r.detail[:300]}"
        status = status.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {r.name} | {e.covers} | {', '.join(r.ops)} | {status} | "
            f"{fmt(r.logrows, 'd')} | {fmt(r.rows, 'd')} | {fmt(r.prove_seconds, '.2f')} | "
            f"{fmt(r.max_abs_error, '.2g')} | {'exact' if e.exact else e.tolerance} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--table", type=Path, help="write the markdown table here")
    parser.add_argument("--only", nargs="*", help="entry names (default: all)")
    args = parser.parse_args(argv)
    entries = [by_name(n) for n in args.only] if args.only else list(ENTRIES)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in entries:
            r = run(entry, tmp)
            results.append(r)
            print(f"{r.name:16} {r.status:12} logrows={r.logrows} rows={r.rows} "
                  f"prove={r.prove_seconds} err={r.max_abs_error} {r.detail[:300]}",
                  flush=True)
    if args.table:
        args.table.write_text(table(results))


if __name__ == "__main__":
    main()
