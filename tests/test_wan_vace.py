"""The wan-vace backbone: Wan 2.1 VACE through diffusers' own classes. Without the weights here, the real
configs are built on the meta device and their sizes checked against the published ones, and a tiny
random-config model in the public folder layout runs `model init`, `model check` and `generate` end to end."""
import json
import os

import numpy as np
import pytest
import yaml

from actanywhere.engine.cli import main
from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.backbones import wan_vace
from engine_support import make_shot, published_frames, spec_data


def count(module, skip=()):
    return sum(p.numel() for name, p in module.named_parameters() if not name.startswith(tuple(skip)))


def test_the_real_configs_have_the_published_sizes():
    """Built on the meta device (no memory, no download). The published sizes: the base transformer of
    each VACE model is its T2V model (1.3B, 14B parameters), plus the VACE context blocks; the VAE file
    Wan2.1_VAE.pth is 508 MB in float32 (127M); the UMT5-XXL encoder file 11.4 GB in bf16 (5.7B)."""
    import torch

    with torch.device("meta"):
        small, large = wan_vace.build_from_configs("wan-vace-1.3b"), wan_vace.build_from_configs("wan-vace-14b")
    vae, text_encoder = small.vae, small.text_encoder
    small, large = small.transformer, large.transformer
    vace = ("vace_blocks", "vace_patch_embedding")
    assert 1.25e9 < count(small, vace) < 1.45e9  # "1.3B"
    assert 13.5e9 < count(large, vace) < 14.5e9  # "14B"
    assert count(small) == 2153972032 and count(large) == 17337592896  # with their 15 and 8 VACE blocks
    assert abs(count(vae) - 127e6) / 127e6 < 0.01
    assert abs(count(text_encoder) - 5.7e9) / 5.7e9 < 0.01


@pytest.mark.parametrize("frames, native, expected_length, expected_windows", [
    (1, 81, 1, [(0, 1)]),
    (3, 81, 5, [(0, 3)]),  # padded to 4k+1 with its last frame
    (48, 81, 49, [(0, 48)]),
    (100, 81, 81, [(0, 81), (19, 100)]),
    (200, 33, 33, [(0, 33), (25, 58), (50, 83), (75, 108), (100, 133), (125, 158), (150, 183), (167, 200)]),
])
def test_windows_are_4k_plus_1_frames_and_continue_each_other(frames, native, expected_length, expected_windows):
    length = wan_vace.window_length(frames, native)
    assert length == expected_length and (length - 1) % 4 == 0
    windows = wan_vace.frame_windows(frames, length, overlap=8)
    assert windows == expected_windows
    assert all(b[0] < a[1] for a, b in zip(windows, windows[1:]))  # every window shares frames with the last


