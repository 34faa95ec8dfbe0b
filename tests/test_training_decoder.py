"""Decoder fine-tuning (engine/training/decoder_finetune.py): only the decoder changes, the U-Net's
inputs stay the same, the detail pass trains after it, and the result is a loadable profile."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from actanywhere.engine.errors import ConfigError  # noqa: E402
from actanywhere.engine.training.autoencoder import AutoencoderLoss  # noqa: E402
from actanywhere.engine.training.decoder_finetune import (DecoderConfig, DecoderData, DetailTraining,  # noqa: E402
                                                          finetune_decoder, load_decoder_config)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    from actanywhere.engine.synth import generate_dataset

    return generate_dataset(str(tmp_path_factory.mktemp("synth")), "train", 2, (32, 32), 4, seed=0)


@pytest.fixture(scope="module")
def shipped():
    from actanywhere.engine.model.profile_files import WEIGHTS_DIR

    folder = WEIGHTS_DIR / "tiny"
    if not (folder / "actanywhere.json").is_file():
        pytest.skip("no trained tiny weights in this checkout")
    return folder


def _config(manifest, init, output_dir, steps, detail_steps):
    return DecoderConfig(data=DecoderData(manifest=manifest, frames=4, height=32, width=32), init=str(init),
                         output_dir=str(output_dir), steps=steps, batch_size=4, log_every=1, threads=1,
                         loss=AutoencoderLoss(kl=0.0), detail=DetailTraining(steps=detail_steps, width=8, batch_size=4))


def _changed(before, after):
    old, new = before.state_dict(), after.state_dict()
    return {name for name in old if not torch.equal(old[name], new[name])}


@pytest.mark.slow  # a training loop
def test_only_the_decoder_and_the_detail_pass_change(manifest, shipped, tmp_path):
    from actanywhere.engine.model.profile_files import load_pretrained

    events = []
    result = finetune_decoder(_config(manifest, shipped, tmp_path / "run", 3, 2), progress=events.append)
    before, after = load_pretrained(shipped), load_pretrained(result.profile_dir)
    assert after.trained and after.profile.detail_pass and after.detail.width == (before.detail or after.detail).width
    changed = _changed(before.vae, after.vae)
    assert changed and all(name.startswith(("decoder.", "post_quant_conv.")) for name in changed)
    for part in ("unet", "image_encoder"):
        assert not _changed(getattr(before, part), getattr(after, part))
    stages = [e.stage for e in events]
    assert stages.count("sample") == 2 and stages.count("train_decoder") == 3 and stages[-1] == "train_detail"
    assert len(result.loss_path.read_text().splitlines()) == 1 + 3
    assert len((result.output_dir / "detail_loss.csv").read_text().splitlines()) == 1 + 2
    assert after.detail.out.weight.abs().max() > 0  # trained away from the identity it starts as


@pytest.mark.slow  # a training loop
def test_detail_only_keeps_the_decoder(manifest, shipped, tmp_path):
    from actanywhere.engine.model.profile_files import load_pretrained

    result = finetune_decoder(_config(manifest, shipped, tmp_path / "run", 0, 2))
    before, after = load_pretrained(shipped), load_pretrained(result.profile_dir)
    assert not _changed(before.vae, after.vae) and after.detail is not None
    assert not result.loss_path.exists()
    with pytest.raises(ConfigError, match="nothing to train"):
        finetune_decoder(_config(manifest, shipped, tmp_path / "none", 0, 0))


def test_config_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "decoder.yaml"
    path.write_text("init: p\noutput_dir: o\ndata: {manifest: m.yaml}\nreal_rate: 2\n")
    with pytest.raises(ConfigError) as error:
        load_decoder_config(str(path))
    assert str(path) in str(error.value) and "real_rate" in str(error.value)
