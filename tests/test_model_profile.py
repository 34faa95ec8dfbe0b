"""ModelProfile: plain data, validated, round-trips through actanywhere.json."""
import json

import pytest

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.profile import (CONDITION_LATENT, INPAINT_ORDER, PAPER_ORDER, PROFILE_FILE, ModelProfile,
                                              input_channels)


def test_round_trip_through_json(tmp_path):
    profile = ModelProfile("x", channel_order=INPAINT_ORDER, native_size=(64, 96, 8), mask_downsample="max")
    path = profile.save(tmp_path)
    assert path.name == PROFILE_FILE
    assert ModelProfile.load(tmp_path) == profile
    assert json.loads(path.read_text())["channel_order"] == ["noisy", "mask", "fg_latent"]
    assert (profile.native_height, profile.native_width, profile.native_frames) == (64, 96, 8)


@pytest.mark.parametrize(
    "field, value",
    [("channel_order", ["noisy", "mask"]), ("channel_order", ["noisy", "fg_latent", "mask", "mask"]),
     ("channel_order", ["noisy", "fg_latent", "mask", "condition_latent", "condition_latent"]),
     ("channel_order", ["noisy", "fg_latent", "mask", "depth"]), ("mask_downsample", "bilinear"), ("unconditional", "text"),
     ("native_size", [0, 64, 16]), ("dtype_policy", {"cuda": "float8"}), ("condition_dropout", 1.5)],
)
def test_bad_fields_name_the_key(field, value):
    with pytest.raises(ModelError, match=field.split("_")[0]):
        ModelProfile("x", **{field: value})


def test_spatial_condition_is_an_optional_channel_part():
    paper = ModelProfile("x")
    spatial = ModelProfile("y", channel_order=PAPER_ORDER + (CONDITION_LATENT,))
    assert not paper.spatial_condition and spatial.spatial_condition
    assert input_channels(paper.channel_order, 4) == 9  # SD's VAE: the paper's 9 channels
    assert input_channels(spatial.channel_order, 16) == 49  # the tiny VAE's 16 latent channels, three latents


def test_load_rejects_unknown_keys_and_bad_json(tmp_path):
    (tmp_path / PROFILE_FILE).write_text(json.dumps({"name": "x", "colour": "red"}))
    with pytest.raises(ModelError, match="colour"):
        ModelProfile.load(tmp_path)
    (tmp_path / PROFILE_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="JSON"):
        ModelProfile.load(tmp_path)
    with pytest.raises(ModelError, match=PROFILE_FILE):
        ModelProfile.load(tmp_path / "nowhere")


def test_profile_module_imports_without_torch():
    import subprocess
    import sys

    code = ("import sys; import actanywhere.engine.model.profile; "
            "assert 'torch' not in sys.modules, 'profile imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)
