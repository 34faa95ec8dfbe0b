"""Decoder fine-tuning (engine/training/decoder_finetune.py): only the decoder changes, the U-Net's
inputs stay the same, and the result is a loadable profile."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from actanywhere.engine.errors import ConfigError  # noqa: E402
from actanywhere.engine.training.autoencoder import AutoencoderLoss  # noqa: E402
from actanywhere.engine.training.decoder_finetune import (DecoderConfig, DecoderData, finetune_decoder,  # noqa: E402
                                                          load_decoder_config)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    from actanywhere.engine.synth import generate_dataset

    return generate_dataset(str(tmp_path_factory.mktemp("synth")), "train", 2, (32, 32), 4, seed=0)


def test_only_the_decoder_changes_and_the_profile_loads(manifest, tmp_path):
    from actanywhere.engine.model.weights import WEIGHTS_DIR, load_pretrained

    shipped = WEIGHTS_DIR / "tiny"
    if not (shipped / "actanywhere.json").is_file():
        pytest.skip("no trained tiny weights in this checkout")
    config = DecoderConfig(data=DecoderData(manifest=manifest, frames=4, height=32, width=32), init=str(shipped),
                           output_dir=str(tmp_path / "run"), steps=3, batch_size=4, log_every=1, threads=1,
                           loss=AutoencoderLoss(kl=0.0))
    events = []
    result = finetune_decoder(config, progress=events.append)
    before, after = load_pretrained(shipped), load_pretrained(result.profile_dir)
    assert after.trained and after.profile == before.profile
    old, new = before.vae.state_dict(), after.vae.state_dict()
    changed = {name for name in old if not torch.equal(old[name], new[name])}
    assert changed and all(name.startswith(("decoder.", "post_quant_conv.")) for name in changed)
    for part in ("unet", "image_encoder"):
        a, b = getattr(before, part).state_dict(), getattr(after, part).state_dict()
        assert all(torch.equal(a[name], b[name]) for name in a)
    assert [e.stage for e in events].count("sample") == 2 and events[-1].stage == "train_decoder"
    assert len(result.loss_path.read_text().splitlines()) == 1 + 3


def test_config_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "decoder.yaml"
    path.write_text("init: p\noutput_dir: o\ndata: {manifest: m.yaml}\nreal_rate: 2\n")
    with pytest.raises(ConfigError) as error:
        load_decoder_config(str(path))
    assert str(path) in str(error.value) and "real_rate" in str(error.value)
