"""ModelProfile: the choices the ActAnywhere paper leaves open, recorded as plain data.

A profile directory holds the weights in diffusers layout plus `actanywhere.json`, which is this
dataclass serialised. Pure Python (no torch), so the shot spec and the Nuke side can read profiles.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Dict, Optional, Tuple

from actanywhere.engine.errors import ModelError

PROFILE_FILE = "actanywhere.json"
PROFILE_FORMAT = 1

# The parts of the U-Net's input, by name. Their order inside the input channels is a profile field.
NOISY = "noisy"  # the noisy latent, latent_channels (4 for SD's VAE)
FG_LATENT = "fg_latent"  # VAE latent of the foreground segmentation (background set to grey), latent_channels
MASK = "mask"  # 1 - matte at latent size (1 = generate), 1 channel
# Optional, not in the paper: the condition image's own VAE latent, resized to the frames and repeated
# over them. The paper's condition reaches the U-Net only as a CLIP embedding, which a large pretrained
# model can turn into a scene; a model small enough to train on a CPU cannot (docs/model.md), so the
# `tiny` profile also sees the condition spatially. Dropped (zeros) with the embedding.
CONDITION_LATENT = "condition_latent"
CHANNEL_PARTS = (NOISY, FG_LATENT, MASK)
OPTIONAL_CHANNEL_PARTS = (CONDITION_LATENT,)
PAPER_ORDER = (NOISY, FG_LATENT, MASK)
INPAINT_ORDER = (NOISY, MASK, FG_LATENT)  # SD inpainting's [latent, mask, masked_image_latent]


def part_channels(part: str, latent_channels: int) -> int:
    """Channels of one input part: a latent's channels, or 1 for the mask."""
    return 1 if part == MASK else int(latent_channels)


def input_channels(channel_order, latent_channels: int) -> int:
    """The U-Net's input channels for a channel order (9 for the paper's order and SD's 4-channel VAE)."""
    return sum(part_channels(part, latent_channels) for part in channel_order)

MASK_DOWNSAMPLE_METHODS = ("area", "nearest", "max")
UNCONDITIONAL_CHOICES = ("zero_image_embed",)
# How the condition image reaches the U-Net.
CLIP_TOKENS = "clip_tokens"  # ActAnywhere: the CLIP image embedding is the 1-token cross-attention context
IP_ADAPTER = "ip_adapter"  # the empty prompt's text tokens are the context; the image enters through an IP-Adapter
CONDITIONING_MODES = (CLIP_TOKENS, IP_ADAPTER)
DTYPE_NAMES = ("float32", "float16", "bfloat16")

# CLIP's preprocessing constants (openai/clip-vit-large-patch14 preprocessor_config.json).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _default_noise_schedule() -> Dict[str, object]:
    # AnimateDiff's training schedule: SD 1.5's betas with a linear schedule, epsilon prediction.
    return {
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "linear",
        "prediction_type": "epsilon",
    }


class NativeSize:
    """What every profile kind says of itself in the same way: its `native_size` (height, width, frames)
    and `dtype_policy` (torch dtype per device type)."""

    native_size: Tuple[int, int, int]
    dtype_policy: Dict[str, str]

    @property
    def native_height(self) -> int:
        return self.native_size[0]

    @property
    def native_width(self) -> int:
        return self.native_size[1]

    @property
    def native_frames(self) -> int:
        return self.native_size[2]

    def dtype_name(self, device_type: str) -> str:
        return self.dtype_policy.get(device_type, "float32")

    # The one rule for the spec's "0: the profile's default" (each kind defines default_steps and
    # default_guidance_scale): generate's plan, the pipelines and the refiner all ask here.
    def sampling(self, steps: Optional[int] = None, guidance: Optional[float] = None) -> Tuple[int, float]:
        """(steps, guidance scale) to sample with; None or 0 takes this profile's default."""
        return int(steps or self.default_steps), float(guidance or self.default_guidance_scale)

    def window_frames(self, requested: Optional[int], limit: int) -> int:
        """Frames per temporal window: `requested`, None or 0 taking the native length; at most `limit`
        (what the model takes in one call)."""
        return min(int(requested or self.native_frames), int(limit))


