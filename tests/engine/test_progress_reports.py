"""Progress of the long engine calls (issue 14, item 10): stepwise decoding gives the same samples, model
loading and curve prediction report real fractions that only move forward and end at 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.steps import drive
from tests.video.video_factory import make_video
from triergon_studio.core.take_spec import TakeSpec, TimeSpan
from triergon_studio.engine.families.triergon import TriErgonModel
from triergon_studio.engine.weights import random_model, save_model_dir
from triergon_studio.takes import Progress, generate_takes, load_model, predict_curves, run_to_end


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def __call__(self, message: str, fraction: float) -> None:
        self.calls.append((message, fraction))

    @property
    def fractions(self) -> list[float]:
        return [f for _, f in self.calls]

    def check(self, min_distinct: int = 3) -> None:
        f = self.fractions
        assert f == sorted(f), "progress went backwards"
        assert f[-1] == 1.0 and len(set(f)) >= min_distinct, f


@pytest.fixture(scope="module")
def model() -> TriErgonModel:
    return TriErgonModel(random_model("tiny", seed=0).eval())


def test_oobleck_decode_steps_give_the_same_samples(model: TriErgonModel) -> None:
    torch.manual_seed(1)
    latent = torch.randn(1, model.latent_channels, 8)
    with torch.no_grad():
        ref = model.decode(latent)
        fractions, out = drive(model.decode_steps(latent))
    assert torch.equal(ref, out)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(set(fractions)) > 20


def test_a_decoder_without_steps_decodes_in_one_step(
    model: TriErgonModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triergon_studio.engine.models.vae import OobleckDecoder

    latent = torch.randn(1, model.latent_channels, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model.decode(latent)
        monkeypatch.delattr(OobleckDecoder, "steps")
        fractions, out = drive(model.decode_steps(latent))
    assert fractions == [1.0] and torch.equal(ref, out)


def test_same_decode_steps_and_windows_give_the_same_samples() -> None:
    from tests.engine.sa3_helpers import tiny_sa3_config
    from triergon_studio.engine.models.same import SAMEAutoencoder, SAMEConfig

    torch.manual_seed(0)
    ae = SAMEAutoencoder(SAMEConfig.from_upstream(tiny_sa3_config())).eval()
    latent = torch.randn(1, ae.latent_dim, 20)
    with torch.no_grad():
        fractions, out = drive(ae.decode_steps(latent))
        assert torch.equal(ae.decode(latent), out)
        assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(set(fractions)) >= 2
        chunked, out2 = drive(ae.decode_chunked_steps(latent, chunk_size=8, overlap=2))
        assert torch.equal(ae.decode_chunked(latent, chunk_size=8, overlap=2), out2)
    assert chunked == sorted(chunked) and chunked[-1] == 1.0 and len(set(chunked)) > len(set(fractions))


def test_take_decode_reports_progress_and_keeps_the_samples(
    model: TriErgonModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TakeSpec(span=TimeSpan(0.0, 1.3), steps=3, seed=5)
    seen: list[Progress] = []
    (take,) = run_to_end(generate_takes(spec, model), seen.append)
    decoding = [p.fraction for p in seen if p.stage == "decoding"]
    assert len(set(decoding)) > 5 and decoding == sorted(decoding) and decoding[-1] == 1.0
    everything = [p.fraction for p in seen]
    assert everything == sorted(everything)
    monkeypatch.delattr(TriErgonModel, "decode_steps")  # the plain decode, as before stepwise decoding
    (plain,) = run_to_end(generate_takes(spec, model))
    assert np.array_equal(take.audio, plain.audio)


def test_loading_a_model_folder_reports_bytes_and_tensors(tmp_path: Path) -> None:
    folder = save_model_dir(random_model("tiny", seed=3), None, tmp_path / "tiny-folder")
    rec = Recorder()
    loaded = load_model(str(folder), progress=rec)
    rec.check(min_distinct=8)
    text = " ".join(m for m, _ in rec.calls)
    assert "Checking model.safetensors" in text and "tensors" in text and "Reading" in text
    plain = load_model(str(folder))  # the one-call load gives the same weights
    a, b = loaded.net.state_dict(), plain.net.state_dict()  # type: ignore[attr-defined]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_loading_stable_audio_folders_reports_stages(tmp_path: Path) -> None:
    from tests.engine.sa3_helpers import make_tiny_sa3_folder
    from tests.engine.sao_helpers import make_snapshot

    sao = Recorder()
    load_model(str(make_snapshot(tmp_path / "sao", "small")), progress=sao)
    sao.check()
    assert any("T5" in m for m, _ in sao.calls)
    sa3 = Recorder()
    load_model(str(make_tiny_sa3_folder(tmp_path / "sa3")), progress=sa3)
    sa3.check()
    assert any("T5Gemma" in m for m, _ in sa3.calls)


def test_curve_prediction_reports_decoding_and_prediction(model: TriErgonModel, tmp_path: Path) -> None:
    video = str(make_video(tmp_path / "v.mp4", 50, fps=25, size=(96, 64)))
    t_lufs = Recorder()
    curves = predict_curves(model, video, "t_lufs", t_lufs)
    t_lufs.check(min_distinct=10)
    assert any("Decoding frames" in m for m, _ in t_lufs.calls)
    assert any("features" in m for m, _ in t_lufs.calls)
    assert np.array_equal(curves.left, predict_curves(model, video, "t_lufs").left)
    motion = Recorder()
    predict_curves(None, video, "motion", motion)
    motion.check(min_distinct=10)
    assert any("Optical flow" in m for m, _ in motion.calls)


def test_cli_generate_prints_the_same_percentages(tmp_path: Path) -> None:
    """``generate`` prints the use case's progress as a percentage, decoding included, up to 100 %."""
    import os
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-m", "triergon_studio", "generate", "--duration", "1.0", "--model", "tiny-random"]
        + ["--steps", "2", "--seed", "1", "-o", str(tmp_path / "t.wav")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=300,
        cwd=root,
    )
    assert out.returncode == 0, out.stderr
    pcts = [int(m) for m in re.findall(r"\[(\d+)%, [\d.]+ s\]", out.stderr)]
    assert pcts == sorted(pcts) and pcts[-1] == 100 and len(set(pcts)) >= 3, out.stderr
    assert "decoding" in out.stderr
