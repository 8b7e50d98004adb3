"""The render command's refusals: bad lines, a busy folder, an address that does not answer."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.cluster.conftest import needs_ray
from tests.cluster.helpers import cli, cue, write_cues


def test_a_bad_line_stops_the_run_unless_keep_going(tmp_path: Path) -> None:
    cues = write_cues(tmp_path / "cues.jsonl", [cue("a", 0, 0.3, 1)])
    with cues.open("a") as fh:
        fh.write(json.dumps({"span": [3, 1]}) + "\n")
    res = cli("render", str(cues), "--out", str(tmp_path / "out"))
    assert res.returncode == 2
    assert f"{cues}:2: bad time span 3-1 s" in res.stderr
    assert "use --keep-going to render the other 1 cue(s)" in res.stderr
    assert not (tmp_path / "out").exists()  # nothing started


def test_a_busy_output_folder_is_refused(tmp_path: Path) -> None:
    import socket

    out = tmp_path / "out"
    out.mkdir()
    (out / ".render.lock").write_text(
        json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started": "earlier", "cues": "other.jsonl"}
        )
    )
    res = cli("render", str(write_cues(tmp_path / "c.jsonl", [cue("a", 0, 0.3, 1)])), "--out", str(out))
    assert res.returncode == 2
    assert f"another render is writing to this folder (pid {os.getpid()}" in res.stderr
    assert "other.jsonl" in res.stderr
    assert list(out.iterdir()) == [out / ".render.lock"]


@needs_ray
def test_an_address_that_does_not_answer_is_one_line_within_the_timeout(tmp_path: Path) -> None:
    cues = write_cues(tmp_path / "cues.jsonl", [cue("a", 0, 0.3, 1)])
    t0 = time.monotonic()
    # 192.0.2.1 (TEST-NET-1) is never routed: the connection hangs, so only our timeout ends it
    res = cli(
        "render", str(cues), "--out", str(tmp_path / "out"), "--cluster", "192.0.2.1:6379", "--timeout", "4"
    )
    took = time.monotonic() - t0
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert res.returncode == 2, res.stderr
    assert len(errors) == 1 and "192.0.2.1:6379" in errors[0], res.stderr
    assert "Traceback" not in res.stderr
    assert took < 4 + 20, took  # the timeout plus starting Python and the host process
    assert not list((tmp_path / "out").glob("*.wav"))
