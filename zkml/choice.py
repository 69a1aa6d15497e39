"""What compile chose, against ezkl's own defaults: the record kept on a ``Circuit``.

A module of its own (below ``zkml.artifacts``): the compile stage writes it, the CLI prints it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CostFigures", "SettingsChoice", "columns_text"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class CostFigures(_Record):
    """One circuit's settings and their estimated cost (``zkml.circuit.cost``)."""

    logrows: int
    num_inner_cols: int
    decomp: str
    prove_seconds: float
    peak_memory_bytes: int
    calibrated: bool = Field(
        True, description="False: a bound (ezkl's default was not calibrated, see reason)")


class SettingsChoice(_Record):
    """Which settings compile chose, against ezkl's own calibrated defaults (the floor)."""

    mode: Literal["none", "quick", "thorough"]
    ezkl_default: CostFigures
    chosen: CostFigures
    chose: Literal["ezkl-default", "zkml"]
    reason: str


def columns_text(n: int) -> str:
    """``"1 column"``, ``"2 columns"``: how the reasons and the CLI name a column count."""
    return f"{n} column{'s' if n != 1 else ''}"
