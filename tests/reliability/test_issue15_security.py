"""Issue 15, cases 14 and 15: no code from user files, and names cannot inject text-export syntax."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from tests.integration.cli_helpers import GEN, cli_inproc, make_video


class _Evil:
    """Unpickling this calls os.mkdir(marker): the proof that a loader ran code from a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def _evil_files(d: Path, marker: Path) -> dict[str, Path]:
    import torch

    d.mkdir(parents=True, exist_ok=True)
    raw = d / "raw.pt"
    raw.write_bytes(pickle.dumps({"state": _Evil(marker), "classes": ["a"]}))
    zipped = d / "zipped.pt"
    torch.save({"state": {"w": torch.zeros(1)}, "classes": ["a"], "x": _Evil(marker)}, zipped)
    return {"raw": raw, "zipped": zipped}


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from triergon_studio.engine.config import get_preset
    from triergon_studio.engine.models.triergon import build_model
    from triergon_studio.engine.weights import save_model_dir

    d = tmp_path_factory.mktemp("evilmodel") / "model"
    cfg = get_preset("tiny")
    save_model_dir(build_model(cfg), cfg, d)
    return d


def _refused(r: object, marker: Path) -> str:
    lines = [ln for ln in r.err.splitlines() if ln.strip()]  # type: ignore[attr-defined]
    assert r.rc == 2, r.err  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert not marker.exists(), "a pickle ran code"
    return lines[0]


@pytest.mark.parametrize("kind", ["raw", "zipped"])
def test_case14_eval_classifier_file_never_unpickled(tmp_path: Path, tiny_model_dir: Path, kind: str) -> None:
    marker = tmp_path / "PWNED"
    evil = _evil_files(tmp_path / "f", marker)[kind]
    line = _refused(
        cli_inproc("eval", tiny_model_dir, "--heldout-dir", tmp_path / "heldout", "--classifier", evil),
        marker,
    )
    assert "weights-only" in line and evil.name in line


