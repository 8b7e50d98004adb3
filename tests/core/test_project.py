from __future__ import annotations

import json
import os
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from tests.video.video_factory import make_video
from triergon_studio.core.autosave import Autosaver, discard_recovery, has_recovery, recover
from triergon_studio.core.model import GenerationSettings, ReferenceClip, Take
from triergon_studio.core.project import Project, autosave_path
from triergon_studio.errors import ProjectError
from triergon_studio.video.project_video import new_project, relink


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("proj_media")
    return make_video(folder / "picture.mp4", 50, fps=Fraction(30000, 1001))


@pytest.fixture
def project(tmp_path: Path, video: Path) -> Project:
    shutil.copy(video, tmp_path / "picture.mp4")
    return new_project(tmp_path / "picture.mp4", tmp_path / "show.json")


def make_take(project: Project, name: str = "door") -> Take:
    path = project.new_take_path(name)
    path.write_bytes(b"RIFF")  # content is irrelevant to the model
    return Take(
        id=f"t_{name}",
        name=name,
        path=path.relative_to(project.folder).as_posix(),
        duration_s=2.0,
        settings=GenerationSettings(seed=7, steps=20, cfg=4.5, sampler="euler"),
        curves={"format": "triergon-curves"},
    )


def test_new_from_video(project: Project, tmp_path: Path) -> None:
    assert project.fps == Fraction(30000, 1001) and project.frame_count == 50
    assert project.duration_s == pytest.approx(50 * 1001 / 30000)
    assert project.sample_rate == 48000 and project.start_timecode == "00:00:00:00"
    assert [ln.name for ln in project.lanes] == ["FOLEY", "FX", "BG"]
    assert project.video is not None and project.video.path == "picture.mp4"
    assert project.video.fingerprint.size == (tmp_path / "picture.mp4").stat().st_size
    assert project.video_status() == "ok" and project.is_dirty is False
    assert project.picture_samples() == 80080 and project.picture_samples(44100) == 73574  # 73573.5 -> up


def test_every_edit_is_undoable_and_notifies(project: Project) -> None:
    from triergon_studio.core import curves

    seen: list[str] = []
    project.changed.connect(seen.append)
    before = project.to_json()
    curve = curves.LoudnessCurve.constant(-20.0, project.duration_s, curves.CurveSource.DRAWN)
    project.set_curves(curve)
    project.set_prompt_text("footsteps on gravel")
    project.add_reference(ReferenceClip("refs/a.wav", 0.5, 2.0))
    project.set_settings(steps=30, cfg=5.0, seed_locked=True)
    take = make_take(project)
    project.add_take(take, lane="FOLEY", offset_s=1.25)
    project.add_lane("WALLA")
    project.set_lane_gain("FX", -3.0)
    project.set_lane_mute("BG", True)
    project.set_lane_solo("FOLEY", True)
    marker = project.add_marker(0.5, "door")
    project.add_region(0.2, 1.0, "walk")
    project.set_start_timecode("01:00:00:00")
    project.rename_take(take.id, "door slam")
    item = project.lane("FOLEY").items[0]
    project.move_item(item.id, offset_s=1.5, lane="WALLA")
    project.update_marker(marker, time_s=0.6)
    assert {"curves", "prompts", "settings", "takes", "lanes", "markers", "regions", "timing"} <= set(seen)
    after = project.to_json()
    assert after["lanes"][3]["items"][0]["offset_s"] == 1.5 and after["takes"][0]["name"] == "door slam"
    assert project.settings.steps == 30 and project.prompts.references[0].out_s == 2.0
    while project.undo.can_undo:
        project.undo.undo()
    assert project.to_json() == before
    while project.undo.can_redo:
        project.undo.redo()
    assert project.to_json() == after


def test_add_take_with_placement_is_one_step(project: Project) -> None:
    take = make_take(project)
    project.add_take(take, lane="FX", offset_s=2.0)
    assert len(project.undo) == 1
    project.undo.undo()
    assert project.takes == () and project.lane("FX").items == ()


