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
plate with its own spatial tiling (AutoencoderKLWan.enable_tiling). Frames wait in scratch files
(np.memmap), not in memory.
"""
from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch

from actanywhere.engine.model.blending import BlendGrid, Region
from actanywhere.engine.model.refine import RefinedFrames, pad_frame, refine_timesteps
from actanywhere.engine.model.shot_tensor import ShotTensor
from actanywhere.engine.model.tiled_sampler import LatentRegion, TiledSampler
from actanywhere.engine.progress import ProgressCallback, ignore_progress

LATENT_PIXELS = 8  # pixels per latent pixel of Wan's VAE; a transformer patch is 2x2 latent pixels


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
    def region_tokens(self) -> int:
        """The transformer's tokens in one window x tile: VACE's reference frame and the window's latent
        frames, times the tile's patches."""
        frames, rows, cols = self.grid.window_shape
        return (1 + frames) * rows * cols


class WanPlateRefiner:
    def __init__(self, pipeline, frames: int, width: int, height: int, plan, scratch_dir: Optional[str] = None):
        self.pipeline, self.plan = pipeline, plan
        self.frames, self.width, self.height = int(frames), int(width), int(height)
        geometry = RefineGeometry.of(frames, width, height, plan, pipeline.vae_scale_factor, pipeline.temporal_factor)
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

    def _video(self, frames: np.ndarray) -> torch.Tensor:
        """(T, H, W, C) -> (1, C, 4k+1, H, W), the last frame repeated up to 4k+1."""
        order = [min(index, self.frames - 1) for index in range(self.video_frames)]
        tensor = torch.from_numpy(np.ascontiguousarray(frames[order]))
        return (tensor.permute(3, 0, 1, 2) if tensor.ndim == 4 else tensor[None])[None]

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
        """VACE's control latents (video, mask and reference) and the clean latents to re-noise:
        the reference's latent, then the upscaled global result's, at plate size."""
        from diffusers.pipelines.wan.pipeline_wan_vace import retrieve_latents

        wan = self.pipeline
        pipe, device = wan.pipe, wan.device
        alpha = self._video(self.matte[..., None]).to(device)  # (1, 1, F, H, W), subject = 1
        foreground = self._video(self.foreground).to(device)
        context = self._video(self.init).to(device)
        video = (foreground * alpha + context * (1 - alpha)) * 2 - 1  # VACE's video, in [-1, 1]
        mask = 1 - alpha
        canvas = [[self._reference_canvas(reference).to(device)]]
        pipe.vae.enable_tiling()
        try:
            control = pipe.prepare_video_latents(video, mask, canvas, None, device)
            masks = pipe.prepare_masks(mask, canvas, None)
            vae = pipe.vae
            mean = torch.tensor(vae.config.latents_mean, device=device).view(1, -1, 1, 1, 1)
            inverse_std = 1.0 / torch.tensor(vae.config.latents_std, device=device).view(1, -1, 1, 1, 1)
            init = retrieve_latents(vae.encode((context * 2 - 1).to(vae.dtype)), None, sample_mode="argmax")
            init = (init.float() - mean) * inverse_std
        finally:
            pipe.vae.disable_tiling()
        channels = init.shape[1]
        clean = torch.cat([control[:, :channels, :1].float(), init], dim=2).cpu()  # frame 0: the reference
        return torch.cat([control, masks], dim=1).to(wan.dtype), clean

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
        vae = self.pipeline.pipe.vae
        mean = torch.tensor(vae.config.latents_mean, device=latents.device).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std, device=latents.device).view(1, -1, 1, 1, 1)
        vae.enable_tiling()
        try:
            video = vae.decode((latents.float() * std + mean).to(vae.dtype), return_dict=False)[0]
        finally:
            vae.disable_tiling()
        frames = ((video[0].float().clamp(-1, 1) + 1) / 2).permute(1, 2, 3, 0).cpu().numpy()
        self.out[:] = frames[:self.frames]

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
