"""Stable Audio 3 Small end to end on this CPU: random weights at the real shape (DiT 20 x 1024, T5Gemma-b
encoder, SAME-S decoder), the default 8 ping-pong steps, through the family's own ``condition``/``sample``/
``decode`` code.

    python benchmarks/bench_sa3.py                          # 10 s and 60 s, float32, then bfloat16 for the DiT
    python benchmarks/bench_sa3.py --seconds 10 --no-bf16

For each length: the wall and CPU time of each part (text encoder, DiT sampling, SAME-S decode) and of the
whole, each part's ratio to its compute floor (its matmul FLOPs counted by torch's FlopCounterMode, or the
decoder's analytic count, over the matmul rate of the same dtype measured in this run on that part's main
projection shape), and the process's peak resident memory. With bfloat16, the DiT is timed again and its
sampled latents compared with float32 (relative L2, same seed). Upstream's 6 s of headroom latents are
sampled after the requested length, as upstream does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from benchmarks.bench_same import PeakRSS, Rate, build_same_s, decode_figures, matmul_rate  # noqa: E402
from triergon_studio.engine.families.base import Settings, TakeInputs  # noqa: E402
from triergon_studio.engine.families.stable_audio_3 import StableAudio3Model, info_for  # noqa: E402
from triergon_studio.engine.models.sa3_config import config_from_upstream  # noqa: E402
from triergon_studio.engine.models.sa3_dit import SA3Conditioners, SA3DiT  # noqa: E402
from triergon_studio.engine.sampler_step import drive  # noqa: E402

# google/t5gemma-b-b-ul2's encoder shape (T5-base sized: 12 layers, 768 wide, Gemma vocabulary).
T5GEMMA_B = dict(
    vocab_size=256000,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    num_key_value_heads=12,
    head_dim=64,
    query_pre_attn_scalar=64,
    sliding_window=4096,
)


def build_dit(cfg_raw: dict, seed: int = 0) -> tuple[object, SA3DiT, SA3Conditioners]:
    cfg = config_from_upstream(cfg_raw)
    torch.manual_seed(seed)
    dit, cond = SA3DiT(cfg.dit), SA3Conditioners(cfg)
    with (
        torch.no_grad()
    ):  # upstream zero-inits output projections; give them values so outputs are non-trivial
        for p in dit.parameters():
            if p.ndim >= 2 and float(p.abs().max()) == 0.0:
                p.normal_(0, 0.02)
    return cfg, dit.eval().requires_grad_(False), cond.eval()


def build_t5gemma() -> torch.nn.Module:
    from transformers import T5GemmaConfig, T5GemmaEncoderModel
    from transformers.models.t5gemma.configuration_t5gemma import T5GemmaModuleConfig

    mod = T5GemmaModuleConfig(**T5GEMMA_B)
    cfg = T5GemmaConfig(
        encoder=mod, decoder=mod, vocab_size=T5GEMMA_B["vocab_size"], is_encoder_decoder=False
    )
    torch.manual_seed(0)
    return T5GemmaEncoderModel(cfg).eval().requires_grad_(False)


def dit_sampling_flops(meta_dit: SA3DiT, frames: int, context: int, steps: int) -> int:
    """Matmul FLOPs of one sampling run, counted on a meta-device copy (shapes only, no compute): the text
    keys/values and the inpainting embeddings once, then one DiT forward per step."""
    from triergon_studio.engine.models.sa3_dit import DiTCond

    io, d = meta_dit.cfg.io_channels, meta_dit.cfg.cond_token_dim
    with torch.device("meta"):
        cond = DiTCond(torch.zeros(1, context, d), torch.zeros(1, d), torch.zeros(1, io + 1, frames))
        once, (kv, embs) = count_flops(
            lambda: (meta_dit.context_kv(cond.context), meta_dit.local_embeddings(cond.local))
        )
        step, _ = count_flops(lambda: meta_dit(torch.zeros(1, io, frames), torch.zeros(1), cond, kv, embs))
    return once + steps * step


def count_flops(fn: object) -> tuple[int, object]:
    with FlopCounterMode(display=False) as counter:
        out = fn()  # type: ignore[operator]
    return counter.get_total_flops(), out


def timed(fn: object) -> tuple[float, float, object]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()  # type: ignore[operator]
    return time.perf_counter() - t0, time.process_time() - c0, out


def part_line(name: str, wall: float, cpu: float, flops: float, rate: Rate) -> str:
    floor_w, floor_c = flops / rate.wall, flops / rate.cpu
    return (
        f"  {name:11s} {wall:7.2f} s wall {cpu:7.2f} s CPU  {flops / 1e9:7.0f} GFLOP  matmul "
        f"{rate.wall / 1e9:5.1f} GFLOP/s  ratio to floor {wall / floor_w:5.2f}x wall {cpu / floor_c:5.2f}x CPU"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--no-bf16", action="store_true")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    keys = json.loads((ROOT / "tests/fixtures/sa3_keys.json").read_text())
    raw = keys["configs"]["small-sfx"]
    print(
        f"Stable Audio 3 Small, random weights, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.steps} ping-pong steps"
    )
    with torch.device("meta"):
        meta_dit = SA3DiT(config_from_upstream(raw).dit)
    with PeakRSS() as build_mem:
        cfg, dit, cond = build_dit(raw)
        t5 = build_t5gemma()
        ae = build_same_s(torch.float32)
    print(
        f"  built: DiT {sum(p.numel() for p in dit.parameters()) / 1e6:.0f} M, T5Gemma-b encoder "
        f"{sum(p.numel() for p in t5.parameters()) / 1e6:.0f} M, SAME-S {sum(p.numel() for p in ae.parameters()) / 1e6:.0f} M "
        f"parameters; RSS {build_mem.peak / 2**30:.2f} GB"
    )
    model = StableAudio3Model(cfg, dit, cond, ae, None, info_for(cfg, Path("stable-audio-3-small-sfx"), 0))  # type: ignore[arg-type]
    settings = Settings(
        steps=args.steps,
        cfg=1.0,
        sampler="pingpong",
        guidance="apg",
        seed=1,
        init_noise=0.9,
        follow_curves="off",
    )
    L = cfg.text_max_length  # type: ignore[attr-defined]
    ids = torch.randint(4, 256000, (1, L), generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, L, dtype=torch.bool)
    mask[:, :12] = True
    rate_t5 = matmul_rate(torch.float32, L, 768, 3072)
    rate_dec = matmul_rate(torch.float32)
    latents32: dict[float, torch.Tensor] = {}
    overall_peak = build_mem.peak
    for seconds in args.seconds:
        n = int(round(seconds * 44100))
        frames = -(-n // 4096)
        total = model.total_frames(frames)
        rate_dit = matmul_rate(torch.float32, total + cfg.dit.num_memory_tokens, 1024, 8192, reps=4)  # type: ignore[attr-defined]
        with PeakRSS() as mem:
            t5_flops, _ = count_flops(lambda: t5(input_ids=ids, attention_mask=mask))
            t5_wall, t5_cpu, hidden = timed(
                lambda: t5(input_ids=ids, attention_mask=mask)["last_hidden_state"]
            )
            inputs = TakeInputs(
                n_samples=n, duration_s=seconds, start_s=0.0, text="x", embeddings={"t5gemma": (hidden, mask)}
            )
            c = model.condition(inputs, settings)
            dit_flops = dit_sampling_flops(meta_dit, total, L + 1, args.steps)
            d_wall, d_cpu, lat = timed(
                lambda c=c, frames=frames: drive(
                    model.sample(c, frames, settings, torch.Generator().manual_seed(1))
                )
            )
            fig, _audio = decode_figures(ae, seconds, rate_dec)
        overall_peak = max(overall_peak, mem.peak)
        latents32[seconds] = lat  # type: ignore[assignment]
        total_wall = t5_wall + d_wall + fig.wall_s
        print(f"{seconds:g} s of stereo ({frames} latents + {total - frames} headroom sampled):")
        print(part_line("T5Gemma", t5_wall, t5_cpu, t5_flops, rate_t5))
        print(part_line("DiT", d_wall, d_cpu, dit_flops, rate_dit))
        print(part_line("SAME-S", fig.wall_s, fig.cpu_s, fig.gflop * 1e9, fig.rate))
        print(
            f"  end to end  {total_wall:7.2f} s wall ({total_wall / seconds:.3f} s per s of audio); peak RSS "
            f"{mem.peak / 2**30:.2f} GB",
            flush=True,
        )
    print(f"peak RSS over the run: {overall_peak / 2**30:.2f} GB")
    if args.no_bf16:
        return
    dit16 = dit.to(torch.bfloat16)
    model.dit = dit16
    seconds = args.seconds[0]
    n = int(round(seconds * 44100))
    frames = -(-n // 4096)
    rate16 = matmul_rate(torch.bfloat16, model.total_frames(frames) + 64, 1024, 8192, reps=4)
    hidden = t5(input_ids=ids, attention_mask=mask)["last_hidden_state"]
    inputs = TakeInputs(
        n_samples=n, duration_s=seconds, start_s=0.0, text="x", embeddings={"t5gemma": (hidden, mask)}
    )
    c = model.condition(inputs, settings)
    w16, c16, lat16 = timed(
        lambda: drive(model.sample(c, frames, settings, torch.Generator().manual_seed(1)))
    )
    ref = latents32[seconds]
    rel = float((lat16.float() - ref).norm() / ref.norm())  # type: ignore[union-attr]
    print(
        f"bfloat16 DiT, {seconds:g} s: {w16:.2f} s wall {c16:.2f} s CPU (matmul {rate16.wall / 1e9:.1f} GFLOP/s "
        f"bf16); sampled latents rel L2 to float32 {rel:.2e}"
    )


if __name__ == "__main__":
    main()
