"""Model directories and loaders.

A model directory holds ``config.json`` (``ModelConfig``), ``model.safetensors`` (the ``TriErgon`` state
dict) and ``manifest.json``: name, version, sha256 of each file, parameter counts, how it was trained and its
evaluation figures. Loading verifies every checksum before reading a byte of the weights.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triergon_studio.core.progress import ProgressFn, Stages, span
from triergon_studio.engine.config import PRESETS, ModelConfig, get_preset
from triergon_studio.errors import ModelError

if TYPE_CHECKING:
    import torch

    from triergon_studio.engine.models.triergon import TriErgon

MANIFEST_FORMAT = "triergon-model-manifest"
MANIFEST_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, MANIFEST_FILE = "config.json", "model.safetensors", "manifest.json"
RANDOM_SUFFIX = "-random"
DEFAULT_MODEL = "compact"  # the bundled model in model_weights/compact
# Shares of the loading bar, from a cold load of the bundled model on the shared 2-core CPU (2026-12-01): the
# memory check (the weights file's header) 0.1 s, checksums 0.1 s, reading 0.1 s, building (the engine's first
# imports included) 1.1 s, loading the state dict 1.6 s. Inside each stage the fraction is real work: bytes
# hashed, values read, tensors loaded.
LOAD_STAGES = {"check": 0.05, "verify": 0.1, "read": 0.1, "build": 0.35, "load": 0.35, "place": 0.05}


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def save_model_dir(
    model: TriErgon,
    cfg: ModelConfig | None,
    path: str | Path,
    manifest_extra: dict[str, Any] | None = None,
    *,
    version: str = "1",
    overwrite: bool = False,
) -> Path:
    """Write the three files into a temporary folder beside ``path``, fsync, then rename it into place."""
    from safetensors.torch import save_file

    from triergon_studio.engine.checkpoint_io import sha256_file

    cfg = cfg or model.cfg
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise ModelError("model folder already exists and is not empty (refusing to overwrite)", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        _fsync_write(tmp / CONFIG_FILE, cfg.to_json().encode("utf-8"))
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": "triergon", "name": cfg.name})
        with open(tmp / WEIGHTS_FILE, "rb+") as fh:
            os.fsync(fh.fileno())
        extra = dict(manifest_extra or {})
        manifest = {
            "format": MANIFEST_FORMAT,
            "manifest_version": MANIFEST_VERSION,
            "name": cfg.name,
            "preset": cfg.preset,
            "version": str(extra.pop("version", version)),
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "files": {
                name: {"sha256": sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size}
                for name in (CONFIG_FILE, WEIGHTS_FILE)
            },
            "parameters": model.param_counts(),
            "training": extra.pop("training", None),
            "eval": extra.pop("eval", None),
            **extra,
        }
        _fsync_write(tmp / MANIFEST_FILE, json.dumps(manifest, indent=2).encode("utf-8"))
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def add_file_to_model_dir(folder: str | Path, src: str | Path, name: str) -> Path:
    """Copy ``src`` into a model folder as ``name`` and list it, with its checksum, in the manifest (every
    load verifies it). The file is written first and the manifest last, each atomically; a different file of
    that name is refused."""
    from triergon_studio.engine.checkpoint_io import sha256_file

    folder, src = Path(folder), Path(src)
    if "/" in name or "\\" in name or name in (CONFIG_FILE, WEIGHTS_FILE, MANIFEST_FILE):
        raise ModelError(f"cannot add a file named {name!r} to a model folder", folder)
    if not src.is_file():
        raise ModelError("file to add to the model folder not found", src)
    manifest = read_manifest(folder)
    digest = sha256_file(src)
    dest = folder / name
    if dest.exists() and sha256_file(dest) != digest:
        raise ModelError("the model folder already holds a different file of this name", dest)
    tmp = folder / f".{name}.tmp"
    _fsync_write(tmp, src.read_bytes())
    os.replace(tmp, dest)
    manifest.setdefault("files", {})[name] = {"sha256": digest, "bytes": dest.stat().st_size}
    tmp = folder / f".{MANIFEST_FILE}.tmp"
    _fsync_write(tmp, (json.dumps(manifest, indent=1) + "\n").encode("utf-8"))
    os.replace(tmp, folder / MANIFEST_FILE)
    return dest


def read_manifest(path: str | Path) -> dict[str, Any]:
    p = Path(path) / MANIFEST_FILE
    if not p.exists():
        raise ModelError(f"missing {MANIFEST_FILE} (not a Tri-Ergon model folder)", Path(path))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"unreadable manifest ({type(exc).__name__})", p) from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise ModelError("not a Tri-Ergon model manifest", p)
    return data


def verify_model_dir(path: str | Path, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Check that every file exists and matches its manifest checksum; return the manifest.
    ``progress(message, fraction)`` follows the bytes hashed over all the listed files."""
    from triergon_studio.engine.checkpoint_io import verify_sha256

    folder = Path(path)
    if not folder.is_dir():
        raise ModelError("model folder not found", folder)
    manifest = read_manifest(folder)
    files = manifest.get("files") or {}
    sizes = {n: (folder / n).stat().st_size for n in files if isinstance(n, str) and (folder / n).is_file()}
    total = max(1, sum(sizes.values()))
    hashed = [0]

    def part(name: str) -> ProgressFn | None:
        lo = hashed[0] / total
        hashed[0] += sizes.get(name, 0)
        return span(progress, lo, hashed[0] / total)

    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).exists():
            raise ModelError(f"missing {name}", folder)
        entry = files.get(name)
        if not isinstance(entry, dict) or "sha256" not in entry:
            raise ModelError(f"the manifest lists no checksum for {name}", folder / MANIFEST_FILE)
        verify_sha256(folder / name, str(entry["sha256"]), part(name))
    for name, entry in files.items():  # every other file the manifest lists (an eval classifier, ...)
        if name in (CONFIG_FILE, WEIGHTS_FILE):
            continue
        if (
            not isinstance(name, str)
            or "/" in name
            or "\\" in name
            or not isinstance(entry, dict)
            or "sha256" not in entry
        ):
            raise ModelError(f"the manifest lists {name!r} without a checksum", folder / MANIFEST_FILE)
        if not (folder / name).exists():
            raise ModelError(f"missing {name}", folder)
        verify_sha256(folder / name, str(entry["sha256"]), part(name))
    return manifest


