"""A 4-8-2 MLP with seeded random weights: the smallest useful circuit (logrows 9)."""

from __future__ import annotations

import numpy as np
import torch

from . import ZooModel


class TinyMLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]


def make(seed: int = 0) -> TinyMLP:
    torch.manual_seed(seed)
    return TinyMLP().eval()


def build(seed: int = 0) -> ZooModel:
    rng = np.random.default_rng(seed)
    samples = rng.uniform(-1.0, 1.0, size=(80, 1, 4))
    # Corners of the input box so calibration covers the extremes.
    samples[:2] = np.array([[[-1.0] * 4], [[1.0] * 4]])
    return ZooModel(
        name="tiny-mlp",
        model=make(seed),
        calibration=samples[:64],
        test_inputs=samples[64:],
        description="4-8-2 MLP, random weights, inputs in [-1, 1]",
    )
