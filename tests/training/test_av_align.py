"""AV-Align on synthetic cases with known answers (SPEC section 6)."""

from __future__ import annotations

import numpy as np

from triergon_studio.training.eval import av_align as A

FPS = 10.0
JUMPS = [5, 17, 30, 44]


def _square_video(n: int = 60, jumps: list[int] = JUMPS) -> list[np.ndarray]:
    frames, pos = [], 20
    for i in range(n):
        if i in jumps:
            pos = 110 if pos == 20 else 20
        img = np.zeros((96, 160, 3), np.uint8)
        img[30:60, pos : pos + 30] = 255
        frames.append(img)
    return frames


def _clicks(times: list[float], dur: float, sr: int = 44100) -> np.ndarray:
    rng = np.random.default_rng(0)
    y = np.zeros((int(dur * sr), 2))
    for t in times:
        i = int(t * sr)
        y[i : i + 400] += (rng.standard_normal(400) * np.exp(-np.arange(400) / 80))[:, None]
    return y


def test_flow_trajectory_starts_with_flow_0_to_1_and_peaks_at_jumps() -> None:
    traj = A.flow_trajectory(_square_video())
    assert len(traj) == 60 and traj[0] == traj[1]
    np.testing.assert_allclose(A.video_peaks(traj, FPS), np.array(JUMPS) / FPS)


def test_clicks_at_the_jumps_score_one_and_shifted_clicks_zero() -> None:
    vp = A.video_peaks(A.flow_trajectory(_square_video()), FPS)
    assert A.av_align(_clicks([j / FPS for j in JUMPS], 6.0), 44100, vp, FPS).score == 1.0
    shifted = A.av_align(_clicks([j / FPS + 0.5 for j in JUMPS], 6.5), 44100, vp, FPS)
    assert shifted.score == 0.0 and shifted.n_audio == 4


def test_partial_overlap_gives_the_iou() -> None:
    vp = A.video_peaks(A.flow_trajectory(_square_video()), FPS)
    res = A.av_align(_clicks([0.5, 1.7, 2.45], 6.0), 44100, vp, FPS)  # two matches, one stray click
    assert res.matches == 2 and abs(res.score - 2 / (3 + 4 - 2)) < 1e-9


def test_strict_maxima_threshold_and_unused_matching() -> None:
    assert list(A.video_peaks(np.array([0, 0.5, 0.5, 0]), 1.0)) == []  # a plateau is not a strict maximum
    assert list(A.video_peaks(np.array([0, 0.05, 0]), 1.0)) == []  # below 0.1
    # two audio peaks near one video peak: only one may use it
    assert A.match_count(np.array([1.0, 1.02]), np.array([1.01]), 10.0) == 1
    assert A.iou(np.zeros(0), np.zeros(0), 10.0) == 0.0


def test_silence_has_no_onsets_and_mel_bank_shape() -> None:
    assert len(A.audio_peaks(np.zeros(44100), 44100)) == 0
    fb = A.mel_filterbank()
    assert fb.shape == (128, 1025) and (fb.sum(1) > 0).all()
    # slaney norm: each filter has unit area in Hz times 2/bandwidth, so heights fall with frequency
    assert fb[5].max() > fb[120].max()
