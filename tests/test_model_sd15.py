"""actanywhere-sd15 construction: conv_in widening, and the real SD 1.5 + AnimateDiff shapes on meta."""

import pytest
import torch
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel, UNetMotionModel
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.profile import INPAINT_ORDER, PAPER_ORDER, ModelProfile
from actanywhere.engine.model.sd15 import (
    build_sd15_unet, channel_slices, init_actanywhere_sd15, read_config, widen_conv_in,
)
from actanywhere.engine.model.profile_files import load_pretrained


def tiny_parts():
    torch.manual_seed(0)
    unet2d = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=16, cross_attention_dim=32,
        attention_head_dim=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), sample_size=8,
    )
    adapter = MotionAdapter(block_out_channels=(32, 64), motion_layers_per_block=1, motion_num_attention_heads=2,
                            motion_norm_num_groups=16, motion_max_seq_length=32)
    # AnimateDiff zero-initialises its motion output projections; make them matter in the test.
    with torch.no_grad():
        for parameter in adapter.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    vae = AutoencoderKL(block_out_channels=(16, 32), norm_num_groups=16, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8))
    return unet2d, adapter, vae, encoder


@pytest.fixture(scope="module")
def public_layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("public")
    unet2d, adapter, vae, encoder = tiny_parts()
    unet2d.save_pretrained(root / "sd15" / "unet")
    vae.save_pretrained(root / "sd15" / "vae")
    adapter.save_pretrained(root / "adapter")
    encoder.save_pretrained(root / "clip" / "image_encoder")
    return root, unet2d, adapter


def test_channel_slices():
    assert channel_slices(PAPER_ORDER) == {"noisy": slice(0, 4), "fg_latent": slice(4, 8), "mask": slice(8, 9)}
    assert channel_slices(INPAINT_ORDER)["fg_latent"] == slice(5, 9)


@pytest.mark.parametrize("order", [PAPER_ORDER, INPAINT_ORDER, PAPER_ORDER + ("condition_latent",)])
def test_widened_model_equals_the_original_whatever_the_new_channels_hold(public_layout, tmp_path, order):
    root, unet2d, adapter = public_layout
    profile = ModelProfile("actanywhere-sd15-test", channel_order=order)
    init_actanywhere_sd15(root / "sd15", root / "adapter", root / "clip", tmp_path / "out", profile=profile)
    widened = load_pretrained(tmp_path / "out").unet
    original = UNetMotionModel.from_unet2d(unet2d, adapter).eval()
    channels = 13 if "condition_latent" in order else 9  # the camera-warped condition adds a latent's 4
    assert widened.config.in_channels == channels and widened.conv_in.in_channels == channels
    torch.testing.assert_close(widened.conv_in.bias, original.conv_in.bias)

    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 4, 8, 8, generator=generator)
    context = torch.randn(4, 1, 32, generator=generator)
    noisy = channel_slices(order)["noisy"]
    with torch.no_grad():
        expected = original(latents, 500, encoder_hidden_states=context).sample
        for fill in (torch.zeros, lambda *s: torch.randn(*s, generator=generator) * 10):
            sample = fill(1, channels, 4, 8, 8)
            sample[:, noisy] = latents
            got = widened(sample, 500, encoder_hidden_states=context).sample
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_missing_public_parts_are_listed(public_layout, tmp_path):
    root, _, _ = public_layout
    with pytest.raises(ModelError, match="unet/config.json.*vae/config.json"):
        init_actanywhere_sd15(tmp_path, root / "adapter", root / "clip", tmp_path / "out")
    with pytest.raises(ModelError, match="motion adapter.*config.json"):
        init_actanywhere_sd15(root / "sd15", tmp_path, root / "clip", tmp_path / "out")


def test_widening_refuses_a_9_channel_unet():
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=16,
                                cross_attention_dim=32, in_channels=9,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    with pytest.raises(ModelError, match="conv_in takes 9"):
        widen_conv_in(unet, PAPER_ORDER)


def test_real_sd15_and_animatediff_shapes_on_meta():
    unet2d_config, adapter_config = read_config("unet2d.json"), read_config("motion_adapter.json")
    plain = lambda c: {k: v for k, v in c.items() if not k.startswith("_")}  # noqa: E731
    with torch.device("meta"):
        unet2d = UNet2DConditionModel.from_config(plain(unet2d_config))
        adapter = MotionAdapter.from_config(plain(adapter_config))
        reference = UNetMotionModel.from_unet2d(unet2d, adapter, load_weights=False)
        vae = AutoencoderKL.from_config(plain(read_config("vae.json")))
        encoder_config = {k: v for k, v in read_config("image_encoder.json").items()
                          if not k.startswith("_") and k not in ("architectures", "model_type")}
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**encoder_config))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # Published sizes: SD 1.x U-Net 859,520,964 and VAE 83,653,863 parameters.
    assert count(unet2d) == 859_520_964
    assert count(vae) == 83_653_863
    assert encoder.config.projection_dim == unet2d.config.cross_attention_dim == 768

    ours = build_sd15_unet(unet2d_config, adapter_config, PAPER_ORDER, device="meta")
    assert ours.conv_in.weight.is_meta
    assert set(ours.state_dict()) == set(reference.state_dict())
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    reference_shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k for k in shapes if shapes[k] != reference_shapes[k]} == {"conv_in.weight"}
    assert shapes["conv_in.weight"] == (320, 9, 3, 3)
    assert count(ours) == count(reference) + 320 * 5 * 3 * 3
    assert ours.config.in_channels == 9
    assert count(reference) - count(unet2d) == count(adapter)  # the motion modules are all the adapter adds
