"""Models on scikit-learn's bundled 8x8 handwritten digits (1,797 images).

- ``digits-cnn``: conv 1->4 (3x3), ReLU, 2x2 average pool, linear 64->10, on 8x8 inputs.
- ``dense-784``: the 784-56-10 dense net of public zkML benchmark tables, on the digits
  upscaled to 28x28 (bilinear).
- ``lenet5``: a LeNet-5-style CNN on the same 28x28 inputs (benchmarks only: logrows ~19).
Pixels are scaled to [0, 1]. Training is seeded and takes seconds.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from zkml.circuit.compile import CompileConfig

from . import ZooModel

LABELS = [str(i) for i in range(10)]


def load(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (n, 1, 8, 8)
    if size != 8:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                            align_corners=False).clamp(0, 1)
    x_tr, x_te, y_tr, y_te = train_test_split(x.numpy(), d.target, test_size=0.2,
                                              random_state=seed, stratify=d.target)
    return x_tr, x_te, y_tr, y_te


def _train(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, seed: int
           ) -> torch.nn.Module:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=g).split(128):  # type: ignore[no-untyped-call]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    return model.eval()


def _zoo(name: str, model: torch.nn.Module, size: int, epochs: int, seed: int,
         config: CompileConfig, description: str) -> ZooModel:
    x_tr, x_te, y_tr, y_te = load(size, seed)
    model = _train(model, x_tr, y_tr, epochs, seed)
    # calibration: the training images plus the corners of the pixel range
    corners = np.stack([np.zeros_like(x_tr[0]), np.ones_like(x_tr[0])])
    cal = np.concatenate([corners, x_tr])[:, None]  # (n, 1, 1, size, size)
    return ZooModel(name=name, model=model, calibration=cal, test_inputs=x_te[:, None],
                    test_labels=y_te, labels=LABELS, config=config, description=description)


def digits_cnn(seed: int = 0) -> ZooModel:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64, 10),
    )
    return _zoo("digits-cnn", model, 8, 15, seed, CompileConfig(max_logrows=20),
                "conv 1->4, avg-pool, fc 64->10 on 8x8 digits")


def dense_784(seed: int = 0) -> ZooModel:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 56), torch.nn.ReLU(),
                                torch.nn.Linear(56, 10))
    return _zoo("dense-784", model, 28, 10, seed, CompileConfig(max_logrows=20),
                "784-56-10 dense on digits upscaled to 28x28")


def lenet5(seed: int = 0) -> ZooModel:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(400, 120), torch.nn.ReLU(),
        torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10),
    )
    # 16 calibration samples (the all-0 and all-1 corners among them bound every pixel): one
    # ezkl calibration pass over 64 LeNet samples takes ~6 minutes on 2 cores.
    return _zoo("lenet5", model, 28, 4, seed, CompileConfig(max_logrows=21, calibration_limit=16),
                "LeNet-5-style CNN on digits upscaled to 28x28")
