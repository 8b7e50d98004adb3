"""Cue lists for the cluster tests and the in-process reference they are compared with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
MODEL = "tiny-random"


def cue(name: str, start: float, end: float, seed: int, steps: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "span": [start, end],
        "text": f"{name} sound",
        "model": MODEL,
        "steps": steps,
        "seed": seed,
        **extra,
    }


def write_cues(path: Path, cues: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cues), encoding="utf-8")
    return path


def reference(cue_list: Path, out: Path) -> dict[str, np.ndarray]:
    """Every cue rendered in this process with ``make_takes`` (one torch thread, as each worker has)."""
    import torch

    from triergon_studio.audio.io import read_audio
    from triergon_studio.cluster.cues import read_cues
    from triergon_studio.takes import load_model, make_takes, run_to_end

    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = load_model(MODEL)
        result = {}
        for c in read_cues(cue_list).cues:
            for rec in run_to_end(make_takes(c.spec, model, c.outputs(out))):
                result[rec.path.name] = read_audio(rec.path)[0]
        return result
    finally:
        torch.set_num_threads(threads)


def assert_same_takes(out: Path, ref: dict[str, np.ndarray]) -> None:
    from triergon_studio.audio.io import read_audio

    for name, audio in ref.items():
        got, _ = read_audio(out / name)
        np.testing.assert_array_equal(got, audio, err_msg=name)


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "triergon_studio", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def leftovers(out: Path) -> list[str]:
    """Temporary or half-written files under the output folder."""
    return sorted(
        p.name
        for p in out.iterdir()
        if p.name.startswith(".") and p.name != ".render.lock" or p.suffix == ".tmp"
    )
