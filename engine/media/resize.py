"""Resizing numpy images through OpenImageIO: the engine works at the model's size and writes back at
the plate's size."""
from __future__ import annotations

import numpy as np
import OpenImageIO as oiio

from ..errors import MediaError

# "nearest" keeps hard matte edges (what inpainting masks want); "box" averages (soft mattes);
# "lanczos3" is sharp for plates but rings a little, so clamp display-referred results afterwards.
NEAREST = "nearest"


def resize_image(pixels: np.ndarray, width: int, height: int, filter_name: str = "lanczos3") -> np.ndarray:
    """Returns an H' x W' (x C) float32 copy of an H x W (x C) array; `filter_name` is "nearest" or
    any OpenImageIO filter ("box", "triangle", "gaussian", "mitchell", "lanczos3", ...)."""
    two_dimensional = pixels.ndim == 2
    source = oiio.ImageBuf(np.ascontiguousarray(pixels[:, :, None] if two_dimensional else pixels,
                                                dtype=np.float32))
    if (source.spec().width, source.spec().height) == (width, height):
        return np.array(pixels, dtype=np.float32)
    spec = oiio.ImageSpec(width, height, source.spec().nchannels, oiio.FLOAT)
    resized = oiio.ImageBuf(spec)
    if filter_name == NEAREST:
        done = oiio.ImageBufAlgo.resample(resized, source, interpolate=False)
    else:
        done = oiio.ImageBufAlgo.resize(resized, source, filtername=filter_name)
    if not done:
        raise MediaError("cannot resize to %sx%s with filter %r: %s" % (
            width, height, filter_name, resized.geterror()))
    result = resized.get_pixels(oiio.FLOAT)
    return result[:, :, 0] if two_dimensional else result
