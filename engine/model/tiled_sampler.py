"""The MultiDiffusion-style loop of every backbone: every step, predict each window x tile, blend the
predictions with smooth fp32 weights, and take one scheduler step on the blended prediction.

The loop knows a BlendGrid (model/blending.py), a ShotTensor of latents (model/shot_tensor.py) and a
scheduler, and asks a backbone's *region model* two things (the protocol below): where a grid region
lies in its latents, and what the model predicts there. The U-Net's is model/unet_regions.py (one latent
per frame; the prediction is the noise or v), Wan VACE's is in backbones/wan_vace_refine.py (latent
frames of the 3D VAE with VACE's reference frame seen by every window; the prediction is the velocity).

The model never sees more frames than a window nor more latent pixels than a tile, whatever the shot.
With one window and one tile covering everything the loop is exactly the plain forward (weights of 1),
which is how `ActAnywherePipeline.__call__` runs: one way to sample, at any size.
"""
from __future__ import annotations

import copy
from typing import List, NamedTuple, Optional, Protocol, Sequence, Union

import torch

from actanywhere.engine.model.blending import BlendGrid, Region
from actanywhere.engine.model.shot_tensor import ShotTensor
from actanywhere.engine.progress import EtaClock, ProgressCallback, ProgressEvent, ignore_progress

class LatentRegion(NamedTuple):
    """Where a grid region lies in a backbone's latents, and how much each latent of it weighs."""

    frames: Union[slice, Sequence[int]]  # latent frames, in the order the model sees them
    rows: slice
    cols: slice
    weight: torch.Tensor  # (1, 1, F, h, w) float32 on the CPU


class RegionModel(Protocol):
    """What the tiled sampler asks of a backbone."""

    device: torch.device

    def locate(self, region: Region) -> LatentRegion:
        """A BlendGrid region in the latents' coordinates."""

    def predict(self, sample: torch.Tensor, regions: Sequence[Region], timestep, scheduler) -> torch.Tensor:
        """The float32 prediction for `sample`, the latents of `regions` (of one shape) stacked on dim 0,
        on the model's device; `scheduler` is the one stepping the shot (for scale_model_input)."""


class TiledSampler:
    """Denoises a ShotTensor of latents over a BlendGrid with a region model."""

    def __init__(self, grid: BlendGrid, tile_batch: int = 1, scratch_dir: Optional[str] = None):
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
    def denoise(self, latents: ShotTensor, model: RegionModel, scheduler, timesteps,
                progress: ProgressCallback = ignore_progress, stage: str = "sample") -> None:
        """Runs `timesteps` of `scheduler` on `latents`, in place."""
        grid, device = self.grid, model.device
        frames, height, width = latents.size
        directory = self.scratch_dir if latents.on_disk else None
        prediction_sum = ShotTensor(latents.channels, frames, height, width, directory, "prediction")
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
                prediction_sum.fill_(0.0)
                weight_sum.fill_(0.0)
                for first in range(0, len(regions), self.tile_batch):
                    batch = regions[first:first + self.tile_batch]
                    cuts = [model.locate(region) for region in batch]
                    sample = torch.cat([latents.read(cut.frames, cut.rows, cut.cols) for cut in cuts]).to(device)
                    prediction = model.predict(sample, batch, timestep, schedulers[0])
                    for index, (region, cut) in enumerate(zip(batch, cuts)):
                        prediction_sum.add(prediction[index:index + 1].cpu() * cut.weight, cut.frames, cut.rows, cut.cols)
                        weight_sum.add(cut.weight, cut.frames, cut.rows, cut.cols)
                        done += 1
                        progress(ProgressEvent(
                            stage, done, total, step=step + 1, steps=len(timesteps), window=region.window + 1,
                            windows=grid.window_count, tile=region.tile + 1, tiles=grid.tile_count,
                            eta_s=clock.eta(done, total)))
                for chunk, chunk_scheduler in zip(chunks, schedulers):
                    blended = (prediction_sum.read(chunk) / weight_sum.read(chunk)).to(device)
                    current = latents.read(chunk).to(device)
                    latents.write(chunk_scheduler.step(blended, timestep, current).prev_sample, chunk)
        finally:
            prediction_sum.close()
            weight_sum.close()
