"""Files of the small per-model nets curve guidance uses (the loudness head, the gain direction net):
safetensors only (nothing is unpickled), with the format, config and training record in the metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from triergon_studio.errors import ModelError


class LatentSpec(Protocol):
    @property
    def latent_channels(self) -> int: ...
    @property
    def downsampling_ratio(self) -> int: ...
    @property
    def sample_rate(self) -> int: ...


def save_net(
    net: nn.Module,
    config: dict[str, Any],
    path: str | Path,
    fmt: str,
    what: str,
    record: dict[str, object] | None = None,
) -> Path:
    """Write ``net``'s state atomically; refuses to replace an existing file."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.exists():
        raise ModelError(f"a {what} already exists here; remove it first", path)
    meta = {"format": fmt, "config": json.dumps(config), "record": json.dumps(record or {})}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def load_net(
    path: str | Path, fmt: str, what: str, build: Callable[[dict[str, Any]], nn.Module]
) -> nn.Module:
    """Read a file written by ``save_net`` with format ``fmt``; ``build`` makes the module from its config.
    A damaged or foreign file is one ``ModelError`` line naming it."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    # made outside inference mode: takes load it while sampling, and its weights must enter autograd
    with torch.inference_mode(False):
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            if meta.get("format") != fmt:
                raise ModelError(f"not a {what} (format {meta.get('format')!r})", path)
            net = build(json.loads(meta["config"]))
            net.load_state_dict(load_file(str(path)))
        except ModelError:
            raise
        except Exception as e:  # a damaged file: say which and what, in one line
            raise ModelError(
                f"cannot read {what}: {type(e).__name__}: {str(e).splitlines()[0][:160]}", path
            ) from e
    net.eval()
    net.requires_grad_(False)
    return net


def folder_file(model: object, name: str) -> Path | None:
    """``name`` in the model's folder when the model has a folder and the file is there."""
    folder = getattr(getattr(model, "info", None), "path", None)
    if not folder:
        return None
    p = Path(str(folder)) / name
    return p if p.is_file() else None


def check_latent_match(cfg: LatentSpec, model: object, what: str, path: Path) -> None:
    """Refuse a file made for another latent (channels, downsampling ratio, sample rate)."""
    info = getattr(model, "info", None)
    want = (
        int(getattr(model, "latent_channels", -1)),
        int(getattr(model, "downsampling_ratio", -1)),
        int(getattr(info, "sample_rate", -1)),
    )
    have = (cfg.latent_channels, cfg.downsampling_ratio, cfg.sample_rate)
    if have != want:
        raise ModelError(
            f"{what} is for latents of {have[0]} channels at ratio {have[1]}, {have[2]} Hz; this model has "
            f"{want[0]}, {want[1]}, {want[2]} Hz",
            path,
        )


def net_for_model(model: object, name: str, load: Callable[[Path], Any], what: str) -> Any:
    """The net file ``name`` in the model's folder, read by ``load``, when it is there; refused when it was
    made for another latent; None when the folder has none."""
    p = folder_file(model, name)
    if p is None:
        return None
    net = load(p)
    check_latent_match(net.cfg, model, what, p)
    return net
