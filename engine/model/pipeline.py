"""ActAnywherePipeline: foreground frames + matte + condition image -> a generated video.

Read like a diffusers pipeline: encode the conditioning once, then a short loop over a diffusers
scheduler. The stock AnimateDiff pipelines size their noise from `unet.config.in_channels` (9 here),
so this pipeline calls the U-Net itself.

`predict_noise` predicts the noise (or v) of one (latents, conditioning) window x tile; the tiled sampler
(model/tiled_sampler.py, through model/unet_regions.py) blends the predictions of overlapping windows and
tiles and takes one scheduler step per timestep. `__call__` samples at the frames' own size in one tile.

The profile's `conditioning` says how the condition image reaches the U-Net (`unet_conditioning`):
as the cross-attention context itself (ActAnywhere), or through an IP-Adapter beside the empty prompt's
text tokens (zero-shot SD inpainting).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from actanywhere.engine.camera.condition_warp import SpatialCondition, is_tracked, stretch_image
from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.architecture import ActAnywhereModel, torch_dtype
from actanywhere.engine.model.detail import restore_detail
from actanywhere.engine.model.interaction import apply_gains, interaction_gains
from actanywhere.engine.model.profile import CLIP_TOKENS, CONDITION_LATENT, FG_LATENT, MASK, NOISY
from actanywhere.engine.progress import EtaClock, ProgressCallback, ProgressEvent, ignore_progress
from actanywhere.engine.settings import SCHEDULERS  # the one list; settings checks spec values against it


def make_scheduler(name: str, noise_schedule: dict):
    """A diffusers scheduler configured with the profile's training noise schedule (which may also name
    its own `timestep_spacing`)."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    schedule = dict({"timestep_spacing": "leading"}, **noise_schedule)
    if name == "ddim":
        return DDIMScheduler(**schedule, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    if name == "dpmsolver++":
        return DPMSolverMultistepScheduler(**schedule, algorithm_type="dpmsolver++", solver_order=2, steps_offset=1)
    raise ModelError("unknown scheduler %r; expected one of %s" % (name, list(SCHEDULERS)))


def frame_windows(frames: int, window: int) -> List[Tuple[int, int]]:
    """Non-overlapping [start, stop) windows covering `frames`; the last one may be shorter."""
    return [(start, min(start + window, frames)) for start in range(0, frames, window)]


@dataclass
class Conditioning:
    """Everything the U-Net is conditioned on, at latent size, encoded once per shot."""

    fg_latents: torch.Tensor  # (1, C, T, h, w) VAE latent of the foreground segmentation, scaled
    mask: torch.Tensor  # (1, 1, T, h, w) 1 - matte at latent size: 1 = generate
    image_embeds: torch.Tensor  # (1, 1, D) CLIP image embedding of the condition image
    uncond_embeds: torch.Tensor  # (1, 1, D) what a dropped condition was in training
    # `ip_adapter` profiles: the empty prompt's text embedding (1, 77, C), the cross-attention context.
    text_embeds: Optional[torch.Tensor] = None
    # Profiles with a spatial condition: the condition image's latent at the frames' size, (1, C, 1, h, w)
    # when every frame sees it alike, or (1, C, T, h, w) when it is warped into each frame by the camera.
    condition_latents: Optional[torch.Tensor] = None

    def crop(self, frames: slice = slice(None), rows: slice = slice(None), cols: slice = slice(None)) -> "Conditioning":
        """The conditioning of one window / tile (latent coordinates)."""
        return Conditioning(
            self.fg_latents[:, :, frames, rows, cols],
            self.mask[:, :, frames, rows, cols],
            self.image_embeds,
            self.uncond_embeds,
            self.text_embeds,
            None if self.condition_latents is None else crop_spatial(self.condition_latents, frames, rows, cols),
        )


def crop_spatial(latents: torch.Tensor, frames: slice, rows: slice, cols: slice) -> torch.Tensor:
    """A window / tile of a spatial condition's latent: one frame for every frame, or its own per frame."""
    if latents.shape[2] == 1:
        return latents[:, :, :, rows, cols]
    return latents[:, :, frames, rows, cols]


class ActAnywherePipeline:
    supports_refinement = True  # the tiled refinement at plate size (model/refine.py) runs on this pipeline

    def plate_refiner(self, frames: int, width: int, height: int, plan, scratch_dir=None):
        """The tiled refinement of this backbone at plate size (model/refine.py)."""
        from actanywhere.engine.model.refine import PlateRefiner

        return PlateRefiner(self, frames, width, height, plan, scratch_dir)

    def __init__(self, model: ActAnywhereModel, device=None, dtype=None):
        if device is not None or dtype is not None:
            device = torch.device(device) if device is not None else model.device
            if dtype is None:
                dtype = model.profile.dtype_name(device.type)
            model.to(device=device, dtype=torch_dtype(dtype))
        self.model = model
        self.unet_calls = 0  # U-Net forward passes, for tests and benchmarks

    @classmethod
    def from_profile(cls, name: str = "tiny", path=None, device="cpu", dtype=None) -> "ActAnywherePipeline":
        from actanywhere.engine.model.profile_files import load_profile

        return cls(load_profile(name, path=path, device=device, dtype=dtype))

    # -- shortcuts --------------------------------------------------------------------------------
    @property
    def profile(self):
        return self.model.profile

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def vae_scale_factor(self) -> int:
        return self.model.vae_scale_factor

    # -- inputs -----------------------------------------------------------------------------------
    def check_inputs(self, foreground: np.ndarray, matte: np.ndarray, condition: np.ndarray):
        foreground = np.asarray(foreground, dtype=np.float32)
        matte = np.asarray(matte, dtype=np.float32)
        condition = np.asarray(condition, dtype=np.float32)
        if foreground.ndim != 4 or foreground.shape[-1] != 3:
            raise ModelError("foreground frames must be (T, H, W, 3), got %s" % (foreground.shape,))
        if matte.ndim == 4 and matte.shape[-1] == 1:
            matte = matte[..., 0]
        if matte.shape != foreground.shape[:3]:
            raise ModelError("matte must be (T, H, W) = %s like the frames, got %s"
                             % (foreground.shape[:3], matte.shape))
        if condition.ndim != 3 or condition.shape[-1] not in (3, 4):
            raise ModelError("condition image must be (h, w, 3), got %s" % (condition.shape,))
        frames, height, width = foreground.shape[:3]
        factor = self.vae_scale_factor
        if frames < 1 or height % factor or width % factor or height == 0 or width == 0:
            raise ModelError(
                "frames are %sx%s (HxW): both must be positive multiples of the VAE scale factor "
                "%s; resize or pad the frames first" % (height, width, factor)
            )
        for label, array in (("foreground", foreground), ("matte", matte), ("condition", condition)):
            if not np.isfinite(array).all():
                raise ModelError("%s holds NaN or infinite values" % (label,))
        # Display-referred model space is [0, 1]; colour transforms may overshoot slightly.
        return np.clip(foreground, 0, 1), np.clip(matte, 0, 1), np.clip(condition[..., :3], 0, 1)

    def preprocess_condition(self, condition: np.ndarray) -> torch.Tensor:
        """(h, w, 3) in [0, 1] -> (1, 3, S, S) CLIP input: shortest side to S, centre crop, normalise."""
        size = self.model.image_size
        image = torch.from_numpy(np.ascontiguousarray(condition)).permute(2, 0, 1)[None].float()
        height, width = image.shape[-2:]
        scale = size / min(height, width)
        resized = (max(size, round(height * scale)), max(size, round(width * scale)))
        image = F.interpolate(image, size=resized, mode="bicubic", antialias=True, align_corners=False)
        top, left = (resized[0] - size) // 2, (resized[1] - size) // 2
        image = image[:, :, top:top + size, left:left + size].clamp(0, 1)
        mean = torch.tensor(self.profile.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.profile.image_std).view(1, 3, 1, 1)
        return ((image - mean) / std).to(self.device, self.dtype)

    @torch.inference_mode()
    def encode_condition(self, condition: np.ndarray) -> Tuple[torch.Tensor, torch.Tensor]:
        """The condition image's CLIP embedding as a 1-token context (1, 1, D), and the unconditional one."""
        pixels = self.preprocess_condition(condition)
        embeds = self.model.image_encoder(pixel_values=pixels).image_embeds.unsqueeze(1)
        if self.profile.unconditional == "zero_image_embed":
            uncond = torch.zeros_like(embeds)
        else:  # the profile validates this; kept for a future learnt null embedding
            raise ModelError("unsupported unconditional choice %r" % (self.profile.unconditional,))
        return embeds, uncond

    @staticmethod
    def condition_pixels(condition: np.ndarray, height: int, width: int) -> torch.Tensor:
        """(h, w, 3) in [0, 1] -> (1, 3, height, width) in [0, 1]: the condition image stretched over the
        frames, as a spatial condition sees it (a frame of the shot, or a plate of the same framing)."""
        return torch.from_numpy(stretch_image(condition, width, height)).permute(2, 0, 1)[None]

    @torch.inference_mode()
    def encode_condition_latents(self, condition: np.ndarray, height: int, width: int,
                                 spatial: Optional[SpatialCondition] = None, vae_batch: int = 8) -> torch.Tensor:
        """The condition image's scaled VAE latent at (height, width) pixels: (1, C, 1, h, w) float32 for
        every frame alike, or with a tracked `spatial` condition (1, C, T, h, w), each frame's own view."""
        scaling = self.profile.vae_scaling_factor
        if not is_tracked(spatial):
            pixels = (self.condition_pixels(condition, height, width) * 2 - 1).to(self.device, self.dtype)
            return (self.model.vae.encode(pixels).latent_dist.mode().float() * scaling)[:, :, None]
        latents = []
        for start in range(0, spatial.frames, vae_batch):
            views = np.stack([spatial.frame(index, width, height)
                              for index in range(start, min(start + vae_batch, spatial.frames))])
            pixels = (torch.from_numpy(views).permute(0, 3, 1, 2) * 2 - 1).to(self.device, self.dtype)
            latents.append(self.model.vae.encode(pixels).latent_dist.mode().float() * scaling)
        return torch.cat(latents).permute(1, 0, 2, 3)[None]  # (T, C, h, w) -> (1, C, T, h, w)

    def downsample_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) pixel mask -> (N, 1, H/s, W/s) by the profile's method."""
        factor = self.vae_scale_factor
        method = self.profile.mask_downsample
        if method == "area":
            return F.avg_pool2d(mask, factor)
        if method == "max":
            return F.max_pool2d(mask, factor)
        return F.interpolate(mask, scale_factor=1 / factor, mode="nearest")

    @torch.inference_mode()
    def encode_conditioning(self, foreground: np.ndarray, matte: np.ndarray, condition: np.ndarray,
                            progress: ProgressCallback = ignore_progress, vae_batch: int = 8,
                            spatial: Optional[SpatialCondition] = None) -> Conditioning:
        """Foreground segmentation latents, latent-size mask and condition embedding (and, for profiles
        with a spatial condition, the condition image's latent: warped into each frame by the camera
        when `spatial` carries a track), for the whole shot."""
        foreground, matte, condition = self.check_inputs(foreground, matte, condition)
        frames = foreground.shape[0]
        grey = self.profile.background_grey
        scaling = self.profile.vae_scaling_factor
        clock = EtaClock()
        latents, masks = [], []
        for start in range(0, frames, vae_batch):
            stop = min(start + vae_batch, frames)
            rgb = torch.from_numpy(foreground[start:stop]).permute(0, 3, 1, 2)
            alpha = torch.from_numpy(matte[start:stop])[:, None]
            segmentation = rgb * alpha + grey * (1 - alpha)  # subject kept, background mid grey
            pixels = (segmentation * 2 - 1).to(self.device, self.dtype)
            # The distribution's mode: the conditioning must not depend on the seed.
            latents.append(self.model.vae.encode(pixels).latent_dist.mode().float() * scaling)
            masks.append(self.downsample_mask(1 - alpha))
            progress(ProgressEvent("encode", stop, frames, frame=stop - 1, eta_s=clock.eta(stop, frames)))
        # (T, C, h, w) -> (1, C, T, h, w): the U-Net's (batch, channels, frames, height, width)
        fg_latents = torch.cat(latents).permute(1, 0, 2, 3)[None]
        mask = torch.cat(masks).permute(1, 0, 2, 3)[None].to(self.device)
        embeds, uncond = self.encode_condition(condition)
        condition_latents = None
        if self.profile.spatial_condition:
            condition_latents = self.encode_condition_latents(condition, *foreground.shape[1:3], spatial=spatial,
                                                              vae_batch=vae_batch)
        return Conditioning(fg_latents, mask, embeds.float(), uncond.float(), self.model.text_embeds,
                            condition_latents)

    # -- the denoiser ------------------------------------------------------------------------------
    def model_input(self, latents: torch.Tensor, conditioning: Conditioning, unconditional: bool = False
                    ) -> torch.Tensor:
        """The U-Net input, in the profile's channel order. `unconditional`: the condition dropped, as
        training drops it (the spatial condition's latent becomes zeros; the embedding is swapped by
        the caller)."""
        parts = {NOISY: latents, FG_LATENT: conditioning.fg_latents, MASK: conditioning.mask}
        if self.profile.spatial_condition:
            if conditioning.condition_latents is None:
                raise ModelError("profile '%s' needs the condition image's latent "
                                 "(encode_conditioning makes it)" % (self.profile.name,))
            spatial = conditioning.condition_latents
            if spatial.shape[2] == 1:
                spatial = spatial.expand(-1, -1, latents.shape[2], -1, -1)
            elif spatial.shape[2] != latents.shape[2]:
                raise ModelError("the spatial condition has %s frames, the latents %s"
                                 % (spatial.shape[2], latents.shape[2]))
            parts[CONDITION_LATENT] = torch.zeros_like(spatial) if unconditional else spatial
        return torch.cat([parts[name] for name in self.profile.channel_order], dim=1)

    def predict_noise(self, latents: torch.Tensor, conditioning: Conditioning, timestep, guidance_scale: float,
                      scheduler=None) -> torch.Tensor:
        """The U-Net's prediction (1, C, F, h, w) in float32 for one window/tile, with classifier-free
        guidance: the noise, or v, as the profile's `prediction_type` says (the scheduler reads either).

        The unconditional branch drops the condition image as training does (the unconditional
        embedding, and zeros for a spatial condition's latent), never the foreground or the mask (nor
        the empty prompt)."""
        guided = guidance_scale > 1.0
        if scheduler is not None:
            latents = scheduler.scale_model_input(latents, timestep)
        sample = self.model_input(latents, conditioning)
        embeds = conditioning.image_embeds
        if guided:
            sample = torch.cat([self.model_input(latents, conditioning, unconditional=True), sample])
            embeds = torch.cat([conditioning.uncond_embeds, conditioning.image_embeds])
        self.unet_calls += 1
        noise = self.model.unet(
            sample.to(self.dtype), timestep, **self.unet_conditioning(embeds, conditioning, sample.shape[2])
        ).sample.float()
        if guided:
            uncond, cond = noise.chunk(2)
            noise = uncond + guidance_scale * (cond - uncond)
        return noise

    def unet_conditioning(self, image_embeds: torch.Tensor, conditioning: Conditioning, frames: int) -> dict:
        """The U-Net's conditioning keywords for a batch of image embeddings (B, 1, D).

        clip_tokens: the image embedding is the cross-attention context. ip_adapter: the empty prompt's
        text tokens are the context and the image embedding goes through the IP-Adapter's projection
        (`added_cond_kwargs`, as diffusers' AnimateDiff pipeline passes it). UNetMotionModel flattens
        (B, F) for its spatial layers: one context row per frame (it repeats the image tokens itself)."""
        if self.profile.conditioning == CLIP_TOKENS:
            return {"encoder_hidden_states": image_embeds.repeat_interleave(frames, dim=0).to(self.dtype)}
        text = conditioning.text_embeds.expand(image_embeds.shape[0], -1, -1)
        return {
            "encoder_hidden_states": text.repeat_interleave(frames, dim=0).to(self.dtype),
            "added_cond_kwargs": {"image_embeds": [image_embeds.to(self.dtype)]},
        }

    # -- output -----------------------------------------------------------------------------------
    @torch.inference_mode()
    def decode_latents(self, latents: torch.Tensor, progress: ProgressCallback = ignore_progress,
                       vae_batch: int = 8, condition: Optional[np.ndarray] = None,
                       matte: Optional[np.ndarray] = None, spatial: Optional[SpatialCondition] = None) -> np.ndarray:
        """(1, C, T, h, w) latents -> (T, H, W, 3) float32 in [0, 1]. Profiles with a detail pass also need
        the condition image (h, w, 3) and the matte (T, H, W), subject = 1, at the frames' size; with a
        tracked `spatial` condition the detail pass sees each frame's own view of it."""
        frames = latents.shape[2]
        flat = latents[0].permute(1, 0, 2, 3) / self.profile.vae_scaling_factor
        detail_condition = None
        if self.model.detail is not None:
            height, width = flat.shape[-2] * self.vae_scale_factor, flat.shape[-1] * self.vae_scale_factor
            detail_condition = self.detail_condition(condition, height, width)
            if matte is None or tuple(np.shape(matte)) != (frames, height, width):
                raise ModelError("profile '%s' restores the condition's detail after decoding: "
                                 "pass the matte, (%s, %s, %s), got "
                                 "%s"
                                 % (self.profile.name, frames, height, width,
                                    None if matte is None else tuple(np.shape(matte))))
        clock = EtaClock()
        out = []
        for start in range(0, frames, vae_batch):
            stop = min(start + vae_batch, frames)
            pixels = self.model.vae.decode(flat[start:stop].to(self.device, self.dtype)).sample.float()
            pixels = (pixels / 2 + 0.5).clamp(0, 1)
            if detail_condition is not None:
                alpha = torch.from_numpy(np.ascontiguousarray(np.clip(matte[start:stop], 0, 1), np.float32))[:, None]
                view = detail_condition
                if is_tracked(spatial):
                    views = np.stack([spatial.frame(index, width, height) for index in range(start, stop)])
                    view = torch.from_numpy(views).permute(0, 3, 1, 2)
                pixels = restore_detail(self.model.detail, pixels, view, alpha)
            out.append(pixels.permute(0, 2, 3, 1).cpu())
            progress(ProgressEvent("decode", stop, frames, frame=stop - 1, eta_s=clock.eta(stop, frames)))
        return torch.cat(out).numpy().astype(np.float32, copy=False)

    def detail_condition(self, condition: Optional[np.ndarray], height: int, width: int) -> torch.Tensor:
        """The condition image as the detail pass sees it: (1, 3, height, width) in [0, 1], stretched
        over the frames like the spatial condition."""
        if condition is None:
            raise ModelError("profile '%s' restores the condition's detail after decoding: "
                             "pass the condition image" % (self.profile.name,))
        return self.condition_pixels(np.clip(condition, 0, 1), height, width)

    def prepare_latents(self, shape: Sequence[int], seed: int, scheduler) -> torch.Tensor:
        # Noise from a CPU generator: the same seed gives the same noise on every device.
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        noise = torch.randn(tuple(shape), generator=generator, dtype=torch.float32)
        return noise.to(self.device) * scheduler.init_noise_sigma

    # -- the loop ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def __call__(self, foreground: np.ndarray, matte: np.ndarray, condition: np.ndarray,
                 steps: Optional[int] = None, guidance_scale: Optional[float] = None,
                 scheduler: Optional[str] = None, seed: int = 0,
                 progress: Optional[ProgressCallback] = None, window_frames: Optional[int] = None,
                 vae_batch: int = 8, window_overlap: int = 0, output: str = "pixels",
                 spatial: Optional[SpatialCondition] = None, interaction: bool = True,
                 shadow_hint: Optional[np.ndarray] = None, prompt: str = ""):
        """Generate the shot at the size of its frames, in one tile.

        foreground: (T, H, W, 3) float32 in [0, 1], display-referred; the background need not be grey.
        matte: (T, H, W) subject = 1. condition: (h, w, 3) in [0, 1].
        window_frames: frames per U-Net call, default the profile's native frames (what the motion
        modules were trained on), at most the U-Net's motion_max_seq_length. Windows of one length
        cover the shot (the last one shifted to its end), sharing at least `window_overlap` frames;
        their predictions are blended every step (model/tiled_sampler.py).
        spatial: the condition as each frame sees it (camera/condition_warp.py): warped by the plate's
        camera track; None: stretched over every frame alike.
        interaction: profiles with an interaction pass draw the subject's shadow and contact onto the
        decoded frames (model/interaction.py); False leaves that to the caller (generate does it after
        the refinement at plate size, `interaction_gains`). shadow_hint: the plate's (T, H, W) shadow
        hint for that pass (camera/shadow_hint.py), or None. prompt: not read (the U-Net profiles follow
        the condition image only; the empty prompt of ip_adapter profiles is part of the profile).
        Returns (T, H, W, 3) float32 in [0, 1], or with output="latents" the sampled latents
        (1, C, T, h, w) before decoding. Plates larger than the model: model/refine.py."""
        from actanywhere.engine.model.blending import BlendGrid
        from actanywhere.engine.model.shot_tensor import ShotTensor
        from actanywhere.engine.model.tiled_sampler import TiledSampler
        from actanywhere.engine.model.unet_regions import ShotConditioning, UNetRegions

        profile = self.profile
        steps, guidance_scale = profile.sampling(steps, guidance_scale)
        scheduler_name = scheduler or profile.default_scheduler
        progress = progress or ignore_progress
        if steps < 1:
            raise ModelError("steps must be at least 1, got %s" % (steps,))
        window = profile.window_frames(window_frames, self.model.max_frames_per_call)
        if window < 1:
            raise ModelError("window_frames must be at least 1, got %s" % (window_frames,))

        # Checked here too: the detail pass after decoding reads the (T, H, W) matte in [0, 1].
        foreground, matte, condition = self.check_inputs(foreground, matte, condition)
        conditioning = self.encode_conditioning(foreground, matte, condition, progress, vae_batch, spatial)
        sampler = make_scheduler(scheduler_name, profile.noise_schedule)
        sampler.set_timesteps(steps, device=self.device)
        _, _, frames, height, width = conditioning.fg_latents.shape
        latents = ShotTensor.from_tensor(
            self.prepare_latents((1, self.model.latent_channels, frames, height, width), seed, sampler))
        grid = BlendGrid(frames, height, width, window, window_overlap, max(height, width), 0)
        regions = UNetRegions(self, ShotConditioning.from_conditioning(conditioning), guidance_scale, grid)
        TiledSampler(grid).denoise(latents, regions, sampler, sampler.timesteps, progress)
        if output == "latents":
            return latents.read()
        if output != "pixels":
            raise ModelError("output must be 'pixels' or 'latents', got %r" % (output,))
        frames = self.decode_latents(latents.read(), progress, vae_batch, condition=condition, matte=matte,
                                     spatial=spatial)
        if profile.keep_condition:
            source = spatial if spatial is not None else SpatialCondition(condition, len(frames))
            frames = np.stack([source.kept(index, frame) for index, frame in enumerate(frames)])
        if interaction and self.model.interaction is not None:
            gains = self.interaction_gains(foreground, matte, condition, spatial, shadow_hint, progress)
            frames = apply_gains(frames, gains)
        return frames

    def interaction_gains(self, foreground: np.ndarray, matte: np.ndarray, condition: np.ndarray,
                          spatial: Optional[SpatialCondition] = None,
                          shadow_hint: Optional[np.ndarray] = None,
                          progress: ProgressCallback = ignore_progress) -> Optional[np.ndarray]:
        """The interaction pass's gain of every frame (T, h, w, 3) at its work size, from the model's
        inputs at working size; None for profiles without the pass. `spatial`, `shadow_hint` as in
        __call__."""
        if self.model.interaction is None:
            return None
        if spatial is None:
            spatial = SpatialCondition(condition, len(matte))
        return interaction_gains(self.model.interaction, foreground, matte, spatial, shadow_hint, progress=progress)
