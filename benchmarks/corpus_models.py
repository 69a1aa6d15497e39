"""The models of the public corpus benchmark (benchmarks/corpus.py, issue #22).

Every model is built here from what is installed, nothing is downloaded: torch modules (seeded),
scikit-learn's bundled datasets (iris, breast cancer, digits, diabetes), estimators converted
with hummingbird-ml in each of its tree strategies, and the ONNX files shipped inside the
``onnx`` package (its backend tests). The small op models of ``circuits/corpus.py`` and the
zoo (``circuits``) are imported, not copied.

A builder returns a :class:`~corpus_build.Built`: the ONNX bytes, the calibration samples
(n, *input shape; real data rows for the estimators, the example plus seeded perturbations
otherwise) and the one input that is proven. Builders import torch and the estimator
packages: call them in a child process (corpus.py does), never in the driver. The estimator
builders live in corpus_build.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from corpus_build import (
    CAL_N,
    CAL_N_BIG,
    Built,
    export_torch,
    perturbed,
    run_ort,
    sk_linreg,
    sk_logreg,
    sk_mlp,
    sk_svc,
    tree,
)

#: the tree strategies of hummingbird-ml, each run for each tree library
TREE_STRATEGIES = ("gemm", "tree_trav", "perf_tree_trav")
TREE_LIBS = ("sklearn", "xgboost", "lightgbm")
#: the families the issue asks for: each must be covered by at least one model
REQUIRED = (
    *(f"tree/{lib}/{s}" for lib in TREE_LIBS for s in TREE_STRATEGIES),
    "sklearn-mlp", "sklearn-linear", "sklearn-svc", "rnn", "gru", "lstm", "attention", "norm",
    "pooling", "resize", "conv-transpose", "onnx-backend", "cnn", "mlp", "regressor",
)


@dataclass(frozen=True)
class Model:
    name: str
    covers: tuple[str, ...]  # families (see REQUIRED)
    source: str  # what it is, in a few words
    build: Callable[[], Built]


# --------------------------------------------------------------------------- torch models

def _from_op_corpus(name: str) -> Callable[[], Built]:
    """An entry of circuits/corpus.py, with its own calibration (example + perturbations)."""
    def build() -> Built:
        from circuits import corpus

        entry = corpus.by_name(name)
        module, example = entry.build()
        example = np.asarray(example, dtype=np.float32)
        return Built(export_torch(module, example),
                     corpus.calibration(entry, example).astype(np.float32), example)

    return build


def _from_zoo(name: str, n: int = CAL_N) -> Callable[[], Built]:
    """A zoo model (circuits): its first n calibration samples (the zoo puts the range's
    corners first) and its first held-out input."""
    def build() -> Built:
        import circuits

        zoo = circuits.build(name)
        x = np.asarray(zoo.test_inputs[0], dtype=np.float32)
        cal = np.concatenate([np.asarray(zoo.calibration[: n - 1], np.float32), x[None]])
        return Built(export_torch(zoo.model, x), cal, x)

    return build


def _trained_digits(make: Callable[[], Any], size: int, epochs: int) -> Callable[[], Built]:
    """A CNN trained (seeded) on the bundled digits at size x size, as the zoo trains."""
    def build() -> Built:
        import torch

        from circuits import digits

        x_tr, x_te, y_tr, _ = digits.load(size, 0)
        torch.manual_seed(0)
        model = digits._train(make(), x_tr, y_tr, epochs, 0)
        corners = np.stack([np.zeros_like(x_tr[0]), np.ones_like(x_tr[0])])
        x = x_te[:1].astype(np.float32)
        cal = np.concatenate([corners, x_tr[: CAL_N_BIG - 3], x])[:, None]
        return Built(export_torch(model, x), cal.astype(np.float32), x)

    return build


def _lenet16() -> Any:
    """LeNet-5's layers (conv 5x5 -> 6, pool, conv 5x5 -> 16, pool, 120-84-10) on 16x16:
    about 95k multiply-accumulates, logrows 17 at ezkl's defaults (LeNet on 28x28 is 19)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(64, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def _conv4() -> Any:
    """Four 3x3 convolutions (4, 8, 8, 16 channels, max pools between) and a linear head."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64, 10))


def _seeded(make: Callable[[], Any], *shape: int, n: int = CAL_N) -> Callable[[], Built]:
    """A seeded module on a seeded input in [-1, 1]."""
    def build() -> Built:
        import torch

        torch.manual_seed(0)
        module = make()
        x = np.random.default_rng(1000).uniform(-1, 1, size=shape).astype(np.float32)
        return Built(export_torch(module, x), perturbed(x, n), x)

    return build


def _rnn_head(kind: str, size: int, hidden: int) -> Any:
    """nn.RNN / nn.LSTM over the sequence, a linear head on the last step."""
    import torch
    from torch import nn

    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = getattr(nn, kind)(size, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 2)

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return self.head(self.rnn(t)[0][:, -1])  # type: ignore[no-any-return]

    return Seq()


def _groupnorm() -> Any:
    from torch import nn

    return nn.GroupNorm(2, 4)


def _convt_decoder() -> Any:
    """A small decoder: ConvTranspose2d 4 -> 4 (3x3, stride 2), ReLU, ConvTranspose2d
    4 -> 1 (2x2, stride 2): 4x4 to 18x18."""
    from torch import nn

    return nn.Sequential(nn.ConvTranspose2d(4, 4, 3, stride=2), nn.ReLU(),
                         nn.ConvTranspose2d(4, 1, 2, stride=2))


# --------------------------------------------------------------------------- onnx backend

def onnx_backend_dir() -> Path:
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data"


def _onnx_backend(case: str) -> Callable[[], Built]:
    """A model shipped in onnx's backend tests (pytorch-converted, opset 6), its
    test_data_set_0 input, calibrated on it plus seeded perturbations."""
    def build() -> Built:
        import onnx
        from onnx import numpy_helper

        d = onnx_backend_dir() / "pytorch-converted" / case

        def tensor(name: str) -> np.ndarray:
            t = onnx.TensorProto()
            t.ParseFromString((d / "test_data_set_0" / name).read_bytes())
            return np.asarray(numpy_helper.to_array(t))

        x = tensor("input_0.pb").astype(np.float32)
        return Built((d / "model.onnx").read_bytes(), perturbed(x, 16), x,
                     tensor("output_0.pb"))

    return build


# --------------------------------------------------------------------------- the registry

def _registry() -> tuple[Model, ...]:
    trees = [Model(f"{lib}-{'rf' if lib == 'sklearn' else 'clf'}-{s.replace('_', '-')}",
                   ("tree", f"tree/{lib}/{s}"),
                   f"{lib} classifier, 5 trees x depth 3, breast cancer, hummingbird {s}",
                   tree(lib, s))
             for lib in TREE_LIBS for s in TREE_STRATEGIES]
    regs = [Model(f"{lib}-reg", ("tree", "regressor"),
                  f"{lib} boosted regressor, 8 trees x depth 4, diabetes, hummingbird's own "
                  "pick (perf_tree_trav)",
                  tree(lib, None, regressor=True)) for lib in TREE_LIBS]
    op = [("batchnorm", "norm"), ("layernorm", "norm"), ("maxpool", "pooling"),
          ("avgpool", "pooling"), ("upsample", "resize"), ("upsample-bilinear", "resize"),
          ("conv-transpose", "conv-transpose"), ("lstm", "lstm"), ("gru", "gru"),
          ("self-attention", "attention")]
    onnx_cases = [("Conv2d", "cnn"), ("Linear", "mlp"), ("Linear_no_bias", "mlp"),
                  ("ReLU", "activation"), ("MaxPool2d", "pooling"), ("AvgPool2d", "pooling"),
                  ("BatchNorm2d_eval", "norm"), ("Softmax", "activation"),
                  ("ConvTranspose2d", "conv-transpose"), ("PReLU_2d", "activation")]
    return (
        *trees, *regs,
        Model("sk-mlp", ("sklearn-mlp", "mlp"), "sklearn MLPClassifier 64-32-16-10, digits",
              sk_mlp),
        Model("sk-linreg", ("sklearn-linear", "regressor"),
              "sklearn LinearRegression, diabetes (torch Linear)", sk_linreg),
        Model("sk-logreg", ("sklearn-linear",), "sklearn LogisticRegression, iris (softmax)",
              sk_logreg),
        Model("sk-svc", ("sklearn-svc",), "sklearn SVC rbf, iris 2 classes (decision fn)",
              sk_svc),
        *(Model(f"op-{n}", (c,), f"circuits/corpus.py {n!r}", _from_op_corpus(n))
          for n, c in op),
        Model("rnn", ("rnn",), "nn.RNN 3->8, 6 steps, linear head",
              _seeded(lambda: _rnn_head("RNN", 3, 8), 1, 6, 3)),
        Model("lstm-seq", ("lstm",), "nn.LSTM 4->8, 8 steps, linear head",
              _seeded(lambda: _rnn_head("LSTM", 4, 8), 1, 8, 4)),
        Model("groupnorm", ("norm",), "nn.GroupNorm(2, 4) on 4x6x6",
              _seeded(_groupnorm, 1, 4, 6, 6)),
        Model("convt-decoder", ("conv-transpose",), "2 ConvTranspose2d, 4x4x4 -> 1x18x18",
              _seeded(_convt_decoder, 1, 4, 4, 4)),
        Model("lenet5-16", ("cnn",), "LeNet-5 layers on 16x16 digits", _trained_digits(
            _lenet16, 16, 6)),
        Model("conv4", ("cnn",), "4 conv + fc on 8x8 digits", _trained_digits(_conv4, 8, 10)),
        Model("zoo-digits-cnn", ("cnn", "pooling"), "zoo digits-cnn (conv, avg pool, fc)",
              _from_zoo("digits-cnn")),
        Model("zoo-dense-784", ("mlp",), "zoo dense-784 (784-56-10, digits 28x28)",
              _from_zoo("dense-784")),
        Model("zoo-breast-cancer", ("mlp",), "zoo breast-cancer MLP 30-16-8-2",
              _from_zoo("breast-cancer")),
        Model("zoo-attention", ("attention", "norm"), "zoo attention 4x8 (softmax, layer norm)",
              _from_zoo("attention")),
        *(Model(f"onnx-{c}", ("onnx-backend", fam), f"onnx backend test_{c} (opset 6)",
                _onnx_backend(f"test_{c}")) for c, fam in onnx_cases),
    )


MODELS: tuple[Model, ...] = _registry()


def by_name(name: str) -> Model:
    for m in MODELS:
        if m.name == name:
            return m
    raise KeyError(f"no corpus model {name!r} (see --list)")


def write_work(model: Model, work: Path) -> dict[str, Any]:
    """Build ``model`` into WORK: model.onnx, cal.npy (zkml import --calibration), cal.json
    (ezkl's calibrate_settings: every sample, one flat list), input.json (the proven input,
    ezkl's format, read by both flows) and ref.json (onnxruntime's float output on it)."""
    built = model.build()
    work.mkdir(parents=True, exist_ok=True)
    (work / "model.onnx").write_bytes(built.onnx)
    cal = np.asarray(built.calibration, dtype=np.float32)
    np.save(work / "cal.npy", cal)
    (work / "cal.json").write_text(json.dumps({"input_data": [cal.reshape(-1).tolist()]}))
    x = np.asarray(built.input, dtype=np.float32)
    (work / "input.json").write_text(json.dumps({"input_data": [x.reshape(-1).tolist()]}))
    ref = run_ort(built.onnx, x) if built.ref is None else built.ref
    ref = ref.reshape(-1).astype(np.float64)
    (work / "ref.json").write_text(json.dumps(ref.tolist()))
    import onnx

    graph = onnx.load_model_from_string(built.onnx).graph
    return {"input_shape": list(x.shape), "calibration_samples": len(cal),
            "outputs": int(ref.size), "onnx_bytes": len(built.onnx),
            "ops": sorted({n.op_type for n in graph.node})}
