"""The element-wise mean of several runs' weights (a "model soup"): the core of ``tools/weight_soup.py`` and of the
recipe's ``dit_mid`` step (``training.reproduce``).

The runs must be fine-tunes of one start, so that their weights share a basin; nothing here can check that.
"""

from __future__ import annotations

from pathlib import Path

import torch


class SoupError(ValueError):
    pass


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    if not path.is_file():
        raise SoupError(f"{path}: no such file")
    try:
        with safe_open(str(path), "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        raise SoupError(f"{path}: not a readable safetensors file ({exc})") from exc


def soup(parts: list[tuple[Path, dict[str, torch.Tensor]]]) -> dict[str, torch.Tensor]:
    """The mean of floating tensors over ``parts``; integer tensors must agree."""
    if len(parts) < 2:
        raise SoupError("a soup needs at least two weight files")
    first_path, first = parts[0]
    for path, sd in parts[1:]:
        if sd.keys() != first.keys():
            extra = sorted(sd.keys() ^ first.keys())[:3]
            raise SoupError(f"{path}: its keys differ from {first_path}'s (for example {extra})")
        for k, v in sd.items():
            ref = first[k]
            if v.shape != ref.shape or v.dtype != ref.dtype:
                raise SoupError(
                    f"{path}: {k} is {tuple(v.shape)} {v.dtype}, {first_path} has {tuple(ref.shape)} {ref.dtype}"
                )
    out: dict[str, torch.Tensor] = {}
    for k, ref in first.items():
        if ref.is_floating_point():
            acc = torch.zeros(ref.shape, dtype=torch.float64)
            for _, sd in parts:
                acc += sd[k].to(torch.float64)
            out[k] = (acc / len(parts)).to(ref.dtype).contiguous()
        else:
            for path, sd in parts[1:]:
                if not torch.equal(sd[k], ref):
                    raise SoupError(f"{path}: integer tensor {k} differs from {first_path}'s")
            out[k] = ref.clone()
    return out
