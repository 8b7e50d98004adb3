"""Start weights for fine-tuning a model's T_LUFS to read several pictures per curve frame (``sub_frames``).

Takes the ``lufs_predictor.*`` weights of a model folder and widens the frame CNN's first convolution with
zero weights for the step channels (``widen_to_sub_frames``): the widened T_LUFS gives exactly the curves of
the original until training moves those weights. (A lufs stage can do the same from a run's weights with
``init_one_picture``.)
``--sub-frames 1`` writes the weights unchanged (the control run's start).

    python tools/t_lufs_sub_frames_init.py --model model_weights/compact --sub-frames 4 --out runs/s32/init4.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_CONV = "lufs_predictor.features.conv.0.weight"


def widen(model_dir: Path, sub_frames: int) -> dict[str, object]:
    import dataclasses

    from triergon_studio.engine.models.lufs_predictor import widen_to_sub_frames
    from triergon_studio.engine.weights import load_model_dir

    model = load_model_dir(model_dir)
    pred = model.lufs_predictor
    if pred is None or pred.cfg.features != "frame-cnn":
        raise SystemExit(f"{model_dir}: this model has no frame-CNN T_LUFS")
    if pred.cfg.frame_cnn.sub_frames != 1:
        raise SystemExit(f"{model_dir}: its T_LUFS already reads {pred.cfg.frame_cnn.sub_frames} pictures")
    sd = {k: v.detach().clone() for k, v in pred.state_dict().items()}
    if sub_frames > 1:
        wide = dataclasses.replace(
            pred.cfg, frame_cnn=dataclasses.replace(pred.cfg.frame_cnn, sub_frames=sub_frames)
        )
        sd = widen_to_sub_frames(sd, wide)
    return {f"lufs_predictor.{k}": v for k, v in sd.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "model_weights" / "compact")
    ap.add_argument("--sub-frames", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if not 1 <= args.sub_frames <= 10:
        ap.error("--sub-frames must be 1 to 10")
    if args.out.exists():
        ap.error(f"{args.out}: exists; choose another path")
    from safetensors.torch import save_file

    sd = widen(args.model, args.sub_frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".part")
    save_file(sd, str(tmp))  # type: ignore[arg-type]
    tmp.replace(args.out)
    print(f"{args.out}: {len(sd)} tensors, first convolution {tuple(sd[FIRST_CONV].shape)}")  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
