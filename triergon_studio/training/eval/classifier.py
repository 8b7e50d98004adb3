"""The evaluation's sound classifier: a small CNN on log-mel spectrograms, trained on corpus audio.

It stands in for PaSST (whose weights are not available): top-1 accuracy of generated audio against the
prompt's class, and the KL divergence between its class distributions for generated and reference audio.
Each clip's log-mel is normalised by its own mean, so the classifier judges timbre and rhythm, not level.
Trained on the training pool (or a fresh corpus stream), never on the held-out set.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

SR = 22050
N_MELS = 64


class LogMelFront(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        import torchaudio

        self.mel = torchaudio.transforms.MelSpectrogram(
            SR, n_fft=1024, hop_length=256, n_mels=N_MELS, power=2.0
        )

    def forward(self, wave_44k: Tensor) -> Tensor:
        """[B, 2, N] at 44.1 kHz -> per-clip normalised log-mel [B, 1, n_mels, T]."""
        import torchaudio

        mono = wave_44k.float().mean(1)
        x = torchaudio.functional.resample(mono, 44100, SR)
        m = torch.log(self.mel(x) + 1e-6)
        m = m - m.mean(dim=(1, 2), keepdim=True)
        return m[:, None]


class SoundClassifier(nn.Module):
    def __init__(self, n_classes: int, width: int = 32) -> None:
        super().__init__()
        self.front = LogMelFront()
        chans = [1, width, width * 2, width * 4, width * 4]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(chans[-1] * 2, n_classes)

    def forward(self, wave_44k: Tensor) -> Tensor:
        x = self.body(self.front(wave_44k))
        x = x.mean(2)  # over frequency
        return self.head(torch.cat([x.mean(-1), x.amax(-1)], dim=1))


def _augment(wave: Tensor, gen: torch.Generator) -> Tensor:
    """Random gain, a random one-pole tilt and a little noise: the judge should not hinge on fine detail."""
    b = wave.shape[0]
    gain = 10 ** (torch.empty(b, 1, 1).uniform_(-20, 6, generator=gen) / 20)
    x = wave * gain
    a = torch.empty(b, 1, 1).uniform_(0.0, 0.7, generator=gen)
    smooth = x.clone()
    smooth[..., 1:] = x[..., 1:] * (1 - a) + x[..., :-1] * a  # a gentle, random low-pass
    noise = torch.randn(x.shape, generator=gen) * 10 ** (
        torch.empty(b, 1, 1).uniform_(-80, -45, generator=gen) / 20
    )
    return smooth + noise


def train_classifier(
    path: Path,
    pool_path: Path | None = None,
    steps: int = 400,
    batch: int = 24,
    crop_s: float = 3.0,
    seed: int = 21,
) -> dict[str, Any]:
    """Train on the shared training pool (audio + class labels) and save to ``path``."""
    from triergon_studio.training.corpus import CLASS_NAMES
    from triergon_studio.training.pool import Pool

    pool_path = pool_path or path.parent / "pool.npz"
    pool = Pool.load(pool_path)
    audio, labels, valid = pool.arrays["audio"], pool.arrays["label"], pool.arrays["valid"]
    n_val = max(len(pool) // 10, 1)  # the pool's last tenth checks the classifier on unseen corpus clips
    tr = np.arange(len(pool) - n_val)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SoundClassifier(len(CLASS_NAMES))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    crop = int(crop_s * 44100)
    t0 = time.perf_counter()
    model.train()
    for step in range(steps):
        idx = rng.choice(tr, size=batch)
        waves = []
        for i in idx:
            v = max(int(valid[i]), 1)
            s = int(rng.integers(0, max(1, v - crop + 1)))
            seg = np.zeros((2, crop), np.float32)
            piece = audio[i, :, s : min(s + crop, v)].astype(np.float32)
            seg[:, : piece.shape[1]] = piece
            waves.append(seg)
        x = _augment(torch.from_numpy(np.stack(waves)), gen)
        loss = F.cross_entropy(model(x), torch.from_numpy(labels[idx]).long(), label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for g in opt.param_groups:
            g["lr"] = 2e-3 * (0.1 + 0.9 * (1 - step / steps))
    model.eval()
    val_idx = np.arange(len(pool) - n_val, len(pool))
    probs = predict_proba(model, [audio[i, :, : max(int(valid[i]), 1)].astype(np.float32).T for i in val_idx])
    acc = float((probs.argmax(1) == labels[val_idx]).mean())
    save_classifier(
        path, model, {"classes": list(CLASS_NAMES), "steps": steps, "seed": seed, "val_accuracy_corpus": acc}
    )
    return {
        "classifier": str(path),
        "val_accuracy_corpus": round(acc, 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }


CLASSIFIER_FORMAT = "triergon-eval-classifier"


def work_classifier(work: Path) -> Path:
    """The classifier ``reproduce`` trained in ``work`` (safetensors; a run from before the format change has
    a .pt)."""
    new = Path(work) / "classifier.safetensors"
    old = Path(work) / "classifier.pt"
    return old if old.exists() and not new.exists() else new


def save_classifier(path: Path, model: SoundClassifier, meta: dict[str, Any]) -> None:
    """Weights as safetensors, everything else as JSON in its metadata: loading it can never run code."""
    import json

    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()},
        str(tmp),
        metadata={"format": CLASSIFIER_FORMAT, "meta": json.dumps(meta)},
    )
    tmp.replace(path)


def load_classifier(path: Path) -> tuple[SoundClassifier, dict[str, Any]]:
    """A classifier in safetensors (any suffix); an older ``torch.save`` file is read weights-only (tensors,
    numbers, strings and lists, never code). Anything else is a one-line ``StudioError``."""
    import json

    from triergon_studio.errors import StudioError

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        raise StudioError(f"cannot read the evaluation classifier ({exc.strerror or exc})", path) from exc
    if len(head) == 9 and head[8:9] == b"{":  # safetensors: u64 header length, then the JSON header
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                info = f.metadata() or {}
                state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 -- safe_open has no iterator
            meta = json.loads(info.get("meta", "{}")) if info.get("format") == CLASSIFIER_FORMAT else None
        except Exception as exc:  # safetensors and json raise their own types
            raise StudioError(f"unreadable evaluation classifier ({type(exc).__name__})", path) from exc
        if not isinstance(meta, dict) or not isinstance(meta.get("classes"), list):
            raise StudioError("not an evaluation classifier (no class list in its metadata)", path)
    else:
        try:
            legacy = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError for anything but plain weights: refused, nothing runs
            raise StudioError(
                f"not a weights-only classifier file ({type(exc).__name__}); nothing was loaded", path
            ) from exc
        if (
            not isinstance(legacy, dict)
            or not isinstance(legacy.get("state"), dict)
            or not isinstance(legacy.get("classes"), list)
        ):
            raise StudioError("not an evaluation classifier", path)
        state, meta = legacy["state"], {k: v for k, v in legacy.items() if k != "state"}
    model = SoundClassifier(len(meta["classes"]))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise StudioError(
            f"evaluation classifier does not fit ({str(exc).splitlines()[0][:120]})", path
        ) from exc
    return model.eval(), {"classes": meta["classes"], **{k: v for k, v in meta.items() if k != "classes"}}


@torch.no_grad()
def predict_proba(model: SoundClassifier, clips: list[np.ndarray]) -> np.ndarray:
    """Class probabilities for clips given as [N, 2] float32 at 44.1 kHz (any length)."""
    out = []
    for a in clips:
        a = np.asarray(a, dtype=np.float32)
        if len(a) < 44100 // 2:
            a = np.pad(a, ((0, 44100 // 2 - len(a)), (0, 0)))
        out.append(F.softmax(model(torch.from_numpy(a.T.copy())[None]), dim=-1)[0].numpy())
    return np.stack(out)


def kl_divergence(p_ref: np.ndarray, p_gen: np.ndarray) -> np.ndarray:
    """KL(p_ref || p_gen) per row (nats)."""
    p = np.clip(p_ref, 1e-8, 1.0)
    q = np.clip(p_gen, 1e-8, 1.0)
    return (p * (np.log(p) - np.log(q))).sum(axis=1)
