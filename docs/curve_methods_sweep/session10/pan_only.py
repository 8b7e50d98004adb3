"""Can the coherent side learn the balance at all? Train only the new pan parts (+ optionally more) on the
balance loss from v2.1's autoencoder; measure dev_check's stereo_balance before and after."""
import dataclasses, sys, time
from pathlib import Path
import numpy as np, torch
from triergon_studio.engine.weights import load_model_dir
from triergon_studio.engine.models.autoencoders import build_autoencoder
from triergon_studio.training import losses
from triergon_studio.training.pool import Pool
from triergon_studio.training.eval.dev_check import stereo_balance
from triergon_studio.training.eval.report import load_clips
torch.set_num_threads(1); torch.manual_seed(0)
steps, lr, train_more = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
m = load_model_dir(Path("model_weights/compact"))
cfg = dataclasses.replace(m.cfg.vae, side="coherent")
ae = build_autoencoder(cfg); ae.load_state_dict(m.vae.state_dict(), strict=False)
names = ["decoder.pan", "encoder.pan_in"] + (train_more.split(",") if train_more != "none" else [])
params = [p for n, p in ae.named_parameters() if any(n.startswith(k) for k in names)]
for p in ae.parameters(): p.requires_grad_(False)
for p in params: p.requires_grad_(True)
print("trained params", sum(p.numel() for p in params))
pool = Pool.load(Path("runs/compact/pool.npz"))
clips = load_clips(Path("runs/devclips36"), 12)
def check():
    o, r = [], []
    with torch.no_grad():
        for c in clips:
            x = torch.from_numpy(np.ascontiguousarray(c.gt_audio.T)).float()[None]
            o.append(c.gt_audio); r.append(ae.decode(ae.encode(x))[0].numpy().T[: len(c.gt_audio)])
    return stereo_balance(o, r)
print("before", check())
opt = torch.optim.Adam(params, lr)
rng = np.random.default_rng(0); crop = 20480
t0 = time.time()
for s in range(steps):
    idx = rng.integers(0, len(pool), 8)
    b = pool.batch(idx); a = torch.from_numpy(np.asarray(b["audio"])).float()
    st = [int(rng.integers(0, max(1, int(v) - crop))) for v in np.asarray(b["valid"])]
    x = torch.stack([a[i, :, s0:s0 + crop] for i, s0 in enumerate(st)])
    y = ae.decode(ae.encode(x), x.shape[-1])
    loss = losses.balance_loss(y, x)
    opt.zero_grad(); loss.backward(); opt.step()
    if s % 25 == 0: print(s, round(float(loss), 3), round(time.time() - t0, 1), flush=True)
print("after", check())
