"""Draw the motion curves and T_LUFS's curves of videos over their thumbnails (docs/motion_curves.jpg).

    PYTHONPATH=$PWD .venv/bin/python tools/plot_motion_curves.py ../shared/media/*.mp4 -o docs/motion_curves.jpg

OpenCV only (no plotting library): one panel per video, a strip of thumbnails with the L/R curves of both
predictors drawn over it on a -70..0 LUFS scale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

W, STRIP_H, PLOT_H, LABEL_H = 1200, 90, 260, 26
COLOURS = {
    "motion L": (40, 200, 255),
    "motion R": (40, 120, 255),
    "T_LUFS L": (120, 255, 120),
    "T_LUFS R": (60, 170, 60),
}  # BGR


def _panel(video: Path, curves: dict[str, np.ndarray], duration: float, status: str) -> np.ndarray:
    from triergon_studio.video.sampling import thumbnails

    thumbs = thumbnails(video, 10, STRIP_H)
    strip = np.concatenate([cv2.cvtColor(t, cv2.COLOR_RGB2BGR) for t in thumbs], axis=1)
    strip = cv2.resize(strip, (W, STRIP_H))
    plot = np.full((PLOT_H, W, 3), 24, np.uint8)
    back = cv2.resize(strip, (W, PLOT_H))
    plot = cv2.addWeighted(back, 0.35, plot, 0.65, 0)
    for lufs in (-60, -40, -20):
        y = int((lufs / -70.0) * (PLOT_H - 1))
        cv2.line(plot, (0, y), (W, y), (90, 90, 90), 1)
        cv2.putText(plot, f"{lufs} LUFS", (4, y - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (200, 200, 200), 1)
    for name, values in curves.items():
        t = np.arange(values.size) / 6.0
        xs = np.clip(t / duration * (W - 1), 0, W - 1)
        ys = np.clip(-np.asarray(values) / 70.0 * (PLOT_H - 1), 0, PLOT_H - 1)
        pts = np.stack([xs, ys], 1).astype(np.int32)
        cv2.polylines(plot, [pts], False, COLOURS[name], 2, cv2.LINE_AA)
    label = np.full((LABEL_H, W, 3), 255, np.uint8)
    cv2.putText(
        label,
        f"{video.name} ({duration:.1f} s): {status}",
        (6, 18),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.5,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    return np.concatenate([label, strip, plot], axis=0)


def main() -> None:
    from triergon_studio.takes import load_model
    from triergon_studio.video.motion import analyse_motion

    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--model", default=None, help="model for T_LUFS (default: the bundled one)")
    args = ap.parse_args()
    model = load_model(args.model)
    panels = []
    for v in args.videos:
        m = analyse_motion(v)
        p = model.predict_curves(str(v))
        curves = {
            "motion L": m.curve.left,
            "motion R": m.curve.right,
            "T_LUFS L": p.left,
            "T_LUFS R": p.right,
        }
        panels.append(_panel(v, curves, m.curve.duration_s, m.status.split(": ", 1)[-1]))
    legend = np.full((LABEL_H, W, 3), 255, np.uint8)
    x = 6
    for name, col in COLOURS.items():
        cv2.line(legend, (x, 13), (x + 30, 13), col, 3)
        cv2.putText(legend, name, (x + 36, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        x += 170
    img = np.concatenate([legend, *panels], axis=0)
    if not cv2.imwrite(str(args.out), img):
        raise SystemExit(f"{args.out}: could not write the picture")
    print(f"wrote {args.out} ({img.shape[1]}x{img.shape[0]})")


if __name__ == "__main__":
    main()
