"""Read a Stable Audio 3 folder as the user downloads it: ``model_config.json`` + ``model.safetensors`` (or a
``.ckpt``, read with ``torch.load(weights_only=True)`` only), with strict key and shape checks. Every problem
is one line naming the file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from triergon_studio.core.progress import ProgressFn, counter, report
from triergon_studio.engine.models.sa3_config import SA3Config, read_config
from triergon_studio.engine.models.sa3_dit import AE_PREFIX, COND_PREFIX, DIT_PREFIX, SA3Conditioners, SA3DiT
from triergon_studio.engine.models.sa3_header import safetensors_header
from triergon_studio.errors import ModelError

WEIGHT_NAMES = ("model.safetensors", "model.ckpt")


def weights_file(folder: Path) -> Path:
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    ckpts = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.ckpt"))
    if len(ckpts) == 1:
        return ckpts[0]
    if not ckpts:
        raise ModelError("missing: no model.safetensors (or .ckpt) beside model_config.json", folder)
    raise ModelError(
        f"several weight files ({', '.join(p.name for p in ckpts)}); keep one or name it model.safetensors",
        folder,
    )


def read_state(path: Path, progress: ProgressFn | None = None) -> dict[str, Tensor]:
    """The checkpoint's tensors; ``progress(message, fraction)`` per tensor for safetensors (values read)."""
    if path.suffix == ".safetensors":
        safetensors_header(path)
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from triergon_studio.engine.checkpoint_io import read_safetensors

        try:
            return read_safetensors(path, progress) if progress is not None else load_file(str(path))
        except (SafetensorError, OSError, RuntimeError) as err:
            raise ModelError(f"unreadable safetensors file ({err})", path) from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)  # never unpickle user files
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad files
        raise ModelError(
            f"unreadable checkpoint ({err.__class__.__name__}: {str(err).splitlines()[0]})", path
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ModelError("checkpoint is not a dict of tensors", path)
    report(progress, f"Read {path.name}", 1.0)
    return obj


def _check_and_assign(
    module: nn.Module, state: dict[str, Tensor], prefix: str, path: Path, what: str, dtype: torch.dtype
) -> None:
    own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(own))
    unexpected = sorted(set(own) - set(expected))
    if missing or unexpected:
        what_keys = f"missing {prefix}{missing[0]}" if missing else f"unexpected {prefix}{unexpected[0]}"
        raise ModelError(
            f"{what} keys do not match ({len(missing)} missing, {len(unexpected)} unexpected): {what_keys}",
            path,
        )
    for k, v in expected.items():
        if tuple(own[k].shape) != tuple(v.shape):
            raise ModelError(
                f"shape mismatch: {prefix}{k} is {list(own[k].shape)}, this config expects {list(v.shape)}",
                path,
            )
    cast = {
        k: (v.to(dtype) if v.is_floating_point() and k != "transformer.rotary_pos_emb.inv_freq" else v)
        for k, v in own.items()
    }
    module.load_state_dict(cast, strict=True, assign=True)


def load_parts(
    folder: Path,
    dtype: torch.dtype = torch.float32,
    *,
    read: ProgressFn | None = None,
    load: ProgressFn | None = None,
) -> tuple[SA3Config, SA3DiT, SA3Conditioners, Any, Path]:
    """Config, DiT (in ``dtype``), conditioners and SAME autoencoder (float32), all strictly loaded on the CPU.
    ``read`` follows reading the file (values), ``load`` the three parts assigned (tensors)."""
    from triergon_studio.engine.models.same import SAMEAutoencoder, SAMEConfig

    raw, cfg = read_config(folder / "model_config.json")
    path = weights_file(folder)
    try:
        ae_cfg = SAMEConfig.from_upstream(raw)
    except ModelError as err:
        raise ModelError(f"model_config.json: {err}", folder) from None
    state = read_state(path, read)
    known = (DIT_PREFIX, COND_PREFIX, AE_PREFIX)
    stray = sorted(k for k in state if not k.startswith(known))
    if stray:
        raise ModelError(
            f"unexpected tensor {stray[0]} ({len(stray)} outside the DiT, conditioners and "
            "autoencoder): not a Stable Audio 3 checkpoint?",
            path,
        )
    with torch.device("meta"):
        dit, cond, ae = SA3DiT(cfg.dit), SA3Conditioners(cfg), SAMEAutoencoder(ae_cfg)
    tick = counter(load, max(1, len(state)), "Loading weights ({done}/{total} tensors)")
    n_dit = sum(k.startswith(DIT_PREFIX) for k in state)
    n_cond = sum(k.startswith("conditioner.") for k in state)
    _check_and_assign(dit, state, DIT_PREFIX, path, "DiT", dtype)
    tick(n_dit)
    _check_and_assign(cond, state, "conditioner.", path, "conditioner", torch.float32)
    tick(n_dit + n_cond)
    ae.load_upstream_state_dict(
        {k: v.float() for k, v in state.items() if k.startswith(AE_PREFIX)}, str(path)
    )
    tick(len(state))
    return (
        cfg,
        dit.eval().requires_grad_(False),
        cond.eval().requires_grad_(False),
        ae.eval().requires_grad_(False),
        path,
    )


def save_checkpoint(path: Path, dit: SA3DiT, cond: SA3Conditioners, ae: nn.Module) -> None:
    """Write a checkpoint in upstream's layout (tests, benchmark folders)."""
    from safetensors.torch import save_file

    state = {f"{DIT_PREFIX}{k}": v for k, v in dit.state_dict().items()}
    state.update({f"conditioner.{k}": v for k, v in cond.state_dict().items()})
    state.update({f"{AE_PREFIX}{k}": v for k, v in ae.state_dict().items()})
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def verify_folder(folder: Path) -> dict[str, Any]:
    """Check a folder without loading its tensors: the config parses, the weights file is complete and holds
    exactly the key set and shapes this config builds (``model-info DIR --verify``)."""
    from triergon_studio.engine.models.same import SAMEAutoencoder, SAMEConfig

    raw, cfg = read_config(folder / "model_config.json")
    path = weights_file(folder)
    with torch.device("meta"):
        dit, cond, ae = SA3DiT(cfg.dit), SA3Conditioners(cfg), SAMEAutoencoder(SAMEConfig.from_upstream(raw))
    want = {f"{DIT_PREFIX}{k}": tuple(v.shape) for k, v in dit.state_dict().items()}
    want.update({f"conditioner.{k}": tuple(v.shape) for k, v in cond.state_dict().items()})
    want.update({f"{AE_PREFIX}{k}": tuple(v.shape) for k, v in ae.state_dict().items()})
    if path.suffix == ".safetensors":
        header = safetensors_header(path)
        have = {k: tuple(int(s) for s in v["shape"]) for k, v in header.items() if k != "__metadata__"}
    else:
        have = {k: tuple(v.shape) for k, v in read_state(path).items()}
    missing, unexpected = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or unexpected:
        first = f"missing {missing[0]}" if missing else f"unexpected {unexpected[0]}"
        raise ModelError(
            f"keys do not match this model_config.json ({len(missing)} missing, {len(unexpected)} "
            f"unexpected): {first}",
            path,
        )
    for k, shape in want.items():
        if have[k] != shape:
            raise ModelError(
                f"shape mismatch: {k} is {list(have[k])}, this config expects {list(shape)}", path
            )
    return {"file": path.name, "tensors": len(have), "values": sum(math.prod(s) for s in have.values())}
