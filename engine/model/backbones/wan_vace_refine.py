"""The wan-vace tiled refinement at plate size: the global pass upscaled, re-noised to the refinement
strength, and denoised in windows x tiles of the 3D VAE's latent grid, their velocities blended every step.

What generate asks of a refiner (model/refine.py's PlateRefiner is the U-Net one): add_input and add_init
per frame at refinement size, run(...), frames_out(...), close(), and width / height / latent_width /
latent_height / grid for the provenance header. The loop is the U-Net's: model/tiled_sampler.py over a
BlendGrid, with `WanRegions` as its region model. The latents are Wan's (16 channels, one latent frame
per 4 frames, 8 pixels per latent pixel; tiles are whole transformer patches of 2x2).

VACE's inputs at plate size: the video is each frame's subject over the upscaled global result (the
context VACE regenerates), the mask 1 - matte, the condition the reference image; VACE puts the
reference as latent frame 0, which every window x tile sees (its crop of the same rows and columns) and
whose blended prediction steps with the rest, as in diffusers' WanVACEPipeline. With one window and one
tile the loop is that pipeline's loop (tests/test_wan_vace_refine.py). The 3D VAE encodes and decodes the
plate in tiles of 768 pixels (VAE_TILE) blended with the sampler's ramps, each with its own spatial
tiling (AutoencoderKLWan.enable_tiling), so its memory is a tile's whatever the plate. Frames wait in
scratch files (np.memmap), not in memory.
"""
from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch

from actanywhere.engine.model.blending import BlendGrid, Region, blend_weights_2d
from actanywhere.engine.model.refine import RefinedFrames, pad_frame, refine_timesteps
from actanywhere.engine.model.shot_tensor import ShotTensor
from actanywhere.engine.model.tiled_sampler import LatentRegion, TiledSampler
from actanywhere.engine.progress import ProgressCallback, ignore_progress

LATENT_PIXELS = 8  # pixels per latent pixel of Wan's VAE; a transformer patch is 2x2 latent pixels
# The plate goes through the VAE in tiles of 96 latent pixels (768 pixels) a side, neighbours sharing 8
# (64 pixels, as the VAE's own 256-pixel tiles share), blended with the sampler's sin² ramps, so its
# memory is a tile's whatever the plate: AutoencoderKLWan's tiled decode holds every one of its tiles of
# the whole shot before it blends them (54 bytes a pixel x frame: 35 GiB for 81 frames at 4K), and its
# encode takes the whole video on the device (10.7 bytes a pixel x frame), benchmarks/wan_memory.py.
VAE_TILE, VAE_TILE_OVERLAP = 96, 8


def vae_tiles(latent_height: int, latent_width: int, scale: int = 1):
    """The refiner's VAE tiles of a plate: (rows, cols, weight) in latent pixels, the weight at `scale`
    times that size (LATENT_PIXELS: the decoded pixels). One tile (weight 1) when the plate fits one."""
    return blend_weights_2d(latent_height, latent_width, VAE_TILE, VAE_TILE_OVERLAP, scale)


def in_pixels(latent: slice) -> slice:
    """A span of latent pixels as the span of plate pixels it covers."""
    return slice(latent.start * LATENT_PIXELS, latent.stop * LATENT_PIXELS)


