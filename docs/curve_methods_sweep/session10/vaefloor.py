"""The compact autoencoder's own adherence floor: GT audio through encode/decode, measured like a take."""
from pathlib import Path
import numpy as np, torch
from triergon_studio.takes import load_model
from triergon_studio.audio.loudness import channel_curves
from triergon_studio.training.eval.report import load_clips, curve_mae, AUDIBLE
torch.set_num_threads(1)
m = load_model("model_weights/compact")
clips = load_clips(Path("runs/devclips36"), 36)
raws, bal_gt, bal_rec, offs = [], [], [], []
with torch.no_grad():
  for i, c in enumerate(clips):
    a = torch.from_numpy(np.ascontiguousarray(c.gt_audio.T)).float()[None]
    rec = m.decode(m.encode(a))[0].numpy().T[: len(c.gt_audio)]
    t = np.asarray(c.gt_curves); r = np.asarray(channel_curves(rec, 44100)); g = np.asarray(channel_curves(c.gt_audio, 44100))
    n = min(t.shape[1], r.shape[1]); t, r, g = t[:, :n], r[:, :n], g[:, :n]
    e = curve_mae(t, r); raws.append(np.nanmean(e))
    sel = (t > AUDIBLE).all(0)
    if sel.any():
        bal_gt.append(np.mean(g[0, sel] - g[1, sel])); bal_rec.append(np.mean(r[0, sel] - r[1, sel]))
    print(f"{i:2d} {c.meta['label']:16s} rec raw {raws[-1]:5.2f}  L-R gt {bal_gt[-1] if sel.any() else float('nan'):+6.2f} rec {bal_rec[-1] if sel.any() else float('nan'):+6.2f}")
print(f"mean rec raw {np.mean(raws):.2f} LU; |L-R| gt {np.mean(np.abs(bal_gt)):.2f} rec {np.mean(np.abs(bal_rec)):.2f}; corr {np.corrcoef(bal_gt, bal_rec)[0,1]:.2f}")
