"""Reading checkpoint files and loading them into modules with messages a user can act on.

Every importer (our model directories, Stable Audio Open, DINOv2, LanguageBind) goes through these two
functions, so a missing, truncated or mismatched checkpoint always fails the same, clear way.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from triergon_studio.core.progress import ProgressFn, report
from triergon_studio.errors import CancelledError, ModelError

TORCH_SUFFIXES = {".pth", ".pt", ".ckpt", ".bin"}
# Keys under which training frameworks nest the weights (Lightning, DDP wrappers, hub checkpoints).
CONTAINER_KEYS = ("state_dict", "model", "module", "model_state_dict", "ema")
_SHOW = 5


def sha256_file(path: str | Path, chunk: int = 1 << 20, progress: ProgressFn | None = None) -> str:
    """The file's sha256; ``progress(message, fraction)`` after each chunk (bytes hashed / file size)."""
    digest = hashlib.sha256()
    size = max(1, Path(path).stat().st_size) if progress is not None else 1
    done = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            done += len(block)
            report(progress, f"Checking {Path(path).name} ({done >> 20} of {size >> 20} MiB)", done / size)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str, progress: ProgressFn | None = None) -> None:
    actual = sha256_file(path, progress=progress)
    if actual != expected.lower():
        raise ModelError(
            f"checksum mismatch: sha256 is {actual[:12]}…, the manifest expects {expected[:12]}…; "
            "the file is damaged or was replaced",
            path,
        )


