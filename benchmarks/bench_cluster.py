"""Cluster benchmark: what a take costs away from the app's process, and how local workers scale.

    python benchmarks/bench_cluster.py                       # in process vs 1, 2, 4 local worker processes
    python benchmarks/bench_cluster.py --cluster HOST:PORT   # also per-take overhead on a Ray cluster

Reference (measured in the same run): ``make_takes`` in this process with the model already loaded; one torch
thread in every process (as a Ray actor with ``num_cpus=1`` has). Per-take overhead =
(seconds per take through a warm worker) - (seconds per take in process), with the ratio of the two. Throughput = takes per second over a
batch once every worker is warm, and its ratio to one worker. The tiny model (``tiny-random``) makes the
per-take work small, so the overhead shows plainly.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from triergon_studio.cluster.pool import Location, Pool  # noqa: E402
from triergon_studio.cluster.scheduler import WorkItem, run_jobs  # noqa: E402
from triergon_studio.core.take_spec import TakeSpec, TimeSpan  # noqa: E402

MODEL = "tiny-random"


def spec(seed: int, seconds: float, steps: int) -> TakeSpec:
    return TakeSpec(
        span=TimeSpan(0.0, seconds), text="footsteps on gravel", steps=steps, seed=seed, model=MODEL
    )


def in_process(n: int, seconds: float, steps: int, out: Path, threads: int) -> float:
    import torch

    from triergon_studio.takes import load_model, make_takes, run_to_end

    torch.set_num_threads(threads)
    out = out / f"in-process-{threads}"
    out.mkdir(parents=True)
    model = load_model(MODEL)
    run_to_end(make_takes(spec(999, seconds, steps), model, [out / "warm.wav"]))
    times = []
    for k in range(n):
        t0 = time.perf_counter()
        run_to_end(make_takes(spec(k, seconds, steps), model, [out / f"ip{k}.wav"]))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def through_pool(
    location: Location, n: int, seconds: float, steps: int, out: Path, tag: str, sequential: bool
) -> tuple[float, float]:
    """(median seconds per take one at a time, takes per second for a batch of n) on warm workers."""
    out = out / tag
    out.mkdir()
    with Pool(location, timeout=120) as pool:
        n_slots = len(pool.slots())
        warm = [
            WorkItem(f"warm{k}", spec(900 + k, seconds, steps), [out / f"warm{k}.wav"])
            for k in range(n_slots)
        ]
        run_jobs(pool, warm, lambda it: MODEL)  # every worker loads the model once
        per_take = float("nan")
        if sequential:
            times = []
            for k in range(n):
                t0 = time.perf_counter()
                (o,) = run_jobs(
                    pool, [WorkItem(f"s{k}", spec(k, seconds, steps), [out / f"s{k}.wav"])], lambda it: MODEL
                )
                assert o.status == "done", o.message
                times.append(time.perf_counter() - t0)
            per_take = statistics.median(times)
        batch = [WorkItem(f"b{k}", spec(100 + k, seconds, steps), [out / f"b{k}.wav"]) for k in range(n)]
        t0 = time.perf_counter()
        outcomes = run_jobs(pool, batch, lambda it: MODEL)
        wall = time.perf_counter() - t0
        assert all(o.status == "done" for o in outcomes), [o.message for o in outcomes]
    return per_take, n / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--takes", type=int, default=8, help="takes per measurement")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each take")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--cluster", help="a Ray head address to measure too")
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    print(
        f"machine: {cores} CPU cores; tiny-random, {a.seconds:g} s takes, {a.steps} steps, {a.takes} takes each"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # one torch thread in every process (a Ray actor with num_cpus=1 gets one too): on a shared, loaded
        # machine more threads per process measure the contention, not the engine
        ref = in_process(a.takes, a.seconds, a.steps, out, 1)
        print(f"in process (reference, 1 thread): {ref * 1000:.0f} ms per take")
        rows = []
        base = None
        for w in [int(x) for x in a.workers.split(",")]:
            per, tput = through_pool(
                Location("local", workers=w, threads=1),
                a.takes,
                a.seconds,
                a.steps,
                out,
                f"local{w}",
                sequential=(w == 1),
            )
            base = base or tput
            rows.append((w, per, tput))
            if w == 1:
                print(
                    f"1 local worker process: {per * 1000:.0f} ms per take; overhead {(per - ref) * 1000:+.0f} ms "
                    f"({per / ref:.2f}x in process)"
                )
        for w, _, tput in rows:
            print(f"{w} local worker(s): {tput:.2f} takes/s  ({tput / base:.2f}x one worker)")
        # the machine's load drifts during a run: the reference again, so a reader can see by how much
        again = in_process(a.takes, a.seconds, a.steps, out / "again", 1)
        print(f"in process again at the end: {again * 1000:.0f} ms per take ({again / ref:.2f}x the first)")
        if a.cluster:
            per, tput = through_pool(
                Location("ray", a.cluster), a.takes, a.seconds, a.steps, out, "ray", sequential=True
            )
            print(
                f"Ray cluster {a.cluster}: {per * 1000:.0f} ms per take; overhead {(per - ref) * 1000:+.0f} ms "
                f"({per / ref:.2f}x in process); batch {tput:.2f} takes/s ({tput / base:.2f}x one local worker)"
            )


if __name__ == "__main__":
    main()
