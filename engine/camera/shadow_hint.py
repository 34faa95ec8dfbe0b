"""The shadow hint: where the plate's own subject darkens its ground, frame by frame.

The compositor's plate holds the subject's real shadow and contact, cast by the light the subject is lit
by. A new background lit the same way should show the same darkening. The hint measures it as the
plate's luma against a clean plate of the same frame:

    hint_t = 1 - L(plate_t) / L(clean_t)          (0: untouched, > 0: darkened, < 0: brightened)

The clean plate is motion-compensated from the neighbouring frames: each neighbour is warped into frame
t by the camera track (camera/track.py), its subject left out, and a high percentile taken per pixel (CLEAN_PERCENTILE). A
moving subject's shadow moves on, so some neighbours see the ground without it; where the subject stands still
for most of the window its shadow stays in the clean plate and the hint there is 0 (no evidence). Inside the
subject, and where fewer than MIN_SAMPLES neighbours see the ground, the hint is 0 as well.

OpenCV for the warps and the blur; numpy for the percentile.
"""
from __future__ import annotations

import numpy as np

from .track import CameraTrack

NEIGHBOURS = 12  # frames on each side that the clean plate is taken from
# The clean value is a high percentile of the neighbours' luma, not their median: a shadow only darkens,
# and a slow subject's shadow covers a patch of ground in most of the window (measured on test clips: the
# median recovered a fifth of the truth's darkening, the 80th percentile about half).
CLEAN_PERCENTILE = 80.0
MIN_SAMPLES = 3  # neighbours that must see a pixel for its clean value to count
SUBJECT_MARGIN = 0.03  # of the frame's height: the subject's edge (and motion blur) left out around it
LUMA_BLUR = 1.0  # pixels (sigma): the warps resample, so the ratio of single pixels is noise at edges
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
FLOOR = 0.02  # luma below which the ratio says nothing


def _grown(matte: np.ndarray, pixels: int) -> np.ndarray:
    import cv2

    subject = (matte > 0.01).astype(np.uint8)
    if pixels < 1:
        return subject.astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(subject, kernel).astype(bool)


def shadow_hint(frames: np.ndarray, mattes: np.ndarray, track: CameraTrack) -> np.ndarray:
    """(T, H, W) float32 in [-1, 1]: the hint of every frame of `frames` (T, H, W, 3), display-referred,
    whose subject is `mattes` (T, H, W), moving with the camera of `track` (any reference frame)."""
    import cv2

    frames = np.asarray(frames, np.float32)
    count, height, width = frames.shape[:3]
    if len(track.frames) != count:
        raise ValueError("camera track has %d frames, the plate %d" % (len(track.frames), count))
    sigma = LUMA_BLUR
    luma = np.stack([cv2.GaussianBlur(frame @ LUMA, (0, 0), sigma) for frame in frames])
    margin = max(1, int(round(SUBJECT_MARGIN * height)))
    background = np.stack([~_grown(matte, margin) for matte in mattes]).astype(np.float32)
    to_reference = [track.pixel_homography(index, width, height) for index in range(count)]
    hint = np.zeros((count, height, width), np.float32)
    for target in range(count):
        samples, weights = [], []
        for source in range(max(0, target - NEIGHBOURS), min(count, target + NEIGHBOURS + 1)):
            if source == target:
                continue
            # Target pixels -> reference -> source pixels.
            matrix = np.linalg.inv(to_reference[source]) @ to_reference[target]
            flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            samples.append(cv2.warpPerspective(luma[source], matrix, (width, height), flags=flags,
                                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0))
            weights.append(cv2.warpPerspective(background[source], matrix, (width, height), flags=flags,
                                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0))
        if not samples:
            continue
        stack = np.where(np.stack(weights) > 0.999, np.stack(samples), np.nan)
        seen = np.isfinite(stack).sum(axis=0)
        # The percentile of the seen samples per pixel: sorting puts the unseen (NaN) last (nanpercentile
        # does the same, 20x slower).
        rank = np.floor(CLEAN_PERCENTILE / 100.0 * np.maximum(seen - 1, 0)).astype(np.int64)
        clean = np.take_along_axis(np.sort(stack, axis=0), rank[None], axis=0)[0]
        usable = (seen >= MIN_SAMPLES) & (clean > FLOOR) & (background[target] > 0.5)
        ratio = np.zeros((height, width), np.float32)
        ratio[usable] = 1.0 - luma[target][usable] / clean[usable]
        hint[target] = np.clip(ratio, -1.0, 1.0)
    return hint
