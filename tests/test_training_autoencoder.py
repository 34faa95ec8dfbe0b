"""VAE pretraining (engine/training/autoencoder.py): config checks, loss goes down, determinism, and
the starting profile it writes loads and feeds `model.init`."""
from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("OpenImageIO")

from actanywhere.engine.errors import ConfigError  # noqa: E402
from actanywhere.engine.training import autoencoder  # noqa: E402
from actanywhere.engine.training.autoencoder import (AutoencoderConfig, AutoencoderData, FramePool,  # noqa: E402
                                                     load_autoencoder_config, pretrain_autoencoder,
                                                     reconstruction_losses)
from reproducible import assert_same_result, max_difference  # noqa: E402


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    from actanywhere.engine.synth import generate_dataset

    folder = tmp_path_factory.mktemp("synth")
    return generate_dataset(str(folder), "train", 2, (32, 32), 4, seed=0)


def _config(manifest, out, steps=12, seed=0):
    return AutoencoderConfig(data=AutoencoderData(manifest=manifest, height=32, width=32, crop=16), output_dir=str(out),
                             vae_norm_num_groups=4,
                             steps=steps, batch_size=4, learning_rate=2e-3, warmup_steps=2, seed=seed,
                             scale_samples=16, log_every=4)


def _fixed_loss(vae, config):
    pool = FramePool(config, 0.5)
    images = torch.from_numpy(pool.batch(np.random.default_rng(123), 8)).float()
    with torch.inference_mode():
        _, parts = reconstruction_losses(vae, images, None, config.loss, sample=False)
    return parts["l1"]


@pytest.mark.slow  # a training loop
def test_a_few_steps_reduce_the_reconstruction_loss(manifest, tmp_path):
    from actanywhere.engine.model.profile_files import load_pretrained

    config = _config(manifest, tmp_path / "run", steps=40)
    before = _fixed_loss(autoencoder.build_start_model(config).vae, config)
    events = []
    result = pretrain_autoencoder(config, progress=events.append)
    trained = load_pretrained(result.profile_dir)
    after = _fixed_loss(trained.vae, config)
    assert after < 0.8 * before
    assert events[-1].stage == "train_vae" and events[-1].done == events[-1].total == 40
    # The latent scale is measured and recorded in the profile and the VAE config alike.
    assert result.scaling_factor > 0
    assert trained.profile.vae_scaling_factor == pytest.approx(result.scaling_factor)
    assert trained.vae.config.scaling_factor == pytest.approx(result.scaling_factor)
    assert trained.vae.config.norm_num_groups == 4
    rows = result.loss_csv.read_text().splitlines()
    assert rows[0].startswith("step,loss,l1") and len(rows) == 1 + 40 // 4
    assert (tmp_path / "run" / autoencoder.PREVIEW_FILE).is_file()
    assert (result.vae_dir / "config.json").is_file()


@pytest.mark.slow  # training loops
def test_same_seed_same_weights_other_seed_other_weights(manifest, tmp_path):
    from safetensors.torch import load_file

    runs = [pretrain_autoencoder(_config(manifest, tmp_path / name, steps=3, seed=seed))
            for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    weights = [load_file(str(r.vae_dir / "diffusion_pytorch_model.safetensors")) for r in runs]
    # Two training runs agree up to float rounding (reproducible.py); one step of this one moves weights
    # by about 1e-3 and another seed by 0.1, far beyond the tolerances.
    assert np.array(runs[1].losses) == pytest.approx(np.array(runs[0].losses), rel=1e-4)
    for k in weights[0]:
        assert_same_result(weights[1][k], weights[0][k], atol=1e-5)
    assert max(max_difference(weights[0][k], weights[2][k]) for k in weights[0]) > 1e-2


def test_config_file_is_checked(manifest, tmp_path):
    good = tmp_path / "vae.yaml"
    good.write_text("data:\n  manifest: %s\n  height: 32\n  width: 32\noutput_dir: out\nsteps: 5\n" % manifest)
    config = load_autoencoder_config(str(good))
    assert config.output_dir == os.path.join(str(tmp_path), "out") and config.steps == 5
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  manifest: %s\noutput_dir: out\nloss:\n  kl: -1\n" % manifest)
    with pytest.raises(ConfigError, match="loss.kl"):
        load_autoencoder_config(str(bad))
    typo = tmp_path / "typo.yaml"
    typo.write_text("data:\n  manifest: %s\noutput_dir: out\nstepz: 5\n" % manifest)
    with pytest.raises(ConfigError, match="stepz"):
        load_autoencoder_config(str(typo))
