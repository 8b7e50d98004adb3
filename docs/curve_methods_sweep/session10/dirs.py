"""Does a step along the L / R gain directions move L / R as it should (true decode, and through the head)?"""
from pathlib import Path
import numpy as np, torch
from triergon_studio.takes import load_model
from triergon_studio.audio.loudness import channel_curves
from triergon_studio.engine.curve_control.gain_net import gain_net_for_model
from triergon_studio.engine.curve_control.latent_head import head_for_model, overlap_matrix, curve_from_blocks
from triergon_studio.engine.curve_control.guidance import encoded_gain_directions
from triergon_studio.training.eval.report import load_clips
torch.set_num_threads(1)
m = load_model("model_weights/compact")
net, head = gain_net_for_model(m), head_for_model(m)
clips = load_clips(Path("runs/devclips36"), 36)
d = np.load("runs/guide_dev/gn.npz")
def lv(a):  # integrated-ish: mean curve over frames above -60 in base
    return np.asarray(channel_curves(a, 44100))
with torch.no_grad():
  for i in [10, 11, 12, 25, 28, 32, 3, 14]:
    a = torch.from_numpy(d[f"arr_{i}"].T.copy()).float()[None]  # [1,2,N]
    z = m.encode(a)
    au = m.decode(z)
    base = lv(au[0].numpy().T)
    sel = (base > -60).all(0)
    for nm, dirs in (("net", net.directions(z[0], au)), ("enc", encoded_gain_directions(m.encode, au, z[0]))):
        out = []
        for ch in range(2):
            z2 = z + 3.0 * dirs[ch][None]
            c2 = lv(m.decode(z2)[0].numpy().T)
            dl = (c2 - base)[:, sel].mean(1)
            W = overlap_matrix(z.shape[-1], m.downsampling_ratio, 44100, base.shape[1])
            hb = curve_from_blocks(head(z)[0], W).numpy(); h2 = curve_from_blocks(head(z2)[0], W).numpy()
            dh = (h2 - hb)[:, sel].mean(1)
            out.append(f"+3dB {'LR'[ch]}: true dL {dl[0]:+.2f} dR {dl[1]:+.2f} | head dL {dh[0]:+.2f} dR {dh[1]:+.2f}")
        print(i, clips[i].meta['label'], nm, " || ".join(out))
