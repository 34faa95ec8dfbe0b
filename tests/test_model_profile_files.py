"""Profile directories: save_pretrained / load round trip, checksums, errors that list the files."""
import shutil
import warnings

import numpy as np
import pytest
import torch

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model import profile_files
from actanywhere.engine.model.pipeline import ActAnywherePipeline
from actanywhere.engine.model.profile_files import (
    UntrainedModelWarning, build_from_configs, checksum, expected_files, load_pretrained, load_profile,
    verify_checksums,
)
from reproducible import assert_same_result


@pytest.fixture(scope="module")
def tiny():
    return build_from_configs(profile_files.CONFIGS_DIR / "tiny")


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny-profile")
    tiny.save_pretrained(directory)
    return directory


def _inputs(frames=4, size=16, seed=0):
    rng = np.random.default_rng(seed)
    matte = np.zeros((frames, size, size), np.float32)
    matte[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    return rng.random((frames, size, size, 3), dtype=np.float32), matte, rng.random((20, 24, 3), dtype=np.float32)


def test_directory_layout(saved):
    for name in expected_files() + [profile_files.CHECKSUM_FILE]:
        assert (saved / name).is_file(), name


def test_round_trip_gives_identical_outputs(tiny, saved):
    loaded = load_pretrained(saved)
    assert loaded.profile == tiny.profile
    assert loaded.trained
    for part, module in tiny.modules().items():
        other = loaded.modules()[part].state_dict()
        for name, tensor in module.state_dict().items():
            assert torch.equal(tensor, other[name]), "%s.%s" % (part, name)
    args = dict(steps=2, guidance_scale=2.0, seed=3)
    a = ActAnywherePipeline(tiny)(*_inputs(), **args)
    b = ActAnywherePipeline(loaded)(*_inputs(), **args)
    assert_same_result(b, a)  # equal weights (above); outputs equal up to float rounding (reproducible.py)


def test_checksum_is_stable_and_recorded(tiny, saved, tmp_path):
    assert checksum(saved) == load_pretrained(saved).checksum
    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    assert checksum(copy) == checksum(saved)
    verify_checksums(copy)
    (copy / profile_files.CHECKSUM_FILE).unlink()
    assert checksum(copy) == checksum(saved)  # recomputed from the files
    assert len(checksum(tiny)) == 64


def test_verify_detects_changed_weights(saved, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    model = load_pretrained(copy)
    with torch.no_grad():
        model.vae.decoder.conv_out.bias.add_(1.0)
    model.vae.save_pretrained(copy / "vae")
    with pytest.raises(ModelError, match="vae/diffusion_pytorch_model.safetensors"):
        verify_checksums(copy)


def test_missing_weights_error_lists_expected_files(saved, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    (copy / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelError) as info:
        load_pretrained(copy)
    message = str(info.value)
    assert "missing vae/diffusion_pytorch_model.safetensors" in message
    for name in expected_files():
        assert name in message
    with pytest.raises(ModelError, match="image_encoder/model.safetensors"):
        load_pretrained(tmp_path / "does-not-exist")


def test_malformed_weights_raise_model_error(saved, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(saved, copy)
    (copy / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="unet"):
        load_pretrained(copy)
    shutil.copytree(saved, copy, dirs_exist_ok=True)
    (copy / "actanywhere.json").write_text('{"name": 3, "channel_order": ["noisy"]}')
    with pytest.raises(ModelError, match="channel_order"):
        load_pretrained(copy)


def test_load_profile_builds_untrained_tiny_with_a_warning(tiny, tmp_path, monkeypatch):
    # An install without the shipped weights (weights/tiny/ absent): built from the configs.
    monkeypatch.setattr(profile_files, "WEIGHTS_DIR", tmp_path / "no-weights")
    with pytest.warns(UntrainedModelWarning, match="UNTRAINED"):
        model = load_profile("tiny")
    assert not model.trained
    # A fixed seed: the same untrained weights every time.
    assert model.checksum == profile_files.state_dict_checksum(tiny)


def test_load_profile_loads_the_shipped_trained_tiny():
    shipped = profile_files.WEIGHTS_DIR / "tiny"
    if not (shipped / "actanywhere.json").is_file():
        pytest.skip("no trained tiny weights in this checkout")
    verify_checksums(shipped)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedModelWarning)
        model = load_profile("tiny")
    assert model.trained and model.profile.name == "tiny"
    assert model.checksum == checksum(shipped)


def test_load_profile_prefers_path(saved):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedModelWarning)
        assert load_profile("tiny", path=saved).trained


def test_unknown_profile_names_the_files_to_provide():
    with pytest.raises(ModelError, match="actanywhere.json.*unet/config.json"):
        load_profile("actanywhere-sd15")
