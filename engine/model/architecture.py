"""The ActAnywhere network: an AnimateDiff U-Net (9 input channels with SD's VAE), a VAE and a CLIP image
encoder. The U-Net's input channels follow from the profile's channel order and the VAE's latent channels.

`ip_adapter` profiles (zero-shot SD inpainting) add an IP-Adapter inside the U-Net and the empty
prompt's text embedding, the cross-attention context their U-Net was trained with.

Profiles with `detail_pass` add a fourth part, the detail net after the VAE decoder (detail.py), and
profiles with `interaction_pass` a fifth, the net that draws the subject's shadow and contact
(interaction.py).

`ActAnywhereModel` holds the parts and the profile; it builds them from plain config dicts
(diffusers / transformers config.json contents) and knows nothing of files (see profile_files.py).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Optional

import torch
from diffusers import AutoencoderKL, UNetMotionModel
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.detail import DetailNet, build_detail_net
from actanywhere.engine.model.interaction import InteractionNet, build_interaction_net
from actanywhere.engine.model.profile import CLIP_TOKENS, ModelProfile, input_channels

UNET_IN_CHANNELS = 9  # SD-based profiles: noisy latent (4) + foreground latent (4) + mask (1)
LATENT_CHANNELS = 4  # SD's VAE

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def torch_dtype(name_or_dtype) -> torch.dtype:
    if isinstance(name_or_dtype, torch.dtype):
        return name_or_dtype
    try:
        return DTYPES[str(name_or_dtype)]
    except KeyError:
        raise ModelError("unknown dtype %r; expected one of %s" % (name_or_dtype, sorted(DTYPES))) from None


def _plain(config: dict) -> dict:
    """A config dict without diffusers' bookkeeping keys (_class_name, _diffusers_version, ...)."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


def build_unet(config: dict) -> UNetMotionModel:
    return UNetMotionModel.from_config(_plain(config))


def build_vae(config: dict) -> AutoencoderKL:
    return AutoencoderKL.from_config(_plain(config))


def build_image_encoder(config: dict) -> CLIPVisionModelWithProjection:
    data = {k: v for k, v in config.items() if k not in ("architectures", "transformers_version", "model_type")}
    data.pop("torch_dtype", None)
    data.pop("dtype", None)
    return CLIPVisionModelWithProjection(CLIPVisionConfig(**data))


