"""The app's remote engine (progress, cancel, same takes) and ``render --project`` (one undo step)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from tests.cluster.conftest import Head, needs_ray
from tests.cluster.helpers import MODEL, cli, cue, write_cues
from triergon_studio.core.take_spec import TakeSpec, TimeSpan
from triergon_studio.errors import CancelledError


def test_engine_location_parses_this_computer_and_ray_addresses() -> None:
    from triergon_studio.cluster import ClusterError
    from triergon_studio.cluster.remote import EngineLocation, remote_engine

    assert EngineLocation.parse("this computer").is_local and EngineLocation.parse(None).is_local
    assert remote_engine("this computer") is None  # in process: the caller runs make_takes itself
    assert EngineLocation.parse("gpu-1:6379").address == "gpu-1:6379"
    assert EngineLocation.parse("ray://gpu-1:10001").describe() == "a Ray cluster at ray://gpu-1:10001"
    with pytest.raises(ClusterError, match="not 'this computer' or a Ray address"):
        EngineLocation.parse("gpu-1")


@needs_ray
@pytest.mark.slow
def test_remote_engine_gives_the_local_take_and_cancels(ray_head: Head, tmp_path: Path) -> None:
    import torch

    from triergon_studio.audio.io import read_audio
    from triergon_studio.cluster.pool import Location
    from triergon_studio.cluster.remote import RemoteEngine
    from triergon_studio.takes import load_model, make_takes, run_to_end

    spec = TakeSpec(span=TimeSpan(0.0, 0.4), text="glass", steps=4, seed=21, model=MODEL)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers run; restored so later tests keep their own thread count
    try:
        (ref,) = run_to_end(make_takes(spec, load_model(MODEL), [tmp_path / "ref.wav"], bits="32f"))
    finally:
        torch.set_num_threads(threads)
    eng = RemoteEngine(Location("ray", ray_head.address), 30)
    try:
        seen = []
        (rec,) = run_to_end(eng.make_takes(spec, [tmp_path / "remote.wav"], bits="32f"), seen.append)
        # progress is polled, so a busy client may see steps coalesced, never out of order or invented
        steps_seen = [p.step for p in seen if p.stage == "sampling"]
        assert steps_seen and steps_seen == sorted(set(steps_seen)) and set(steps_seen) <= {1, 2, 3, 4}
        np.testing.assert_array_equal(read_audio(rec.path)[0], read_audio(ref.path)[0])
        assert rec.seed == 21 and rec.settings.steps == 4 and rec.record["metadata"]["seed"] == 21

        cancel = threading.Event()
        long = TakeSpec(span=TimeSpan(0.0, 0.4), text="glass", steps=400, seed=1, model=MODEL)
        steps: list[int] = []
        with pytest.raises(CancelledError):
            for p in eng.make_takes(long, [tmp_path / "cancelled.wav"], cancel=cancel):
                if p.stage == "sampling":
                    steps.append(p.step)
                    if p.step >= 2:  # ">=": polled progress may skip a step
                        cancel.set()
        assert steps and max(steps) < 400
        assert not (tmp_path / "cancelled.wav").exists()
    finally:
        eng.close()


@pytest.mark.slow
def test_render_places_takes_on_their_lanes_in_one_undo_step(tmp_path: Path) -> None:
    from triergon_studio.cli.render_cmd import place_takes
    from triergon_studio.cluster.cues import read_cues
    from triergon_studio.core.project import Project

    cues = write_cues(
        tmp_path / "cues.jsonl", [cue("a", 0.5, 0.8, 1, lane="FX"), cue("b", 1.0, 1.3, 2, lane="BG")]
    )
    project_path = tmp_path / "proj" / "p.json"
    project_path.parent.mkdir()
    Project(project_path).save(project_path)
    out = tmp_path / "out"
    res = cli("render", str(cues), "--out", str(out), "--local", "2", "--project", str(project_path))
    assert res.returncode == 0, res.stderr[-3000:]
    project = Project.load(project_path)
    placed = {ln.name: [(project.take(i.take_id).name, i.offset_s) for i in ln.items] for ln in project.lanes}
    assert placed["FX"] == [("a", 0.5)] and placed["BG"] == [("b", 1.0)]
    assert all(project.take_path(t).exists() for t in project.takes)
    # a rerun skips both cues and places nothing twice
    again = cli("render", str(cues), "--out", str(out), "--local", "2", "--project", str(project_path))
    assert again.returncode == 0 and len(Project.load(project_path).takes) == 2
    # one undo step takes both away
    fresh = Project(tmp_path / "proj" / "q.json")
    n = place_takes(fresh, [(c, c.outputs(out)) for c in read_cues(cues).cues])
    assert n == 2 and len(fresh.takes) == 2
    fresh.undo.undo()
    assert fresh.takes == () and all(not ln.items for ln in fresh.lanes)
