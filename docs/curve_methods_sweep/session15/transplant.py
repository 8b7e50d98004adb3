"""Scratch (session 15): at one step, paste the take's own loud latent frames into curve frames where the
target is loud and the clean estimate silent (and optionally quiet frames where the target is silent), then
guide as usual. Run as tools/guide_dev_takes.py gen with this module's patch applied. Knobs in env TP (JSON):
at (fraction of steps), hole (LU below target that counts as a hole), active (target level that counts as
loud), donor (LU below the take's loudest frame that counts as donor), erase (0/1)."""

import json
import os
import sys

import numpy as np
import torch

from triergon_studio.core.constants import CURVE_RATE_HZ
from triergon_studio.engine.curve_control import guidance as G

TP = {"at": 0.3, "hole": 12.0, "active": -50.0, "donor": 10.0, "erase": 0} | json.loads(
    os.environ.get("TP", "{}")
)
_orig = G.CurveGuide.step
STATS = {"pasted": 0, "erased": 0, "takes": 0}


def _runs(mask):
    out, j = [], 0
    while j < len(mask):
        if mask[j]:
            k = j
            while k < len(mask) and mask[k]:
                k += 1
            out.append((j, k))
            j = k
        else:
            j += 1
    return out


def _transplant(self, st):
    z0 = st.denoised.detach()
    T = z0.shape[-1]
    r, sr = self.downsampling_ratio, self.sample_rate
    with torch.no_grad():
        audio = self.decode(z0.float())
        measured, target, keep = self._measure(audio, 0, T, T)
    m = measured.max(0).values.cpu().numpy()
    t = target.max(0).values.cpu().numpy()
    hop = sr / CURVE_RATE_HZ
    centre = (np.arange(T) + 0.5) * r
    cf = np.floor(centre / hop).astype(int)  # curve frame of each latent frame
    pos = {k: i for i, k in enumerate(keep)}
    idx = np.array([pos.get(k, -1) for k in cf])
    ok = idx >= 0
    mf = np.where(ok, m[np.clip(idx, 0, None)], -200.0)
    tf = np.where(ok, t[np.clip(idx, 0, None)], -200.0)
    hole = ok & (tf > TP["active"]) & (mf < tf - TP["hole"])
    donor = ok & (mf > m.max() - TP["donor"])
    z = z0.clone()
    if hole.any() and donor.any():
        druns = _runs(donor)
        # the donor event: the donor run with the loudest frame, from its start (the attack)
        d0, d1 = max(druns, key=lambda ab: mf[ab[0] : ab[1]].max())
        # extend the donor to the end of the event (frames still within 20 LU of the peak)
        while d1 < T and mf[d1] > mf[d0:d1].max() - 20 and not hole[d1]:
            d1 += 1
        src = list(range(d0, d1))
        for a, b in _runs(hole):
            for j in range(a, b):
                z[..., j] = z0[..., src[(j - a) % len(src)]]
            STATS["pasted"] += b - a
    if TP["erase"]:
        quiet = ok & (mf < m.min() + 6)
        loud_silent = ok & (tf < -60) & (mf > -45)
        if quiet.any() and loud_silent.any():
            q = np.flatnonzero(quiet)
            for n, j in enumerate(np.flatnonzero(loud_silent)):
                z[..., j] = z0[..., q[n % len(q)]]
                STATS["erased"] += 1
    w = G.x_weight(self.parameterisation, st.sigma)
    return z, st.x + (z - z0).to(st.x.dtype) * w


def step(self, st):
    if not getattr(self, "_tp_done", False) and st.step >= max(1, int(round(TP["at"] * st.total))):
        self._tp_done = True
        STATS["takes"] += 1
        z, x = _transplant(self, st)
        st = G.SamplerStep(st.step, st.total, x, z.to(st.denoised.dtype), st.sigma)
    return _orig(self, st)


G.CurveGuide.step = step

if __name__ == "__main__":
    sys.path.insert(0, "tools")
    import atexit

    atexit.register(lambda: print("transplant", TP, STATS))
    import guide_dev_takes

    sys.argv = ["guide_dev_takes.py"] + sys.argv[1:]
    guide_dev_takes.main()
