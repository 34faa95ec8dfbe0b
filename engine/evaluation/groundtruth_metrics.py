"""Metrics that the synthetic clips' ground truth allows (docs/evaluation.md defines each one).

Every method under test yields an output video `out` (T, H, W, 3), display-referred in [0, 1], and is
compared with the clip's ground-truth frames `gt` (the subject over the scene with its shadow and
contact effects). The regions, per frame t:

- subject:  matte_t >= 0.5
- outside:  matte_t < 0.5  (what the model generates)
- band:     dilate(interaction_t > BAND_THRESHOLD (0.2), radius) & outside: where the ground truth's shadow and
            contact effects lie, grown by `radius` pixels (default max(1, round(min(H, W) / 32)), 2 px at
            64x64) so that a shadow drawn slightly off place is still judged there.
- rest:     outside & not band: the scene the condition image alone determines.

Metrics (colour errors are averaged over the three channels; regions pool all frames of the clip):

- psnr_outside, psnr_rest: 10 log10(1 / MSE) over the region; identical pixels give +inf.
- ssim_outside: SSIM (Gaussian window sigma 1.5, radius 5, C1 = 0.01^2, C2 = 0.03^2, reflect padding)
  per channel, its map averaged over the outside region.
- band_mae: mean absolute error over the band (NaN if no frame has a band).
- flicker_error: | mean|out_{t+1} - out_t| - mean|gt_{t+1} - gt_t| |, both means over the pixels outside
  the subject in both frames t and t+1: how much more (or less) the output changes from frame to frame
  than the ground truth does. 0 for a static output of a static scene.
- temporal_mae: mean |(out_{t+1} - out_t) - (gt_{t+1} - gt_t)| over the same pixels: the stricter,
  per-pixel version (changes in the wrong place count too).
- fg_max_error: max |out - foreground| where matte == 1 exactly: the subject handed to the model (the
  foreground segmentation) must survive bit for bit. (Against the ground-truth frames an 8-bit clip
  differs by up to 1/255 where the true matte rounds to 1 but holds a trace of the scene.)

No torch here: numpy only.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

# Interaction coverage above which a pixel belongs to a shadow or contact effect. 0.2, not lower: the
# synthetic dust clouds spread a faint coverage (0.05 covers up to 60 % of a dusty frame, where the scene
# differs from the clean background by about 1-2 % on average); at 0.2 the band keeps the visible part.
BAND_THRESHOLD = 0.2
SUBJECT_THRESHOLD = 0.5
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5
SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2

METRIC_NAMES = ("psnr_outside", "psnr_rest", "ssim_outside", "band_mae", "flicker_error", "temporal_mae",
                "fg_max_error")


# -- regions ------------------------------------------------------------------------------------------------
def default_band_radius(height: int, width: int) -> int:
    return max(1, int(round(min(height, width) / 32.0)))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of (..., H, W) masks by a disk of `radius` pixels (zero padding)."""
    mask = np.asarray(mask, bool)
    if radius <= 0:
        return mask.copy()
    height, width = mask.shape[-2:]
    padded = np.zeros(mask.shape[:-2] + (height + 2 * radius, width + 2 * radius), bool)
    padded[..., radius:radius + height, radius:radius + width] = mask
    out = np.zeros_like(mask)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy * dy + dx * dx <= radius * radius:
                out |= padded[..., radius + dy:radius + dy + height, radius + dx:radius + dx + width]
    return out