def test_remove_take_removes_placements(project: Project) -> None:
    take = make_take(project)
    project.add_take(take, lane="FX", offset_s=2.0)
    project.place_take(take.id, "BG", 0.0)
    project.remove_take(take.id)
    assert project.takes == () and all(not ln.items for ln in project.lanes)
    project.undo.undo()
    assert len(project.lane("BG").items) == 1 and project.take(take.id).name == "door"


def test_gesture_macro(project: Project) -> None:
    with project.undo.macro("Drag marker"):
        mid = project.add_marker(0.1)
        for t in np.linspace(0.1, 1.0, 30):
            project.update_marker(mid, time_s=float(t))
    assert len(project.undo) == 1 and project.markers[0].time_s == pytest.approx(1.0)
    project.undo.undo()
    assert project.markers == ()


def test_history_of_200_edits(project: Project) -> None:
    for i in range(250):
        project.set_prompt_text(f"v{i}")
    for _ in range(200):
        assert project.undo.undo()
    assert project.prompts.text == "v49"


def test_bad_edits_raise_project_error(project: Project) -> None:
    with pytest.raises(ProjectError):
        project.add_lane("foley")  # names are unique regardless of case
    with pytest.raises(ProjectError):
        project.place_take("nope", "FOLEY", 0.0)
    with pytest.raises(ProjectError):
        project.set_start_timecode("00:01:00:40")
    with pytest.raises(ProjectError):
        project.set_sample_rate(22050)
    with pytest.raises(ProjectError):
        project.add_region(2.0, 1.0)
    with pytest.raises(ProjectError):
        project.lane("nope")
    assert len(project.undo) == 0


def test_drop_frame_toggle(project: Project) -> None:
    project.set_start_timecode("01:00:00:00")
    project.set_drop_frame(True)
    assert project.start_timecode == "01:00:00;00" and project.rate.drop_frame
    assert project.start_frame == 107892


def test_save_load_round_trip(project: Project, tmp_path: Path) -> None:
    from triergon_studio.core import curves

    project.set_curves(curves.LoudnessCurve.constant(-18.0, project.duration_s, curves.CurveSource.PREDICTED))
    take = make_take(project)
    project.add_take(take, lane="FOLEY", offset_s=0.75)
    project.add_marker(1.0, "hit")
    project.add_region(0.5, 1.5, "walk")
    path = project.save()
    assert path == tmp_path / "show.json" and not project.is_dirty
    doc = json.loads(path.read_text())
    assert doc["format"] == "triergon-project" and doc["version"] == 2
    assert doc["fps"] == {"num": 30000, "den": 1001}
    loaded = Project.load(path)
    assert loaded.to_json() == project.to_json()
    assert (
        loaded.curves.source == curves.CurveSource.PREDICTED
        and loaded.curves.n_frames == project.curves.n_frames
    )
    assert loaded.take(take.id).settings.seed == 7 and loaded.take_path(take.id).is_file()
    assert loaded.video_status() == "ok" and not loaded.is_dirty


def test_save_as_refuses_existing_and_rebases(project: Project, tmp_path: Path) -> None:
    take = make_take(project)
    project.add_take(take)
    project.save()
    other = tmp_path / "elsewhere" / "copy.json"
    other.parent.mkdir()
    other.write_text("precious")
    with pytest.raises(ProjectError, match="already exists"):
        project.save(other)
    assert other.read_text() == "precious"
    project.save(other, overwrite=True)
    copy = Project.load(other)
    assert copy.video.path == "../picture.mp4" and copy.video_status() == "ok"
    assert copy.take_path(take.id).is_file()


