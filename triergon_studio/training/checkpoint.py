"""Training checkpoints without pickles: every tensor in safetensors, everything else in JSON.

A checkpoint of a run folder is two files:

- ``checkpoint-STEP-TOKEN.safetensors``: the model, EMA, optimiser and stage tensors (and the torch RNG state,
  a byte tensor), each under a key that spells its place in the state (``module/dit.blocks.0.weight``,
  ``optim/state/3/exp_avg``, ...);
- ``checkpoint.json``: the step, the numpy RNG state, the optimiser's scalars and parameter groups, the config
  and the tree of the state, in which each tensor is ``{"$tensor": KEY}``; it names the safetensors file and
  its sha256.

The JSON is written last (atomically), so it is the commit: a process killed before it leaves the previous
JSON pointing at the previous tensors file, which is deleted only after the new JSON is in place. Reading
checks the sha256 before safetensors parses the file. Neither format can run code.

A run folder from before this format holds ``checkpoint.pt``; it is read with ``torch.load(weights_only=True)``
when no ``checkpoint.json`` exists, and the next checkpoint is written in the new format.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

import torch

from triergon_studio.errors import StudioError
from triergon_studio.training.fileio import atomic_write_text

CHECKPOINT_JSON = "checkpoint.json"
LEGACY_CHECKPOINT = "checkpoint.pt"
FORMAT = "triergon-training-checkpoint"
VERSION = 1
_TENSORS_GLOB = "checkpoint-*.safetensors"
_REQUIRED = ("module", "optim", "step")


def has_checkpoint(out_dir: str | Path) -> bool:
    """A checkpoint of either format is in the run folder."""
    out = Path(out_dir)
    return (out / CHECKPOINT_JSON).exists() or (out / LEGACY_CHECKPOINT).exists()


# ---- the state tree --------------------------------------------------------------------------------------


def _encode(obj: Any, path: str, tensors: dict[str, torch.Tensor], seen: set[int]) -> Any:
    """JSON-safe tree of ``obj``; tensors go into ``tensors`` under unique keys made from their path."""
    if isinstance(obj, torch.Tensor):
        key = path or "tensor"
        if key in tensors:
            n = 1
            while f"{key}#{n}" in tensors:
                n += 1
            key = f"{key}#{n}"
        t = obj.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else -1
        if ptr in seen:  # safetensors refuses tensors that share memory (tied weights): store a copy
            t = t.clone()
        elif ptr != -1:
            seen.add(ptr)
        tensors[key] = t
        return {"$tensor": key}
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"$float": repr(obj)}  # keeps the JSON strict
    if isinstance(obj, tuple):
        return {"$tuple": [_encode(v, f"{path}/{i}", tensors, seen) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{path}/{i}", tensors, seen) for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: _encode(v, f"{path}/{k}" if path else k, tensors, seen) for k, v in obj.items()}
        # Non-string keys (the optimiser's parameter indices) keep their type as key/value pairs.
        return {
            "$dict": [
                [_encode(k, f"{path}/key{i}", tensors, seen), _encode(v, f"{path}/{k}", tensors, seen)]
                for i, (k, v) in enumerate(obj.items())
            ]
        }
    raise TypeError(f"cannot store a {type(obj).__name__} in a training checkpoint ({path})")


def _decode(node: Any, tensors: dict[str, torch.Tensor], where: Path) -> Any:
    if isinstance(node, list):
        return [_decode(v, tensors, where) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((tag, value),) = node.items()
        if tag == "$tensor":
            if not isinstance(value, str) or value not in tensors:
                raise StudioError(f"training checkpoint names a missing tensor {value!r}", where)
            return tensors[value]
        if tag == "$float":
            if value not in ("nan", "inf", "-inf"):
                raise StudioError(f"training checkpoint holds a bad number {value!r}", where)
            return float(value)
        if tag == "$tuple":
            return tuple(_decode(v, tensors, where) for v in value)
        if tag == "$dict":
            if not isinstance(value, list) or any(not isinstance(p, list) or len(p) != 2 for p in value):
                raise StudioError("training checkpoint holds a malformed mapping", where)
            return {_decode(k, tensors, where): _decode(v, tensors, where) for k, v in value}
    return {k: _decode(v, tensors, where) for k, v in node.items()}


# ---- writing ---------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_checkpoint(out_dir: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (``step``, ``module``, ``optim``, ...) as safetensors + JSON; returns the JSON's path."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, "", tensors, set())
    name = f"checkpoint-{int(state['step']):08d}-{secrets.token_hex(4)}.safetensors"
    final = out / name
    tmp = out / f".{name}.part"
    try:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "step": str(int(state["step"]))})
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        digest = _sha256(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(state["step"]),
        "tensors": name,
        "sha256": digest,
        "state": tree,
    }
    try:
        atomic_write_text(out / CHECKPOINT_JSON, json.dumps(doc, allow_nan=False) + "\n")
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    for old in out.glob(_TENSORS_GLOB):  # committed: the previous tensors are no longer named
        if old.name != name:
            old.unlink(missing_ok=True)
    return out / CHECKPOINT_JSON


# ---- reading ---------------------------------------------------------------------------------------------


def load_checkpoint(out_dir: str | Path, device: Any) -> dict[str, Any] | None:
    """The run folder's checkpoint (new format first, else a legacy ``checkpoint.pt``), or None.

    New-format tensors are returned on the CPU (the caller moves what must live on the device); a legacy
    file is read as before, weights-only onto ``device``."""
    out = Path(out_dir)
    path = out / CHECKPOINT_JSON
    if path.exists():
        return _load_new(path)
    legacy = out / LEGACY_CHECKPOINT
    if legacy.exists():
        return load_legacy_checkpoint(legacy, device)
    return None


def _load_new(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StudioError(f"unreadable training checkpoint ({type(exc).__name__})", path) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StudioError("not a training checkpoint of this program", path)
    if doc.get("version") != VERSION:
        raise StudioError(f"training checkpoint version {doc.get('version')!r} is not supported", path)
    name = doc.get("tensors")
    if not isinstance(name, str) or "/" in name or "\\" in name or not name.endswith(".safetensors"):
        raise StudioError("training checkpoint names no tensors file in its folder", path)
    tensors_path = path.parent / name
    if not tensors_path.is_file():
        raise StudioError(f"training checkpoint's tensors file {name} is missing", path)
    if _sha256(tensors_path) != doc.get("sha256"):
        raise StudioError(f"training checkpoint's tensors file {name} does not match its sha256", path)
    try:
        tensors = load_file(str(tensors_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise StudioError(f"unreadable safetensors ({type(exc).__name__})", tensors_path) from exc
    state = _decode(doc.get("state"), tensors, path)
    if not isinstance(state, dict) or not set(_REQUIRED) <= set(state):
        raise StudioError("not a training checkpoint of this program", path)
    return state


def load_legacy_checkpoint(path: Path, device: Any) -> dict[str, Any]:
    """A ``checkpoint.pt`` of earlier versions, read weights-only: tensors, numbers, strings, lists and dicts,
    never code. A crafted pickle is refused in one line."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError for damaged zips, EOFError
        raise StudioError(
            f"not a weights-only training checkpoint ({type(exc).__name__}); nothing was loaded", path
        ) from exc
    if not isinstance(state, dict) or not set(_REQUIRED) <= set(state):
        raise StudioError("not a training checkpoint of this program", path)
    return state
