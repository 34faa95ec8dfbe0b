"""Merging the original subject back over a generated plate, so the subject stays pixel-exact."""
from __future__ import annotations

import numpy as np
import OpenImageIO as oiio


def merge_subject(plate: np.ndarray, matte: np.ndarray, background: np.ndarray, feather: float = 0.0) -> np.ndarray:
    """plate * matte + background * (1 - matte), in the plate's (linear) colour space.

    Where the matte is 1 the result is the plate's own pixels, bit for bit: the model never touches
    the subject. `feather` (pixels, a Gaussian's width) softens a hard roto edge first."""
    if feather > 0:
        matte = feather_matte(matte, feather)
    weight = matte[..., None]
    return plate * weight + background * (1.0 - weight)


def feather_matte(matte: np.ndarray, width: float) -> np.ndarray:
    """The matte blurred by a normalised Gaussian `width` pixels wide (OpenImageIO's convolution)."""
    size = max(3, int(np.ceil(width)) * 2 + 1)
    kernel = oiio.ImageBufAlgo.make_kernel("gaussian", float(size), float(size), normalize=True)
    source = oiio.ImageBuf(np.ascontiguousarray(matte[..., None], dtype=np.float32))
    blurred = oiio.ImageBufAlgo.convolve(source, kernel)
    return np.clip(blurred.get_pixels(oiio.FLOAT)[..., 0], 0.0, 1.0)
