"""One self-attention block (single head, softmax, residual, layer norm) on 4 tokens x 8
features: covers ezkl's non-linear lookups. Seeded random weights; inputs are made by the
code (no dataset)."""

from __future__ import annotations

import math

import numpy as np
import torch

from zkml.circuit.compile import CompileConfig

from . import ZooModel


class AttentionBlock(torch.nn.Module):
    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.q = torch.nn.Linear(d, d)
        self.k = torch.nn.Linear(d, d)
        self.v = torch.nn.Linear(d, d)
        self.norm = torch.nn.LayerNorm(d)
        self.scale = 1.0 / math.sqrt(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = torch.softmax(self.q(x) @ self.k(x).transpose(-1, -2) * self.scale, dim=-1)
        return self.norm(x + att @ self.v(x))  # type: ignore[no-any-return]


def build(seed: int = 0) -> ZooModel:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.0, 1.0, size=(96, 1, 4, 8)).clip(-3, 3)
    return ZooModel(name="attention", model=AttentionBlock().eval(), calibration=samples[:64],
                    test_inputs=samples[64:], config=CompileConfig(max_logrows=20),
                    description="self-attention 4x8 with softmax and layer norm")
