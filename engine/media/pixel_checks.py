"""Checks that pixels are usable before the model sees them, with errors that say how to fix them."""
from __future__ import annotations

import numpy as np

from ..errors import MediaError

# Resize and blur filters overshoot a matte's [0, 1] a little; more than this is a broken matte.
MATTE_OVERSHOOT_TOLERANCE = 0.01


def check_finite(pixels: np.ndarray, path: str) -> None:
    """Raises MediaError when any pixel is NaN or infinite."""
    if np.isfinite(pixels.min()) and np.isfinite(pixels.max()):  # cheaper than a full mask
        return
    nan_count = int(np.count_nonzero(np.isnan(pixels)))
    inf_count = int(np.count_nonzero(np.isinf(pixels)))
    raise MediaError(
        "%s has %d NaN and %d infinite pixel values; fix the file first, e.g. "
        "`oiiotool %s --fixnan box3 -o fixed.exr`, or in Nuke an Expression node with "
        "`isnan(r) || isinf(r) ? 0 : r` per channel before the Write" % (
            path, nan_count, inf_count, path
        )
    )


def clamp_matte_range(matte: np.ndarray, path: str) -> np.ndarray:
    """Clamps filtering overshoot into [0, 1]; raises MediaError when the matte goes further out."""
    check_finite(matte, path)
    low, high = float(matte.min()), float(matte.max())
    tolerance = MATTE_OVERSHOOT_TOLERANCE
    if low < -tolerance or high > 1.0 + tolerance:
        raise MediaError(
            "the matte %s has values from %.4g to %.4g, outside 0-1; a matte must be an alpha "
            "between 0 and 1: clamp it (Nuke Clamp node) or pick the right channel" % (
                path, low, high
            )
        )
    if low < 0.0 or high > 1.0:
        return np.clip(matte, 0.0, 1.0)
    return matte
