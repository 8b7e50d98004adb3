"""The cue-list schema, resume state and the render lock (no workers, no Ray)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.helpers import cue, write_cues
from triergon_studio.cluster import ClusterError
from triergon_studio.cluster.cues import CueError, cue_state, read_cues
from triergon_studio.cluster.lock import LOCK_NAME, RenderLock
from triergon_studio.core.take_spec import TakeSpec


def test_a_line_is_a_take_spec_plus_name_and_lane(tmp_path: Path) -> None:
    (tmp_path / "ref.wav").write_bytes(b"")
    spec = TakeSpec.from_json({"span": {"start_s": 1.0, "end_s": 2.5}, "text": "rain", "seed": 4, "steps": 9})
    line = {**spec.to_json(), "name": "rain-1", "lane": "FX"}
    path = tmp_path / "c.jsonl"
    path.write_text(
        json.dumps(line) + "\n\n# a note\n" + json.dumps({"span": [0, 1], "reference": "ref.wav"}) + "\n"
    )
    cl = read_cues(path)
    assert cl.errors == []
    a, b = cl.cues
    assert (a.name, a.lane, a.line, a.spec) == ("rain-1", "FX", 1, spec)
    assert a.digest == spec.digest()
    assert b.name == "cue-4" and b.lane is None  # the default name carries the line number
    assert b.spec.span.end_s == 1 and b.spec.reference is not None
    assert b.spec.reference.path == str((tmp_path / "ref.wav").resolve())  # relative to the list
    assert [p.name for p in a.outputs(tmp_path)] == ["rain-1.wav"]


def test_bad_lines_are_reported_with_their_numbers(tmp_path: Path) -> None:
    path = write_cues(tmp_path / "c.jsonl", [cue("ok", 0, 1, 1), cue("ok", 0, 1, 2)])
    with path.open("a") as fh:
        fh.write("{not json\n")
        fh.write(json.dumps({"span": [0, 1], "stepz": 3}) + "\n")
        fh.write(json.dumps({"span": [0, 1], "name": "../escape"}) + "\n")
        fh.write(json.dumps({"span": [0, 1], "variations": 0}) + "\n")
    cl = read_cues(path)
    assert [c.name for c in cl.cues] == ["ok"]
    lines = dict(cl.errors)
    assert "already used on line 1" in lines[2]
    assert lines[3].startswith("not JSON")
    assert "unknown field(s): stepz" in lines[4]
    assert "not a file stem" in lines[5]
    assert "variations must be between 1 and 64" in lines[6]
    assert cl.error_lines()[0].startswith(f"{path}:2: ")
    with pytest.raises(CueError, match="not found"):
        read_cues(tmp_path / "none.jsonl")


def test_cue_state_knows_done_foreign_and_half_written_takes(tmp_path: Path) -> None:
    from triergon_studio.core.take_sidecar import write_sidecar

    (c,) = read_cues(write_cues(tmp_path / "c.jsonl", [cue("x", 0, 1, 1, variations=2)])).cues
    out = tmp_path / "out"
    out.mkdir()
    assert cue_state(c, out).done is False and cue_state(c, out).problem is None
    for p in c.outputs(out):
        p.write_bytes(b"RIFF")
        write_sidecar(p, {"metadata": {"cue_digest": c.digest}})
    assert cue_state(c, out).done
    write_sidecar(c.outputs(out)[1], {"metadata": {"cue_digest": "something else"}})
    st = cue_state(c, out)
    assert not st.done and "was not made from this cue's spec" in (st.problem or "")
    (out / "x_v2.take.json").unlink()
    assert "missing beside its partner" in (cue_state(c, out).problem or "")


def test_a_second_run_on_one_folder_is_refused_and_told_which(tmp_path: Path) -> None:
    with RenderLock(tmp_path, "first.jsonl"):
        with pytest.raises(ClusterError, match=rf"pid {os.getpid()} .*cues first.jsonl"):
            RenderLock(tmp_path, "second.jsonl").acquire()
    assert not (tmp_path / LOCK_NAME).exists()
    # a lock left by a process that is gone is taken over
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    import socket

    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    lock = RenderLock(tmp_path, "third.jsonl")
    lock.acquire()
    assert lock.took_over and lock.took_over["pid"] == int(dead.stdout)
    lock.release()


def test_importing_the_cluster_package_loads_neither_ray_nor_torch_nor_qt() -> None:
    code = (
        "import importlib, pkgutil, sys, triergon_studio.cluster as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'triergon_studio.cluster.'):\n"
        "    importlib.import_module(m.name)\n"
        "import triergon_studio.cli.render_cmd\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'ray', 'torch', 'PySide6', 'pyqtgraph'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
