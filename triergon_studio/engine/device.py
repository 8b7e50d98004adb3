"""Device and precision choice, memory estimates before loading, and out-of-memory -> ModelError."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triergon_studio.errors import ModelError

if TYPE_CHECKING:
    import torch

    from triergon_studio.engine.config import ModelConfig

DTYPES = {
    "fp32": "float32",
    "float32": "float32",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
}


def available_devices() -> list[str]:
    """Device names this machine can run on (``cpu``, ``cuda``, ``cuda:0``..., ``mps``), for the validator."""
    import torch

    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str | None = None) -> torch.device:
    """``None``/``"auto"``: cuda, then mps, then cpu. An explicit device that is absent is an error."""
    import torch

    key = (name or "auto").lower()
    if key == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(key)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("CUDA was requested but no CUDA GPU is available; use --device cpu")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelError("MPS was requested but is not available on this machine; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ModelError(f"unsupported device '{name}' (use cpu, cuda or mps)")
    return dev


def resolve_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """``None``/``"auto"``: bf16 on CUDA GPUs that support it, fp16 on MPS, fp32 on the CPU."""
    import torch

    key = (name or "auto").lower()
    if key == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    if key not in DTYPES:
        raise ModelError(f"unsupported precision '{name}' (use fp32, bf16 or fp16)")
    return getattr(torch, DTYPES[key])


@dataclass
class MemoryEstimate:
    weights_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.activation_bytes


def estimate_memory(
    cfg: ModelConfig, n_params: int, dtype_bytes: int, duration_s: float, batch: int = 2
) -> MemoryEstimate:
    """Weights plus the peak working set: the VAE decoder's widest full-rate activations (a few live at a
    time) or the DiT's attention, whichever is larger. Deliberately generous (x1.3)."""
    n = int(duration_s * cfg.sample_rate) + cfg.vae.downsampling_ratio
    vae_act = 4 * cfg.vae.activation_width() * n * dtype_bytes
    tokens = int(duration_s * cfg.latent_rate_hz) + 2
    dit_act = batch * (tokens * cfg.dit.embed_dim * 12 + cfg.dit.num_heads * tokens * tokens) * dtype_bytes
    return MemoryEstimate(n_params * dtype_bytes, int(1.3 * max(vae_act, dit_act)))


def available_memory(device: torch.device) -> int | None:
    """Free bytes on ``device`` (None when unknown, e.g. MPS)."""
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        try:
            with open("/proc/meminfo", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def check_memory(
    cfg: ModelConfig,
    n_params: int,
    device: torch.device,
    dtype: torch.dtype,
    duration_s: float,
    batch: int = 2,
) -> MemoryEstimate:
    import torch

    est = estimate_memory(cfg, n_params, torch.tensor([], dtype=dtype).element_size(), duration_s, batch)
    free = available_memory(device)
    if free is not None and est.total_bytes > free:
        raise ModelError(
            f"{cfg.name} needs about {est.total_bytes / 2**30:.1f} GiB on {device.type} for {duration_s:.1f} s "
            f"but only {free / 2**30:.1f} GiB is free: try bf16/fp16, a shorter span, fewer variations, "
            "or a smaller model"
        )
    return est


@contextlib.contextmanager
def oom_guard(what: str) -> Iterator[None]:
    """Turn an out-of-memory error into a ModelError that says what to try."""
    import torch

    try:
        yield
    except torch.OutOfMemoryError as exc:
        _free_cache()
        raise ModelError(
            f"out of GPU memory while {what}: try bf16/fp16, a shorter span, fewer variations or --device cpu"
        ) from exc
    except RuntimeError as exc:
        if "out of memory" not in str(exc).lower() and "can't allocate memory" not in str(exc).lower():
            raise
        _free_cache()
        raise ModelError(
            f"out of memory while {what}: try a shorter span, fewer variations or a smaller model"
        ) from exc


def _free_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
