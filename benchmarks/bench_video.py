"""Video reading speed, as ratios measured in this run (run by hand: python benchmarks/bench_video.py).

- realtime ratio = frames decoded per second by VideoReader.iter_frames (RGB out) / the file's fps.
  Playback keeps up when it is above 1.
- overhead ratio = VideoReader fps / bare PyAV decode fps (no colour conversion) on the same file.
- random access = one frame_at_index on a random frame, in units of one sequential frame's time.
- 6 fps sampling = seconds of picture sampled per second of wall time.

The 1280x720 test picture is made here: moving noise over gradients, encoded with x264 "medium" at
8 Mb/s, which is harder to decode than typical cut footage.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from triergon_studio.video.reader import VideoReader  # noqa: E402
from triergon_studio.video.sampling import sample_frames_6fps  # noqa: E402


def make_clip(path: Path, seconds: float, fps: int = 25, size: tuple[int, int] = (1280, 720)) -> Path:
    import av

    w, h = size
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (h + 64, w + 64, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.bit_rate = 8_000_000
    stream.codec_context.options = {"preset": "medium"}
    for i in range(int(seconds * fps)):
        dx, dy = (3 * i) % 64, (2 * i) % 64
        img = noise[dy : dy + h, dx : dx + w] // 3
        img = img + ((xx + 4 * i) % 256 // 2)[..., None].astype(np.uint8)
        img[(yy - 360) ** 2 + (xx - (200 + 20 * i) % w) ** 2 < 90**2] = (230, 60, 40)
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def bare_decode_fps(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        t0 = time.perf_counter()
        n = sum(1 for _ in c.decode(s))
    return n / (time.perf_counter() - t0)


def bench(path: Path) -> dict[str, float]:
    with VideoReader(path) as reader:
        fps = reader.info.fps
        t0 = time.perf_counter()
        n = sum(1 for _ in reader.iter_frames())
        seq = time.perf_counter() - t0
        reader_fps = n / seq
        rng = random.Random(1)
        picks = [rng.randrange(reader.info.frame_count) for _ in range(12)]
        t0 = time.perf_counter()
        for i in picks:
            reader.frame_at_index(i)
        random_s = (time.perf_counter() - t0) / len(picks)
        duration = reader.info.duration_s
    bare = bare_decode_fps(path)
    t0 = time.perf_counter()
    sample_frames_6fps(path, size=(224, 224))
    sample_s = time.perf_counter() - t0
    return {
        "frames": n,
        "fps": float(fps),
        "realtime_ratio": reader_fps / float(Fraction(fps)),
        "overhead_ratio": reader_fps / bare,
        "random_access_in_frames": random_s / (seq / n),
        "sampling_ratio": duration / sample_s,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("files", nargs="*", type=Path, help="extra files to measure")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "noise720.mp4", args.seconds)
        files = [clip, *args.files]
        demo = ROOT / "resources" / "demo" / "demo.mp4"
        if demo.is_file():
            files.append(demo)
        for shared in ("bottle-detection.mp4", "car-detection.mp4"):
            p = ROOT.parent / "shared" / "media" / shared
            if p.is_file():
                files.append(p)
        print(f"{'file':28s} {'fps':>7s} {'realtime':>9s} {'vs bare':>8s} {'random':>8s} {'6fps':>7s}")
        for f in files:
            r = bench(f)
            print(
                f"{f.name:28s} {r['fps']:7.3f} {r['realtime_ratio']:8.2f}x {r['overhead_ratio']:7.2f}x "
                f"{r['random_access_in_frames']:7.1f}f {r['sampling_ratio']:6.1f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
