"""The tiled refinement at plate size: re-noise the upscaled global result and denoise it in blended
windows x tiles, each tile conditioned on the embedding of its own part of the scene.

Frames stream in (`add_input`, `add_init`) and out (`frame`) one at a time; the shot's latent-size state
lives in ShotTensors (on disk when `scratch_dir` is given), so memory is bounded by the tile and the
window, not by the plate or the shot. Pure model code: the caller reads, resizes and writes pixels.

Per-tile conditioning (docs/tiling.md): a tile given the shot's condition embedding would redraw the
whole condition scene inside itself. The global pass has already decided where everything goes, so
each tile is conditioned on the CLIP embedding of the global result's crop around that tile (its
window's middle frame, with a quarter tile of context on every side): it draws its own part of the
scene, while the low frequencies come from the re-noised global result.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from actanywhere.engine.camera.condition_warp import SpatialCondition, is_tracked
from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.blending import BlendGrid
from actanywhere.engine.model.detail import restore_detail
from actanywhere.engine.model.pipeline import make_scheduler
from actanywhere.engine.model.shot_tensor import ShotTensor
from actanywhere.engine.model.tiled_sampler import TiledSampler
from actanywhere.engine.model.tiled_vae import decode_tiled, encode_tiled
from actanywhere.engine.model.unet_regions import ShotConditioning, UNetRegions
from actanywhere.engine.progress import EtaClock, ProgressCallback, ProgressEvent, ignore_progress

TILE_CONTEXT = 0.25  # of the tile's extent added on each side of a tile's crop for its condition


@dataclass
class TilingPlan:
    """Tiling in the model's units: frames and latent pixels."""

    window_frames: int
    window_overlap: int
    tile: int  # latent pixels
    tile_overlap: int  # latent pixels
    strength: float
    tile_batch: int = 1

    @classmethod
    def from_settings(cls, settings, pipeline) -> "TilingPlan":
        """From TilingSettings: tile_size 0 means the profile's default_tile_size (plate pixels)."""
        factor = pipeline.vae_scale_factor
        tile_pixels = settings.tile_size or pipeline.profile.default_tile_size
        tile = max(4, int(tile_pixels) // factor)
        window = pipeline.profile.window_frames(settings.window_frames, pipeline.model.max_frames_per_call)
        return cls(window, min(int(settings.window_overlap), window - 1), tile,
                   min(int(round(tile * settings.tile_overlap)), tile - 1),
                   float(settings.refine_strength), int(settings.tile_batch))

    def to_dict(self) -> dict:
        return asdict(self)


def refine_timesteps(scheduler, steps: int, strength: float):
    """The last round(steps x strength) timesteps (img2img's rule) and the index of the first. A
    positive strength always refines: when so few steps would round to none (the tiny model samples
    in one step), the schedule is made just long enough to hold one step at about the strength."""
    if strength > 0 and int(round(steps * strength)) == 0:
        steps = int(math.ceil(1.0 / strength))
    scheduler.set_timesteps(steps)
    count = min(int(round(steps * strength)), steps)
    start = steps - count
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(start)
    return scheduler.timesteps[start:], start


def pad_frame(image: np.ndarray, size: Tuple[int, int], padded: Tuple[int, int]) -> np.ndarray:
    """(H, W, ...) at refinement `size` (height, width) -> `padded` (a multiple of the model's factor) by
    repeating the edge; the refiners of every backbone pad their frames so."""
    height, width = size
    if image.shape[:2] != (height, width):
        raise ModelError("frame is %dx%d, the refinement works at %dx%d" % (image.shape[1], image.shape[0], width, height))
    extra = [(0, padded[0] - height), (0, padded[1] - width)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, extra, mode="edge")


class PlateRefiner:
    def __init__(self, pipeline, frames: int, width: int, height: int, plan: TilingPlan,
                 scratch_dir: Optional[str] = None):
        factor = pipeline.vae_scale_factor
        self.pipeline, self.plan, self.scratch_dir = pipeline, plan, scratch_dir
        self.frames, self.width, self.height = int(frames), int(width), int(height)
        self.latent_height, self.latent_width = math.ceil(height / factor), math.ceil(width / factor)
        self.padded = (self.latent_height * factor, self.latent_width * factor)
        self.grid = BlendGrid(frames, self.latent_height, self.latent_width, plan.window_frames,
                              plan.window_overlap, plan.tile, plan.tile_overlap)
        shape = (frames, self.latent_height, self.latent_width)
        channels = pipeline.model.latent_channels
        self.fg = ShotTensor(channels, *shape, directory=scratch_dir, name="fg")
        self.mask = ShotTensor(1, *shape, directory=scratch_dir, name="mask")
        self.latents = ShotTensor(channels, *shape, directory=scratch_dir, name="latents")
        # Profiles with a detail pass: the matte at refinement size (padded), and the condition image (or
        # its per-frame views when the camera is tracked), set by run().
        self.detail_matte = None
        if pipeline.model.detail is not None:
            self.detail_matte = ShotTensor(1, frames, *self.padded, directory=scratch_dir, name="matte")
        self.detail_condition: Optional[torch.Tensor] = None
        self.spatial: Optional[SpatialCondition] = None
        self.keep_source: Optional[SpatialCondition] = None  # keep_condition profiles: set by run()
        self.spatial_latents: Optional[ShotTensor] = None

    # -- frames in ----------------------------------------------------------------------------------
    def pad(self, image: np.ndarray) -> np.ndarray:
        return pad_frame(image, (self.height, self.width), self.padded)

    def _encode(self, rgb: torch.Tensor) -> torch.Tensor:
        return encode_tiled(self.pipeline, rgb * 2 - 1, self.plan.tile, self.plan.tile_overlap)[0]

    def add_input(self, index: int, foreground: np.ndarray, matte: np.ndarray) -> None:
        """One frame's model inputs at refinement size: foreground (H, W, 3) and matte (H, W) in [0, 1]."""
        rgb = torch.from_numpy(np.ascontiguousarray(self.pad(np.clip(foreground, 0, 1)))).permute(2, 0, 1)[None].float()
        alpha = torch.from_numpy(np.ascontiguousarray(self.pad(np.clip(matte, 0, 1))))[None, None].float()
        grey = self.pipeline.profile.background_grey
        self.fg.write_frame(index, self._encode(rgb * alpha + grey * (1 - alpha)))
        self.mask.write_frame(index, self.pipeline.downsample_mask((1 - alpha).to(self.pipeline.device))[0].cpu())
        if self.detail_matte is not None:
            self.detail_matte.write_frame(index, alpha[0])

    def add_init(self, index: int, pixels: np.ndarray) -> None:
        """One frame of the global result upscaled to refinement size, (H, W, 3) in [0, 1]."""
        rgb = torch.from_numpy(np.ascontiguousarray(self.pad(np.clip(pixels, 0, 1)))).permute(2, 0, 1)[None].float()
        self.latents.write_frame(index, self._encode(rgb))

    def condition_at_size(self, condition: np.ndarray, index: Optional[int] = None) -> torch.Tensor:
        """The condition image at refinement size and padded: (1, 3, H', W') in [0, 1]; stretched, or frame
        `index`'s view of it when run() was given a tracked spatial condition."""
        if index is not None and is_tracked(self.spatial):
            view = self.spatial.frame(index, self.width, self.height)
        else:
            view = self.pipeline.condition_pixels(np.clip(condition, 0, 1), self.height, self.width)[0]
            view = view.permute(1, 2, 0).numpy()
        return torch.from_numpy(self.pad(view)).permute(2, 0, 1)[None]

    def condition_latents(self, condition: np.ndarray):
        """A spatial condition's latent at refinement size: (1, C, 1, h, w) for every frame alike, a
        ShotTensor of each frame's view with a tracked camera, or None for profiles without."""
        if not self.pipeline.profile.spatial_condition:
            return None
        if not is_tracked(self.spatial):
            return self._encode(self.condition_at_size(condition))[None, :, None]  # (C, h, w) -> (1, C, 1, h, w)
        if self.spatial_latents is None:
            self.spatial_latents = ShotTensor(self.latents.channels, self.frames, self.latent_height,
                                              self.latent_width, directory=self.scratch_dir, name="condition")
            for index in range(self.frames):
                self.spatial_latents.write_frame(index, self._encode(self.condition_at_size(condition, index)))
        return self.spatial_latents

    # -- per-tile conditioning ----------------------------------------------------------------------
    def tile_crop_box(self, rows: slice, cols: slice, global_height: int, global_width: int) -> Tuple[int, int, int, int]:
        """(top, bottom, left, right) in the global result's pixels of a tile and its context."""
        factor = self.pipeline.vae_scale_factor
        scale_y, scale_x = global_height / float(self.height), global_width / float(self.width)
        top, bottom = rows.start * factor * scale_y, min(rows.stop * factor, self.height) * scale_y
        left, right = cols.start * factor * scale_x, min(cols.stop * factor, self.width) * scale_x
        margin_y, margin_x = (bottom - top) * TILE_CONTEXT, (right - left) * TILE_CONTEXT
        top, bottom = max(0, int(math.floor(top - margin_y))), min(global_height, int(math.ceil(bottom + margin_y)))
        left, right = max(0, int(math.floor(left - margin_x))), min(global_width, int(math.ceil(right + margin_x)))
        return top, max(bottom, top + 1), left, max(right, left + 1)

    def tile_embeds(self, global_frames: np.ndarray) -> Dict[Tuple[int, int], torch.Tensor]:
        """(window, tile) -> the CLIP embedding of the global result around that tile."""
        embeds = {}
        _, global_height, global_width = global_frames.shape[:3]
        for window, (start, stop) in enumerate(self.grid.windows):
            frame = global_frames[(start + stop - 1) // 2]
            for tile, rows, cols in self.grid.tiles():
                top, bottom, left, right = self.tile_crop_box(rows, cols, global_height, global_width)
                embeds[(window, tile)] = self.pipeline.encode_condition(frame[top:bottom, left:right])[0].float()
        return embeds

    # -- sampling -----------------------------------------------------------------------------------
    @torch.inference_mode()
    def run(self, global_frames: np.ndarray, condition_embeds: Tuple[torch.Tensor, torch.Tensor], steps: int,
            guidance_scale: float, scheduler: str, seed: int, progress: ProgressCallback = ignore_progress,
            condition: Optional[np.ndarray] = None, spatial: Optional[SpatialCondition] = None,
            prompt: str = "") -> None:
        """Re-noise the init latents to the refinement strength and denoise them (in place). `prompt` is
        not read: the U-Net profiles follow the condition image only.

        global_frames: (T, h, w, 3) the global pass's result, for the per-tile conditions.
        condition_embeds: the shot condition's (embeds, uncond), kept for the unconditional branch.
        condition: the condition image (h, w, 3), needed by profiles with a spatial condition or a
        detail pass; spatial: its per-frame views when the camera is tracked."""
        pipeline = self.pipeline
        if (pipeline.profile.spatial_condition or pipeline.model.detail is not None) and condition is None:
            raise ModelError("profile '%s' refines with its condition image: pass condition" % (pipeline.profile.name,))
        self.spatial = spatial
        if pipeline.profile.keep_condition:
            self.keep_source = spatial if spatial is not None else SpatialCondition(condition, self.frames)
        if pipeline.model.detail is not None:
            self.detail_condition = self.condition_at_size(condition)
        sampler = make_scheduler(scheduler, pipeline.profile.noise_schedule)
        timesteps, _ = refine_timesteps(sampler, steps, self.plan.strength)
        if len(timesteps) == 0:
            return
        # Noise drawn frame by frame from a CPU generator: the same seed gives the same plate anywhere.
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        first = timesteps[:1]
        for frame in range(self.frames):
            noise = torch.randn((1, self.latents.channels, self.latent_height, self.latent_width), generator=generator)
            clean = self.latents.read_frame(frame)[None]
            self.latents.write_frame(frame, sampler.add_noise(clean, noise, first)[0])
        embeds, uncond = condition_embeds
        conditioning = ShotConditioning(self.fg, self.mask, embeds, uncond, pipeline.model.text_embeds,
                                        tile_embeds=self.tile_embeds(global_frames),
                                        condition_latents=None if condition is None else self.condition_latents(condition))
        TiledSampler(self.grid, self.plan.tile_batch, self.scratch_dir).denoise(
            self.latents, UNetRegions(pipeline, conditioning, guidance_scale, self.grid), sampler, timesteps,
            progress, stage="refine")

    # -- frames out ---------------------------------------------------------------------------------
    def frame(self, index: int) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] at refinement size."""
        pixels = decode_tiled(self.pipeline, self.latents.read_frame(index)[None], self.plan.tile, self.plan.tile_overlap)
        if self.pipeline.model.detail is not None:
            if self.detail_condition is None:
                raise ModelError("profile '%s' restores the condition's detail: "
                                 "run() the refinement with its condition image before reading frames"
                                 % (self.pipeline.profile.name,))
            matte = self.detail_matte.read_frame(index)[None]  # (1, 1, H', W')
            view = self.detail_condition
            if is_tracked(self.spatial):
                view = self.condition_at_size(self.spatial.image, index)
            pixels = restore_detail(self.pipeline.model.detail, pixels, view, matte)
        frame = pixels[0, :, :self.height, :self.width].permute(1, 2, 0).numpy()
        if self.pipeline.profile.keep_condition:
            frame = self.keep_source.kept(index, frame)
        return frame

    def frames_out(self, progress: ProgressCallback = ignore_progress) -> "RefinedFrames":
        return RefinedFrames(self, progress)

    def close(self) -> None:
        for tensor in (self.fg, self.mask, self.latents, self.detail_matte, self.spatial_latents):
            if tensor is not None:
                tensor.close()


class RefinedFrames:
    """The refined shot as a sequence of frames, decoded when asked for (in order, once each)."""

    def __init__(self, refiner: PlateRefiner, progress: ProgressCallback = ignore_progress):
        self.refiner, self.progress, self.clock = refiner, progress, EtaClock()

    def __len__(self) -> int:
        return self.refiner.frames

    def __getitem__(self, index: int) -> np.ndarray:
        frame = self.refiner.frame(index)
        total = len(self)
        self.progress(ProgressEvent("decode", index + 1, total, frame=index, eta_s=self.clock.eta(index + 1, total)))
        return frame
