"""The package installs as a wheel: built from this checkout, installed into a fresh virtual environment
outside it, and run from there (the bundled model and the stylesheet come from package data)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
    assert res.returncode == 0, f"{cmd}\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    return res.stdout


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)], tmp_path)
    (wheel,) = dist.glob("triergon_studio-*.whl")
    fresh = tmp_path / "fresh"
    _run([sys.executable, "-m", "venv", str(fresh)], tmp_path)
    py = fresh / "bin" / "python"
    # The heavy dependencies (torch, Qt, ...) come from the test environment's site-packages, appended after
    # the fresh environment's own, so the installed wheel (not this checkout) provides triergon_studio.
    site = Path(
        _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TRIERGON_MODELS")}
    where = _run(
        [
            str(py),
            "-c",
            "import triergon_studio, importlib.resources as r; print(triergon_studio.__file__);"
            "print((r.files('triergon_studio') / 'resources' / 'style.qss').is_file())",
        ],
        tmp_path,
        env,
    )
    assert where.splitlines()[0].startswith(str(fresh)) and where.splitlines()[1] == "True"
    cli = str(fresh / "bin" / "triergon-studio")
    info = _run([cli, "model-info", "compact", "--verify"], tmp_path, env)
    assert '"verified"' in info and "model.safetensors" in info
    _run([cli, "generate", "--duration", "1", "--steps", "2", "--seed", "1", "-o", "one.wav"], tmp_path, env)
    assert sf.info(str(tmp_path / "one.wav")).frames == 44100
    # a name that is not bundled: one line that says where names are looked up and how to add a folder
    res = subprocess.run(
        [cli, "generate", "--duration", "1", "--model", "my-model", "-o", "x.wav"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 2 and "TRIERGON_MODELS" in res.stderr and str(fresh) in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    # a folder of the user's models, named in TRIERGON_MODELS, is found by name
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(site / "triergon_studio" / "bundled" / "compact", models / "my-model")
    info = _run(
        [cli, "model-info", "my-model", "--verify"], tmp_path, {**env, "TRIERGON_MODELS": str(models)}
    )
    assert '"verified"' in info
