"""Metrics that a blurred or static plate cannot win (docs/evaluation.md).

MSE-type scores reward the mean of what a scene could be: a soft plate that never moves scores well on
PSNR and flicker. These three ask what a compositor checks by eye:

- shadow_recovery: does the output darken the ground where the ground truth's shadow and contact
  effects darken it? Per pixel of the band (see groundtruth_metrics.regions), darkening_gt =
  1 - L(gt) / L(clean) and darkening_out = 1 - L(out) / L(clean), L the luma and `clean` the scene
  without subject, shadow or effects; the score is their Pearson correlation over the band, pooled over
  the clip's frames, leaving out a ring around the subject (where the comp mixes in the subject's own
  edge). 1: the shadow where it belongs; 0: no shadow (or one unrelated to the truth; an
  output that does not vary there at all scores 0).
- sharpness: the output's high-frequency energy (mean squared Laplacian of the luma) against the
  ground truth's, over the rest region (outside the subject, its shadow band and its edge). 1.0 is
  right; a blurred plate scores low, added noise scores above 1.
- camera_follow_px: the mean distance, over frames, between where the output's background says the
  reference frame's centre is and where the true camera puts it (pixels of the clip). The output is
  tracked with the same tracker as the plate (camera/tracker.py); a static plate scores the camera's
  own travel, and an output the tracker cannot follow counts as static (its frames give no camera).

numpy, and OpenCV for the tracking.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from ..errors import MediaError
from .groundtruth_metrics import dilate

LUMA = np.array([0.2126, 0.7152, 0.0722])
DARKENING_FLOOR = 0.02  # luma of `clean` below which the darkening ratio is noise


def luma(video: np.ndarray) -> np.ndarray:
    return np.asarray(video, np.float64) @ LUMA


def shadow_recovery(out: np.ndarray, gt: np.ndarray, clean: np.ndarray, band: np.ndarray,
                    subject: np.ndarray) -> float:
    """Pearson correlation of the output's darkening with the ground truth's over `band` (T, H, W), less
    a 2-pixel ring around the `subject`: there the comp mixes in the subject's own edge, which would
    correlate with the truth for any plate."""
    clean_luma = luma(clean)
    usable = np.asarray(band, bool) & ~dilate(np.asarray(subject, bool) | (np.asarray(subject) > 0), 2)
    usable &= clean_luma > DARKENING_FLOOR
    if usable.sum() < 8:
        return float("nan")
    dark_gt = 1.0 - luma(gt)[usable] / clean_luma[usable]
    dark_out = 1.0 - luma(out)[usable] / clean_luma[usable]
    if dark_gt.std() < 1e-6:
        return float("nan")  # no shadow in the truth: nothing to recover
    if dark_out.std() < 1e-6:
        return 0.0
    return float(np.corrcoef(dark_gt, dark_out)[0, 1])


def laplacian_energy(video: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian of the luma over `mask` (edge pixels of the frame left out)."""
    values = luma(video)
    laplacian = np.zeros_like(values)
    laplacian[:, 1:-1, 1:-1] = (values[:, :-2, 1:-1] + values[:, 2:, 1:-1] + values[:, 1:-1, :-2]
                                + values[:, 1:-1, 2:] - 4.0 * values[:, 1:-1, 1:-1])
    inner = np.zeros(values.shape, bool)
    inner[:, 1:-1, 1:-1] = True
    selected = laplacian[np.asarray(mask, bool) & inner]
    return float((selected ** 2).mean()) if selected.size else float("nan")


def sharpness(out: np.ndarray, gt: np.ndarray, rest: np.ndarray, subject: np.ndarray) -> float:
    """High-frequency energy of `out` over that of `gt`, over `rest` less a 2-pixel ring around the subject
    (the comp's edge is the subject's own, not the plate's)."""
    region = np.asarray(rest, bool) & ~dilate(np.asarray(subject, bool), 2)
    truth = laplacian_energy(gt, region)
    if not truth > 0:
        return float("nan")
    return laplacian_energy(out, region) / truth


def camera_path(video: np.ndarray, matte: np.ndarray, reference_index: int) -> Optional[np.ndarray]:
    """(T, 2) where the reference frame's centre lies in each frame of `video`, by the plate tracker;
    None when the tracker cannot follow it (too little texture, or frames that do not continue)."""
    from ..camera.tracker import track_frames

    frames, height, width = np.asarray(matte).shape
    try:
        track = track_frames([(index, video[index], matte[index]) for index in range(frames)], reference_index,
                             source="output")
    except MediaError:
        return None
    return track.reference_centre_path(width, height)


def camera_follow_error(out: np.ndarray, matte: np.ndarray, true_path: np.ndarray, reference_index: int) -> float:
    """Mean distance in pixels between the output's camera path and the true one (module docstring)."""
    path = camera_path(out, matte, reference_index)
    if path is None:
        height, width = np.asarray(matte).shape[1:]
        path = np.tile([[width / 2.0 - 0.5, height / 2.0 - 0.5]], (len(true_path), 1))  # a static plate
    return float(np.linalg.norm(path - np.asarray(true_path), axis=1).mean())


def plate_metrics(out: np.ndarray, gt: np.ndarray, clean: Optional[np.ndarray], masks: Dict[str, np.ndarray],
                  matte: np.ndarray, true_path: Optional[np.ndarray], reference_index: int) -> Dict[str, float]:
    """The three metrics of one output video; those whose ground truth is missing are NaN."""
    nan = float("nan")
    return {
        "shadow_recovery": nan if clean is None else shadow_recovery(out, gt, clean, masks["band"], matte > 0.01),
        "sharpness": sharpness(out, gt, masks["rest"], masks["subject"]),
        "camera_follow_px": nan if true_path is None else camera_follow_error(out, matte, true_path, reference_index),
    }
