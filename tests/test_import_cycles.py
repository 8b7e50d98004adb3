"""No import circles anywhere in the package (tools/import_cycles.py: Tarjan over grimp's graph, function-level
imports included, type-checking imports excepted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("grimp")

TOOL = Path(__file__).resolve().parents[1] / "tools" / "import_cycles.py"
spec = importlib.util.spec_from_file_location("import_cycles", TOOL)
assert spec is not None and spec.loader is not None
import_cycles = importlib.util.module_from_spec(spec)
spec.loader.exec_module(import_cycles)


def test_the_checker_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert import_cycles.circles(graph) == [["a", "b", "c"]]
    assert import_cycles.within(["triergon_studio.engine.x", "triergon_studio.ui.y"], ["engine"])
    assert not import_cycles.within(["triergon_studio.engineering"], ["engine"])


def test_no_import_circles_anywhere() -> None:
    found = import_cycles.circles(import_cycles.import_graph())
    assert found == [], found
