"""The bundle manifest's training record, built from the stage run folders."""

from __future__ import annotations

import json
from pathlib import Path

from triergon_studio.training.reproduce import training_manifest


def _run(
    work: Path, stage: str, steps: int, seconds: float, total: float | None, resumed: int, threads: int
) -> None:
    d = work / stage
    d.mkdir(parents=True)
    conf = {
        "steps": steps + 100,
        "seed": 7,
        "batch_size": 4,
        "lr": 1e-3,
        "num_threads": threads,
        "pool_size": 16,
        "segment_seconds": 2.0,
        "corpus": {"min_seconds": 1.0},
    }
    summ = {
        "steps": steps,
        "seconds": seconds,
        "final_loss": 0.5,
        "resumed_from": resumed,
        "stopped_by_time_limit": True,
    }
    if total is not None:
        summ["seconds_total"] = total
    (d / "config.json").write_text(json.dumps(conf))
    (d / "summary.json").write_text(json.dumps(summ))


def test_training_record_counts_resumed_time_and_says_how_it_ran(tmp_path: Path) -> None:
    _run(tmp_path, "vae", 2600, 2000.0, 2500.0, 537, 1)
    _run(tmp_path, "encoders", 900, 800.0, None, 0, 2)  # an older summary without seconds_total
    _run(tmp_path, "lufs", 1200, 900.0, 1200.0, 115, 1)
    _run(tmp_path, "dit", 2000, 2700.0, 2700.0, 0, 1)
    rec = training_manifest(tmp_path)["training"]
    st = rec["stages"]
    assert st["vae"]["seconds"] == 2500.0 and st["vae"]["resumed_from"] == 537
    assert st["encoders"]["seconds"] == 800.0 and st["dit"]["planned_steps"] == 2100
    assert rec["total_seconds"] == 2500.0 + 800.0 + 1200.0 + 2700.0
    note = rec["hardware_note"]
    assert (
        "vae 1, encoders 2, lufs 1, dit 1" in note
        and "vae from step 537" in note
        and "lufs from step 115" in note
    )
    assert "encoders from" not in note


def test_a_decoder_run_joins_the_bundle_after_the_autoencoder(tmp_path: Path) -> None:
    from triergon_studio.training.reproduce import _weight_stages

    for stage in ("vae", "encoders", "lufs", "dit"):
        _run(tmp_path, stage, 100, 10.0, 10.0, 0, 1)
    assert _weight_stages(tmp_path, "dit") == ("vae", "encoders", "lufs", "dit")
    _run(tmp_path, "vae_decoder", 50, 20.0, 20.0, 0, 1)
    order = _weight_stages(tmp_path, "dit")
    assert order.index("vae_decoder") > order.index("vae")  # its decoder keys override the first run's
    st = training_manifest(tmp_path)["training"]["stages"]
    assert st["vae_decoder"]["config"].endswith("compact_vae_decoder.json")
    assert training_manifest(tmp_path)["training"]["total_seconds"] == 60.0


def test_the_coherent_side_autoencoder_joins_only_with_the_dit_trained_on_its_latents(tmp_path: Path) -> None:
    from triergon_studio.training.reproduce import _weight_stages, bundle_dit

    for stage in ("vae", "encoders", "lufs", "dit", "vae_decoder", "dit_tokens"):
        _run(tmp_path, stage, 100, 10.0, 10.0, 0, 1)
    assert bundle_dit(tmp_path) == "dit"
    _run(tmp_path, "vae_pan", 40, 5.0, 5.0, 0, 2)
    assert bundle_dit(tmp_path) == "dit", "the pan stage alone does not make a bundle: its DiT has not run"
    _run(tmp_path, "dit_v22", 60, 30.0, 30.0, 0, 2)
    assert bundle_dit(tmp_path) == "dit_v22"
    assert _weight_stages(tmp_path, "dit_v22") == (
        "vae",
        "encoders",
        "lufs",
        "vae_decoder",
        "vae_pan",
        "dit_v22",
    )
    # the tokens comparison DiT learnt the latents without the balance: no pan stage with it
    assert "vae_pan" not in _weight_stages(tmp_path, "dit_tokens")
    rec = training_manifest(tmp_path)["training"]
    assert list(rec["stages"]) == ["vae", "encoders", "lufs", "vae_decoder", "vae_pan", "dit", "dit_v22"]
    assert rec["stages"]["dit_v22"]["config"].endswith("compact_dit_v22.json")
    assert rec["total_seconds"] == 10.0 * 5 + 5.0 + 30.0  # the base DiT's time counts too