@dataclass(frozen=True)
class RefineGeometry:
    """A plate's refinement in Wan's latent units, and its windows x tiles (what the refiner and
    benchmarks/wan_memory.py size it by)."""

    padded: Tuple[int, int]  # (height, width) in pixels, whole 16-pixel patches
    video_frames: int  # 4k+1: the shot's frames, the last one repeated
    latent_frames: int  # of the shot, without VACE's reference frame
    latent_height: int
    latent_width: int
    patch: int  # latent pixels a side of a transformer patch
    grid: BlendGrid  # in latent frames x transformer patches

    @classmethod
    def of(cls, frames: int, width: int, height: int, plan, factor: int = 16, temporal: int = 4) -> "RefineGeometry":
        """`factor`: pixels per transformer patch (the pipeline's vae_scale_factor); `temporal`: frames
        per latent frame."""
        padded = (-(-int(height) // factor) * factor, -(-int(width) // factor) * factor)
        video_frames = 1 + -(-(int(frames) - 1) // temporal) * temporal
        latent_frames = (video_frames - 1) // temporal + 1
        latent_height, latent_width = padded[0] // LATENT_PIXELS, padded[1] // LATENT_PIXELS
        # The grid counts transformer patches (2x2 latent pixels, the plan's 16-pixel units): every tile
        # is then whole patches, which the transformer's patch embedding needs.
        patch = factor // LATENT_PIXELS
        window = (plan.window_frames - 1) // temporal + 1
        grid = BlendGrid(latent_frames, latent_height // patch, latent_width // patch, window,
                         max(1, -(-plan.window_overlap // temporal)), plan.tile, plan.tile_overlap)
        return cls(padded, video_frames, latent_frames, latent_height, latent_width, patch, grid)

    @property
    def vae_tile_pixels(self) -> int:
        """Pixels of the largest tile the plate goes through the VAE in (what its memory grows with)."""
        return max((rows.stop - rows.start) * (cols.stop - cols.start)
                   for rows, cols, _ in vae_tiles(self.latent_height, self.latent_width)) * LATENT_PIXELS ** 2

    @property
    def region_tokens(self) -> int:
        """The transformer's tokens in one window x tile: VACE's reference frame and the window's latent
        frames, times the tile's patches."""
        frames, rows, cols = self.grid.window_shape
        return (1 + frames) * rows * cols


class WanPlateRefiner:
    def __init__(self, pipeline, frames: int, width: int, height: int, plan, scratch_dir: Optional[str] = None):
        self.pipeline, self.plan = pipeline, plan
        self.frames, self.width, self.height = int(frames), int(width), int(height)
        self.geometry = geometry = RefineGeometry.of(frames, width, height, plan, pipeline.vae_scale_factor, pipeline.temporal_factor)
        self.padded, self.video_frames, self.latent_frames = geometry.padded, geometry.video_frames, geometry.latent_frames
        self.latent_height, self.latent_width = geometry.latent_height, geometry.latent_width
        self.patch, self.grid = geometry.patch, geometry.grid
        self._scratch = tempfile.TemporaryDirectory(prefix="wan_refine_", dir=scratch_dir)
        shape = (self.frames,) + self.padded
        self.foreground = self._memmap("foreground", shape + (3,))
        self.matte = self._memmap("matte", shape)
        self.init = self._memmap("init", shape + (3,))
        self.out = self._memmap("out", shape + (3,))
        self.transformer_calls = 0

    def _memmap(self, name: str, shape) -> np.ndarray:
        return np.lib.format.open_memmap(os.path.join(self._scratch.name, name + ".npy"), mode="w+",
                                         dtype=np.float32, shape=shape)

    def pad(self, image: np.ndarray) -> np.ndarray:
        return pad_frame(image, (self.height, self.width), self.padded)

    # -- frames in ----------------------------------------------------------------------------------
    def add_input(self, index: int, foreground: np.ndarray, matte: np.ndarray) -> None:
        """One frame's subject at refinement size: foreground (H, W, 3) and matte (H, W) in [0, 1]."""
        self.foreground[index] = self.pad(np.clip(foreground, 0, 1))
        self.matte[index] = self.pad(np.clip(matte, 0, 1))

    def add_init(self, index: int, pixels: np.ndarray) -> None:
        """One frame of the global result upscaled to refinement size, (H, W, 3) in [0, 1]."""
        self.init[index] = self.pad(np.clip(pixels, 0, 1))

    # -- sampling -----------------------------------------------------------------------------------
    @torch.inference_mode()
    def run(self, global_frames: np.ndarray, reference, steps: int, guidance_scale: float, scheduler: str,
            seed: int, progress: ProgressCallback = ignore_progress, condition: Optional[np.ndarray] = None,
            spatial=None, prompt: str = "") -> None:
        """Re-noise the upscaled global result to the refinement strength and denoise it. `reference`:
        what pipeline.encode_condition made of the condition image; `scheduler` is not read (Wan samples
        with the flow-matching scheduler it ships with); `global_frames` and `spatial` are not needed:
        the upscaled global result is VACE's context wherever the subject is not."""
        wan = self.pipeline
        pipe, device = wan.pipe, wan.device
        sampler = copy.deepcopy(pipe.scheduler)
        timesteps, _ = refine_timesteps(sampler, steps, self.plan.strength)
        if len(timesteps) == 0:
            return
        guided = guidance_scale > 1.0
        embeds, negative = wan.prompt_embeds(prompt or "", guided)
        control, clean = self._encode(reference)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        noise = torch.randn(clean.shape, generator=generator, dtype=torch.float32)
        # In memory: Wan's latents of a 1080p shot of 81 frames are 46 MB (docs/model.md).
        latents = ShotTensor.from_tensor(sampler.add_noise(clean, noise, timesteps[:1]))
        scale = torch.ones(len(pipe.transformer.config.vace_layers), device=device, dtype=wan.dtype)
        regions = WanRegions(self.patch, device, control, self._predict, (embeds, negative, guidance_scale, scale))
        TiledSampler(self.grid).denoise(latents, regions, sampler, timesteps, progress, stage="refine")
        self._decode(latents.read(range(1, latents.frames)).to(device))

    def _predict(self, sample, control, timestep, embeds, negative, guidance_scale: float, scale):
        predicted, calls = self.pipeline.predict_velocity(sample, control, timestep, embeds, negative,
                                                          guidance_scale, scale)
        self.transformer_calls += calls
        return predicted

    def _encode(self, reference):
        """VACE's control latents (the video's kept and regenerated parts, the reference, the mask) and
        the clean latents to re-noise: the reference's latent, then the upscaled global result's.

        What WanVACEPipeline.prepare_video_latents and prepare_masks compute (tests/test_wan_vace_refine.py
        compares them), in a tile's memory: they take the whole video and mask and hold both parts beside
        them on the device (243 bytes a pixel x frame in float32 with the upscaled result's encode: 39 GiB
        for 81 frames at 1080p, benchmarks/wan_memory.py). Here each video the VAE encodes is read a tile
        (VAE_TILE) and a frame at a time from the scratch files, encoded, and freed before the next."""
        wan = self.pipeline
        vae, device = wan.pipe.vae, wan.device
        canvas = self._reference_canvas(reference)
        vae.enable_tiling()
        try:
            reference_latent = self._encode_tiled(lambda index, rows, cols: canvas[:, rows, cols], 1).to(vae.dtype)
            kept = self._encode_tiled(lambda index, rows, cols: self._vace_part(index, rows, cols, regenerated=False),
                                      self.video_frames).to(vae.dtype)
            regenerated = self._encode_tiled(lambda index, rows, cols: self._vace_part(index, rows, cols, regenerated=True),
                                             self.video_frames).to(vae.dtype)
            init = self._encode_tiled(lambda index, rows, cols: self._frame(self.init, index, rows, cols) * 2 - 1,
                                      self.video_frames)
        finally:
            vae.disable_tiling()
        control = torch.cat([torch.cat([reference_latent, torch.zeros_like(reference_latent)], dim=1),
                             torch.cat([kept, regenerated], dim=1)], dim=2)  # frame 0: the reference
        del kept, regenerated
        clean = torch.cat([reference_latent.float(), init], dim=2).cpu()
        return torch.cat([control, self._vace_mask(device)], dim=1).to(wan.dtype), clean

    def _encode_tiled(self, frame: Callable[[int, slice, slice], torch.Tensor], frames: int) -> torch.Tensor:
        """A video through the VAE in tiles: `frame(index, rows, cols)` is a tile of frame `index` (rows
        and cols in pixels), (C, h, w) on the CPU; returns its normalised latents (1, C, latent frames,
        h, w) float32 on the device, the tiles blended in latent space (one tile: exactly its encode)."""
        from diffusers.pipelines.wan.pipeline_wan_vace import retrieve_latents

        wan = self.pipeline
        vae, device = wan.pipe.vae, wan.device
        mean, std = self._latent_statistics(device)
        latents = None
        for rows, cols, weight in vae_tiles(self.latent_height, self.latent_width):
            crop = (in_pixels(rows), in_pixels(cols))
            video = self._device_video(lambda index: frame(index, *crop), frames, vae.dtype, device)
            tile = (retrieve_latents(vae.encode(video), None, sample_mode="argmax").float() - mean) * (1.0 / std)
            del video
            if latents is None:
                latents = torch.zeros(tile.shape[:3] + (self.latent_height, self.latent_width), device=device)
            latents[..., rows, cols] += tile * torch.from_numpy(weight).to(device)
        return latents

    def _latent_statistics(self, device) -> Tuple[torch.Tensor, torch.Tensor]:
        """The VAE's per-channel latent mean and std, (1, C, 1, 1, 1) on `device`: Wan's latents are
        normalised by them."""
        config = self.pipeline.pipe.vae.config
        return tuple(torch.tensor(values, device=device).view(1, -1, 1, 1, 1)
                     for values in (config.latents_mean, config.latents_std))

    def _frame(self, frames: np.ndarray, index: int, rows: slice = slice(None), cols: slice = slice(None)) -> torch.Tensor:
        """Frame `index` of the shot's 4k+1 (the last one repeated) from a scratch file, cropped to rows
        x cols: (C, h, w) float32."""
        frame = torch.from_numpy(np.array(frames[min(index, self.frames - 1), rows, cols]))
        return frame.permute(2, 0, 1) if frame.ndim == 3 else frame[None]

    def _vace_part(self, index: int, rows: slice, cols: slice, regenerated: bool) -> torch.Tensor:
        """VACE's video at frame `index`, rows x cols (the subject over the upscaled global result, in
        [-1, 1]) where its hard mask is 1 (`regenerated`) or 0 (the subject, kept), in the VAE's dtype:
        the operations of prepare_video_latents, tile by tile and frame by frame."""
        dtype = self.pipeline.pipe.vae.dtype
        alpha = self._frame(self.matte, index, rows, cols)  # subject = 1
        foreground = self._frame(self.foreground, index, rows, cols)
        context = self._frame(self.init, index, rows, cols)
        video = ((foreground * alpha + context * (1 - alpha)) * 2 - 1).to(dtype)
        hard = torch.where((1 - alpha) > 0.5, 1.0, 0.0).to(dtype)
        return video * hard if regenerated else video * (1 - hard)

    def _vace_mask(self, device) -> torch.Tensor:
        """VACE's soft mask as prepare_masks lays it out (a latent pixel's 8x8 pixels as 64 channels, one
        frame of each 4 picked as its nearest-exact resize picks them, the reference frame's zeros first),
        made a picked frame at a time on the CPU: (1, 64, 1 + latent frames, h, w) on the device."""
        pipe = self.pipeline.pipe
        positions = torch.arange(self.video_frames, dtype=torch.float32).view(1, 1, -1, 1, 1)
        picked = torch.nn.functional.interpolate(positions, size=(self.latent_frames, 1, 1), mode="nearest-exact")
        frames = [pipe.prepare_masks(1 - self._frame(self.matte, int(index))[None, :, None], [[]], None)
                  for index in picked.flatten().tolist()]
        mask = torch.cat(frames, dim=2)
        return torch.cat([torch.zeros_like(mask[:, :, :1]), mask], dim=2).to(device)

    def _device_video(self, frame: Callable[[int], torch.Tensor], frames: int, dtype, device) -> torch.Tensor:
        """(1, C, frames, H, W) on the device in `dtype`, filled a frame at a time from `frame(index)`, a
        (C, H, W) tensor on the CPU: no plate-size float32 intermediate is made."""
        video = None
        for index in range(frames):
            part = frame(index)
            if video is None:
                video = torch.empty((1, part.shape[0], frames) + tuple(part.shape[1:]), dtype=dtype, device=device)
            video[0, :, index] = part.to(device, dtype)
        return video

    def _reference_canvas(self, reference) -> torch.Tensor:
        """The condition as VACE's reference at plate size: (3, H, W) in [-1, 1], fitted and centred on
        white as WanVACEPipeline.preprocess_conditions does (which would also allocate a plate-size video)."""
        image = self.pipeline.pipe.video_processor.preprocess(reference, None, None)  # (1, 3, h, w) in [-1, 1]
        height, width = self.padded
        scale = min(height / image.shape[-2], width / image.shape[-1])
        fitted = (int(image.shape[-2] * scale), int(image.shape[-1] * scale))
        resized = torch.nn.functional.interpolate(image, size=fitted, mode="bilinear", align_corners=False)[0]
        canvas = torch.ones(3, height, width)
        top, left = (height - fitted[0]) // 2, (width - fitted[1]) // 2
        canvas[:, top:top + fitted[0], left:left + fitted[1]] = resized
        return canvas

    def _decode(self, latents: torch.Tensor) -> None:
        """The shot's latents through the VAE in tiles (VAE_TILE, each with the VAE's own tiling) into the
        output scratch file, blended over what they share, a frame at a time: a tile's decoded video is
        the only plate-size tensor on the device. A plate of one tile is decoded exactly as the VAE's
        tiled decode does."""
        vae = self.pipeline.pipe.vae
        mean, std = self._latent_statistics(latents.device)
        latents = latents.float() * std + mean
        written = np.zeros(self.padded, bool)  # where an earlier tile put its part: add to it, else set
        vae.enable_tiling()
        try:
            for rows, cols, weight in vae_tiles(self.latent_height, self.latent_width, scale=LATENT_PIXELS):
                video = vae.decode(latents[..., rows, cols].to(vae.dtype), return_dict=False)[0]
                pixel_rows, pixel_cols = in_pixels(rows), in_pixels(cols)
                shared = written[pixel_rows, pixel_cols, None]
                for index in range(self.frames):
                    pixels = ((video[0, :, index].float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).cpu().numpy()
                    part = pixels * weight[..., None]
                    before = self.out[index, pixel_rows, pixel_cols]
                    self.out[index, pixel_rows, pixel_cols] = np.where(shared, before + part, part)
                del video
                written[pixel_rows, pixel_cols] = True
        finally:
            vae.disable_tiling()

    # -- frames out ---------------------------------------------------------------------------------
    def frame(self, index: int) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] at refinement size."""
        return np.array(self.out[index, :self.height, :self.width])

    def frames_out(self, progress: ProgressCallback = ignore_progress) -> RefinedFrames:
        return RefinedFrames(self, progress)

    def close(self) -> None:
        for name in ("foreground", "matte", "init", "out"):
            setattr(self, name, None)
        self._scratch.cleanup()


class WanRegions:
    """Wan VACE as the tiled sampler's region model (model/tiled_sampler.py). The grid counts latent
    frames after VACE's reference frame and transformer patches (`patch` latent pixels a side); every
    region sees the reference frame 0 first, cropped like the rest, weighted by its window's mean, so the
    reference's blended prediction steps with the shot as in WanVACEPipeline's loop. `control`: VACE's
    control latents of the whole plate on the device; `predict(sample, control, timestep, *guidance)`:
    one region's guided velocity (the refiner's `_predict`, with guidance = the prompt's and the negative
    prompt's embeddings, the guidance scale and VACE's control scale)."""

    def __init__(self, patch: int, device, control: torch.Tensor, predict: Callable, guidance: tuple):
        self.patch, self.device, self.control = int(patch), device, control
        self._predict, self.guidance = predict, guidance

    def locate(self, region: Region) -> LatentRegion:
        patch = self.patch
        frames = [0] + list(range(region.frames.start + 1, region.frames.stop + 1))
        rows = slice(region.rows.start * patch, region.rows.stop * patch)
        cols = slice(region.cols.start * patch, region.cols.stop * patch)
        weight = region.weight().repeat_interleave(patch, dim=3).repeat_interleave(patch, dim=4)
        return LatentRegion(frames, rows, cols, torch.cat([weight.mean(dim=2, keepdim=True), weight], dim=2))

    def predict(self, sample: torch.Tensor, regions: Sequence[Region], timestep, scheduler) -> torch.Tensor:
        """One transformer call (two when guided) per region: the text embedding has a batch of one."""
        predictions = []
        for index, region in enumerate(regions):
            cut = self.locate(region)
            frames = torch.tensor(cut.frames, device=self.control.device)
            control = self.control[:, :, frames][..., cut.rows, cut.cols]
            predictions.append(self._predict(sample[index:index + 1], control, timestep, *self.guidance))
        return torch.cat(predictions)
