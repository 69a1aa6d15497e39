"""Reference models (the zoo): PyTorch code, the data they train on, and their zkml config.

Each entry builds a :class:`ZooModel` deterministically (seeded) from data that ships with a
package (scikit-learn's bundled datasets) or that the code makes; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zkml.artifacts import Keys
from zkml.circuit.compile import CompileConfig

__all__ = ["ZooModel", "ZOO", "BIG", "build", "prepare"]


@dataclass
class ZooModel:
    """A trained reference model with its samples and compile settings."""

    name: str
    model: Any  # a torch nn.Module, or a fitted estimator (trees.py: exported via hummingbird)
    calibration: np.ndarray  # (n, *input_shape): covers the input range
    test_inputs: np.ndarray  # (m, *input_shape): held out
    test_labels: np.ndarray | None = None
    labels: list[str] = field(default_factory=list)
    preset: str = "private-input"
    config: CompileConfig = field(default_factory=lambda: CompileConfig())
    description: str = ""

    @property
    def example_input(self) -> np.ndarray:
        sample: np.ndarray = self.calibration[0]
        return sample

    @property
    def is_estimator(self) -> bool:
        """A fitted scikit-learn-style estimator rather than a torch module."""
        return not isinstance(self.model, torch.nn.Module)

    @property
    def check_rows(self) -> np.ndarray | None:
        """Held-out rows an estimator's ONNX graph must reproduce ``predict_proba`` on."""
        return (self.test_inputs.reshape(len(self.test_inputs), -1) if self.is_estimator
                else None)


def _builders() -> dict[str, Callable[[], ZooModel]]:
    from . import attention, breast_cancer, digits, tiny_mlp, trees

    return {
        "tiny-mlp": tiny_mlp.build,
        "breast-cancer": breast_cancer.build,
        "digits-cnn": digits.digits_cnn,
        "dense-784": digits.dense_784,
        "attention": attention.build,
        "lenet5": digits.lenet5,
        "bc-random-forest": trees.random_forest,
        "bc-gradient-boosting": trees.gradient_boosting,
    }


ZOO: tuple[str, ...] = ("tiny-mlp", "breast-cancer", "digits-cnn", "dense-784", "attention",
                        "lenet5", "bc-random-forest", "bc-gradient-boosting")
#: Models too big for CI tests (benchmarks only).
BIG: frozenset[str] = frozenset({"lenet5"})


def build(name: str) -> ZooModel:
    """Build the zoo model ``name`` (trains it if it has training data; seconds)."""
    builders = _builders()
    if name not in builders:
        raise KeyError(f"unknown zoo model {name!r}; choose one of: {', '.join(builders)}")
    return builders[name]()


def prepare(name: str, workdir: str | Path, *, preset: str | None = None,
            config: CompileConfig | None = None) -> tuple[ZooModel, Keys]:
    """Build, export, compile and set up a zoo model (cached); for benchmarks and examples."""
    import zkml

    zoo = build(name)
    exported = zkml.export(zoo.model, zoo.example_input, Path(workdir) / f"{name}.onnx",
                           name=name, check_rows=zoo.check_rows)
    circuit = zkml.compile_model(exported, zoo.calibration, preset=preset or zoo.preset,
                                 config=config or zoo.config)
    return zoo, zkml.setup(circuit)