def test_a_missing_or_changed_weight_file_is_named(tmp_path):
    source = wan_vace.save_random("wan-vace-tiny", tmp_path / "Wan2.1-VACE-1.3B-diffusers")
    os.remove(str(source / "transformer" / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(ModelError) as raised:
        wan_vace.init_profile(source, tmp_path / "profile")
    assert "missing transformer/diffusion_pytorch_model.safetensors" in str(raised.value)
    assert "Wan-AI/Wan2.1-VACE-1.3B-diffusers" in str(raised.value) and not (tmp_path / "profile").exists()
    with pytest.raises(ModelError, match="set models.profiles.wan.path"):
        wan_vace.load("wan", None)


@pytest.mark.slow
def test_model_init_check_and_generate_end_to_end(tmp_path, capsys):
    source = wan_vace.save_random("wan-vace-tiny", tmp_path / "Wan2.1-VACE-1.3B-diffusers")
    profile = tmp_path / "profiles" / "wan"
    assert main(["model", "init", "wan-vace", "--from", str(source), "--out", str(profile)]) == 0
    assert main(["model", "check", str(profile)]) == 0
    assert "complete, checksum" in capsys.readouterr().out
    # a small native size for the tiny model: 48x80, windows of 5 frames
    data = json.loads((profile / "actanywhere.json").read_text())
    assert data["kind"] == "wan-vace" and data["native_size"] == [480, 832, 81]  # the 1.3B size, by the width
    data["native_size"] = [48, 80, 5]
    (profile / "actanywhere.json").write_text(json.dumps(data))

    shot = tmp_path / "shot"
    make_shot(shot, frames=tuple(range(1001, 1008)))
    spec = dict(spec_data(str(shot), frames="1001-1007", steps=2), model="wan")  # the studio config's profile
    (tmp_path / "shot.yaml").write_text(yaml.safe_dump(spec))
    studio = {"models": {"profiles": {"wan": {"kind": "wan-vace", "path": str(profile)}}}}
    (tmp_path / "studio.yaml").write_text(yaml.safe_dump(studio))
    code = main(["generate", str(tmp_path / "shot.yaml"), "--config", str(tmp_path / "studio.yaml"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    frames = published_frames(shot / "out")
    assert len(frames) == 14 and "sh010_bg_v001.1007.exr" in frames  # bg and comp, 7 frames, at plate size

    from actanywhere.engine.media import read_image

    bg, info = read_image(str(shot / "out" / "v001" / "sh010_bg_v001.1004.exr"))
    assert (info.width, info.height) == (64, 36) and np.isfinite(bg).all() and bg.std() > 0
    import OpenImageIO as oiio

    header = oiio.ImageInput.open(str(shot / "out" / "v001" / "sh010_bg_v001.1004.exr")).spec()
    assert header.get_string_attribute("actanywhere/model_profile") == "wan"
    assert len(header.get_string_attribute("actanywhere/model_checksum")) == 64

    # a weight file changed after init: `model check` names it
    with open(str(source / "vae" / "diffusion_pytorch_model.safetensors"), "ab") as stream:
        stream.write(b"\0")
    assert main(["model", "check", str(profile)]) == 2
    assert "vae/diffusion_pytorch_model.safetensors" in capsys.readouterr().err


def test_windows_continue_each_other_the_prompt_is_read_once_and_seeds_differ(tmp_path):
    source = wan_vace.save_random("wan-vace-tiny", tmp_path / "src")
    profile = wan_vace.init_profile(source, tmp_path / "profile", native_size=(48, 80, 5))
    pipeline = wan_vace.load("wan", str(profile))
    assert pipeline.vae_scale_factor == 16 and pipeline.supports_refinement  # backbones/wan_vace_refine.py
    rng = np.random.default_rng(0)
    foreground = rng.random((7, 48, 80, 3), dtype=np.float32)
    matte = np.zeros((7, 48, 80), np.float32)
    matte[:, 16:32, 32:64] = 1.0
    condition = rng.random((30, 50, 3), dtype=np.float32)
    events = []
    first = pipeline(foreground, matte, condition, steps=2, seed=1, prompt="a beach at dusk", progress=events.append)
    assert first.shape == (7, 48, 80, 3) and 0.0 <= first.min() and first.max() <= 1.0
    # 7 frames in windows of 5 sharing 3: two windows of 2 steps, progress in order to the end
    assert pipeline.windows(7) == [(0, 5), (2, 7)] and pipeline.transformer_calls == 4
    sample = [event for event in events if event.stage == "sample"]
    assert [event.done for event in sample] == [1, 2, 3, 4] and sample[-1].windows == 2
    again = pipeline(foreground, matte, condition, steps=2, seed=1, prompt="a beach at dusk")
    assert len(pipeline._prompts) == 1  # the prompt's embedding is cached
    np.testing.assert_allclose(again, first, atol=1e-4)  # the same seed, the same plate
    other = pipeline(foreground, matte, condition, steps=2, seed=1, prompt="a street at night")
    assert len(pipeline._prompts) == 2 and np.abs(other - first).max() > 1e-3
    assert np.abs(pipeline(foreground, matte, condition, steps=2, seed=2) - first).max() > 1e-3  # another seed