def vae_scale_factor(vae: AutoencoderKL) -> int:
    """Pixels per latent pixel: each VAE block but the last halves the size."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


@dataclass
class ActAnywhereModel:
    """The three networks of one profile. Not an nn.Module: each part keeps its own diffusers /
    transformers identity so it saves in the layout those libraries read."""

    profile: ModelProfile
    unet: UNetMotionModel
    vae: AutoencoderKL
    image_encoder: CLIPVisionModelWithProjection
    # Provenance: sha256 of the weights (see profile_files.checksum); "untrained" models say so.
    checksum: Optional[str] = None
    trained: bool = True
    # `ip_adapter` profiles: the empty prompt's text embedding (1, tokens, cross_attention_dim), float32.
    text_embeds: Optional[torch.Tensor] = None
    # `detail_pass` profiles: the network that restores the condition's texture after decoding.
    detail: Optional[DetailNet] = None
    # `interaction_pass` profiles: the network that draws the subject's shadow and contact on the plate.
    interaction: Optional[InteractionNet] = None

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        name = self.profile.name
        cross = self.unet.config.cross_attention_dim
        projection = self.image_encoder.config.projection_dim
        latent = self.latent_channels
        if self.profile.detail_pass != (self.detail is not None):
            raise ModelError("profile '%s': detail_pass is %s but the model "
                             "%s detail net"
                             % (name, str(self.profile.detail_pass).lower(),
                                'has no' if self.detail is None else 'has a'))
        if self.profile.interaction_pass != (self.interaction is not None):
            raise ModelError("profile '%s': interaction_pass is %s "
                             "but the model %s interaction net"
                             % (name, str(self.profile.interaction_pass).lower(),
                                'has no' if self.interaction is None else 'has an'))
        expected = input_channels(self.profile.channel_order, latent)
        if self.unet.config.in_channels != expected or self.unet.config.out_channels != latent:
            raise ModelError(
                "profile '%s': with channel order %s and a VAE of %s "
                "latent channels the U-Net must take %s channels and give %s; its config says "
                "in_channels %s, out_channels %s"
                % (name, list(self.profile.channel_order), latent, expected, latent, self.unet.config.in_channels,
                   self.unet.config.out_channels))
        if self.profile.conditioning == CLIP_TOKENS:
            if cross != projection:
                raise ModelError(
                    "profile '%s': the image encoder's projection_dim (%s) must equal "
                    "the U-Net's cross_attention_dim (%s): its embedding is the cross-attention context"
                    % (name, projection, cross)
                )
            return
        from actanywhere.engine.model.ip_adapter import has_ip_adapter

        if not has_ip_adapter(self.unet):
            raise ModelError("profile '%s' is conditioned through an IP-Adapter, but its U-Net has none" % (name,))
        image_embed_dim = self.unet.encoder_hid_proj.image_projection_layers[0].image_embeds.in_features
        if image_embed_dim != projection:
            raise ModelError("profile '%s': the IP-Adapter takes %s-d image embeddings, the "
                             "image encoder gives %s-d: they must belong together"
                             % (name, image_embed_dim, projection))
        if self.text_embeds is None or self.text_embeds.ndim != 3 or self.text_embeds.shape[-1] != cross:
            shape = None if self.text_embeds is None else tuple(self.text_embeds.shape)
            raise ModelError("profile '%s': needs the empty prompt's text embedding (1, tokens, %s), "
                             "got %s" % (name, cross, shape))

    @classmethod
    def from_configs(cls, profile: ModelProfile, unet_config: dict, vae_config: dict, image_encoder_config: dict,
                     seed: Optional[int] = 0, detail_config: Optional[dict] = None,
                     interaction_config: Optional[dict] = None) -> "ActAnywhereModel":
        """Build untrained networks from configs. With a seed the weights are reproducible; the global
        torch RNG is left as it was. `detail_config` / `interaction_config`: the small nets' configs, for
        `detail_pass` / `interaction_pass` profiles."""
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            unet = build_unet(unet_config)
            vae = build_vae(vae_config)
            image_encoder = build_image_encoder(image_encoder_config)
            detail = build_detail_net(detail_config) if detail_config is not None else None
            interaction = build_interaction_net(interaction_config) if interaction_config is not None else None
        model = cls(profile, unet, vae, image_encoder, trained=False, detail=detail, interaction=interaction)
        model.eval()
        return model

    # -- properties -----------------------------------------------------------------------------
    @property
    def vae_scale_factor(self) -> int:
        return vae_scale_factor(self.vae)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def image_size(self) -> int:
        return int(self.image_encoder.config.image_size)

    @property
    def max_frames_per_call(self) -> int:
        return int(self.unet.config.motion_max_seq_length)

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    def modules(self):
        parts = {"unet": self.unet, "vae": self.vae, "image_encoder": self.image_encoder}
        if self.detail is not None:
            parts["detail"] = self.detail
        if self.interaction is not None:
            parts["interaction"] = self.interaction
        return parts

    # -- moving -----------------------------------------------------------------------------------
    def to(self, device=None, dtype=None) -> "ActAnywhereModel":
        """Move every part. On CUDA the attention runs through torch's scaled_dot_product_attention."""
        dtype = torch_dtype(dtype) if dtype is not None else None
        for module in self.modules().values():
            # diffusers warns whenever `dtype` is passed, even a no-op one: pass it only to cast.
            current = next(module.parameters()).dtype
            kwargs = {"dtype": dtype} if dtype is not None and dtype != current else {}
            module.to(device=device, **kwargs)
        if self.text_embeds is not None:
            self.text_embeds = self.text_embeds.to(device=device, dtype=torch.float32)
        if self.device.type == "cuda":
            from diffusers.models.attention_processor import AttnProcessor2_0

            # An IP-Adapter's processors already use scaled_dot_product_attention; never replace them.
            if self.profile.conditioning == CLIP_TOKENS:
                self.unet.set_attn_processor(AttnProcessor2_0())
            self.vae.set_attn_processor(AttnProcessor2_0())
            self.image_encoder.set_attn_implementation("sdpa")
        return self

    def eval(self) -> "ActAnywhereModel":
        for module in self.modules().values():
            module.eval()
            module.requires_grad_(False)
        return self

    def num_parameters(self) -> dict:
        return {name: sum(p.numel() for p in m.parameters()) for name, m in self.modules().items()}

    def copy(self) -> "ActAnywhereModel":
        return copy.deepcopy(self)

    # -- files (profile_files.py does the work) ---------------------------------------------------------
    def save_pretrained(self, directory) -> None:
        from actanywhere.engine.model.profile_files import save_pretrained

        save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, directory, device="cpu", dtype=None) -> "ActAnywhereModel":
        from actanywhere.engine.model.profile_files import load_pretrained

        return load_pretrained(directory, device=device, dtype=dtype)
