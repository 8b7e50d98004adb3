"""new -> generate -> add-take -> export (stems, mix, review mp4/mov, REAPER, report), on a real odd-rate video,
as a sound designer would; then the refusal without --force, and a generated take's metadata in a project."""

from __future__ import annotations

import json
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.integration.cli_helpers import GEN, exact_samples, fails_cleanly, make_video, ok, tree_digest


def _ffprobe_audio_samples(path: Path) -> int:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-count_packets",
            "-show_entries",
            "stream=codec_name,duration_ts",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(json.loads(out)["streams"][0]["duration_ts"])


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("proj")
    video = make_video(d / "pic.mp4", 2.5, fps=Fraction(179, 6))  # the odd rate of the real media
    proj = d / "work" / "scene.json"
    proj.parent.mkdir()
    ok("new", video, "-o", proj, "--start-timecode", "01:00:00:00")
    take = d / "take.wav"
    ok(*GEN, video, "--text", "footsteps", "-o", take)
    loud = d / "loud.wav"  # a hot library sound: summed on a lane it goes over full scale
    t = np.arange(48000 * 2) / 48000
    sf.write(loud, np.stack([0.9 * np.sin(2 * np.pi * 100 * t)] * 2, axis=1), 48000, subtype="FLOAT")
    ok("add-take", proj, take, "--lane", "FOLEY", "--at", "0")
    ok("add-take", proj, loud, "--lane", "FX", "--at", "0.5")
    ok("add-take", proj, loud, "--lane", "FX", "--at", "0.5")
    return {"dir": d, "video": video, "proj": proj}


def test_export_full_delivery(session: dict[str, Path]) -> None:
    proj, out = session["proj"], session["dir"] / "deliver"
    r = ok("export", proj, "-o", out, "--reaper", "--mux", "mp4")
    res = json.loads(r.out)
    info = json.loads(ok("probe", session["video"]).out)
    n = exact_samples(info["frame_count"], Fraction(info["fps_num"], info["fps_den"]), 48000)
    assert res["picture_samples"] == n
    # 01:00:00:00 counts 3600 * 30 frames (nominal 30 fps timecode), each 6/179 s long, in samples at 48 kHz
    assert res["time_reference"] == exact_samples(3600 * 30, Fraction(179, 6), 48000)
    report = json.loads(Path(res["report"]).read_text())
    stems = [f for f in report["files"] if f["kind"] in ("stem", "mix")]
    assert {f["file"] for f in stems} == {"scene_FOLEY.wav", "scene_FX.wav", "scene_BG.wav", "scene_MIX.wav"}
    for f in stems:
        data, sr = sf.read(out / f["file"], always_2d=True)
        assert (len(data), sr) == (n, 48000) == (f["length_samples"], report["sample_rate"])
        if f["integrated_lufs"] is not None:  # the report describes the file as written
            m = json.loads(ok("measure", out / f["file"], "--json").out)
            assert abs(m["integrated_lufs"] - f["integrated_lufs"]) < 0.05
            assert abs(m["true_peak_dbtp"] - f["true_peak_dbtp"]) < 0.05
    fx = next(f for f in stems if f["file"] == "scene_FX.wav")
    assert fx["clipped_samples"] > 0 and "clipped" in r.err  # two 0.9 sines summed: the user is told
    assert _ffprobe_audio_samples(out / "scene_review.mp4") >= n
    rpp = (out / "scene.rpp").read_text()
    files = re.findall(r'FILE "([^"]+)"', rpp)
    assert len(files) == 4  # video + 3 lanes
    for f in files:
        assert (out / f).resolve().is_file(), f"{f} in the .rpp does not exist"

    # Again without --force: refused, nothing changed; with --force: mov, 32-bit float, R128.
    before = tree_digest(out)
    assert "--force" in fails_cleanly("export", proj, "-o", out, "--reaper", "--mux", "mp4", names=str(out))
    assert tree_digest(out) == before
    r = ok(
        "export", proj, "-o", out, "--reaper", "--mux", "mov", "--bits", "32f", "--target", "r128", "--force"
    )
    report = json.loads(Path(json.loads(r.out)["report"]).read_text())
    mix = next(f for f in report["files"] if f["kind"] == "mix")
    assert abs(mix["integrated_lufs"] + 23.0) < 0.1 and mix["true_peak_dbtp"] <= -0.95
    assert sf.info(str(out / "scene_MIX.wav")).subtype == "FLOAT"
    assert all(f.get("clipped_samples", 0) == 0 for f in report["files"])
    assert _ffprobe_audio_samples(out / "scene_review.mov") == n  # PCM in MOV: exact


