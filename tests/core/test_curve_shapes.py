"""Point shapes and repeating pencil waves against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from triergon_studio.core.curve_shapes import (
    Shape,
    ShapePoint,
    Wave,
    evaluate,
    render_points,
    segment_fraction,
    wave_period,
    wave_span,
)

U = np.linspace(0.0, 1.0, 101)


def test_square_holds_exactly_until_the_next_point() -> None:
    out = render_points([(0.0, -40.0, "square"), (2.0, -10.0, "linear")], 18)
    assert np.all(out[:12] == -40.0)  # frames 0..11 are before t = 2 s
    assert np.all(out[12:] == -10.0)


def test_slow_is_symmetric_and_meets_linear_at_ends_and_middle() -> None:
    f = segment_fraction(U, Shape.SLOW)
    assert np.allclose(f + f[::-1], 1.0, atol=1e-12)  # f(1 - u) = 1 - f(u)
    assert f[0] == 0.0 and f[-1] == pytest.approx(1.0) and f[50] == pytest.approx(0.5)
    assert f[25] < 0.25 and f[75] > 0.75  # slow start, slow end
    assert segment_fraction(np.array([0.25]), "slow")[0] == pytest.approx((1 - np.cos(np.pi / 4)) / 2)


def test_fast_is_above_linear_on_a_rising_segment() -> None:
    out = evaluate([(0.0, -60.0, "fast"), (1.0, -20.0)], U)
    lin = -60.0 + 40.0 * U
    assert np.all(out[1:-1] > lin[1:-1])
    assert out[50] == pytest.approx(-60.0 + 40.0 * 0.75)  # 1 - (1 - 0.5)^2
    falling = evaluate([(0.0, -20.0, "fast"), (1.0, -60.0)], U)
    assert np.all(falling[1:-1] < (-20.0 - 40.0 * U)[1:-1])  # moves towards the next value early


@pytest.mark.parametrize("shape", list(Shape))
def test_every_shape_hits_each_point_exactly(shape: Shape) -> None:
    pts = [
        ShapePoint(0.5, -50.0, shape),
        ShapePoint(1.5, -12.0, shape),
        ShapePoint(2.0, -30.0, shape),
        ShapePoint(3.5, -30.5, shape),
    ]
    at = evaluate(pts, [p.time_s for p in pts])
    assert list(at) == [p.value for p in pts]
    grid = render_points(pts, 24)  # all four times are on the 6 Hz grid
    assert [grid[round(p.time_s * 6)] for p in pts] == [p.value for p in pts]
    assert np.all(grid[:3] == -50.0) and np.all(grid[21:] == -30.5)  # held outside the points


@pytest.mark.parametrize("shape", [Shape.LINEAR, Shape.SLOW, Shape.FAST, Shape.SQUARE])
def test_monotone_between_monotone_points(shape: Shape) -> None:
    pts = [(0.0, -60.0, shape), (1.0, -45.0, shape), (2.5, -44.0, shape), (4.0, -3.0, shape)]
    t = np.linspace(0.0, 4.0, 2001)
    assert np.all(np.diff(evaluate(pts, t)) >= 0.0)
    down = [(p[0], -p[1] - 63.0, shape) for p in pts]
    assert np.all(np.diff(evaluate(down, t)) <= 0.0)


def test_bezier_known_answers() -> None:
    # Three points 0 -> 1 -> 0 at 0, 1, 2 s: Catmull-Rom slopes 1 (one-sided), 0, -1.
    pts = [(0.0, 0.0, "bezier"), (1.0, 1.0, "bezier"), (2.0, 0.0, "bezier")]
    mid = evaluate(pts, [0.5, 1.5])
    # Hermite at u = 0.5: 0.5 * v0 + 0.125 * m0 + 0.5 * v1 - 0.125 * m1 with m0 = 1, m1 = 0.
    assert mid[0] == pytest.approx(0.625) and mid[1] == pytest.approx(0.625)
    # Collinear points with tension 0: the cubic is the straight line.
    assert np.allclose(evaluate([(0.0, -50.0, "bezier"), (1.0, -40.0)], U), -50.0 + 10.0 * U)
    # Tension 1: flat slopes, the smoothstep 3u^2 - 2u^3.
    flat = evaluate([ShapePoint(0.0, 0.0, Shape.BEZIER, 1.0), ShapePoint(1.0, 1.0)], U)
    assert np.allclose(flat, 3 * U**2 - 2 * U**3)
    # Smooth through the middle point: the slopes either side of t = 1 agree.
    eps = 1e-5
    left, centre, right = evaluate(pts, [1.0 - eps, 1.0, 1.0 + eps])
    assert (centre - left) / eps == pytest.approx((right - centre) / eps, abs=1e-3)


def test_bad_points_are_refused() -> None:
    with pytest.raises(ValueError, match="increase"):
        evaluate([(1.0, -10.0), (1.0, -20.0)], [0.0])
    with pytest.raises(ValueError, match="tension"):
        evaluate([ShapePoint(0.0, -10.0, Shape.BEZIER, 2.0)], [0.0])
    with pytest.raises(ValueError):
        evaluate([(0.0, -10.0, "wobbly")], [0.0])


def test_wave_period_uses_the_snap_unit_with_a_two_frame_floor() -> None:
    assert wave_period(1.0) == 1.0
    assert wave_period(1 / 25) == pytest.approx(2 / 6)  # a video frame is shorter than a curve frame
    assert wave_period(0.0) == pytest.approx(2 / 6)


def test_triangle_wave_on_the_grid() -> None:
    lo, vals = wave_span(Wave.TRIANGLE, 60, 6.0, 1.0, -60.0, 3.0, -20.0, 1.0)
    assert lo == 6 and vals.size == 13  # frames 6..18 (1 s .. 3 s inclusive)
    one = np.array([-60.0, -60 + 40 / 3, -60 + 80 / 3, -20.0, -60 + 80 / 3, -60 + 40 / 3])
    assert np.allclose(vals, np.concatenate([one, one, [-60.0]]))
    assert vals[0] == -60.0 and vals[3] == -20.0 and vals[12] == -60.0  # exact levels


def test_square_wave_on_the_grid_and_drawn_backwards() -> None:
    lo, vals = wave_span("square", 60, 6.0, 0.0, -50.0, 2.0, -10.0, 2 / 6)
    assert lo == 0 and list(vals) == [-50.0, -10.0] * 6 + [-50.0]
    # Dragged right to left: the phase starts at the drag's start (t0 = 2 s).
    lo, back = wave_span("square", 60, 6.0, 2.0, -50.0, 1.0, -10.0, 1.0)
    assert lo == 6 and list(back) == [-50.0] + [-10.0] * 3 + [-50.0] * 3
    lo, none = wave_span("triangle", 60, 6.0, 0.51, -50.0, 0.6, -10.0, 1.0)
    assert none.size == 0
    with pytest.raises(ValueError):
        wave_span("sine", 60, 6.0, 0.0, 0.0, 1.0, 1.0, 1.0)