def test_moved_and_replaced_video_detected_and_relinked(
    project: Project, tmp_path: Path, video: Path
) -> None:
    project.save()
    moved = tmp_path / "media" / "picture_moved.mp4"
    moved.parent.mkdir()
    os.replace(tmp_path / "picture.mp4", moved)
    reopened = Project.load(tmp_path / "show.json")
    assert reopened.video_status() == "missing"
    relink(reopened, moved)
    assert reopened.video_status() == "ok" and reopened.video.path == "media/picture_moved.mp4"
    other = make_video(tmp_path / "recut.mp4", 40, fps=25)
    with pytest.raises(ProjectError, match="not the same video"):
        relink(reopened, other)
    relink(reopened, other, accept_changed=True)
    assert reopened.fps == 25 and reopened.frame_count == 40
    reopened.undo.undo()
    assert reopened.fps == Fraction(30000, 1001)
    # Replace the file in place with different content: detected as changed.
    shutil.copy(other, moved)
    assert reopened.video_status() == "changed"


def test_newer_version_refused(tmp_path: Path, project: Project) -> None:
    doc = project.to_json()
    doc["version"] = 7
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="newer"):
        Project.load(path)


def test_v0_project_migrates(tmp_path: Path, video: Path) -> None:
    shutil.copy(video, tmp_path / "old.mp4")
    (tmp_path / "takes").mkdir()
    (tmp_path / "takes" / "a.wav").write_bytes(b"RIFF")
    v0 = {
        "version": 0,
        "video_path": "old.mp4",
        "fps": 29.97,
        "frames": 50,
        "duration": 1.668,
        "start_tc": "01:00:00:00",
        "sr": 44100,
        "prompt": "rain on a tin roof",
        "takes": [
            {
                "id": "a1",
                "file": "takes/a.wav",
                "name": "rain",
                "seed": 3,
                "steps": 25,
                "cfg": 6.0,
                "model": "compact",
                "prompt": "rain",
            }
        ],
        "lanes": {"BG": [{"take": "a1", "at": 0.5}], "FOLEY": []},
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(v0))
    project = Project.load(path)
    assert project.fps == Fraction(30000, 1001) and project.sample_rate == 44100
    assert project.start_timecode == "01:00:00:00" and project.prompts.text == "rain on a tin roof"
    assert project.take("a1").settings.seed == 3 and project.take("a1").prompts.text == "rain"
    assert project.lane("BG").items[0].offset_s == 0.5
    assert project.video.fingerprint is not None and project.video_status() == "ok"
    assert path.read_text() == json.dumps(v0)  # loading never rewrites the file
    project.save()
    assert json.loads(path.read_text())["version"] == 2