def _check_safetensors_complete(path: Path) -> None:
    """safetensors' own errors on a cut-off file are cryptic; check the header against the file size."""
    size = path.stat().st_size
    if size < 8:
        raise ModelError("truncated safetensors file (no header)", path)
    with open(path, "rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len > size - 8:
            raise ModelError("truncated or not a safetensors file (header runs past the end)", path)
        try:
            header = json.loads(fh.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError("not a safetensors file (unreadable header)", path) from exc
    data_len = size - 8 - header_len
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    if ends and max(ends) > data_len:
        raise ModelError(
            f"truncated safetensors file: tensors need {max(ends)} bytes, only {data_len} present", path
        )


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(4):
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in CONTAINER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
            if inner is not None and not any(isinstance(v, torch.Tensor) for v in obj.values()):
                obj = inner
                continue
        break
    if not isinstance(obj, Mapping):
        raise ModelError(f"not a state dict: the file holds a {type(obj).__name__}", path)
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelError("the checkpoint holds no tensors", path)
    return tensors


def read_safetensors(path: Path, progress: ProgressFn | None) -> dict[str, torch.Tensor]:
    """``safetensors.torch.load_file`` tensor by tensor, reporting bytes read / bytes of all tensors."""
    from safetensors import safe_open

    out: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt", device="cpu") as fh:
        keys = list(fh.keys())
        total = 0
        sizes: list[int] = []
        for k in keys:
            sl = fh.get_slice(k)
            n = 1
            for d in sl.get_shape():
                n *= int(d)
            sizes.append(n)
            total += n
        done = 0
        for k, n in zip(keys, sizes, strict=True):
            out[k] = fh.get_tensor(k)
            done += n
            report(progress, f"Reading {path.name} ({len(out)}/{len(keys)} tensors)", done / max(total, 1))
    return out


def read_state_dict(path: str | Path, progress: ProgressFn | None = None) -> dict[str, torch.Tensor]:
    """Load a checkpoint file into CPU tensors without running pickled code (weights_only).
    ``progress(message, fraction)``: per tensor for safetensors (values read / all values), else at the end."""
    p = Path(path)
    if not p.exists():
        raise ModelError("checkpoint file not found", p)
    if p.is_dir():
        raise ModelError("expected a checkpoint file, got a folder", p)
    if p.stat().st_size == 0:
        raise ModelError("checkpoint file is empty", p)
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        _check_safetensors_complete(p)
        from safetensors.torch import load_file

        try:
            if progress is not None:
                return read_safetensors(p, progress)
            return load_file(str(p), device="cpu")
        except CancelledError:
            raise
        except Exception as exc:  # safetensors raises its own error types
            raise ModelError(f"unreadable safetensors file ({type(exc).__name__})", p) from exc
    if suffix in TORCH_SUFFIXES:
        try:
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
        except RuntimeError as exc:
            msg = str(exc)
            if "central directory" in msg or "zip archive" in msg or "unexpected EOF" in msg:
                raise ModelError("truncated or damaged PyTorch checkpoint", p) from exc
            raise ModelError(f"unreadable PyTorch checkpoint: {msg.splitlines()[0][:160]}", p) from exc
        except (EOFError, ValueError) as exc:
            raise ModelError("truncated or damaged PyTorch checkpoint", p) from exc
        except Exception as exc:  # UnpicklingError and friends: not a weights-only file
            raise ModelError(
                f"not a weights-only PyTorch checkpoint ({type(exc).__name__}); re-save it with "
                "torch.save(model.state_dict())",
                p,
            ) from exc
        report(progress, f"Read {p.name}", 1.0)
        return _unwrap(obj, p)
    raise ModelError(
        f"unknown checkpoint format '{suffix}' (expected .safetensors, .pth, .pt, .ckpt or .bin)", p
    )


def _first(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:_SHOW])
    return shown + (f" (+{len(items) - _SHOW} more)" if len(items) > _SHOW else "")


def strip_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys under ``prefix`` with the prefix removed; other keys are dropped."""
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def load_state_dict_checked(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str | Path,
    *,
    ignore_missing: Iterable[str] = (),
    assign: bool = False,
    progress: ProgressFn | None = None,
) -> None:
    """Strictly load ``state_dict`` into ``module``, or raise one ModelError naming every kind of problem.

    Floating-point tensors are cast to the module's dtype (a bf16 checkpoint loads into fp32); a floating
    tensor where an integer is expected (or the reverse) is a dtype error. With ``progress(message,
    fraction)`` the checked tensors are loaded one top-level part at a time (tensors loaded / all tensors).
    """
    expected = module.state_dict()
    skip = set(ignore_missing)
    missing = [k for k in expected if k not in state_dict and k not in skip]
    unexpected = [k for k in state_dict if k not in expected]
    shapes: list[str] = []
    dtypes: list[str] = []
    converted: dict[str, torch.Tensor] = {}
    for key, want in expected.items():
        got = state_dict.get(key)
        if got is None:
            continue
        if tuple(got.shape) != tuple(want.shape):
            shapes.append(f"{key} {tuple(got.shape)} vs model {tuple(want.shape)}")
            continue
        if got.dtype.is_floating_point != want.dtype.is_floating_point or got.dtype.is_complex:
            dtypes.append(f"{key} {got.dtype} vs model {want.dtype}")
            continue
        converted[key] = got.to(want.dtype) if got.dtype != want.dtype else got
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_first(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_first(unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches: {_first(shapes)}")
    if dtypes:
        problems.append(f"{len(dtypes)} wrong dtypes: {_first(dtypes)}")
    if problems:
        raise ModelError("checkpoint does not fit the model: " + "; ".join(problems), source)
    if progress is None:
        module.load_state_dict(converted, strict=not skip, assign=assign)
        return
    _load_in_parts(module, converted, strict=not skip, assign=assign, progress=progress)


def _load_in_parts(
    module: nn.Module,
    converted: dict[str, torch.Tensor],
    *,
    strict: bool,
    assign: bool,
    progress: ProgressFn,
) -> None:
    """The same load as ``module.load_state_dict(converted)``, one child module at a time (the keys were all
    checked by the caller), then the module's own parameters and buffers."""
    total = max(1, len(converted))
    done = 0
    children = dict(module.named_children())
    for name, child in children.items():
        prefix = name + "."
        part = {k[len(prefix) :]: v for k, v in converted.items() if k.startswith(prefix)}
        if not part:
            continue
        child.load_state_dict(part, strict=strict, assign=assign)
        done += len(part)
        report(progress, f"Loading weights: {name} ({done}/{total} tensors)", done / total)
    own = {k: v for k, v in converted.items() if k.split(".", 1)[0] not in children}
    if own:
        # strict=False: the children are loaded already; their keys are absent from ``own`` on purpose
        module.load_state_dict(own, strict=False, assign=assign)
    report(progress, f"Loaded {total} tensors", 1.0)
