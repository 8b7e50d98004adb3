"""Torch-free reading of a safetensors header: the describe path (model list) counts parameters and checks a
file is complete without importing torch."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from triergon_studio.errors import ModelError


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (torch-free; checks the file is long enough for its tensors)."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ModelError("truncated: not a safetensors file", path)
            (n,) = struct.unpack("<Q", head)
            if n > 100_000_000:
                raise ModelError("not a safetensors file (bad header length)", path)
            raw = f.read(n)
            if len(raw) < n:
                raise ModelError("truncated safetensors header", path)
            header = json.loads(raw)
    except OSError as err:
        raise ModelError(f"cannot read ({err.strerror or err})", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError("not a safetensors file (unreadable header)", path) from None
    if not isinstance(header, dict):
        raise ModelError("not a safetensors file (header is not an object)", path)
    end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    size = path.stat().st_size
    if size < 8 + n + end:
        raise ModelError(f"truncated: {size} bytes, the header promises {8 + n + end}", path)
    return header


def param_count_from_file(path: Path) -> int:
    """Values stored in a safetensors file (torch-free, for the model list)."""
    total = 0
    for k, v in safetensors_header(path).items():
        if k == "__metadata__":
            continue
        n = 1
        for s in v.get("shape", []):
            n *= int(s)
        total += n
    return total
