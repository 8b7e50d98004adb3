"""No import circles anywhere in the package (tools/import_cycles.py: Tarjan over grimp's graph, function-level
imports included, type-checking imports excepted)."""

from __future__ import annotations

import pytest

from tests.script_module import load_script

pytest.importorskip("grimp")

import_cycles = load_script("tools/import_cycles.py")


def test_the_checker_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert import_cycles.circles(graph) == [["a", "b", "c"]]
    assert import_cycles.within(["triergon_studio.engine.x", "triergon_studio.ui.y"], ["engine"])
    assert not import_cycles.within(["triergon_studio.engineering"], ["engine"])


def test_no_import_circles_anywhere() -> None:
    found = import_cycles.circles(import_cycles.import_graph())
    assert found == [], found
