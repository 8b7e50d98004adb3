"""A candidate model folder: a bundle with a vae stage's autoencoder and/or a dit stage's DiT and conditioner
put in, for dev-clip measurements before anything is shipped (issue 17).

    .venv/bin/python tools/assemble_candidate.py model_weights/compact runs/compact_v22 \
        [--vae runs/compact/vae_pan/weights.safetensors] [--dit runs/compact/dit_v22/weights.safetensors] \
        [--dit-set lufs_frame_blocks=true] [--sampling-set curve_cfg=-0.5]

``--dit-set KEY=VALUE`` (a JSON value; repeatable) changes the DiT's config first, for a dit stage run whose
``model_overrides`` added parts the source lacks: the source's weights go into the rebuilt model, the run's
weights must then cover every part the source lacked. ``--sampling-set`` changes the folder's sampling
defaults (``SamplingDefaults``) the same way.

With a new autoencoder the folder's loudness head and gain direction net are not copied (they belong to the
source's autoencoder): train them for it with ``train-loudness-head`` and ``train-gain-net``. With a new DiT
alone they are copied, since both read only the autoencoder's latents and decodes. The evaluation classifier
is not copied (the candidate's manifest does not cover it): pass the source's to ``eval`` and ``dev_check``
with ``--classifier``. Refuses an existing output folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="the bundle the rest comes from")
    p.add_argument("out", type=Path, help="the candidate folder (must not exist)")
    p.add_argument("--vae", help="a vae stage's weights.safetensors")
    p.add_argument("--dit", help="a dit stage's weights.safetensors (dit. and conditioner.)")
    p.add_argument("--dit-set", action="append", default=[], metavar="KEY=VALUE", help="a DiT config change")
    p.add_argument(
        "--sampling-set", action="append", default=[], metavar="KEY=VALUE", help="a sampling default's change"
    )
    args = p.parse_args()
    if not (args.vae or args.dit):
        p.error("give --vae, --dit or both")
    if args.out.exists():
        raise SystemExit(f"{args.out}: already exists; choose another folder")

    from triergon_studio.engine.curve_control.gain_net import GAIN_NET_FILE
    from triergon_studio.engine.curve_control.latent_head import HEAD_FILE
    from triergon_studio.engine.weights import add_file_to_model_dir, load_model_dir, save_model_dir
    from triergon_studio.training.eval.dev_check import put_stage_weights, use_vae_weights

    model = load_model_dir(args.source).eval()
    if args.dit_set:
        if not args.dit:
            p.error("--dit-set needs --dit (the run whose weights fill the new parts)")
        model = _with_dit_config(model, args.dit_set, args.dit)
    if args.sampling_set:
        model.cfg = dataclasses.replace(
            model.cfg,
            sampling=dataclasses.replace(
                model.cfg.sampling, **_changes(model.cfg.sampling, args.sampling_set)
            ),
        )
    parts = []
    if args.vae:
        use_vae_weights(model, args.vae)
        parts.append(f"the autoencoder of {args.vae}")
    if args.dit:
        put_stage_weights(model, args.dit, ("dit.", "conditioner."), "dit")
        parts.append(f"the DiT and conditioner of {args.dit}")
    note = f"{args.source} with " + " and ".join(parts)
    folder = save_model_dir(model, model.cfg, args.out, {"candidate": note}, version="candidate")
    if not args.vae:
        for f in (HEAD_FILE, GAIN_NET_FILE):
            if (args.source / f).is_file():
                add_file_to_model_dir(folder, args.source / f, f)
    print(f"{folder}: vae side {model.cfg.vae.side}")


def _changes(section: Any, sets: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` items (JSON values) as changes to the config dataclass ``section``'s fields."""
    changes = {}
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or key not in {f.name for f in dataclasses.fields(section)}:
            raise SystemExit(f"{item!r}: expected KEY=VALUE with a field of {type(section).__name__} as KEY")
        try:
            changes[key] = json.loads(value)
        except json.JSONDecodeError:
            raise SystemExit(f'{item!r}: the value is not JSON (true, -0.5, "text")') from None
    return changes


def _with_dit_config(model: Any, sets: list[str], dit_weights: str) -> Any:
    """``model`` rebuilt with its DiT config changed by ``sets``; the new parts must all be in ``dit_weights``."""
    from safetensors import safe_open

    from triergon_studio.engine.models.triergon import build_model

    cfg = dataclasses.replace(
        model.cfg, dit=dataclasses.replace(model.cfg.dit, **_changes(model.cfg.dit, sets))
    )
    cfg.validate()
    new = build_model(cfg, "cpu").eval()
    result = new.load_state_dict(model.state_dict(), strict=False)
    if result.unexpected_keys:
        raise SystemExit(f"--dit-set: the source has parts the new DiT lacks ({result.unexpected_keys[0]})")
    with safe_open(dit_weights, "pt") as f:
        have = set(f.keys())
    lacking = [k for k in result.missing_keys if k not in have]
    if lacking:
        raise SystemExit(f"{dit_weights}: does not have the new DiT's {lacking[0]}")
    return new


if __name__ == "__main__":
    main()
