"""The MultiDiffusion-style loop: every step, predict the noise of each window x tile, blend the
predictions with smooth fp32 weights, and take one scheduler step on the blended prediction.

The U-Net never sees more frames than a window nor more latent pixels than a tile, whatever the shot.
With one window and one tile covering everything the loop is exactly the plain forward (weights of 1),
which is how `ActAnywherePipeline.__call__` runs: one way to sample, at any size.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.blending import BlendGrid, Region
from actanywhere.engine.model.pipeline import Conditioning
from actanywhere.engine.model.shot_tensor import ShotTensor
from actanywhere.engine.progress import EtaClock, ProgressCallback, ProgressEvent, ignore_progress


@dataclass
class ShotConditioning:
    """A shot's conditioning at one working resolution, encoded once and cropped per window x tile.

    `tile_embeds` (window, tile) -> (1, 1, D) replaces the shot's image embedding for that region: the
    refinement gives each tile the embedding of its own part of the scene (docs/tiling.md)."""

    fg_latents: ShotTensor  # latent channels
    mask: ShotTensor  # 1 channel
    image_embeds: torch.Tensor  # (1, 1, D)
    uncond_embeds: torch.Tensor  # (1, 1, D)
    text_embeds: Optional[torch.Tensor] = None
    tile_embeds: Dict[Tuple[int, int], torch.Tensor] = field(default_factory=dict)
    # Profiles with a spatial condition: the condition image's latent over the whole shot. One frame for
    # every frame (1, C, 1, h, w), which stays in memory even when the shot's state is on disk, or each
    # frame's own view of it (warped by the camera track): a ShotTensor like the foreground's latents.
    condition_latents: Optional[Union[torch.Tensor, ShotTensor]] = None

    @classmethod
    def from_conditioning(cls, conditioning: Conditioning, directory: Optional[str] = None) -> "ShotConditioning":
        spatial = conditioning.condition_latents
        if spatial is not None and spatial.shape[2] > 1:
            spatial = ShotTensor.from_tensor(spatial, directory, "condition")
        return cls(ShotTensor.from_tensor(conditioning.fg_latents, directory, "fg"),
                   ShotTensor.from_tensor(conditioning.mask, directory, "mask"),
                   conditioning.image_embeds, conditioning.uncond_embeds, conditioning.text_embeds,
                   condition_latents=spatial)

    def region(self, region: Region, device) -> Conditioning:
        embeds = self.tile_embeds.get((region.window, region.tile), self.image_embeds)
        spatial = None
        if isinstance(self.condition_latents, ShotTensor):
            spatial = self.condition_latents.read(region.frames, region.rows, region.cols).to(device)
        elif self.condition_latents is not None:
            spatial = self.condition_latents[:, :, :, region.rows, region.cols].to(device)
        return Conditioning(
            self.fg_latents.read(region.frames, region.rows, region.cols).to(device),
            self.mask.read(region.frames, region.rows, region.cols).to(device),
            embeds.to(device), self.uncond_embeds.to(device), self.text_embeds, spatial,
        )


def stack_conditioning(parts: Sequence[Conditioning]) -> Conditioning:
    """Several regions of one shape as one U-Net batch."""
    if len(parts) == 1:
        return parts[0]
    return Conditioning(
        torch.cat([part.fg_latents for part in parts]), torch.cat([part.mask for part in parts]),
        torch.cat([part.image_embeds for part in parts]), torch.cat([part.uncond_embeds for part in parts]),
        parts[0].text_embeds,
        None if parts[0].condition_latents is None else torch.cat([part.condition_latents for part in parts]),
    )


class TiledSampler:
    """Denoises a ShotTensor of latents over a BlendGrid with a pipeline's `predict_noise`."""

    def __init__(self, pipeline, grid: BlendGrid, tile_batch: int = 1, scratch_dir: Optional[str] = None):
        if grid.window_shape[0] > pipeline.model.max_frames_per_call:
            raise ModelError("windows of %d frames exceed the U-Net's motion_max_seq_length %d: lower "
                             "tiling.window_frames" % (grid.window_shape[0], pipeline.model.max_frames_per_call))
        self.pipeline = pipeline
        self.grid = grid
        self.tile_batch = max(1, int(tile_batch))
        self.scratch_dir = scratch_dir

    def _step_chunks(self, latents: ShotTensor) -> List[slice]:
        """Frames stepped together: the whole shot in memory, one frame at a time on disk (the step is
        elementwise, so this only bounds the memory it touches)."""
        if not latents.on_disk:
            return [slice(None)]
        return [slice(frame, frame + 1) for frame in range(latents.frames)]

    @torch.inference_mode()
    def denoise(self, latents: ShotTensor, conditioning: ShotConditioning, scheduler, timesteps,
                guidance_scale: float, progress: ProgressCallback = ignore_progress, stage: str = "sample") -> None:
        """Runs `timesteps` of `scheduler` on `latents`, in place."""
        pipeline, grid = self.pipeline, self.grid
        device = pipeline.device
        frames, height, width = latents.size
        directory = self.scratch_dir if latents.on_disk else None
        noise_sum = ShotTensor(latents.channels, frames, height, width, directory, "noise")
        weight_sum = ShotTensor(1, frames, height, width, directory, "weight")
        chunks = self._step_chunks(latents)
        # A stateful multistep scheduler keeps its history per chunk of frames.
        schedulers = [scheduler] if len(chunks) == 1 else [copy.deepcopy(scheduler) for _ in chunks]
        regions = grid.regions()
        timesteps = list(timesteps)
        total = len(timesteps) * len(regions)
        clock = EtaClock()
        done = 0
        try:
            for step, timestep in enumerate(timesteps):
                noise_sum.fill_(0.0)
                weight_sum.fill_(0.0)
                for first in range(0, len(regions), self.tile_batch):
                    batch = regions[first:first + self.tile_batch]
                    sample = torch.cat([latents.read(r.frames, r.rows, r.cols) for r in batch]).to(device)
                    condition = stack_conditioning([conditioning.region(r, device) for r in batch])
                    noise = pipeline.predict_noise(sample, condition, timestep, guidance_scale, schedulers[0])
                    for index, region in enumerate(batch):
                        weight = region.weight()
                        noise_sum.add(noise[index:index + 1].cpu() * weight, region.frames, region.rows, region.cols)
                        weight_sum.add(weight, region.frames, region.rows, region.cols)
                        done += 1
                        progress(ProgressEvent(
                            stage, done, total, step=step + 1, steps=len(timesteps), window=region.window + 1,
                            windows=grid.window_count, tile=region.tile + 1, tiles=grid.tile_count,
                            eta_s=clock.eta(done, total)))
                for chunk, chunk_scheduler in zip(chunks, schedulers):
                    blended = (noise_sum.read(chunk) / weight_sum.read(chunk)).to(device)
                    current = latents.read(chunk).to(device)
                    latents.write(chunk_scheduler.step(blended, timestep, current).prev_sample, chunk)
        finally:
            noise_sum.close()
            weight_sum.close()
