"""VAE encode and decode of a frame in overlapping tiles, blended with the sampler's smooth weights.

A plate frame through the VAE in one piece costs memory quadratic in its area (the VAE's mid-block
attends over every latent pixel); in tiles of the sampler's tile size it costs what one tile costs.
A frame that fits one tile goes through the VAE whole, exactly as the plain pipeline does.
"""
from __future__ import annotations

import torch

from actanywhere.engine.model.blending import blend_weights_2d


@torch.inference_mode()
def encode_tiled(pipeline, pixels: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] (H, W multiples of the VAE factor) -> (N, C, H/f, W/f) scaled latents, the
    distribution's mode; `tile`/`overlap` in latent pixels."""
    factor = pipeline.vae_scale_factor
    scaling = pipeline.profile.vae_scaling_factor
    count, _, height, width = pixels.shape
    latent_height, latent_width = height // factor, width // factor
    out = torch.zeros(count, pipeline.model.latent_channels, latent_height, latent_width)
    total = torch.zeros(1, 1, latent_height, latent_width)
    vae, device, dtype = pipeline.model.vae, pipeline.device, pipeline.dtype
    for rows, cols, weight in blend_weights_2d(latent_height, latent_width, tile, overlap):
        part = pixels[:, :, rows.start * factor:rows.stop * factor, cols.start * factor:cols.stop * factor]
        latent = vae.encode(part.to(device, dtype)).latent_dist.mode().float().cpu() * scaling
        weight = torch.from_numpy(weight)[None, None]
        out[:, :, rows, cols] += latent * weight
        total[:, :, rows, cols] += weight
    return out / total


@torch.inference_mode()
def decode_tiled(pipeline, latents: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    """(N, C, h, w) scaled latents -> (N, 3, h*f, w*f) float32 in [0, 1]; `tile`/`overlap` in latent pixels."""
    factor = pipeline.vae_scale_factor
    count, _, latent_height, latent_width = latents.shape
    out = torch.zeros(count, 3, latent_height * factor, latent_width * factor)
    total = torch.zeros(1, 1, latent_height * factor, latent_width * factor)
    vae, device, dtype = pipeline.model.vae, pipeline.device, pipeline.dtype
    flat = latents / pipeline.profile.vae_scaling_factor
    for rows, cols, weight in blend_weights_2d(latent_height, latent_width, tile, overlap, scale=factor):
        pixels = vae.decode(flat[:, :, rows, cols].to(device, dtype)).sample.float().cpu()
        pixel_rows = slice(rows.start * factor, rows.stop * factor)
        pixel_cols = slice(cols.start * factor, cols.stop * factor)
        weight = torch.from_numpy(weight)[None, None]
        out[:, :, pixel_rows, pixel_cols] += (pixels / 2 + 0.5).clamp(0, 1) * weight
        total[:, :, pixel_rows, pixel_cols] += weight
    return out / total
