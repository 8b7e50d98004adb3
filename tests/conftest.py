"""Shared test fixtures. Test media is generated in the tests or read from ../shared/media."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = REPO_ROOT.parent / "shared" / "media"


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not (SHARED_MEDIA / "bottle-detection.mp4").exists():
        pytest.fail(f"real test media missing: {SHARED_MEDIA} (the repo must sit beside shared/)")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def pulse_sink() -> str:
    """Name of the PulseAudio null sink started by scripts/test_services.sh."""
    if shutil.which("pactl") is None:
        pytest.fail("pactl not found: run the tests through scripts/bootstrap.sh test")
    out = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True)
    if "triergon_null" not in out.stdout:
        pytest.fail("PulseAudio null sink 'triergon_null' is not running: use scripts/bootstrap.sh test")
    return "triergon_null"