def test_only_the_coherent_side_bundle_carries_its_guidance_default(tmp_path: Path) -> None:
    from triergon_studio.engine.config import ModelConfig
    from triergon_studio.training.reproduce import PAN_GUIDE, assembled_config

    for stage in ("vae", "encoders", "lufs", "dit", "dit_tokens"):
        _run(tmp_path, stage, 100, 10.0, 10.0, 0, 1)
    cfg = assembled_config(tmp_path, "dit")
    assert cfg.sampling.guide == {} and cfg.name == "compact"  # v2.1's recipe: the preset's defaults
    _run(tmp_path, "dit_v22", 60, 30.0, 30.0, 0, 2)
    conf = json.loads((tmp_path / "dit_v22" / "config.json").read_text())
    conf["model_overrides"] = {"vae": {"side": "coherent"}}
    (tmp_path / "dit_v22" / "config.json").write_text(json.dumps(conf))
    cfg = assembled_config(tmp_path, "dit_v22")
    assert cfg.sampling.guide == PAN_GUIDE and cfg.vae.side == "coherent" and cfg.name == "compact"
    assert ModelConfig.from_json(cfg.to_json()) == cfg  # what save_model_dir writes loads back the same
    tokens = assembled_config(tmp_path, "dit_tokens")
    assert tokens.sampling.guide == {} and tokens.name == "compact-dit-tokens"


def test_the_dit_trained_on_with_new_segments_follows_the_fine_tune_it_started_from(tmp_path: Path) -> None:
    from triergon_studio.training.reproduce import PAN_GUIDE, _weight_stages, assembled_config, bundle_dit

    for stage in ("vae", "encoders", "lufs", "dit", "vae_decoder", "vae_pan", "dit_v22"):
        _run(tmp_path, stage, 100, 10.0, 10.0, 0, 1)
    assert bundle_dit(tmp_path) == "dit_v22"
    _run(tmp_path, "dit_v24", 80, 40.0, 40.0, 0, 2)
    assert bundle_dit(tmp_path) == "dit_v24"
    assert _weight_stages(tmp_path, "dit_v24") == (
        "vae",
        "encoders",
        "lufs",
        "vae_decoder",
        "vae_pan",
        "dit_v24",
    )
    rec = training_manifest(tmp_path)["training"]
    # both runs it grew from count: the base DiT and the fine-tune
    assert list(rec["stages"])[-3:] == ["dit", "dit_v22", "dit_v24"]
    assert rec["stages"]["dit_v24"]["config"].endswith("compact_dit_v24.json")
    assert rec["total_seconds"] == 10.0 * 7 + 40.0
    conf = json.loads((tmp_path / "dit_v24" / "config.json").read_text())
    conf["model_overrides"] = {"vae": {"side": "coherent"}}
    (tmp_path / "dit_v24" / "config.json").write_text(json.dumps(conf))
    cfg = assembled_config(tmp_path, "dit_v24")
    assert cfg.sampling.guide == PAN_GUIDE and cfg.vae.side == "coherent" and cfg.name == "compact"
    assert assembled_config(tmp_path, "dit_v22").name == "compact-dit-v22"  # now a comparison model


def test_a_stage_with_its_own_pool_keeps_it_and_its_init_reads_the_work_folder(tmp_path: Path) -> None:
    from triergon_studio.training.reproduce import stage_config

    cfg = stage_config("dit_v24", tmp_path)
    assert cfg.pool_path == str(tmp_path / "pool_v24.npz") and cfg.pool_size == 3840
    assert cfg.init[-1] == str(tmp_path / "dit_v22" / "weights.safetensors")
    assert all(Path(p).parent.parent == tmp_path for p in cfg.init)
    assert stage_config("dit_v22", tmp_path).pool_path == str(tmp_path / "pool.npz")  # the shared one


