"""Construct the `zeroshot-sd15-inpaint` profile from public weights: runs with no training.

SD 1.5 inpainting's UNet2DConditionModel already takes 9 channels, ordered [latent, mask,
masked_image_latent] with mask = 1 where to paint: our INPAINT_ORDER, and our mask (1 - matte = the
background to generate) has the same polarity. Its masked image is `image * (mask < 0.5)` in [-1, 1]:
the painted region is 0, i.e. grey 0.5 in [0, 1], which is what our foreground segmentation puts in the
background (profile background_grey 0.5). UNetMotionModel.from_unet2d adds an AnimateDiff MotionAdapter.

The condition image enters through an IP-Adapter (h94/IP-Adapter ip-adapter_sd15 + its CLIP ViT-H/14
image encoder). The U-Net's cross-attention was trained on text tokens, so the context is the empty
prompt's text embedding, computed once here from the inpainting repository's text_encoder/ and
tokenizer/ and stored in the profile directory: the pipeline never needs a text encoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.architecture import LATENT_CHANNELS, UNET_IN_CHANNELS, ActAnywhereModel
from actanywhere.engine.model.ip_adapter import attach_ip_adapter, read_ip_adapter_file
from actanywhere.engine.model.profile import INPAINT_ORDER, IP_ADAPTER, ModelProfile
from actanywhere.engine.model.sd15 import _require
from actanywhere.engine.model.profile_files import CONFIGS_DIR, save_pretrained

ZEROSHOT_CONFIGS = CONFIGS_DIR / "zeroshot"
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors|diffusion_pytorch_model.bin"


def _alternatives(folder: str, names: str) -> str:
    return "|".join("%s/%s" % (folder, name) for name in names.split("|"))


@torch.inference_mode()
def empty_prompt_embeds(text_encoder_dir, tokenizer_dir) -> torch.Tensor:
    """The text encoder's last hidden state for "" padded to the tokenizer's length: (1, 77, 768) for SD 1.5.

    What StableDiffusionInpaintPipeline.encode_prompt gives for an empty prompt (no clip skip), and also
    its negative prompt: the context of both guidance branches."""
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir)
    text_encoder = CLIPTextModel.from_pretrained(text_encoder_dir).eval()
    ids = tokenizer("", padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    return text_encoder(ids)[0].float()


def init_zeroshot_sd15_inpaint(inpaint_dir, motion_adapter_dir, ip_adapter_file, ip_image_encoder_dir, out_dir,
                               profile: Optional[ModelProfile] = None) -> ActAnywhereModel:
    """Build the zeroshot-sd15-inpaint profile directory `out_dir` from local public weights.

    inpaint_dir: SD 1.5 inpainting in diffusers layout (runwayml/stable-diffusion-inpainting: unet/, vae/,
    text_encoder/, tokenizer/). motion_adapter_dir: an AnimateDiff MotionAdapter
    (animatediff-motion-adapter-v1-5-2). ip_adapter_file: h94/IP-Adapter models/ip-adapter_sd15.bin or
    .safetensors. ip_image_encoder_dir: its CLIPVisionModelWithProjection (h94/IP-Adapter
    models/image_encoder, ViT-H/14), or a folder holding one in image_encoder/."""
    from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel, UNetMotionModel
    from transformers import CLIPVisionModelWithProjection

    inpaint_dir, adapter_dir, encoder_dir = Path(inpaint_dir), Path(motion_adapter_dir), Path(ip_image_encoder_dir)
    _require(inpaint_dir, [
        "unet/config.json", _alternatives("unet", DIFFUSERS_WEIGHTS),
        "vae/config.json", _alternatives("vae", DIFFUSERS_WEIGHTS),
        "text_encoder/config.json", _alternatives("text_encoder", "model.safetensors|pytorch_model.bin"),
        _alternatives("tokenizer", "vocab.json|tokenizer.json"),
    ], "Stable Diffusion 1.5 inpainting")
    _require(adapter_dir, ["config.json", DIFFUSERS_WEIGHTS], "motion adapter")
    if (encoder_dir / "image_encoder" / "config.json").is_file():
        encoder_dir = encoder_dir / "image_encoder"
    _require(encoder_dir, ["config.json", "model.safetensors|pytorch_model.bin"], "CLIP image encoder")
    ip_state = read_ip_adapter_file(ip_adapter_file)

    profile = profile or ModelProfile.load(ZEROSHOT_CONFIGS / "actanywhere.json")
    if profile.conditioning != IP_ADAPTER or tuple(profile.channel_order) != INPAINT_ORDER:
        raise ModelError("profile '%s': a zero-shot inpainting profile needs conditioning "
                         "'%s' and channel_order %s" % (profile.name, IP_ADAPTER, list(INPAINT_ORDER)))
    try:
        unet2d = UNet2DConditionModel.from_pretrained(inpaint_dir, subfolder="unet")
        vae = AutoencoderKL.from_pretrained(inpaint_dir, subfolder="vae")
        adapter = MotionAdapter.from_pretrained(adapter_dir)
        image_encoder = CLIPVisionModelWithProjection.from_pretrained(encoder_dir)
        text_embeds = empty_prompt_embeds(inpaint_dir / "text_encoder", inpaint_dir / "tokenizer")
    except Exception as exc:
        raise ModelError("cannot load the zero-shot parts (%s: %s)" % (type(exc).__name__, exc)) from exc
    if unet2d.config.in_channels != UNET_IN_CHANNELS or unet2d.config.out_channels != LATENT_CHANNELS:
        raise ModelError("%s: takes %s channels; an inpainting "
                         "U-Net takes %s (use init_actanywhere_sd15 for a 4-channel one)"
                         % (inpaint_dir / 'unet', unet2d.config.in_channels, UNET_IN_CHANNELS))

    unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    del unet2d
    attach_ip_adapter(unet, ip_state, profile.ip_adapter_scale, image_embed_dim=image_encoder.config.projection_dim)
    profile.vae_scaling_factor = float(vae.config.scaling_factor)
    model = ActAnywhereModel(profile, unet, vae, image_encoder, trained=True, text_embeds=text_embeds)
    model.eval()
    save_pretrained(model, out_dir)
    return model