def load_model_dir(
    path: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    progress: ProgressFn | None = None,
    stages: Stages | None = None,
) -> TriErgon:
    """Verify checksums, build the model from ``config.json`` and load the weights strictly.
    ``progress(message, fraction)`` follows the stages (``LOAD_STAGES``)."""
    from triergon_studio.engine.checkpoint_io import load_state_dict_checked, read_state_dict
    from triergon_studio.engine.models.triergon import build_model

    st = stages or Stages(progress, {k: v for k, v in LOAD_STAGES.items() if k != "check"})
    folder = Path(path)
    st.start("verify", "Checking the model files")
    manifest = verify_model_dir(folder, st.part("verify"))
    cfg = ModelConfig.from_json(folder / CONFIG_FILE)
    state = read_state_dict(folder / WEIGHTS_FILE, st.part("read"))
    st.start("build", f"Building {cfg.name}")
    model = build_model(cfg, "cpu")
    st.done("build", f"Built {cfg.name}")
    load_state_dict_checked(model, state, folder / WEIGHTS_FILE, progress=st.part("load"))
    model.manifest = manifest  # type: ignore[assignment]
    st.start("place", f"Moving {cfg.name} to {device}")
    model = place(model, device, dtype)
    st.done("place", f"{cfg.name} loaded")
    return model


