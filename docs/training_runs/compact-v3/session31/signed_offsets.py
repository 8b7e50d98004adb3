import sys, numpy as np
from pathlib import Path
from triergon_studio.audio.loudness import channel_curves
from triergon_studio.training.eval.report import load_clips
clips = load_clips(Path('runs/devclips108'), 108)
for name in sys.argv[1:]:
    d = np.load(f'runs/guide_dev/{name}.npz'); offs = []
    for i, c in enumerate(clips):
        k = np.asarray(channel_curves(d[f'arr_{i}'], 44100)); f = min(k.shape[1], c.gt_curves.shape[1])
        t = c.gt_curves[:, :f]; m = k[:, :f]; sel = t > -60
        if sel.any(): offs.append(np.median((m - t)[sel]))
    offs = np.array(offs); print(name, 'median signed offset %.2f, mean %.2f, share too loud %.2f' % (np.median(offs), offs.mean(), (offs > 0).mean()))
