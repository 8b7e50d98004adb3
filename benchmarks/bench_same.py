"""SAME-S decode benchmark (Stable Audio 3 Small's autoencoder) on this CPU, random weights, real shape.

    python benchmarks/bench_same.py                      # 10 s and 60 s, float32 and bfloat16
    python benchmarks/bench_same.py --seconds 10 --dtype float32

For each dtype and length: wall and CPU time of one decode, seconds of compute per second of audio, the
ratio to the compute floor (the decoder's counted matmul FLOPs over the matmul rate of this dtype measured in
the same run on the shape of the decoder's largest projection), in wall time and in CPU time (the CPU-time
ratio holds when other processes share the cores), and the peak resident memory during the decode. For
bfloat16, also the relative L2 distance of its output to the float32 output. ``decode_figures`` is importable
(``benchmarks/bench_sa3.py`` reuses it).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from triergon_studio.engine.models.same import SAMEAutoencoder, SAMEConfig, count_decode_flops  # noqa: E402
from triergon_studio.engine.models.same_config import REFERENCE_BLOCKS  # noqa: E402

_PAGE = 4096


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRSS:
    """Samples the resident set size every 2 ms in a thread (torch releases the GIL in its kernels)."""

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


@dataclass
class Rate:
    """Matmul FLOP/s per second of wall time and per second of this process's CPU time (all threads)."""

    wall: float
    cpu: float


def matmul_rate(dtype: torch.dtype, m: int = 2048, k: int = 768, n: int = 3840, reps: int = 8) -> Rate:
    """FLOP/s of ``[m, k] @ [k, n]`` in ``dtype`` (the decoder's largest projection), best of three loops."""
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    for _ in range(2):
        a @ b
    wall = cpu = float("inf")
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            a @ b
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    flops = 2 * m * k * n * reps
    return Rate(flops / wall, flops / cpu)


@dataclass
class DecodeFigures:
    dtype: str
    seconds: float
    latents: int
    wall_s: float
    cpu_s: float
    gflop: float
    rate: Rate
    peak_mb: float
    added_mb: float

    @property
    def ratio(self) -> float:
        """Wall time over the wall-clock floor (counted FLOPs over the measured matmul rate)."""
        return self.wall_s / (self.gflop * 1e9 / self.rate.wall)

    @property
    def cpu_ratio(self) -> float:
        """The same in CPU time: robust when other processes share the cores."""
        return self.cpu_s / (self.gflop * 1e9 / self.rate.cpu)

    def line(self) -> str:
        return (
            f"{self.dtype:8s} {self.seconds:4.0f} s audio ({self.latents} latents): decode {self.wall_s:6.2f} s wall "
            f"({self.wall_s / self.seconds:.3f} s per s), {self.cpu_s:6.2f} s CPU; {self.gflop:5.0f} GFLOP; matmul "
            f"{self.rate.wall / 1e9:5.1f} GFLOP/s wall, {self.rate.cpu / 1e9:5.1f} per CPU-s; ratio to floor "
            f"{self.ratio:.2f}x wall, {self.cpu_ratio:.2f}x CPU; peak RSS {self.peak_mb:.0f} MB "
            f"(+{self.added_mb:.0f} MB in decode)"
        )


def build_same_s(dtype: torch.dtype = torch.float32, seed: int = 0) -> SAMEAutoencoder:
    """SAME-S at the real configuration with random (default-initialised) weights."""
    torch.manual_seed(seed)
    cfg = SAMEConfig.from_upstream(
        {"sample_rate": 44100, "model": {"pretransform": REFERENCE_BLOCKS["same_s"]}}
    )
    return SAMEAutoencoder(cfg).eval().to(dtype)


def decode_figures(
    model: SAMEAutoencoder, seconds: float, seed: int = 1, repeat: int = 1
) -> tuple[DecodeFigures, torch.Tensor]:
    """Time the decode of ``seconds`` of audio, best of ``repeat``; the matmul rate of the model's dtype is
    measured right before each decode (best of those), so both see the machine in the same state."""
    dtype = next(model.parameters()).dtype
    n_lat = -(-round(seconds * model.sample_rate) // model.downsampling_ratio)
    latents = torch.randn(1, model.latent_dim, n_lat, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        model.decode(latents[..., :4].to(dtype))  # warm-up (allocator, kernel selection)
        wall = cpu = float("inf")
        rate = Rate(0.0, 0.0)
        with PeakRSS() as mem:
            for _ in range(repeat):
                r = matmul_rate(dtype)
                rate = Rate(max(rate.wall, r.wall), max(rate.cpu, r.cpu))
                t0, c0 = time.perf_counter(), time.process_time()
                audio = model.decode(latents.to(dtype))
                wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    flops = count_decode_flops(model.cfg, n_lat)
    figures = DecodeFigures(
        dtype=str(dtype).removeprefix("torch."),
        seconds=seconds,
        latents=n_lat,
        wall_s=wall,
        cpu_s=cpu,
        gflop=flops / 1e9,
        rate=rate,
        peak_mb=mem.peak / 2**20,
        added_mb=(mem.peak - mem.start) / 2**20,
    )
    return figures, audio.float()


def main() -> None:
    ap = argparse.ArgumentParser(description="SAME-S decode speed and memory on this CPU")
    ap.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--repeat", type=int, default=1, help="decodes per case; the best time counts")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    print(f"SAME-S decode, random weights, torch {torch.__version__}, {torch.get_num_threads()} threads")
    reference: dict[float, torch.Tensor] = {}
    for name in args.dtype:
        dtype = getattr(torch, name)
        model = build_same_s(dtype)
        for seconds in args.seconds:
            figures, audio = decode_figures(model, seconds, repeat=args.repeat)
            line = figures.line()
            if dtype == torch.float32:
                reference[seconds] = audio
            elif seconds in reference:
                ref = reference[seconds]
                line += f"; rel L2 to float32 {float((audio - ref).norm() / ref.norm()):.2e}"
            print(line, flush=True)
        del model


if __name__ == "__main__":
    main()