def place(model: TriErgon, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> TriErgon:
    """Move to ``device``; cast the VAE, DiT and conditioner to ``dtype``. The prompt encoders and T_LUFS run
    once per generation and stay in fp32 (their input pipelines assume it)."""
    model = model.to(device)
    if dtype is not None:
        for part in (model.vae, model.dit, model.conditioner):
            part.to(dtype)
    return model


def randomize_(model: Any, seed: int, scale: float = 1.0) -> None:
    """Seeded random weights for every parameter, including those zero-initialised for training (output
    projections, the frame-LUFS path), so a random model responds to every condition."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("weight_g", "gamma")) or name.endswith((".alpha", ".beta")):
                continue  # keep norms / snake at their init (unit gains, alpha = beta = 1)
            fan_in = p.shape[1] * (p[0][0].numel() if p.ndim > 2 else 1) if p.ndim >= 2 else p.shape[0]
            std = scale / max(fan_in, 1) ** 0.5
            p.copy_(torch.randn(p.shape, generator=g) * std)


def random_model(preset: str, seed: int = 0, device: str | torch.device = "cpu") -> TriErgon:
    import torch

    from triergon_studio.engine.models.triergon import build_model

    cfg = get_preset(preset)
    cfg.name = f"{preset}{RANDOM_SUFFIX}"
    with torch.random.fork_rng(devices=[]):  # same weights on every run, global RNG untouched
        torch.manual_seed(seed)
        model = build_model(cfg, "cpu")
    randomize_(model, seed)
    return model.to(device)


def resolve_model(name_or_dir: str | Path) -> tuple[str, Path | None]:
    """("random", None) for ``<preset>-random``; ("dir", path) for one of our model folders. A folder of another
    family (Stable Audio: ``model_config.json``) is loaded through the registry (``takes.load_model``)."""
    text = str(name_or_dir)
    if text.endswith(RANDOM_SUFFIX) and text[: -len(RANDOM_SUFFIX)] in PRESETS:
        return "random", None
    p = Path(text).expanduser()
    if p.is_dir():
        if (p / "model_config.json").exists() and not (p / CONFIG_FILE).exists():
            raise ModelError(
                "is a Stable Audio folder (model_config.json), not a Tri-Ergon model: it has no T_LUFS "
                "predictor (use motion curves; generate and the app load it as its own family)",
                p,
            )
        return "dir", p
    from triergon_studio.engine.model_paths import find_named, where_text

    named = find_named(text)
    if named is not None:
        return "dir", named
    if text in PRESETS:
        raise ModelError(
            f"no weights for preset '{text}': pass a model folder, or '{text}{RANDOM_SUFFIX}' for random weights"
        )
    raise ModelError(
        f"model '{text}' not found: not a folder, not '<preset>{RANDOM_SUFFIX}', and no model folder "
        f"of that name in {where_text()}"
    )


def load_model(
    name_or_dir: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> TriErgon:
    """A model by name or folder. ``progress(message, fraction)`` follows the loading stages (memory check,
    checksums, reading, building, loading the state dict, placing on the device)."""
    kind, path = resolve_model(name_or_dir)
    stages = Stages(progress, LOAD_STAGES)
    stages.start("check", "Checking the memory the model needs")
    _check_fits(kind, path, str(name_or_dir), device, dtype)
    stages.done("check", "Memory checked")
    if kind == "random":
        stages.start("build", f"Building {name_or_dir} with random weights")
        model = random_model(str(name_or_dir)[: -len(RANDOM_SUFFIX)], seed)
        stages.done("load", f"Built {name_or_dir}")
        model = place(model, device, dtype)
        stages.done("place", f"{name_or_dir} ready")
        return model
    assert path is not None
    return load_model_dir(path, device, dtype, stages=stages)


def _check_fits(kind: str, path: Path | None, name: str, device: Any, dtype: Any) -> None:
    """Estimate memory from the config (model built on meta) before allocating anything."""
    import torch

    from triergon_studio.engine.device import check_memory
    from triergon_studio.engine.models.triergon import build_model

    n = 0
    if kind == "random":
        cfg = get_preset(name[: -len(RANDOM_SUFFIX)])
    else:
        assert path is not None
        if not (path / CONFIG_FILE).exists():
            raise ModelError(f"missing {CONFIG_FILE}", path)
        cfg = ModelConfig.from_json(path / CONFIG_FILE)
        from triergon_studio.engine.families.sao_config import safetensors_param_count

        # the weights file's header holds the count (0 when unreadable: then build on meta); a build on meta
        # costs 2 to 4 s in a fresh process (torch's reference decompositions import torch._dynamo)
        n = safetensors_param_count(path / WEIGHTS_FILE) if (path / WEIGHTS_FILE).is_file() else 0
    if n <= 0:
        n = sum(p.numel() for p in build_model(cfg, "meta").parameters())
    dev = torch.device(device)
    # Weights are loaded in fp32 on the CPU first, then cast; the check uses the final precision on ``dev``.
    check_memory(cfg, n, dev, dtype or torch.float32, 10.0)


def import_dinov2(path: str | Path) -> Any:
    """A DINOv2 ViT-S/B/14 (with or without registers) from a hub ``.pth`` or a transformers checkpoint."""
    from triergon_studio.engine.models.dinov2 import load_dinov2

    return load_dinov2(path)


def import_languagebind(
    video: str | Path | None = None, audio: str | Path | None = None, **kwargs: Any
) -> Any:
    """LanguageBind prompt encoders from the user's LanguageBind_Video / LanguageBind_Audio checkpoints."""
    from triergon_studio.engine.models.languagebind import import_languagebind as _import

    return _import(video, audio, **kwargs)
