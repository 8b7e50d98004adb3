"""``triergon-studio app``: bad input is one line and exit 2; a project opens in a live process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "QT_QPA_PLATFORM": "offscreen"}


def test_app_missing_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    out = subprocess.run(
        [sys.executable, "-m", "triergon_studio", "app", str(missing), "--no-audio"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {missing}: does not exist"


def test_app_opens_a_project_and_stays_up(project) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "triergon_studio", "app", str(project.path), "--no-audio"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        time.sleep(6.0)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "Traceback" not in err
