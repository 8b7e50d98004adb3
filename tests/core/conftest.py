from __future__ import annotations

import sys
from pathlib import Path

# The synthetic-video helpers live with the video tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
