"""The detail pass: the condition image's fine texture, put back into the decoded frames.

Why: a latent model's plate is its sampled latents through the VAE decoder, and a small VAE loses the
fine texture of a scene. Measured on the tiny profile's held-out clips: the background-only condition
image alone, through the VAE and back, is 0.020 worse in band MAE than the image itself, a larger
loss than anything the U-Net gains by drawing shadows. The sampled frames carry the scene's layout,
light, shadows and contact; the condition image carries its texture. This small convolutional network
sees both, their difference and the subject's matte, and predicts a correction of the decoded frame:

    frame = decoded + DetailNet(decoded, condition, matte)

It learns where the two agree (a static scene, the frames near the condition's framing) and copies the
condition's detail there, and leaves the frame as decoded where they do not (a shadow, a camera that
moved). The matte tells it where the subject is, so it can sharpen the shadow and contact right at the
subject's edge; it is trained on what the comp delivers (the subject's pixels are the plate's own),
so it spends nothing on the subject. Its last layer starts at zero: an untrained pass is the identity.

Not in the paper (whose SD VAE is large enough); an optional part of a profile (`detail/` in its folder,
`detail_pass` in actanywhere.json), trained after the decoder by `actanywhere train-decoder`
(engine/training/decoder_finetune.py). It works on whole frames of any size: the pipeline's global pass
and, at plate size, the tiled refinement (model/refine.py), which runs it in horizontal strips with
enough overlap that a strip's result equals the whole frame's.
"""
from __future__ import annotations

from typing import Iterator, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.net_files import load_net, save_net

# Rows of a strip the refinement hands the network at once, and the rows of context on each side.
# The receptive field is 23 pixels (11 each side), so 16 rows of context make a strip's result exact.
STRIP_ROWS = 256
STRIP_CONTEXT = 16


class DetailNet(nn.Module):
    """A two-scale convolutional net: full resolution for the texture, half resolution for context."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.width = int(width)
        w = self.width
        self.inp = nn.Conv2d(10, w, 3, padding=1)  # decoded, condition, decoded - condition, matte
        self.full1 = nn.Conv2d(w, w, 3, padding=1)
        self.down = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.half1 = nn.Conv2d(2 * w, 2 * w, 3, padding=1)
        self.half2 = nn.Conv2d(2 * w, 2 * w, 3, padding=1)
        self.up = nn.Conv2d(2 * w, w, 3, padding=1)
        self.full2 = nn.Conv2d(w, w, 3, padding=1)
        self.out = nn.Conv2d(w, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # identity until trained
        nn.init.zeros_(self.out.bias)

    @property
    def config(self) -> dict:
        return {"width": self.width}

    def forward(self, decoded: torch.Tensor, condition: torch.Tensor, matte: torch.Tensor) -> torch.Tensor:
        """decoded (N, 3, H, W), condition (N or 1, 3, H, W), matte (N, 1, H, W), subject = 1, all in [0, 1];
        H and W even. Returns the corrected frames, not clamped (training sees the raw output)."""
        condition = condition.expand_as(decoded)
        x = torch.cat([decoded, condition, decoded - condition, matte], dim=1) * 2 - 1
        full = F.silu(self.full1(F.silu(self.inp(x))))
        half = F.silu(self.half2(F.silu(self.half1(F.silu(self.down(full))))))
        full = full + F.silu(self.up(F.interpolate(half, scale_factor=2, mode="nearest")))
        return decoded + self.out(F.silu(self.full2(full)))


def strips(height: int, rows: int = STRIP_ROWS, context: int = STRIP_CONTEXT) -> Iterator[Tuple[slice, slice]]:
    """(input rows, output rows within the input) covering `height`: strips of `rows` rows read with
    `context` rows more on each side. Starts stay even, so the half-resolution grid is the frame's."""
    for start in range(0, height, rows):
        stop = min(height, start + rows)
        top = max(0, start - context)
        bottom = min(height, stop + context)
        yield slice(top, bottom), slice(start - top, stop - top)


@torch.inference_mode()
def restore_detail(net: DetailNet, decoded: torch.Tensor, condition: torch.Tensor, matte: torch.Tensor
                   ) -> torch.Tensor:
    """The detail pass over frames of any height, in strips; (N, 3, H, W) in [0, 1] -> the same, clamped.
    `condition` (1, 3, H, W) is the condition image at the frames' size, `matte` (N, 1, H, W) the
    subject's. Odd sizes are padded by one edge row or column and cropped back."""
    height, width = decoded.shape[-2:]
    for name, image in (("condition", condition), ("matte", matte)):
        if tuple(image.shape[-2:]) != (height, width):
            raise ModelError("detail pass: the %s is %sx%s, the frames "
                             "%sx%s; resize the %s to the frames first"
                             % (name, image.shape[-1], image.shape[-2], width, height, name))
    pad = (0, width % 2, 0, height % 2)
    if any(pad):
        decoded, condition, matte = (F.pad(image, pad, mode="replicate") for image in (decoded, condition, matte))
    parameter = next(net.parameters())
    out = torch.empty_like(decoded)
    for rows, keep in strips(decoded.shape[-2]):
        part = net(*(image[:, :, rows].to(parameter.device, parameter.dtype) for image in (decoded, condition, matte)))
        out[:, :, rows][:, :, keep] = part[:, :, keep].to(out.device, out.dtype)
    return out[:, :, :height, :width].clamp(0, 1)


# -- files -----------------------------------------------------------------------------------------
def save_detail_net(net: DetailNet, folder) -> None:
    save_net(net, folder)


def build_detail_net(config: dict, source: str = "detail config") -> DetailNet:
    unknown = sorted(set(config) - {"width"})
    if unknown:
        raise ModelError("%s: unknown key %r; a detail net's config holds `width`" % (source, unknown[0]))
    return DetailNet(**config)


def load_detail_net(folder) -> DetailNet:
    """detail/config.json and detail/model.safetensors, as save_detail_net writes them."""
    return load_net(folder, build_detail_net, "detail net")
