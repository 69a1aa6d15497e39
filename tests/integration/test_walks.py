"""How far an artifact travels: the zkml modules whose functions receive it, in call order.

A *walk* follows one artifact through a stage call: every function called with that object
among its arguments is a step, in the module that defines the function. *Rooms* are the
distinct modules of the walk; a *climb back* is a step into a module the walk has already
left (docs/architecture.md, "Walks"). Issue #25 measured compile_model's ``exported`` at 10
rooms with 11 climbs back and the split prover's ``keys`` at 9 and 10; its goal is 5 rooms
and 4 climbs back each. Both walks meet it: split proving lives in the proof stage, and the
tuner takes one TuneTask built at the API boundary (the export with its samples converted
once) instead of the export and its samples through each of its modules.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

import zkml

from .conftest import Pipeline

MAX_ROOMS, MAX_CLIMBS = 5, 4  # issue #25's goal


def walk(target: object, run: Callable[[], Any]) -> list[str]:
    """The modules (consecutive repeats merged) of the zkml functions called with
    ``target`` as an argument while ``run()`` runs."""
    steps: list[str] = []

    def on_call(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        module = str(frame.f_globals.get("__name__", ""))
        if not module.startswith("zkml."):
            return
        code = frame.f_code
        names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        if any(frame.f_locals.get(n) is target for n in names):
            if not steps or steps[-1] != module:
                steps.append(module)

    sys.setprofile(on_call)
    try:
        run()
    finally:
        sys.setprofile(None)
    return steps


def rooms_and_climbs(steps: list[str]) -> tuple[int, int]:
    rooms = len(set(steps))
    return rooms, len(steps) - rooms


def test_compile_models_exported_stays_within_five_rooms(tiny: Pipeline) -> None:
    exported = tiny.exported
    steps = walk(exported, lambda: zkml.compile_model(
        exported, tiny.zoo.calibration, preset="private-input", tune="quick"))
    rooms, climbs = rooms_and_climbs(steps)
    print(f"compile_model's exported: {rooms} rooms, {climbs} climbs back:", *steps)
    assert steps[0] == "zkml.pipeline"
    assert rooms <= MAX_ROOMS and climbs <= MAX_CLIMBS, " -> ".join(steps)
    # the tuning package meets the export once, in the task; the compile stage does the rest
    assert [m for m in steps if m.startswith("zkml.tuning")] == ["zkml.tuning.common"] * \
        steps.count("zkml.tuning.common") and set(steps) <= {
            "zkml.pipeline", "zkml.tuning.common", "zkml.circuit.compile", "zkml.circuit.layout"}


@pytest.mark.timeout(600)
def test_split_provings_keys_stay_within_five_rooms(tiny: Pipeline) -> None:
    split = zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments=2,
                               config=tiny.zoo.config)
    keys = zkml.setup(split)
    steps = walk(keys, lambda: zkml.prove(keys, tiny.zoo.test_inputs[0], workers=1))
    rooms, climbs = rooms_and_climbs(steps)
    print(f"split prove's keys: {rooms} rooms, {climbs} climbs back:", *steps)
    assert steps[0] == "zkml.proof.prove"
    assert rooms <= MAX_ROOMS and climbs <= MAX_CLIMBS, " -> ".join(steps)
