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
    out = subprocess.run(
        [str(exe), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(triergon_studio.__file__).resolve().parents[1],
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert "0 broken" in out.stdout
