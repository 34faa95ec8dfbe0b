"""Construct the `actanywhere-sd15` profile from public parts, before fine-tuning.

SD 1.5's UNet2DConditionModel + an AnimateDiff MotionAdapter -> UNetMotionModel.from_unet2d, then
`conv_in` widened from 4 to 9 channels: the 4 pretrained input channels go where the noisy latent sits
in the profile's channel order, the 5 new ones (foreground latent, mask) are zero, the bias is kept.
So before fine-tuning the widened model computes exactly what the 4-channel model did.

Never `from_pretrained(..., in_channels=9, ignore_mismatched_sizes=True)`: that re-initialises the
whole conv_in randomly and throws the pretrained input layer away.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import torch

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.architecture import LATENT_CHANNELS, ActAnywhereModel
from actanywhere.engine.model.profile import NOISY, ModelProfile, input_channels, part_channels
from actanywhere.engine.model.profile_files import CONFIGS_DIR, save_pretrained

SD15_CONFIGS = CONFIGS_DIR / "sd15"


def channel_slices(channel_order):
    """{part: slice} of each part inside the U-Net's input channels."""
    slices, start = {}, 0
    for name in channel_order:
        width = part_channels(name, LATENT_CHANNELS)
        slices[name] = slice(start, start + width)
        start += width
    return slices


def widen_conv_in(unet, channel_order, in_channels: Optional[int] = None):
    """Give a 4-channel U-Net a conv_in for every part of `channel_order` (9 channels for the paper's, 13
    with the camera-warped spatial condition `condition_latent`) that ignores the new channels until trained."""
    in_channels = int(in_channels or input_channels(channel_order, LATENT_CHANNELS))
    old = unet.conv_in
    if old.in_channels != LATENT_CHANNELS:
        raise ModelError("conv_in takes %s channels; only a %s-channel U-Net is widened"
                         % (old.in_channels, LATENT_CHANNELS))
    new = torch.nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                          dilation=old.dilation, groups=old.groups, bias=old.bias is not None,
                          padding_mode=old.padding_mode, device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, channel_slices(channel_order)[NOISY]] = old.weight
        if old.bias is not None:
            new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=in_channels)
    return unet


def build_sd15_unet(unet2d_config: dict, adapter_config: dict, channel_order, device="meta"):
    """The widened UNetMotionModel from configs alone (random or meta weights): for checks and tests."""
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    plain = lambda config: {k: v for k, v in config.items() if not k.startswith("_")}  # noqa: E731
    with torch.device(device):
        unet2d = UNet2DConditionModel.from_config(plain(unet2d_config))
        adapter = MotionAdapter.from_config(plain(adapter_config))
        unet = UNetMotionModel.from_unet2d(unet2d, adapter, load_weights=False)
        return widen_conv_in(unet, channel_order)


def read_config(name: str) -> dict:
    return json.loads((SD15_CONFIGS / name).read_text())


def _require(directory: Path, names, what: str):
    missing = [n for n in names if not any((directory / alt).is_file() for alt in n.split("|"))]
    if missing:
        raise ModelError("%s: not a %s directory in diffusers layout; missing "
                         "%s" % (directory, what, ', '.join(m.replace('|', ' or ') for m in missing)))


def init_actanywhere_sd15(sd15_dir, motion_adapter_dir, image_encoder_dir, out_dir,
                          profile: Optional[ModelProfile] = None) -> ActAnywhereModel:
    """Build the untrained actanywhere-sd15 profile directory `out_dir` from local public weights.

    sd15_dir: Stable Diffusion 1.5 in diffusers layout (unet/, vae/). motion_adapter_dir: an AnimateDiff
    MotionAdapter (config.json + weights), e.g. animatediff-motion-adapter-v1-5-2. image_encoder_dir: a
    CLIPVisionModelWithProjection (ViT-L/14 for SD 1.5's 768-d cross-attention), or a folder holding one
    in image_encoder/."""
    from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel, UNetMotionModel
    from transformers import CLIPVisionModelWithProjection

    sd15_dir, adapter_dir, encoder_dir = Path(sd15_dir), Path(motion_adapter_dir), Path(image_encoder_dir)
    diffusers_weights = "diffusion_pytorch_model.safetensors|diffusion_pytorch_model.bin"
    _require(sd15_dir, ["unet/config.json", "unet/" + diffusers_weights.replace("|", "|unet/"),
                        "vae/config.json", "vae/" + diffusers_weights.replace("|", "|vae/")], "Stable Diffusion 1.5")
    _require(adapter_dir, ["config.json", diffusers_weights], "motion adapter")
    if (encoder_dir / "image_encoder" / "config.json").is_file():
        encoder_dir = encoder_dir / "image_encoder"
    _require(encoder_dir, ["config.json", "model.safetensors|pytorch_model.bin"], "CLIP image encoder")

    profile = profile or ModelProfile.load(SD15_CONFIGS / "actanywhere.json")
    try:
        unet2d = UNet2DConditionModel.from_pretrained(sd15_dir, subfolder="unet")
        vae = AutoencoderKL.from_pretrained(sd15_dir, subfolder="vae")
        adapter = MotionAdapter.from_pretrained(adapter_dir)
        image_encoder = CLIPVisionModelWithProjection.from_pretrained(encoder_dir)
    except Exception as exc:
        raise ModelError("cannot load the SD 1.5 parts (%s: %s)" % (type(exc).__name__, exc)) from exc

    unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    widen_conv_in(unet, profile.channel_order)
    profile.vae_scaling_factor = float(vae.config.scaling_factor)
    model = ActAnywhereModel(profile, unet, vae, image_encoder, trained=False)
    model.eval()
    save_pretrained(model, out_dir)
    return model
