from pathlib import Path
import numpy as np, torch
from triergon_studio.takes import load_model
from triergon_studio.training.eval.report import load_clips
torch.set_num_threads(1)
m = load_model("model_weights/compact")
clips = load_clips(Path("runs/devclips36"), 12)
with torch.no_grad():
  for i, c in enumerate(clips):
    a = torch.from_numpy(np.ascontiguousarray(c.gt_audio.T)).float()[None]
    rec = m.decode(m.encode(a))[0].numpy()[:, : a.shape[-1]]
    g = a[0].numpy()
    def ms(x):
        M, S = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2
        return 10 * np.log10((S ** 2).mean() / (M ** 2).mean() + 1e-12)
    def lr(x): return 10 * np.log10((x[0] ** 2).mean() / (x[1] ** 2).mean())
    # coherence of side with mid: corr of S with M
    def coh(x):
        M, S = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2
        return np.dot(M, S) / np.sqrt(np.dot(M, M) * np.dot(S, S) + 1e-12)
    print(f"{c.meta['label']:16s} S/M dB gt {ms(g):+6.1f} rec {ms(rec):+6.1f} | L/R dB gt {lr(g):+5.1f} rec {lr(rec):+5.1f} | corr(M,S) gt {coh(g):+.2f} rec {coh(rec):+.2f}")
