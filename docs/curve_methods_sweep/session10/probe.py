"""Does the compact latent carry the L/R balance? Ridge probe latent -> per-block L-R level (dB), GT vs decode."""
from pathlib import Path
import numpy as np, torch
from triergon_studio.takes import load_model
from triergon_studio.training.eval.report import load_clips
torch.set_num_threads(1)
m = load_model("model_weights/compact")
clips = load_clips(Path("runs/devclips36"), 36)
R = m.downsampling_ratio
X, Y, Yr, G = [], [], [], []
def bal(a):  # [2, N] -> per block L-R dB, and block level
    n = a.shape[1] // R * R
    e = (a[:, :n].reshape(2, -1, R) ** 2).mean(-1) + 1e-9
    return 10 * np.log10(e[0] / e[1]), 10 * np.log10(e.mean(0))
with torch.no_grad():
  for i, c in enumerate(clips):
    a = torch.from_numpy(np.ascontiguousarray(c.gt_audio.T)).float()[None]
    n = a.shape[-1] // R * R
    z = m.encode(a[..., :n])
    rec = m.decode(z)[0].numpy()
    b, lv = bal(a[0, :, :n].numpy()); br, _ = bal(rec[:, :n])
    k = min(z.shape[-1], len(b))
    sel = lv[:k] > -50
    X.append(z[0, :, :k].T.numpy()[sel]); Y.append(b[:k][sel]); Yr.append(br[:k][sel]); G += [i] * int(sel.sum())
X, Y, Yr, G = np.concatenate(X), np.concatenate(Y), np.concatenate(Yr), np.array(G)
tr, te = G % 2 == 0, G % 2 == 1
Xa = np.c_[X, np.ones(len(X))]
w = np.linalg.solve(Xa[tr].T @ Xa[tr] + 1e-2 * np.eye(Xa.shape[1]), Xa[tr].T @ Y[tr])
p = Xa[te] @ w
print(f"blocks {len(Y)}; GT |L-R| {np.abs(Y).mean():.2f} dB; decode |L-R| {np.abs(Yr).mean():.2f}; corr(GT, decode) {np.corrcoef(Y, Yr)[0,1]:.2f}")
print(f"linear probe on held half: corr {np.corrcoef(Y[te], p)[0,1]:.2f}, MAE {np.abs(Y[te]-p).mean():.2f} dB (baseline {np.abs(Y[te]-Y[tr].mean()).mean():.2f})")