def test_v1_app_defaults_become_the_models_defaults() -> None:
    """v1 stored the app's fixed 50 steps / CFG 7 / dpmpp_3m_sde; v2 reads them as None (the model's own
    defaults) so the app and the CLI make the same take. A value the user changed is kept."""
    from triergon_studio.core.migrations import migrate

    doc = {
        "format": "triergon-project",
        "version": 1,
        "settings": {"steps": 50, "cfg": 7.0, "sampler": "dpmpp_3m_sde", "seed": 4},
    }
    out, read_as = migrate(doc)
    assert read_as == 1 and out["version"] == 2
    assert out["settings"] == {"steps": None, "cfg": None, "sampler": None, "seed": 4}
    kept, _ = migrate({**doc, "settings": {"steps": 30, "cfg": 7.0, "sampler": "euler"}})
    assert kept["settings"] == {"steps": 30, "cfg": None, "sampler": "euler"}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'{"format": "other"}',
        b'{"format": "triergon-project", "version": "x"}',
        b'{"format": "triergon-project", "version": 1}',
        b'{"format": "triergon-project", "version": 1, "fps": {"num": 0, "den": 1}}',
    ],
)
def test_corrupt_file_clear_error_and_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(ProjectError) as err:
        Project.load(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert path.read_bytes() == content


def test_missing_project_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist"):
        Project.load(tmp_path / "nope.json")


def test_dangling_lane_item_refused(tmp_path: Path, project: Project) -> None:
    doc = project.to_json()
    doc["lanes"][0]["items"] = [{"take_id": "ghost", "offset_s": 0.0}]
    with pytest.raises(ProjectError, match="does not exist"):
        Project.from_json(doc, tmp_path / "x.json")


def test_autosave_every_30_s_and_recover(project: Project, tmp_path: Path) -> None:
    project.save()
    saver = Autosaver(project)
    side = autosave_path(project.path)
    assert side.name == "show.autosave.json"
    assert saver.maybe_autosave(0.0) is None
    project.set_prompt_text("unsaved words")
    assert saver.maybe_autosave(10.0) is None  # too soon
    assert saver.maybe_autosave(30.0) == side and side.is_file()
    assert saver.maybe_autosave(61.0) is None  # nothing changed since
    project.add_marker(0.3, "late")
    assert saver.maybe_autosave(91.0) == side
    assert has_recovery(project.path)
    assert Project.load(project.path).prompts.text == ""  # the real file still holds the saved state
    recovered = recover(project.path)
    assert recovered.path == project.path and recovered.prompts.text == "unsaved words"
    assert recovered.markers[0].name == "late" and recovered.is_dirty
    recovered.save()
    assert not side.exists() and not has_recovery(project.path)
    assert Project.load(project.path).prompts.text == "unsaved words"


def test_autosave_never_touches_a_corrupt_project(tmp_path: Path, project: Project) -> None:
    project.save()
    project.path.write_bytes(b"{corrupt")
    with pytest.raises(ProjectError):
        Project.load(project.path)
    project.set_prompt_text("x")
    Autosaver(project, interval_s=0).maybe_autosave(1.0)
    assert project.path.read_bytes() == b"{corrupt"
    discard_recovery(project.path)
    assert not has_recovery(project.path)
    with pytest.raises(ProjectError):
        recover(project.path)


def test_recall_take_settings_is_one_step(project: Project) -> None:
    from triergon_studio.core.curves import CurveSource, LoudnessCurve
    from triergon_studio.core.model import Prompts

    curve = LoudnessCurve.constant(-30.0, project.duration_s, CurveSource.DRAWN)
    take = Take(
        id="g1",
        name="gen",
        path="takes/g1.wav",
        prompts=Prompts("glass shatters"),
        settings=GenerationSettings(seed=99, steps=12),
        curves=curve.to_json(),
    )
    project.add_take(take)
    project.recall_take("g1")
    assert project.prompts.text == "glass shatters" and project.settings.seed == 99
    assert np.allclose(project.curves.left, -30.0)
    project.undo.undo()
    assert project.prompts.text == "" and project.curves is None and project.settings.seed == 0


def test_rename_lane(project: Project) -> None:
    """Renaming keeps the lane's placements and mix, is one undo step, and refuses empty or taken names."""
    take = Take(id="t1", name="steps", path="takes/t1.wav", duration_s=1.0)
    project.add_take(take, lane="FX", offset_s=0.5)
    project.set_lane_gain("FX", -4.0)
    seen: list[str] = []
    project.changed.connect(seen.append)
    depth = len(project.undo)
    project.rename_lane("FX", " Door FX ")
    assert [ln.name for ln in project.lanes] == ["FOLEY", "Door FX", "BG"]
    lane = project.lane("Door FX")
    assert lane.gain_db == -4.0 and lane.items[0].take_id == "t1"
    assert seen == ["lanes"] and len(project.undo) == depth + 1
    project.rename_lane("Door FX", "door fx")  # a change of case only is allowed
    with pytest.raises(ProjectError):
        project.rename_lane("door fx", "bg")
    with pytest.raises(ProjectError):
        project.rename_lane("door fx", "  ")
    project.undo.undo()
    project.undo.undo()
    assert [ln.name for ln in project.lanes] == ["FOLEY", "FX", "BG"]
