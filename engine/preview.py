"""Pictures for people: contact sheets (labelled rows of frames) and animated GIF previews.

Inputs are display-referred float images in [0, 1] (H x W x 3); writes are atomic like every output.
"""
from __future__ import annotations

import os
import uuid
from typing import Sequence, Tuple

import numpy as np

from .errors import MediaError

LABEL_WIDTH = 96
GAP = 2
BACKDROP = 0.12


def contact_sheet(rows: Sequence[Tuple[str, Sequence[np.ndarray]]], scale: int = 1) -> np.ndarray:
    """An RGB sheet with one row per (label, images); images of a row sit left to right, all scaled by
    the integer `scale` (nearest, so pixels stay visible). Rows may hold different counts and sizes."""
    tiles = [[_as_rgb(image).repeat(scale, 0).repeat(scale, 1) for image in images] for _, images in rows]
    row_heights = [max(tile.shape[0] for tile in row) for row in tiles]
    width = LABEL_WIDTH + GAP + max(sum(tile.shape[1] + GAP for tile in row) for row in tiles)
    sheet = np.full((sum(height + GAP for height in row_heights) + GAP, width, 3), BACKDROP, np.float32)
    top = GAP
    for row, height in zip(tiles, row_heights):
        left = LABEL_WIDTH + GAP
        for tile in row:
            sheet[top:top + tile.shape[0], left:left + tile.shape[1]] = tile
            left += tile.shape[1] + GAP
        top += height + GAP
    label_rows = [(label, GAP + sum(h + GAP for h in row_heights[:index]) + row_heights[index] // 2 + 4)
                  for index, (label, _) in enumerate(rows)]
    return _label(sheet, [(4, y, label) for label, y in label_rows])


def write_png(path: str, pixels: np.ndarray) -> None:
    """An 8-bit PNG of an H x W (x C) float image in [0, 1], written under a temporary name and renamed."""
    import OpenImageIO as oiio

    pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
    height, width, channels = pixels.shape
    data = np.ascontiguousarray(np.clip(np.round(pixels * 255.0), 0, 255).astype(np.uint8))
    temporary = _temporary_beside(path, ".png")
    output = oiio.ImageOutput.create("png")
    spec = oiio.ImageSpec(width, height, channels, oiio.UINT8)
    if channels == 1:
        spec.channelnames = ("Y",)
    try:
        if not (output.open(temporary, spec) and output.write_image(data) and output.close()):
            raise MediaError("cannot write %s: %s; check the folder is writable and has space"
                             % (path, output.geterror() or oiio.geterror()))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_gif(path: str, frames: Sequence[np.ndarray], fps: float = 24.0) -> None:
    """An endlessly looping animated GIF of display-referred frames."""
    from PIL import Image

    images = [Image.fromarray((np.clip(_as_rgb(frame), 0, 1) * 255 + 0.5).astype(np.uint8)) for frame in frames]
    temporary = _temporary_beside(path, ".gif")
    try:
        images[0].save(temporary, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        os.replace(temporary, path)
    except OSError as error:
        raise MediaError("cannot write %s: %s; check the folder is writable and has space" % (path, error)) from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image[..., :1], 3, axis=2) if image.shape[2] == 1 else image[..., :3]


def _temporary_beside(path: str, suffix: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    return os.path.join(folder, ".%s.%s.partial%s" % (os.path.basename(path), uuid.uuid4().hex, suffix))


def _label(sheet: np.ndarray, texts: Sequence[Tuple[int, int, str]]) -> np.ndarray:
    """Text drawn with OpenImageIO's built-in font; the sheet unchanged when no font is available."""
    import OpenImageIO as oiio

    buffer = oiio.ImageBuf(np.ascontiguousarray(sheet))
    for x, y, text in texts:
        if not oiio.ImageBufAlgo.render_text(buffer, x, y, text, 12, "", (0.9, 0.9, 0.9)):
            return sheet
    return buffer.get_pixels(oiio.FLOAT).reshape(sheet.shape)