def regions(matte: np.ndarray, interaction: np.ndarray, radius: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Boolean (T, H, W) masks: subject, outside, band, rest (see the module docstring)."""
    matte = np.asarray(matte, np.float32)
    subject = matte >= SUBJECT_THRESHOLD
    outside = ~subject
    radius = default_band_radius(*matte.shape[-2:]) if radius is None else int(radius)
    band = dilate(np.asarray(interaction) > BAND_THRESHOLD, radius) & outside
    return {"subject": subject, "outside": outside, "band": band, "rest": outside & ~band}


# -- single metrics -----------------------------------------------------------------------------------------
def _channel_mean_abs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=-1)


def psnr(out: np.ndarray, gt: np.ndarray, mask: Optional[np.ndarray] = None, data_range: float = 1.0) -> float:
    """PSNR in dB over the pixels where `mask` (T, H, W) is true (all pixels by default). +inf when the
    pixels are identical, NaN when the mask is empty."""
    squared = ((out.astype(np.float64) - gt.astype(np.float64)) ** 2).mean(axis=-1)
    values = squared if mask is None else squared[np.asarray(mask, bool)]
    if values.size == 0:
        return float("nan")
    mse = float(values.mean())
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range ** 2 / mse))


def _gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _filter_axis(image: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    radius = len(kernel) // 2
    pad = [(0, 0)] * image.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(image, pad, mode="reflect") if image.shape[axis] > radius else np.pad(image, pad, mode="edge")
    length = image.shape[axis]
    padded = np.moveaxis(padded, axis, 0)
    out = np.zeros((length,) + padded.shape[1:], dtype=np.float64)
    for offset, weight in enumerate(kernel):
        out += weight * padded[offset:offset + length]
    return np.moveaxis(out, 0, axis)


def _blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable blur over the last two axes."""
    return _filter_axis(_filter_axis(image, kernel, -2), kernel, -1)


def ssim_map(out: np.ndarray, gt: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """The SSIM map (T, H, W) of two (T, H, W, 3) videos (or (H, W, 3) images), averaged over channels."""
    a = np.moveaxis(np.asarray(out, np.float64), -1, -3)  # (..., C, H, W)
    b = np.moveaxis(np.asarray(gt, np.float64), -1, -3)
    kernel = _gaussian_kernel(SSIM_SIGMA, SSIM_RADIUS)
    c1, c2 = SSIM_C1 * data_range ** 2, SSIM_C2 * data_range ** 2
    mu_a, mu_b = _blur(a, kernel), _blur(b, kernel)
    var_a = _blur(a * a, kernel) - mu_a ** 2
    var_b = _blur(b * b, kernel) - mu_b ** 2
    cov = _blur(a * b, kernel) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return value.mean(axis=-3)


def ssim(out: np.ndarray, gt: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """Mean SSIM over the pixels where `mask` is true (all by default); NaN for an empty mask."""
    values = ssim_map(out, gt)
    values = values if mask is None else values[np.asarray(mask, bool)]
    return float(values.mean()) if values.size else float("nan")


def masked_mae(out: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    values = _channel_mean_abs(out, gt)[np.asarray(mask, bool)]
    return float(values.mean()) if values.size else float("nan")


def flicker(out: np.ndarray, gt: np.ndarray, outside: np.ndarray) -> Dict[str, float]:
    """Frame-to-frame change of the output against the ground truth's, outside the subject in both
    frames of each pair: flicker_out, flicker_gt (mean |delta|), flicker_error = |flicker_out - flicker_gt|,
    temporal_mae = mean |delta_out - delta_gt|. NaN for fewer than two frames."""
    if out.shape[0] < 2:
        nan = float("nan")
        return {"flicker_out": nan, "flicker_gt": nan, "flicker_error": nan, "temporal_mae": nan}
    pairs = np.asarray(outside[1:], bool) & np.asarray(outside[:-1], bool)
    delta_out = np.diff(out.astype(np.float64), axis=0)
    delta_gt = np.diff(gt.astype(np.float64), axis=0)
    change_out = np.abs(delta_out).mean(axis=-1)[pairs]
    change_gt = np.abs(delta_gt).mean(axis=-1)[pairs]
    if change_out.size == 0:
        nan = float("nan")
        return {"flicker_out": nan, "flicker_gt": nan, "flicker_error": nan, "temporal_mae": nan}
    mean_out, mean_gt = float(change_out.mean()), float(change_gt.mean())
    return {
        "flicker_out": mean_out,
        "flicker_gt": mean_gt,
        "flicker_error": abs(mean_out - mean_gt),
        "temporal_mae": float(np.abs(delta_out - delta_gt).mean(axis=-1)[pairs].mean()),
    }


def foreground_error(out: np.ndarray, foreground: np.ndarray, matte: np.ndarray) -> float:
    """max |out - foreground| over the pixels whose matte is exactly 1 (0.0 when there are none)."""
    solid = np.asarray(matte) >= 1.0
    if not solid.any():
        return 0.0
    return float(np.abs(out.astype(np.float64) - foreground.astype(np.float64))[solid].max())


# -- all of them --------------------------------------------------------------------------------------------
def ground_truth_metrics(out: np.ndarray, gt: np.ndarray, matte: np.ndarray, interaction: np.ndarray,
                         foreground: Optional[np.ndarray] = None, radius: Optional[int] = None,
                         masks: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, float]:
    """Every ground-truth metric of one output video against its clip (module docstring). `foreground`:
    the subject handed to the model (default `gt`); `masks`: the clip's `regions(...)`, to reuse them
    across methods."""
    out = np.asarray(out, np.float32)
    gt = np.asarray(gt, np.float32)
    if out.shape != gt.shape or out.ndim != 4 or out.shape[-1] != 3:
        raise ValueError("output %s and ground truth %s must both be (T, H, W, 3)" % (out.shape, gt.shape))
    masks = masks if masks is not None else regions(matte, interaction, radius)
    values = {
        "psnr_outside": psnr(out, gt, masks["outside"]),
        "psnr_rest": psnr(out, gt, masks["rest"]),
        "ssim_outside": ssim(out, gt, masks["outside"]),
        "band_mae": masked_mae(out, gt, masks["band"]),
        "rest_mae": masked_mae(out, gt, masks["rest"]),
        "fg_max_error": foreground_error(out, gt if foreground is None else np.asarray(foreground, np.float32), matte),
        "band_fraction": float(masks["band"].mean()),
    }
    values.update(flicker(out, gt, masks["outside"]))
    return values


def composite_subject(generated: np.ndarray, foreground: np.ndarray, matte: np.ndarray, grey: float = 0.5
                      ) -> np.ndarray:
    """The comp a compositor makes: the original subject over the generated plate,
    subject * matte + generated * (1 - matte). The premultiplied subject is recovered from the
    foreground segmentation (subject * matte + grey * (1 - matte)), so no ground-truth scene pixel leaks
    in; where matte == 1 the result is the foreground's pixels exactly (engine/comp.py merge_subject)."""
    weight = np.asarray(matte, np.float32)[..., None]
    subject = np.asarray(foreground, np.float32) - grey * (1.0 - weight)
    comp = subject + np.asarray(generated, np.float32) * (1.0 - weight)
    solid = np.broadcast_to(weight >= 1.0, comp.shape)
    comp[solid] = np.broadcast_to(np.asarray(foreground, np.float32), comp.shape)[solid]
    return np.clip(comp, 0.0, 1.0)
