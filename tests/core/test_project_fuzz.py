"""Random and broken JSON thrown at the loader: it may only ever raise ProjectError."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triergon_studio.core.project import Project
from triergon_studio.errors import ProjectError

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)

VALID = {
    "format": "triergon-project",
    "version": 1,
    "name": "x",
    "video": None,
    "fps": {"num": 25, "den": 1},
    "drop_frame": False,
    "frame_count": 10,
    "duration_s": 0.4,
    "start_timecode": "00:00:00:00",
    "sample_rate": 48000,
    "curves": None,
    "prompts": {"text": "", "references": [], "use_video": True},
    "settings": {},
    "lanes": [{"name": "FOLEY", "items": [{"take_id": "a", "offset_s": 0.0}]}],
    "takes": [{"id": "a", "name": "a", "path": "takes/a.wav"}],
    "markers": [],
    "regions": [],
}
KEYS = sorted(VALID)


def _load_doc(doc: object) -> None:
    try:
        Project.from_json(doc, "fuzz.json")
    except ProjectError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_random_json_documents(doc: object) -> None:
    _load_doc(doc)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(KEYS), json_values, st.sampled_from([0, 1, 2]))
def test_valid_document_with_one_field_broken(key: str, value: object, version: int) -> None:
    doc = json.loads(json.dumps(VALID))
    doc[key] = value
    if key != "version":
        doc["version"] = version if version <= 1 else 1
    _load_doc(doc)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["lanes", "takes", "prompts", "settings", "fps"]), st.text(max_size=8), json_values)
def test_nested_fields_broken(key: str, sub: str, value: object) -> None:
    doc = json.loads(json.dumps(VALID))
    target = doc[key][0] if isinstance(doc[key], list) else doc[key]
    target[sub or "name"] = value
    _load_doc(doc)


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["video_path", "fps", "takes", "lanes", "sr", "start_tc", "prompt"]),
        json_values,
        max_size=7,
    )
)
def test_broken_v0_documents(doc: dict) -> None:
    doc.setdefault("video_path", "a.mp4")
    _load_doc(doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_random_bytes_from_disk(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(data)
    try:
        Project.load(path)
    except ProjectError:
        pass
    assert path.read_bytes() == data


def test_deeply_nested_json(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    try:
        Project.load(path)
    except ProjectError:
        pass
    _load_doc({**VALID, "prompts": {"text": "", "references": [[[[[[[]]]]]]]}})


def test_valid_document_loads() -> None:
    project = Project.from_json(VALID, "ok.json")
    assert project.lane("FOLEY").items[0].take_id == "a"