def test_the_band_pca_bundle_is_fitted_from_a_pool_and_takes_only_its_own_autoencoder(tmp_path: Path) -> None:
    """vae_mel fits the code on the DiT's pool and writes a run folder; once dit_mel has run it is the bundle's
    DiT, assembled without the spectral autoencoder's runs, and the manifest counts the DiT it started from."""
    import numpy as np
    import torch
    from safetensors.torch import load_file

    from triergon_studio.training.config import LufsStageConfig
    from triergon_studio.training.pool import Pool
    from triergon_studio.training.reproduce import (
        MEL_CFG,
        MEL_DIT,
        SUB_LUFS,
        TRACK_DIT,
        _weight_stages,
        assembled_config,
        bundle_dit,
        fit_mel_code,
        stage_config,
    )

    rng = np.random.default_rng(0)
    n = 3 * 44100
    audio = (0.1 * rng.standard_normal((4, 2, n))).astype(np.float16)
    Pool({"audio": audio, "valid": np.full(4, n)}, ["x"] * 4).save(
        Path(stage_config(MEL_DIT, tmp_path).pool_path)
    )
    info = fit_mel_code(tmp_path, threads=1)
    assert info["frames"] == 4 * (n // 2048) and 0 < info["final_loss"] < 1
    sd = load_file(str(tmp_path / "vae_mel" / "weights.safetensors"))
    assert set(sd) == {
        f"vae.{p}.{b}" for p in ("encoder", "decoder") for b in ("pca_mean", "pca_basis", "latent_scale")
    }
    assert torch.equal(sd["vae.encoder.pca_basis"], sd["vae.decoder.pca_basis"])
    assert fit_mel_code(tmp_path, threads=1) == {"skipped": True}

    for stage in ("vae", "encoders", "lufs", "dit", "vae_decoder", "vae_pan", "dit_v22", "dit_v24"):
        _run(tmp_path, stage, 100, 10.0, 10.0, 0, 1)
    assert bundle_dit(tmp_path) == "dit_v24"
    _run(tmp_path, MEL_DIT, 50, 30.0, 30.0, 0, 2)
    conf = json.loads((tmp_path / MEL_DIT / "config.json").read_text())
    conf["model_overrides"] = {"vae": {"kind": "bandpca"}}
    conf["pool_size"] = 3840
    (tmp_path / MEL_DIT / "config.json").write_text(json.dumps(conf))
    assert bundle_dit(tmp_path) == MEL_DIT
    assert _weight_stages(tmp_path, MEL_DIT) == ("encoders", "lufs", "vae_mel", MEL_DIT)
    cfg = assembled_config(tmp_path, MEL_DIT)
    assert cfg.vae.kind == "bandpca" and cfg.name == "compact" and cfg.sampling.cfg_scale == MEL_CFG
    rec = training_manifest(tmp_path)["training"]
    assert list(rec["stages"]) == ["encoders", "lufs", "vae_mel", "dit_v24", MEL_DIT]
    assert rec["corpus"]["pool_items"] == 3840  # dit_mel's pool, not the spectral autoencoder's

    # version 3.1: dit_track starts from dit_mel on its pool, and once it has run it is the bundle's DiT
    track = stage_config(TRACK_DIT, tmp_path)
    assert track.init[-1] == str(tmp_path / MEL_DIT / "weights.safetensors")
    assert track.pool_path == stage_config(MEL_DIT, tmp_path).pool_path
    _run(tmp_path, TRACK_DIT, 60, 5.0, 5.0, 0, 1)
    (tmp_path / TRACK_DIT / "config.json").write_text(json.dumps(conf))
    assert bundle_dit(tmp_path) == TRACK_DIT
    assert _weight_stages(tmp_path, TRACK_DIT) == ("encoders", "lufs", "vae_mel", TRACK_DIT)
    assert assembled_config(tmp_path, TRACK_DIT).sampling.cfg_scale == MEL_CFG
    assert assembled_config(tmp_path, MEL_DIT).name == "compact-dit-mel"  # now a comparison model
    rec = training_manifest(tmp_path)["training"]
    assert list(rec["stages"]) == ["encoders", "lufs", "vae_mel", "dit_v24", MEL_DIT, TRACK_DIT]

    before = rec["total_seconds"]
    # version 3.2: lufs_sub starts from the lufs run's weights and, once it has run, is the bundle's T_LUFS,
    # read with its own picture rate
    sub = stage_config(SUB_LUFS, tmp_path)
    assert isinstance(sub, LufsStageConfig)
    assert sub.init_one_picture == str(tmp_path / "lufs" / "weights.safetensors") and not sub.init
    assert assembled_config(tmp_path, TRACK_DIT).lufs_predictor.frame_cnn.sub_frames == 1
    _run(tmp_path, SUB_LUFS, 70, 7.0, 7.0, 0, 1)
    sub_conf = json.loads((tmp_path / SUB_LUFS / "config.json").read_text())
    sub_conf["model_overrides"] = {"lufs_predictor": {"frame_cnn": {"sub_frames": 4}}}
    (tmp_path / SUB_LUFS / "config.json").write_text(json.dumps(sub_conf))
    assert _weight_stages(tmp_path, TRACK_DIT) == ("encoders", SUB_LUFS, "vae_mel", TRACK_DIT)
    cfg = assembled_config(tmp_path, TRACK_DIT)
    assert cfg.lufs_predictor.frame_cnn.sub_frames == 4 and cfg.vae.kind == "bandpca"
    rec = training_manifest(tmp_path)["training"]
    assert list(rec["stages"]) == ["encoders", "lufs", SUB_LUFS, "vae_mel", "dit_v24", MEL_DIT, TRACK_DIT]
    assert rec["total_seconds"] == round(before + 7.0, 1)  # the fine-tune's time joins the lufs run's


def test_build_stage_pool_saves_what_the_config_names(tmp_path: Path) -> None:
    import numpy as np

    from triergon_studio.training.pool import Pool
    from triergon_studio.training.reproduce import MEL_DIT, build_stage_pool, stage_config

    cfg = stage_config(MEL_DIT, tmp_path)
    cfg.pool_size, cfg.pool_workers = 2, 1
    cfg.corpus = {**cfg.corpus, "min_seconds": 1.0, "max_seconds": 2.0, "mean_seconds": 1.5}
    pool = build_stage_pool(cfg)
    again = Pool.load(Path(cfg.pool_path))
    assert len(pool) == len(again) == 2 and Path(cfg.pool_path).name == "pool_mel.npz"
    assert {"audio", "video", "frames6"} <= set(again.arrays)  # what every recipe step's pool carries
    assert np.array_equal(pool.arrays["audio"], again.arrays["audio"])


def test_the_block_dits_and_their_mean_become_the_bundles_dit(tmp_path: Path) -> None:
    """Version 3.3: dit_blk and dit_blkw start from dit_track on its pool; dit_mid, their element-wise mean, is
    then the bundle's DiT with the curve at every block and the curve's own CFG weight, and the manifest counts
    every run in its chain."""
    import torch
    from safetensors.torch import load_file, save_file

    from triergon_studio.training.reproduce import (
        BLOCK_DITS,
        MEL_DIT,
        MID_CURVE_CFG,
        MID_DIT,
        TRACK_DIT,
        _weight_stages,
        assembled_config,
        bundle_dit,
        mean_block_dits,
        stage_config,
    )

    for stage in ("encoders", "lufs", "vae_mel", "dit_v24", MEL_DIT, TRACK_DIT, *BLOCK_DITS):
        _run(tmp_path, stage, 100, 10.0, 10.0, 0, 1)
    for run in BLOCK_DITS:
        cfg = stage_config(run, tmp_path)
        assert cfg.init[-1] == str(tmp_path / TRACK_DIT / "weights.safetensors")
        assert cfg.pool_path == stage_config(TRACK_DIT, tmp_path).pool_path
        assert cfg.model_overrides["dit"] == {"lufs_frame_blocks": True}
        conf = json.loads((tmp_path / run / "config.json").read_text())
        conf["model_overrides"] = cfg.model_overrides
        (tmp_path / run / "config.json").write_text(json.dumps(conf))
    assert stage_config(BLOCK_DITS[0], tmp_path).loudness_weight == 0.0
    assert stage_config(BLOCK_DITS[1], tmp_path).loudness_weight == 0.03
    assert bundle_dit(tmp_path) == TRACK_DIT  # the runs alone are not a bundle DiT
    save_file(
        {"dit.w": torch.zeros(3), "step": torch.tensor([5])},
        str(tmp_path / "dit_blk" / "weights.safetensors"),
    )
    save_file(
        {"dit.w": torch.ones(3), "step": torch.tensor([5])},
        str(tmp_path / "dit_blkw" / "weights.safetensors"),
    )

    info = mean_block_dits(tmp_path)
    assert info["tensors"] == 2 and mean_block_dits(tmp_path) == {"skipped": True}
    sd = load_file(str(tmp_path / MID_DIT / "weights.safetensors"))
    assert torch.equal(sd["dit.w"], torch.full((3,), 0.5)) and torch.equal(sd["step"], torch.tensor([5]))
    assert bundle_dit(tmp_path) == MID_DIT
    assert _weight_stages(tmp_path, MID_DIT) == ("encoders", "lufs", "vae_mel", MID_DIT)
    cfg = assembled_config(tmp_path, MID_DIT)
    assert cfg.dit.lufs_frame_blocks and cfg.sampling.curve_cfg == MID_CURVE_CFG and cfg.name == "compact"
    assert assembled_config(tmp_path, TRACK_DIT).sampling.curve_cfg == 0.0  # now a comparison model
    rec = training_manifest(tmp_path)["training"]
    assert list(rec["stages"]) == [
        "encoders",
        "lufs",
        "vae_mel",
        "dit_v24",
        MEL_DIT,
        TRACK_DIT,
        *BLOCK_DITS,
        MID_DIT,
    ]
    assert (
        rec["stages"][MID_DIT]["config"] == "the mean of dit_blk and dit_blkw"
        and rec["stages"][MID_DIT]["steps"] == 0
    )
    assert rec["total_seconds"] == round(8 * 10.0 + rec["stages"][MID_DIT]["seconds"], 1)
