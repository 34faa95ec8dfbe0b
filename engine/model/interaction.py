"""The interaction pass: the subject's cast shadow and contact effects, drawn onto the generated plate.

Why: the tiny profile samples in one step, which returns the mean of what the scene could be, and the
mean over every light direction is no shadow at all (measured on held-out clips: shadow recovery 0.02,
the tracked paste's 0.00). A shadow is a function of three things that the inputs do show: the
subject's silhouette in this frame, where the ground is, and where the light comes from (the subject's
own shading says from which side), and, when the plate shows it, the shadow the subject really casts
there. This network sees them per frame - the matte of this frame and of the two before it (dust and
ripples linger after a footfall), the foreground segmentation, the condition as this frame sees it
(camera/condition_warp.py), where that view is valid, and the plate's shadow hint
(camera/shadow_hint.py: how much the plate's own ground is darkened around the subject; zeros when
there is none) - and predicts a gain per pixel and channel that multiplies the plate:

    plate = plate * exp(InteractionNet(mattes, segmentation, view, validity, hint))

A gain keeps the plate's texture (a shadow darkens the ground; it does not repaint it), so the plate
stays as sharp as the sampler and the detail pass made it. The last layer starts at zero: an untrained
pass is the identity. It is a deterministic regression, trained after the rest of the profile by
`actanywhere train-interaction` (engine/training/interaction_train.py) on synthetic clips; an optional
part of a profile (`interaction/` in its folder, `interaction_pass` in actanywhere.json).

It runs at WORK_HEIGHT rows whatever the plate's size (the scale it was trained at: a subject about half
the frame high), and its gain is resized to the plate: a gain is smooth where the texture is not, so
nothing is lost. Not in the paper, whose model draws the shadow in its own samples (docs/model.md).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from actanywhere.engine.errors import ModelError
from actanywhere.engine.model.net_files import load_net, save_net
from actanywhere.engine.progress import ProgressCallback, ProgressEvent, ignore_progress

WORK_HEIGHT = 128  # rows the network works at: its training clips' height
MULTIPLE = 16  # four halvings
PAST_MATTES = 2  # mattes of earlier frames the network sees besides the current one
INPUT_CHANNELS = 1 + PAST_MATTES + 3 + 3 + 1 + 1  # mattes, segmentation, view, validity, shadow hint
LOG_GAIN_RANGE = (-4.0, 1.5)  # a shadow removes at most ~98 % of the light, dust brightens at most ~4.5x
GREY = 0.5  # the segmentation's background, as the U-Net sees it (profile.background_grey)


def _conv(channels_in: int, channels_out: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=dilation, dilation=dilation)


class InteractionNet(nn.Module):
    """A small U-Net over five scales (1 to 1/16): the fine levels place the contact, the coarse ones
    (dilated at 1/8 and 1/16) reach from the subject to the end of a long shadow."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.width = int(width)
        w = self.width
        widths = (w, 2 * w, 3 * w, 4 * w, 4 * w)
        self.inp = _conv(INPUT_CHANNELS, widths[0])
        self.downs = nn.ModuleList(_conv(a, b, stride=2) for a, b in zip(widths[:-1], widths[1:]))
        self.mids = nn.ModuleList(_conv(b, b, dilation=2 if level >= 2 else 1) for level, b in enumerate(widths[1:]))
        self.ups = nn.ModuleList(_conv(b, a) for a, b in zip(widths[:-1], widths[1:]))
        self.merges = nn.ModuleList(_conv(a, a) for a in widths[:-1])
        self.out = nn.Conv2d(widths[0], 3, 3, padding=1)
        # He initialisation: with torch's default a stack this deep and unnormalised passes the last layer
        # features about 1e-3 of its input's size, and learns a hundred times slower (measured).
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module is not self.out:
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        nn.init.zeros_(self.out.weight)  # identity until trained
        nn.init.zeros_(self.out.bias)

    @property
    def config(self) -> dict:
        return {"width": self.width}

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs (N, INPUT_CHANNELS, H, W) from `net_inputs`, H and W multiples of 16 -> the log gain
        (N, 3, H, W), clamped to LOG_GAIN_RANGE."""
        skips = [F.silu(self.inp(inputs))]
        for down, mid in zip(self.downs, self.mids):
            skips.append(F.silu(mid(F.silu(down(skips[-1])))))
        x = skips.pop()
        for level in reversed(range(len(self.ups))):
            x = F.interpolate(F.silu(self.ups[level](x)), scale_factor=2, mode="bilinear", align_corners=False)
            x = F.silu(self.merges[level](x + skips[level]))
        return self.out(x).clamp(*LOG_GAIN_RANGE)


def net_inputs(mattes: torch.Tensor, foreground: torch.Tensor, views: torch.Tensor, validity: torch.Tensor,
               past_mattes: Optional[torch.Tensor] = None, hint: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The network's input for T consecutive frames, all at work size and in [0, 1]: mattes (T, 1, H, W),
    subject = 1; foreground (T, 3, H, W); views (T, 3, H, W), the condition as each frame sees it;
    validity (T, 1, H, W). `past_mattes` (PAST_MATTES, 1, H, W): the mattes of the frames before the
    first (default: the first repeated, as at the start of a shot). `hint` (T, 1, H, W) in [-1, 1]: the
    plate's shadow hint (default: none, zeros). Returns (T, INPUT_CHANNELS, H, W)."""
    if past_mattes is None:
        past_mattes = mattes[:1].expand(PAST_MATTES, -1, -1, -1)
    history = torch.cat([past_mattes, mattes])
    frames = mattes.shape[0]
    stacked = [history[PAST_MATTES - lag:PAST_MATTES - lag + frames] for lag in range(PAST_MATTES + 1)]
    segmentation = foreground * mattes + GREY * (1 - mattes)
    hint = torch.zeros_like(mattes) if hint is None else hint
    return torch.cat([torch.cat(stacked + [segmentation, views, validity], dim=1) * 2 - 1, hint], dim=1)


