"""Mask augmentation: train on imperfect mattes so inaccurate roto still works at inference.

Each op fires on a clip with its own rate and acts on every frame of the clip alike (one radius, one
sigma, holes at the same place relative to the subject), as a roto artist's error would. The ops, in
the order applied:

- bounding_box: the matte becomes each frame's subject bounding box (a garbage matte);
- holes: rectangles cut out of the subject (a roto that misses parts);
- erode_dilate: the matte shrinks or grows by a few pixels (a tight or loose roto);
- blur: a Gaussian blur (a soft edge).

Mattes are (T, H, W) float32 with subject = 1. Pure numpy + torch (for the filters), no file I/O.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from actanywhere.engine.training.config import MaskAugmentSettings

SUBJECT_THRESHOLD = 0.5


def _boxes(matte: np.ndarray) -> List[Tuple[int, int, int, int]]:
    """Per frame (top, bottom, left, right), bottom/right exclusive; an empty frame gives (0, 0, 0, 0)."""
    boxes = []
    for frame in matte > SUBJECT_THRESHOLD:
        rows, cols = np.flatnonzero(frame.any(1)), np.flatnonzero(frame.any(0))
        boxes.append((rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) if rows.size else (0, 0, 0, 0))
    return boxes


def bounding_box(matte: np.ndarray) -> np.ndarray:
    out = np.zeros_like(matte)
    for index, (top, bottom, left, right) in enumerate(_boxes(matte)):
        out[index, top:bottom, left:right] = 1.0
    return out


def holes(matte: np.ndarray, rng: np.random.Generator, count: int, max_fraction: float) -> np.ndarray:
    """Cut `count` rectangles out of the subject, placed and sized relative to each frame's box."""
    out = matte.copy()
    shapes = [(rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.1, 1) * max_fraction,
               rng.uniform(0.1, 1) * max_fraction) for _ in range(count)]
    for index, (top, bottom, left, right) in enumerate(_boxes(matte)):
        height, width = bottom - top, right - left
        if height == 0 or width == 0:
            continue
        for y, x, fraction_h, fraction_w in shapes:
            hole_h, hole_w = max(1, round(height * fraction_h)), max(1, round(width * fraction_w))
            y0 = top + int(y * (height - hole_h))
            x0 = left + int(x * (width - hole_w))
            out[index, y0:y0 + hole_h, x0:x0 + hole_w] = 0.0
    return out


def erode_dilate(matte: np.ndarray, radius: int) -> np.ndarray:
    """Grow the subject by `radius` pixels (negative: shrink), with a square structuring element."""
    if radius == 0:
        return matte.copy()
    tensor = torch.from_numpy(np.ascontiguousarray(matte, dtype=np.float32))[:, None]
    size = 2 * abs(radius) + 1
    if radius > 0:
        grown = F.max_pool2d(tensor, size, stride=1, padding=abs(radius))
    else:
        grown = -F.max_pool2d(-tensor, size, stride=1, padding=abs(radius))
    return grown[:, 0].numpy()


def blur(matte: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge padding."""
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    tensor = torch.from_numpy(np.ascontiguousarray(matte, dtype=np.float32))[:, None]
    tensor = F.pad(tensor, (radius, radius, radius, radius), mode="replicate")
    tensor = F.conv2d(tensor, kernel.view(1, 1, 1, -1))
    tensor = F.conv2d(tensor, kernel.view(1, 1, -1, 1))
    return tensor[:, 0].numpy()


def augment_matte(matte: np.ndarray, rng: np.random.Generator,
                  settings: MaskAugmentSettings) -> Tuple[np.ndarray, List[str]]:
    """The augmented matte and the names of the ops that fired. Every rate draws from `rng` whether
    or not its op fires, so one op's rate does not shift the others' random numbers."""
    matte = np.asarray(matte, dtype=np.float32)
    fires = {name: rng.random() < getattr(settings, name)
             for name in ("bounding_box", "holes", "erode_dilate", "blur")}
    hole_rng = np.random.default_rng(rng.integers(2**63))
    hole_count = int(rng.integers(1, settings.holes_max + 1))
    radius = int(rng.integers(1, settings.erode_dilate_max_px + 1)) * (1 if rng.random() < 0.5 else -1)
    sigma = float(rng.uniform(min(0.5, settings.blur_max_px), settings.blur_max_px))
    applied = []
    if fires["bounding_box"]:
        matte, applied = bounding_box(matte), applied + ["bounding_box"]
    if fires["holes"]:
        matte, applied = holes(matte, hole_rng, hole_count, settings.hole_max_fraction), applied + ["holes"]
    if fires["erode_dilate"]:
        matte, applied = erode_dilate(matte, radius), applied + ["erode_dilate"]
    if fires["blur"]:
        matte, applied = blur(matte, sigma), applied + ["blur"]
    return np.clip(matte, 0.0, 1.0).astype(np.float32, copy=False), applied