def test_case14_eval_folder_with_a_classifier_the_manifest_does_not_cover(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    import shutil

    marker = tmp_path / "PWNED"
    folder = tmp_path / "downloaded"
    shutil.copytree(tiny_model_dir, folder)
    shutil.copy(_evil_files(tmp_path / "f", marker)["zipped"], folder / "eval_classifier.pt")
    line = _refused(cli_inproc("eval", folder, "--heldout-dir", tmp_path / "heldout"), marker)
    assert "eval_classifier.pt" in line and "manifest" in line


def test_case14_train_resume_with_a_crafted_checkpoint(tmp_path: Path) -> None:
    from tests.integration.cli_helpers import REPO_ROOT

    marker = tmp_path / "PWNED"
    run = tmp_path / "run"
    run.mkdir()
    evil = _evil_files(tmp_path / "f", marker)["zipped"]
    (run / "checkpoint.pt").write_bytes(evil.read_bytes())
    cfg = REPO_ROOT / "triergon_studio" / "training" / "configs" / "tiny_lufs.json"
    line = _refused(
        cli_inproc("train", "lufs", "--config", cfg, "--resume", "--out", run, "--steps", "2"), marker
    )
    assert "checkpoint.pt" in line and "weights-only" in line


@pytest.mark.parametrize("where", ["tensors", "json"])
def test_case14_train_resume_with_a_crafted_new_format_checkpoint(tmp_path: Path, where: str) -> None:
    """The safetensors + JSON checkpoint: a pickle in place of the tensors file (with a matching sha256, so
    the loader reaches it) or of the JSON is refused in one line, and nothing runs."""
    import hashlib

    from tests.integration.cli_helpers import REPO_ROOT

    marker = tmp_path / "PWNED"
    run = tmp_path / "run"
    run.mkdir()
    evil = _evil_files(tmp_path / "f", marker)["zipped"].read_bytes()
    if where == "tensors":
        name = "checkpoint-00000002-0123abcd.safetensors"
        (run / name).write_bytes(evil)
        doc = {
            "format": "triergon-training-checkpoint",
            "version": 1,
            "step": 2,
            "tensors": name,
            "sha256": hashlib.sha256(evil).hexdigest(),
            "state": {"step": 2, "module": {}, "optim": {}},
        }
        (run / "checkpoint.json").write_text(json.dumps(doc))
    else:
        (run / "checkpoint.json").write_bytes(evil)
    cfg = REPO_ROOT / "triergon_studio" / "training" / "configs" / "tiny_lufs.json"
    line = _refused(
        cli_inproc("train", "lufs", "--config", cfg, "--resume", "--out", run, "--steps", "2"), marker
    )
    assert (
        ("safetensors" in line and "checkpoint-00000002" in line)
        if where == "tensors"
        else ("checkpoint.json" in line)
    ), line


def test_case14_every_command_that_reads_a_file(tmp_path: Path) -> None:
    """The same pickle handed to each command's file arguments: refused in one line, nothing runs."""
    marker = tmp_path / "PWNED"
    files = _evil_files(tmp_path / "f", marker)
    evil = files["zipped"]
    sao = tmp_path / "sao"
    sao.mkdir()
    from tests.engine.sao_helpers import tiny_config

    (sao / "model_config.json").write_text(json.dumps(tiny_config("1.0")))
    (sao / "model.ckpt").write_bytes(evil.read_bytes())
    video = make_video(tmp_path / "v.mp4", 1.0)
    for name in ("evil.wav", "evil.json", "evil.mp4"):
        (tmp_path / name).write_bytes(evil.read_bytes())
    cmds = [
        ["measure", tmp_path / "evil.wav"],
        ["conform", tmp_path / "evil.wav", "--curves", tmp_path / "evil.json", "-o", tmp_path / "o.wav"],
        ["normalize", tmp_path / "evil.wav", "--target", "r128", "-o", tmp_path / "o.wav"],
        ["probe", tmp_path / "evil.mp4"],
        ["new", tmp_path / "evil.mp4", "-o", tmp_path / "p.json"],
        ["export", tmp_path / "evil.json", "-o", tmp_path / "out"],
        ["model-info", sao],
        [*GEN, "--duration", "1", "--model", sao, "-o", tmp_path / "g.wav"],
        [*GEN, "--duration", "1", "--curves", tmp_path / "evil.json", "-o", tmp_path / "g.wav"],
        [*GEN, "--duration", "1", "--ref-audio", tmp_path / "evil.wav", "-o", tmp_path / "g.wav"],
        ["predict-lufs", video, "--model", sao, "-o", tmp_path / "c.json"],
    ]
    for cmd in cmds:
        r = cli_inproc(*cmd)
        if cmd[0] == "model-info":  # only the config is read: it reports, and never opens the weights
            assert r.rc == 0 and not marker.exists(), r.err
            continue
        _refused(r, marker)


# ---- case 15: hostile names and the REAPER project ---------------------------------------------------------
HOSTILE_OK = ['Door "slam"', "it's <FX>", "a \"b\" 'c'", "<SOURCE WAVE", ">", "  spaced  ", "semi;colon"]
HOSTILE_BAD = ['x"\n    <SOURCE WAVE FILE "/etc/passwd"', "a\rb", "nul\0byte", "tab\tname", "bell\x07"]


def test_case15_names_round_trip_through_the_rpp_parser(tmp_path: Path) -> None:
    from fractions import Fraction

    from triergon_studio.audio.reaper import RppItem, RppProject, RppTrack, parse_rpp_names, render_rpp

    tracks = [RppTrack(n, (RppItem(n, f"{i}.wav", 0.0, 1.0),)) for i, n in enumerate(HOSTILE_OK)]
    text = render_rpp(RppProject(tracks, Fraction(25), False, 48000, markers=[(1.0, n) for n in HOSTILE_OK]))
    names = parse_rpp_names(text)
    assert names["track"] == HOSTILE_OK and names["item"] == HOSTILE_OK and names["marker"] == HOSTILE_OK
    # a name is always one quoted token: no line of the project starts with a name's "<SOURCE"
    assert sum(ln.strip().startswith("<SOURCE") for ln in text.splitlines()) == len(HOSTILE_OK)


@pytest.mark.parametrize("name", HOSTILE_BAD)
def test_case15_control_characters_never_reach_the_rpp(tmp_path: Path, name: str) -> None:
    from fractions import Fraction

    from triergon_studio.audio.reaper import RppItem, RppProject, RppTextError, RppTrack, render_rpp

    with pytest.raises(RppTextError):
        render_rpp(
            RppProject([RppTrack(name, (RppItem("a", "a.wav", 0.0, 1.0),))], Fraction(25), False, 48000)
        )


@pytest.mark.parametrize("name", HOSTILE_BAD)
def test_case15_project_with_a_hostile_lane_name_is_refused(media: Path, tmp_path: Path, name: str) -> None:
    from tests.integration.cli_helpers import fails_cleanly
    from tests.reliability.conftest import project_doc, write_project

    doc = project_doc(media)
    doc["lanes"][0]["name"] = name
    proj = write_project(media, "hostile.json", doc)
    line = fails_cleanly("export", proj, "-o", tmp_path / "out", "--reaper", names=proj.name, inproc=True)
    assert "control characters" in line
    assert not (tmp_path / "out").exists()


def test_case15_app_edits_refuse_control_characters(media: Path) -> None:
    from triergon_studio.core.project import Project
    from triergon_studio.errors import ProjectError

    p = Project.load(media / "proj.json")
    with pytest.raises(ProjectError, match="control characters"):
        p.add_lane("BG\n<SOURCE")
    with pytest.raises(ProjectError, match="control characters"):
        p.rename_lane("FOLEY", "x\0y")
    with pytest.raises(ProjectError, match="control characters"):
        p.add_marker(1.0, "m\nn")
