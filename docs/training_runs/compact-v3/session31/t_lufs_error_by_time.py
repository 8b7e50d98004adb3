"""Scratch (session 31): where version 3.1's T_LUFS errs on the 36 dev videos, by time since the last event
(event classes, frames the curve marks audible). Run from the repository root."""
import json, glob, numpy as np, torch
from pathlib import Path
from triergon_studio.engine.weights import load_model_dir
from triergon_studio.training.eval.report import video_curves
torch.set_num_threads(2)
pred = load_model_dir(Path('model_weights/compact')).eval().lufs_predictor
rows = []
for j in sorted(glob.glob('runs/devclips36/*.json')):
    if j.endswith('peaks.json') or not Path(j).name[:4].isdigit(): continue
    m0 = json.load(open(j))
    if 'curves' not in m0: print('skip', j); continue
    m = json.load(open(j))
    gt = np.array([m['curves']['left'], m['curves']['right']])
    p = video_curves(pred, Path(j).with_suffix('.mp4'))
    n = min(gt.shape[1], p.shape[1]); gt, p = gt[:, :n], p[:, :n]
    ev = np.array(m['events']) if m['events'] else np.array([-9.0])
    for k in range(n):
        t0 = k / 6
        # time from the last event at or before the window's end, to the window's start
        past = ev[ev < t0 + 1/6]
        since = t0 - past.max() if past.size else 99
        nxt = ev[ev >= t0 + 1/6]
        until = nxt.min() - (t0+1/6) if nxt.size else 99
        for ch in range(2):
            if gt[ch, k] > -60:
                rows.append((m['label'], since, until, gt[ch, k], p[ch, k]))
import collections
ev_classes = {'impact_metal','impact_wood','impact_glass','bell_chime','footsteps_wood','footsteps_snow','footsteps_gravel','door','switch_click','glass_break'}
def bucket(s):
    if s < -1/6: return 'pre'
    if s < 0: return 'hit-in-window'
    if s < 0.5: return '0-0.5s'
    if s < 1.5: return '0.5-1.5s'
    return '>1.5s'
agg = collections.defaultdict(lambda: [0, 0, 0.0, 0.0])
tot = 0.0
for lab, s, u, g, q in rows:
    if lab not in ev_classes: continue
    b = bucket(s)
    a = agg[b]; a[0] += 1; e = abs(g - q); a[2] += e; tot += e
    if q <= -60: a[1] += 1; a[3] += e
for b in ['pre','hit-in-window','0-0.5s','0.5-1.5s','>1.5s']:
    if b in agg:
        n, miss, e, em = agg[b]
        print(f'{b:14s} frames {n:4d}  missed {miss:4d}  share of total error {e/tot:.2f}  of it from missed {em/tot:.2f}  mean err {e/n:.1f}')
print('signed (pred-gt) on frames called audible, and gt level')
agg2 = collections.defaultdict(list)
for lab, s, u, g, q in rows:
    if lab not in ev_classes or q <= -60: continue
    agg2[bucket(s)].append((q - g, g))
for b, v in agg2.items():
    v = np.array(v); print(b, 'n', len(v), 'bias %.2f' % v[:,0].mean(), 'mae %.2f' % np.abs(v[:,0]).mean(), 'gt mean %.1f' % v[:,1].mean(), 'corr', np.corrcoef(v[:,0]+v[:,1], v[:,1])[0,1].round(2))
# within-clip: error after removing per-clip-channel median offset
