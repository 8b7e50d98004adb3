"""The no-Qt seam: core, audio, video, engine and training must never import Qt; core/audio/video never
import torch (so `measure` stays fast). Checked in a fresh interpreter per package."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import triergon_studio

QT = ("PySide6", "pyqtgraph", "shiboken6")
LAYERS = {
    "triergon_studio.core": QT + ("torch",),
    "triergon_studio.audio": QT + ("torch",),
    "triergon_studio.video": QT + ("torch",),
    "triergon_studio.engine": QT,
    "triergon_studio.training": QT,
}


def _submodules(pkg: str) -> list[str]:
    mod = __import__(pkg, fromlist=["__path__"])
    names = [pkg]
    for info in pkgutil.walk_packages(mod.__path__, prefix=pkg + "."):
        names.append(info.name)
    return names


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_does_not_import_forbidden(layer: str) -> None:
    forbidden = LAYERS[layer]
    code = (
        "import importlib, json, sys\n"
        f"mods = {json.dumps(_submodules(layer))}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted(k for k in sys.modules if k.split('.')[0] in {forbidden!r})\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    bad = json.loads(out.stdout.strip().splitlines()[-1])
    assert bad == [], f"{layer} pulled in {bad[:5]}"


def test_cli_help_imports_neither_torch_nor_qt() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from triergon_studio.cli import build_parser\n"
        "build_parser()\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'torch','PySide6','pyqtgraph'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_package_version() -> None:
    assert triergon_studio.__version__


def test_import_linter_contracts_hold() -> None:
    """The same seams checked statically by import-linter (contracts in pyproject.toml)."""
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe), "--no-cache"], capture_output=True, text=True, timeout=300,
                         cwd=Path(triergon_studio.__file__).resolve().parents[1])
    assert out.returncode == 0, out.stdout[-3000:]
    assert "0 broken" in out.stdout


def _import_cycles() -> list[list[str]]:
    """Groups of our modules that import each other, directly or through others (Tarjan's strongly connected
    components over every import grimp finds, function-level ones included; type-checking imports excepted)."""
    import grimp

    graph = grimp.build_graph("triergon_studio", cache_dir=None, exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles() -> None:
    assert _import_cycles() == []


def test_the_cycle_walk_can_fail(tmp_path: Path) -> None:
    import grimp

    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from cyc import b\n")
    (pkg / "b.py").write_text("from cyc import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("cyc", cache_dir=None)
        assert "cyc.b" in graph.find_modules_directly_imported_by("cyc.a")
        assert "cyc.a" in graph.find_modules_directly_imported_by("cyc.b")
    finally:
        sys.path.remove(str(tmp_path))