@dataclass
class ModelProfile(NativeSize):
    """One model of the ActAnywhere architecture and the conventions it was trained with."""

    name: str
    # Order of the inputs inside the U-Net's input channels (CHANNEL_PARTS, plus OPTIONAL_CHANNEL_PARTS).
    channel_order: Tuple[str, ...] = PAPER_ORDER
    # Latents are vae_latent * vae_scaling_factor (SD's 0.18215).
    vae_scaling_factor: float = 0.18215
    # Size the model was trained at: (height, width, frames). The pipeline samples in windows of
    # `native_frames` frames.
    native_size: Tuple[int, int, int] = (256, 256, 16)
    # Torch dtype per device type; CPU is always float32 in practice.
    dtype_policy: Dict[str, str] = field(default_factory=lambda: {"cpu": "float32", "cuda": "float16"})
    # How the pixel mask (1 - matte) is brought to latent size.
    mask_downsample: str = "area"
    # Grey that replaces the background in the foreground segmentation (display-referred, 0..1).
    background_grey: float = 0.5
    # What stands for a dropped condition in training, and so the unconditional branch of guidance.
    unconditional: str = "zero_image_embed"
    # Probability the trainer drops the condition (kept for provenance and the trainer).
    condition_dropout: float = 0.1
    # Normalisation of the condition image for the CLIP image encoder.
    image_mean: Tuple[float, float, float] = CLIP_MEAN
    image_std: Tuple[float, float, float] = CLIP_STD
    # How the condition image's embedding reaches the U-Net (CONDITIONING_MODES). `ip_adapter` profiles
    # also hold the IP-Adapter weights and the empty prompt's text embedding (see profile_files.py).
    conditioning: str = CLIP_TOKENS
    # Weight of the IP-Adapter's image tokens beside the text tokens (`ip_adapter` profiles only).
    ip_adapter_scale: float = 1.0
    # The training noise schedule: keyword arguments shared by every diffusers scheduler we build.
    noise_schedule: Dict[str, object] = field(default_factory=_default_noise_schedule)
    # Sampling defaults (the shot spec may override them).
    default_steps: int = 25
    default_guidance_scale: float = 4.0
    default_scheduler: str = "ddim"
    # Refinement tile edge in plate pixels when the shot's tiling.tile_size is 0 (docs/tiling.md):
    # 64 latent pixels at SD's VAE factor 8; the tiny model's VAE factor is 4, so 256.
    default_tile_size: int = 512
    # Not in the paper: a small network after the VAE decoder puts the condition image's fine texture
    # back into the decoded frames (model/detail.py). The profile folder then holds detail/.
    detail_pass: bool = False
    # Not in the paper: a small network draws the subject's cast shadow and contact effects onto the
    # plate as a gain (model/interaction.py). The profile folder then holds interaction/.
    interaction_pass: bool = False
    # Not in the paper: the plate keeps the condition image's own pixels wherever the camera track maps it
    # into the frame (camera/condition_warp.py `keep`); the model generates the rest. For a model whose
    # one-step latent sample is softer than the condition it was shown (the tiny profile).
    keep_condition: bool = False
    description: str = ""

    def __post_init__(self):
        self.channel_order = tuple(self.channel_order)
        self.native_size = tuple(int(v) for v in self.native_size)
        self.image_mean = tuple(float(v) for v in self.image_mean)
        self.image_std = tuple(float(v) for v in self.image_std)
        self.validate()

    # -- checks -------------------------------------------------------------------------------
    def validate(self, source: str = "profile") -> None:
        def fail(key, why):
            raise ModelError("%s: '%s' %s" % (source, key, why))

        required = [part for part in self.channel_order if part not in OPTIONAL_CHANNEL_PARTS]
        if sorted(required) != sorted(CHANNEL_PARTS) or len(set(self.channel_order)) != len(self.channel_order):
            fail("channel_order", "must order exactly %s and optionally "
                                  "%s, each once, got %s"
                                  % (list(CHANNEL_PARTS), list(OPTIONAL_CHANNEL_PARTS), list(self.channel_order)))
        if self.mask_downsample not in MASK_DOWNSAMPLE_METHODS:
            fail("mask_downsample", "must be one of %s, got %r" % (list(MASK_DOWNSAMPLE_METHODS), self.mask_downsample))
        if self.unconditional not in UNCONDITIONAL_CHOICES:
            fail("unconditional", "must be one of %s, got %r" % (list(UNCONDITIONAL_CHOICES), self.unconditional))
        if len(self.native_size) != 3 or min(self.native_size) <= 0:
            fail("native_size", "must be [height, width, frames] > 0, got %s" % (list(self.native_size),))
        for device, dtype in self.dtype_policy.items():
            if dtype not in DTYPE_NAMES:
                fail("dtype_policy.%s" % (device,), "must be one of %s, got %r" % (list(DTYPE_NAMES), dtype))
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            fail("image_mean/image_std", "must be three numbers each, std > 0")
        if not 0.0 <= self.background_grey <= 1.0:
            fail("background_grey", "must lie in [0, 1], got %s" % (self.background_grey,))
        if self.conditioning not in CONDITIONING_MODES:
            fail("conditioning", "must be one of %s, got %r" % (list(CONDITIONING_MODES), self.conditioning))
        if not self.ip_adapter_scale >= 0.0:
            fail("ip_adapter_scale", "must be >= 0, got %s" % (self.ip_adapter_scale,))
        if int(self.default_tile_size) < 16:
            fail("default_tile_size", "must be at least 16 pixels, got %s" % (self.default_tile_size,))
        if not 0.0 <= self.condition_dropout < 1.0:
            fail("condition_dropout", "must lie in [0, 1), got %s" % (self.condition_dropout,))
        for flag in ("detail_pass", "interaction_pass", "keep_condition"):
            if not isinstance(getattr(self, flag), bool):
                fail(flag, "must be true or false, got %r" % (getattr(self, flag),))

    # -- convenience --------------------------------------------------------------------------
    @property
    def spatial_condition(self) -> bool:
        """Whether the U-Net also sees the condition image's latent (CONDITION_LATENT)."""
        return CONDITION_LATENT in self.channel_order

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = asdict(self)
        data["channel_order"] = list(self.channel_order)
        data["native_size"] = list(self.native_size)
        data["image_mean"] = list(self.image_mean)
        data["image_std"] = list(self.image_std)
        return {"format": PROFILE_FORMAT, **data}

    @classmethod
    def from_dict(cls, data: dict, source: str = "profile") -> "ModelProfile":
        data = dict(data)
        version = data.pop("format", PROFILE_FORMAT)
        if version != PROFILE_FORMAT:
            raise ModelError("%s: 'format' is %s, this version reads %s" % (source, version, PROFILE_FORMAT))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError("%s: unknown keys %s; expected some of %s" % (source, unknown, sorted(known)))
        if "name" not in data:
            raise ModelError("%s: 'name' is missing" % (source,))
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ModelError("%s: %s" % (source, exc)) from exc

    def save(self, directory) -> Path:
        path = Path(directory) / PROFILE_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path) -> "ModelProfile":
        """Read `actanywhere.json` (or the directory holding it)."""
        path = Path(path)
        if path.is_dir():
            path = path / PROFILE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelError("%s: profile file missing; expected %s in %s"
                             % (path, PROFILE_FILE, path.parent)) from None
        except (OSError, ValueError) as exc:
            raise ModelError("%s: not a readable JSON profile (%s)" % (path, exc)) from exc
        if not isinstance(data, dict):
            raise ModelError("%s: expected a JSON object" % (path,))
        return cls.from_dict(data, source=str(path))