def test_generated_take_metadata_round_trips(session: dict[str, Path], tmp_path: Path) -> None:
    """The engine's metadata (what the UI stores on a take) survives save and load unchanged."""
    from triergon_studio.core.model import Take, new_id
    from triergon_studio.core.project import Project
    from triergon_studio.core.take_spec import TakeSpec, TimeSpan, VideoSource
    from triergon_studio.takes import load_model, make_takes, run_to_end
    from triergon_studio.video.probe import probe

    model = load_model("tiny-random", "cpu")
    video = VideoSource.from_probe(probe(session["video"]))
    spec = TakeSpec(span=TimeSpan(0, video.duration_s), video=video, text="door", steps=2, seed=5)
    proj = Project.load(session["proj"])
    path = proj.new_take_path("gen")
    (rec,) = run_to_end(make_takes(spec, model, [path]))
    take = Take(
        id=new_id(),
        name="gen",
        path=path.relative_to(proj.folder).as_posix(),
        duration_s=rec.duration_s,
        sample_rate=rec.sample_rate,
        metadata=rec.metadata,
    )
    proj.add_take(take, lane="BG", offset_s=0.0)
    saved = proj.save(tmp_path / "copy.json")
    again = Project.load(saved).take(take.id)
    assert again.metadata == json.loads(json.dumps(rec.metadata))
    assert again.metadata["seed"] == 5 and again.metadata["n_samples"] == rec.n_samples


def test_cli_generated_take_keeps_its_settings(session: dict[str, Path]) -> None:
    """`generate` writes NAME.take.json; `add-take` imports the WAV as a generated take with those settings."""
    from triergon_studio.core.project import Project

    take_wav = session["dir"] / "take.wav"
    side = take_wav.with_name("take.take.json")
    record = json.loads(side.read_text())
    assert record["format"] == "triergon-take" and record["settings"]["seed"] == 1
    assert record["prompts"]["text"] == "footsteps" and record["settings"]["steps"] == 2
    proj = Project.load(session["proj"])
    foley = [proj.take(p.take_id) for p in proj.lane("FOLEY").items]
    t = foley[0]
    assert t.source == "generated" and t.settings is not None and t.prompts is not None
    assert (t.settings.seed, t.settings.steps, t.settings.sampler) == (1, 2, record["settings"]["sampler"])
    assert t.prompts.text == "footsteps" and t.metadata["task_id"] == record["metadata"]["task_id"]
    fx = [proj.take(p.take_id) for p in proj.lane("FX").items]
    assert all(x.source == "imported" and x.settings is None for x in fx)  # plain library audio: no sidecar

    # A sidecar that is not ours: a clear one-line refusal naming it, and the project is left as it was.
    bad = session["dir"] / "odd.wav"
    sf.write(bad, np.zeros((4410, 2)), 44100)
    bad.with_name("odd.take.json").write_text("{not json")
    before = session["proj"].read_bytes()
    assert "odd.take.json" in fails_cleanly("add-take", session["proj"], bad, names="odd.take.json")
    assert session["proj"].read_bytes() == before


def test_take_sidecar_reader_refuses_bad_versions(tmp_path: Path) -> None:
    from triergon_studio.core.take_sidecar import read_sidecar, sidecar_path, write_sidecar
    from triergon_studio.errors import ProjectError

    wav = tmp_path / "a.wav"
    assert read_sidecar(wav) is None  # no sidecar: plain library audio
    write_sidecar(wav, {"prompts": None, "settings": None, "metadata": {"seed": 3}})
    assert read_sidecar(wav)["metadata"] == {"seed": 3}
    for version, problem in (("1", "integer"), (2, "newer")):
        sidecar_path(wav).write_text(json.dumps({"format": "triergon-take", "version": version}))
        with pytest.raises(ProjectError, match=problem):
            read_sidecar(wav)
