"""No two modules of one zkml subpackage import each other, directly or through others: a cycle
inside a package hides which module is the base and forces lazy imports to break at runtime.
(Between packages, the layers contract in pyproject.toml already forbids it.)"""

from __future__ import annotations

import itertools

import grimp
import pytest

#: cycles known and being removed, as (module, module) sorted; none today
KNOWN_CYCLES: frozenset[tuple[str, str]] = frozenset()


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # TYPE_CHECKING imports count: a cycle through them is still one for a reader and mypy
    return grimp.build_graph("zkml", cache_dir=None)


def _cycles(graph: grimp.ImportGraph, package: str) -> dict[tuple[str, str], str]:
    """Each pair of ``package``'s modules with a chain both ways, with the two chains."""
    found = {}
    for a, b in itertools.combinations(sorted(graph.find_descendants(package)), 2):
        there, back = graph.find_shortest_chain(a, b), graph.find_shortest_chain(b, a)
        if there and back:
            found[(a, b)] = f"{' -> '.join(there)}; {' -> '.join(back)}"
    return found


def _subpackages(graph: grimp.ImportGraph) -> list[str]:
    return sorted(m for m in graph.modules
                  if m.startswith("zkml.") and graph.find_children(m))


def test_the_check_sees_the_subpackages(graph: grimp.ImportGraph) -> None:
    assert {"zkml.model", "zkml.circuit", "zkml.tuning", "zkml.cli"} <= set(_subpackages(graph))


def test_no_two_modules_of_a_subpackage_import_each_other(graph: grimp.ImportGraph) -> None:
    cycles = {pair: chains for package in _subpackages(graph)
              for pair, chains in _cycles(graph, package).items() if pair not in KNOWN_CYCLES}
    assert not cycles, "import cycles (move the shared piece to a module both import): " + \
        " | ".join(cycles.values())


def test_the_check_finds_a_cycle() -> None:
    """The check itself can fail: a cycle added to a copy of the graph is found."""
    copy = grimp.build_graph("zkml", cache_dir=None)
    copy.add_import(importer="zkml.model.inputs", imported="zkml.model.export")
    assert ("zkml.model.export", "zkml.model.inputs") in _cycles(copy, "zkml.model")


def test_estimators_export_without_export_and_trees_importing_each_other(
        graph: grimp.ImportGraph) -> None:
    """export dispatches estimators to trees; trees reaches the shared pieces (graph,
    reference) without importing export."""
    assert graph.find_shortest_chain("zkml.model.export", "zkml.model.trees")
    assert graph.find_shortest_chain("zkml.model.trees", "zkml.model.export") is None