def work_size(width: int, height: int) -> Tuple[int, int]:
    """(width, height) the network works at for frames of (width, height): WORK_HEIGHT rows, the
    frames' aspect, both multiples of MULTIPLE."""
    work_height = WORK_HEIGHT
    work_width = max(MULTIPLE, int(round(width * work_height / height / MULTIPLE)) * MULTIPLE)
    return work_width, work_height


def _resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(images.shape[-2:]) == (height, width):
        return images
    shrinking = images.shape[-2] > height or images.shape[-1] > width
    return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=shrinking)


@torch.inference_mode()
def interaction_gains(net: InteractionNet, foreground: np.ndarray, matte: np.ndarray, spatial,
                      hint: Optional[np.ndarray] = None, batch: int = 8,
                      progress: ProgressCallback = ignore_progress) -> np.ndarray:
    """The gain of every frame at work size, (T, h, w, 3) float32. foreground (T, H, W, 3) and matte
    (T, H, W) in [0, 1] at any one size (the model's working size); `spatial` the SpatialCondition the
    plate was generated with (its views are taken at work size, from the condition image itself);
    `hint` (T, H', W') the plate's shadow hint at any size, or None."""
    frames, height, width = np.shape(matte)
    if np.shape(foreground)[:3] != (frames, height, width):
        raise ModelError("interaction pass: the foreground is %s, the matte %s"
                         % (np.shape(foreground), np.shape(matte)))
    if spatial.frames != frames:
        raise ModelError("interaction pass: the condition covers %s frames, the shot %s" % (spatial.frames, frames))
    if hint is not None and len(hint) != frames:
        raise ModelError("interaction pass: the shadow hint has %s frames, the shot %s" % (len(hint), frames))
    work_width, work_height = work_size(width, height)
    parameter = next(net.parameters())
    gains = np.empty((frames, work_height, work_width, 3), np.float32)
    past = None
    for start in range(0, frames, batch):
        stop = min(frames, start + batch)
        rgb = torch.from_numpy(np.ascontiguousarray(foreground[start:stop], np.float32)).permute(0, 3, 1, 2)
        alpha = torch.from_numpy(np.ascontiguousarray(matte[start:stop], np.float32))[:, None]
        rgb, alpha = _resize(rgb, work_height, work_width).clamp(0, 1), _resize(alpha, work_height, work_width).clamp(0, 1)
        views = torch.from_numpy(np.stack([spatial.frame(i, work_width, work_height) for i in range(start, stop)]))
        valid = torch.from_numpy(np.stack([spatial.validity(i, work_width, work_height) for i in range(start, stop)]))
        shadow = None
        if hint is not None:
            shadow = torch.from_numpy(np.ascontiguousarray(hint[start:stop], np.float32))[:, None]
            shadow = _resize(shadow, work_height, work_width).clamp(-1, 1)
        inputs = net_inputs(alpha, rgb, views.permute(0, 3, 1, 2), valid[:, None], past, shadow)
        log_gain = net(inputs.to(parameter.device, parameter.dtype)).float().cpu()
        gains[start:stop] = torch.exp(log_gain).permute(0, 2, 3, 1).numpy()
        progress(ProgressEvent("interaction", stop, frames, frame=stop - 1))
        past = torch.cat([past if past is not None else alpha[:1].expand(PAST_MATTES, -1, -1, -1), alpha])[-PAST_MATTES:]
    return gains


def apply_gain(frame: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """frame (H, W, 3) in [0, 1] times `gain` (h, w, 3) resized to it (bilinear: the gain is smooth)."""
    height, width = frame.shape[:2]
    if gain.shape[:2] != (height, width):
        import cv2

        gain = cv2.resize(gain, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(frame * gain, 0.0, 1.0).astype(np.float32, copy=False)


def apply_gains(frames: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) frames with their (T, h, w, 3) gains applied."""
    if len(frames) != len(gains):
        raise ModelError("interaction pass: %s frames but %s gains" % (len(frames), len(gains)))
    return np.stack([apply_gain(frame, gain) for frame, gain in zip(frames, gains)])


class GainedFrames:
    """Frames (a sequence of (H, W, 3) arrays, e.g. the refiner's, read lazily) with their gains applied."""

    def __init__(self, frames: Sequence[np.ndarray], gains: np.ndarray):
        if len(frames) != len(gains):
            raise ModelError("interaction pass: %s frames but %s gains" % (len(frames), len(gains)))
        self.frames, self.gains = frames, gains

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> np.ndarray:
        return apply_gain(self.frames[index], self.gains[index])


# -- files -----------------------------------------------------------------------------------------
def build_interaction_net(config: dict, source: str = "interaction config") -> InteractionNet:
    unknown = sorted(set(config) - {"width"})
    if unknown:
        raise ModelError("%s: unknown key %r; an interaction net's config holds `width`" % (source, unknown[0]))
    return InteractionNet(**config)


def save_interaction_net(net: InteractionNet, folder) -> None:
    save_net(net, folder)


def load_interaction_net(folder) -> InteractionNet:
    """interaction/config.json and interaction/model.safetensors, as save_interaction_net writes them."""
    return load_net(folder, build_interaction_net, "interaction net")
