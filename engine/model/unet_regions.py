"""The ActAnywhere U-Net as the tiled sampler's region model (model/tiled_sampler.py): a shot's
conditioning encoded once and cropped per window x tile, and the U-Net's guided noise prediction.

One latent per frame, so a grid region is its own place in the latents."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple, Union

import torch

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.blending import BlendGrid, Region
from actanywhere.engine.model.pipeline import Conditioning
from actanywhere.engine.model.shot_tensor import ShotTensor
from actanywhere.engine.model.tiled_sampler import LatentRegion


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


class UNetRegions:
    """The region model of an ActAnywhere pipeline (anything with `device`, `model.max_frames_per_call`
    and `predict_noise`) over a shot's conditioning, guided by `guidance_scale`."""

    def __init__(self, pipeline, conditioning: ShotConditioning, guidance_scale: float, grid: BlendGrid):
        if grid.window_shape[0] > pipeline.model.max_frames_per_call:
            raise ModelError("windows of %d frames exceed the U-Net's motion_max_seq_length %d: lower "
                             "tiling.window_frames" % (grid.window_shape[0], pipeline.model.max_frames_per_call))
        self.pipeline, self.conditioning, self.guidance_scale = pipeline, conditioning, guidance_scale
        self.device = pipeline.device

    def locate(self, region: Region) -> LatentRegion:
        return LatentRegion(region.frames, region.rows, region.cols, region.weight())

    def predict(self, sample: torch.Tensor, regions: Sequence[Region], timestep, scheduler) -> torch.Tensor:
        condition = stack_conditioning([self.conditioning.region(region, self.device) for region in regions])
        return self.pipeline.predict_noise(sample, condition, timestep, self.guidance_scale, scheduler)
