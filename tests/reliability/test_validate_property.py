"""The validation layer: unit checks of the documented ranges, and a property test that feeds random values
to every validated parameter of every command. Each value is accepted or refused in one line; never a
traceback (an exception other than StudioError escapes ``cli.main`` and fails the test)."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.cli_helpers import cli_inproc
from tests.reliability.conftest import project_doc
from triergon_studio.core import validate as v
from triergon_studio.errors import ParameterError

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)

# Numbers as a user types them: ordinary, huge, tiny, negative, NaN, infinities, long integers.
NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(["0", "-0", "1e-300", "1e308", "1e309", "-1e309", "nan", "inf", "-inf", "2e-7", "59.94"]),
)
INT_TEXT = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(["0", "1", str(2**63 - 1), str(2**63), str(2**70)]),
)
WORDS = st.text(min_size=1, max_size=12).filter(lambda s: not s.startswith("-") and "\0" not in s)


def _glue(args: list[Any]) -> list[Any]:
    """``--opt VALUE`` -> ``--opt=VALUE`` when VALUE starts with '-', as a user must type a negative value."""
    out: list[Any] = []
    for a in args:
        if (
            out
            and isinstance(a, str)
            and a.startswith("-")
            and isinstance(out[-1], str)
            and out[-1].startswith("--")
            and "=" not in out[-1]
        ):
            out[-1] = f"{out[-1]}={a}"
        else:
            out.append(a)
    return out


def one_line_or_ok(args: list[Any], cwd: Path | None = None) -> int:
    r = cli_inproc(*_glue(args), cwd=cwd)
    lines = [
        ln for ln in r.err.splitlines() if ln.strip() and not ln.startswith("[")
    ]  # export prints progress
    assert r.rc in (0, 2), (args, r.rc, r.err[-1000:])
    if r.rc == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, lines)
        assert "Traceback" not in r.err
    return r.rc


# ---- unit checks of the ranges -----------------------------------------------------------------------------
def test_documented_ranges() -> None:
    assert v.check_seed(0) == 0 and v.check_seed(2**63 - 1) == 2**63 - 1
    for bad in (-1, 2**63, 2**70, 1.5, "x", True):
        with pytest.raises(ParameterError):
            v.check_seed(bad)
    assert v.check_duration(0.1) == 0.1 and v.check_duration(3600) == 3600.0
    for bad in (0.0999, 3600.001, math.nan, math.inf, -1, 1e9):
        with pytest.raises(ParameterError, match="duration"):
            v.check_duration(bad)
    assert v.check_fps(Fraction(30000, 1001)) == Fraction(30000, 1001)
    for bad in (Fraction(10**30), Fraction(1, 10**30), 0, -25):
        with pytest.raises(ParameterError, match="frame rate"):
            v.check_fps(bad)
    assert v.check_frame_count(25 * 3600 * 24, 25) == 2_160_000
    with pytest.raises(ParameterError, match="24 h"):
        v.check_frame_count(25 * 3600 * 24 + 1, 25)
    assert v.check_target("r128") == (-23.0, -1.0) and v.check_target("-18", -2) == (-18.0, -2.0)
    for t, tp in (("50", None), ("-70", None), ("x", None), ("-18", 99), ("-18", "nan")):
        with pytest.raises(ParameterError):
            v.check_target(t, tp)
    assert v.check_device("cpu", ["cpu"]) == "cpu" and v.check_device("AUTO", ["cpu"]) == "auto"
    with pytest.raises(ParameterError, match="available: auto, cpu, cuda:0"):
        v.check_device("bogus", ["cpu", "cuda:0"])
    v.check_curve_length(3.0, 3.1)
    with pytest.raises(ParameterError, match="--fit-curves"):
        v.check_curve_length(3.0, 20.0)
    with pytest.raises(ParameterError, match="control characters"):
        v.check_text("a\nb", "lane name")


@given(
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(),
        st.text(max_size=8),
        st.none(),
        st.booleans(),
    )
)
@SETTINGS
def test_every_check_accepts_or_refuses_in_one_line(value: Any) -> None:
    checks = [
        v.check_duration,
        v.check_seed,
        v.check_steps,
        v.check_variations,
        v.check_cfg,
        v.check_gain_db,
        v.check_offset_s,
        v.check_conform_gain,
        v.check_sample_rate,
        v.check_fps,
        v.check_picture_seconds,
        v.check_target,
        v.check_text,
        lambda x: v.check_frame_count(x, 25),
        lambda x: v.check_device(x, ["cpu"]),
    ]
    for check in checks:
        try:
            check(value)
        except ParameterError as exc:
            assert "\n" not in str(exc) and str(exc)


def test_curve_stretch_keeps_the_shape() -> None:
    import numpy as np

    from triergon_studio.core.curves import LoudnessCurve

    c = LoudnessCurve(np.linspace(-60, -10, 18), np.full(18, -30.0), 3.0)
    s = c.stretched_to(20.0)
    assert s.n_frames == 120 and s.duration_s == 20.0
    assert s.left[0] == pytest.approx(-60, abs=2) and s.left[-1] == pytest.approx(-10, abs=2)
    assert np.all(np.diff(s.left) >= 0) and np.all(s.right == -30.0)


# ---- the property test over the commands -------------------------------------------------------------------
@pytest.fixture(scope="module")
def busy(media: Path) -> Path:
    """Outputs that already exist, so an accepted value ends at "already exists" instead of doing the work."""
    (media / "exists.wav").write_bytes(b"x")
    (media / "exists.json").write_bytes(b"x")
    out = media / "busy_out"
    out.mkdir(exist_ok=True)
    (out / "proj_export.json").write_text("{}")
    return media


GEN = ["generate", "--model", "tiny-random", "--device", "cpu"]


@given(
    seed=INT_TEXT,
    steps=INT_TEXT,
    cfg=NUMBER_TEXT,
    variations=INT_TEXT,
    duration=NUMBER_TEXT,
    device=st.one_of(WORDS, st.sampled_from(["cpu", "auto", "cuda", "mps", "cuda:7", "CPU"])),
)
@SETTINGS
def test_generate_parameters(
    busy: Path, seed: str, steps: str, cfg: str, variations: str, duration: str, device: str
) -> None:
    args = [
        "generate",
        "--model",
        "tiny-random",
        "--device",
        device,
        "--seed",
        seed,
        "--steps",
        steps,
        "--cfg",
        cfg,
        "--variations",
        variations,
        "--duration",
        duration,
        "-o",
        busy / "exists.wav",
    ]
    assert one_line_or_ok(args) == 2  # accepted values meet the existing output


@given(lufs=NUMBER_TEXT, tp=NUMBER_TEXT)
@SETTINGS
def test_export_custom_target(busy: Path, lufs: str, tp: str) -> None:
    one_line_or_ok(
        [
            "export",
            busy / "proj.json",
            "-o",
            busy / "busy_out",
            "--target",
            "custom",
            "--lufs",
            lufs,
            "--true-peak",
            tp,
        ]
    )


@given(
    target=st.one_of(NUMBER_TEXT, WORDS, st.sampled_from(["r128", "a85", "stream", "apple", "R128"])),
    tp=st.one_of(st.none(), NUMBER_TEXT),
)
@SETTINGS
def test_normalize_target(busy: Path, target: str, tp: str | None) -> None:
    extra = [] if tp is None else [f"--true-peak={tp}"]
    one_line_or_ok(["normalize", busy / "tone.wav", f"--target={target}", *extra, "-o", busy / "exists.wav"])


@given(gain=NUMBER_TEXT)
@SETTINGS
def test_conform_max_gain(busy: Path, gain: str) -> None:
    one_line_or_ok(
        [
            "conform",
            busy / "tone.wav",
            "--curves",
            busy / "exists.json",
            "--max-gain",
            gain,
            "-o",
            busy / "exists.wav",
        ]
    )


@given(at=NUMBER_TEXT)
@SETTINGS
def test_add_take_offset(busy: Path, at: str) -> None:
    one_line_or_ok(
        ["add-take", busy / "proj.json", busy / "tone.wav", "--lane", "NO_SUCH_LANE", f"--at={at}"]
    )


@given(device=st.one_of(WORDS, st.sampled_from(["cpu", "auto", "cuda", "mps"])))
@SETTINGS
def test_predict_lufs_device(busy: Path, device: str) -> None:
    one_line_or_ok(
        [
            "predict-lufs",
            busy / "clip.mp4",
            "--model",
            "tiny-random",
            "--device",
            device,
            "-o",
            busy / "exists.json",
        ]
    )


@given(tc=st.one_of(WORDS, st.sampled_from(["01:00:00:00", "00:00:00;02", "99:99:99:99", "-01:00:00:00"])))
@SETTINGS
def test_new_start_timecode(busy: Path, tc: str) -> None:
    one_line_or_ok(["new", busy / "clip.mp4", "-o", busy / "exists.json", f"--start-timecode={tc}"])


PROJECT_FIELDS = {
    "fps": lambda doc, x: doc.__setitem__("fps", {"num": x[0], "den": x[1], "drop_frame": False}),
    "frame_count": lambda doc, x: doc.__setitem__("frame_count", x[0]),
    "duration_s": lambda doc, x: doc.__setitem__("duration_s", x[2]),
    "lane_gain": lambda doc, x: doc["lanes"][0].__setitem__("gain_db", x[2]),
    "item_gain": lambda doc, x: doc["lanes"][0]["items"][0].__setitem__("gain_db", x[2]),
    "item_offset": lambda doc, x: doc["lanes"][0]["items"][0].__setitem__("offset_s", x[2]),
    "lane_name": lambda doc, x: doc["lanes"][0].__setitem__("name", x[3]),
    "sample_rate": lambda doc, x: doc.__setitem__("sample_rate", x[0]),
}


@given(
    field=st.sampled_from(sorted(PROJECT_FIELDS)),
    ints=st.tuples(
        st.integers(min_value=-(2**70), max_value=2**70), st.integers(min_value=-(2**70), max_value=2**70)
    ),
    num=st.floats(allow_nan=False, allow_infinity=False, width=64),
    text=st.text(max_size=10),
)
@SETTINGS
def test_project_fields_through_export(
    busy: Path, field: str, ints: tuple[int, int], num: float, text: str
) -> None:
    doc = project_doc(busy)
    PROJECT_FIELDS[field](doc, (ints[0], ints[1], num, text))
    path = busy / "prop.json"
    path.write_text(json.dumps(doc))
    one_line_or_ok(["export", path, "-o", busy / "busy_out"])  # a valid project meets "would overwrite"
