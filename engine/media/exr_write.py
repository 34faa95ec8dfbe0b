"""Writing EXR files atomically, with the header a compositor needs."""
from __future__ import annotations

import os
import uuid
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import OpenImageIO as oiio

from ..errors import MediaError
from .colour import canonical_colourspace_name, colour_interop_id
from .window import Window

LOSSLESS_COMPRESSIONS = ("none", "rle", "zips", "zip", "piz")
# pxr24 rounds 32-bit floats; b44 and dwa are lossy outright. Never for mattes or model inputs.
LOSSY_COMPRESSIONS = ("pxr24", "b44", "b44a", "dwaa", "dwab")
DATATYPES = ("half", "float")

AttributeValue = Union[str, int, float]


def write_exr(
    path: str,
    pixels: np.ndarray,
    channel_names: Sequence[str],
    *,
    compression: str = "zip",
    datatype: str = "half",
    attributes: Optional[Mapping[str, AttributeValue]] = None,
    pixel_aspect: float = 1.0,
    colourspace: Optional[str] = None,
    data_window: Optional[Window] = None,
    origin: Tuple[int, int] = (0, 0),
    display_window: Optional[Window] = None,
    fps: Optional[float] = None,
    timecode: Optional[Tuple[int, int]] = None,
) -> None:
    """Writes an H x W x C (or H x W) array as the display window of an EXR.

    The file appears at `path` only once complete: it is written under a hidden temporary name in the
    same folder, then renamed. `data_window` (display-window coordinates, inside it) stores only that
    region, as Nuke does for a bounding box. `colourspace` sets oiio:ColorSpace and the matching
    colorInteropID, so the file never reads back as a stale space. Lossy compressions (pxr24, b44,
    b44a, dwaa, dwab, optionally with a level as "dwaa:45") are used only when named here.

    A plate's geometry: `origin` is where the array's top-left pixel lies in the file's pixel
    coordinates and `display_window` the file's display window there (default: the array itself at
    `origin`), so an array that covers a plate's overscan is written with the plate's data and display
    windows. `fps` and `timecode` (SMPTE time code and user bits) go into FramesPerSecond and timeCode."""
    pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
    height, width, channels = pixels.shape
    if len(channel_names) != channels:
        raise ValueError("%d channel names for %d channels writing %s" % (
            len(channel_names), channels, path))
    if compression.split(":")[0] not in LOSSLESS_COMPRESSIONS + LOSSY_COMPRESSIONS:
        raise ValueError("unknown EXR compression %r for %s; use one of %s" % (
            compression, path, ", ".join(LOSSLESS_COMPRESSIONS + LOSSY_COMPRESSIONS)))
    if datatype not in DATATYPES:
        raise ValueError("EXR datatype %r for %s: use half or float" % (datatype, path))
    window = data_window or Window(0, 0, width, height)
    if window.x < 0 or window.y < 0 or window.x + window.width > width or \
            window.y + window.height > height or window.width < 1 or window.height < 1:
        raise ValueError("data window %s lies outside the %dx%d image written to %s" % (
            tuple(window), width, height, path))

    spec = oiio.ImageSpec(window.width, window.height, channels, datatype)
    spec.x, spec.y = origin[0] + window.x, origin[1] + window.y
    display = display_window or Window(origin[0], origin[1], width, height)
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = display
    if fps:
        numerator, denominator = _rational(fps)
        spec.attribute("FramesPerSecond", oiio.TypeDesc("rational"), (numerator, denominator))
    if timecode:
        spec.attribute("smpte:TimeCode", oiio.TypeDesc("timecode"), tuple(int(v) for v in timecode))
    spec.channelnames = tuple(channel_names)
    spec.attribute("compression", compression)
    spec.attribute("PixelAspectRatio", float(pixel_aspect))
    for name, value in (attributes or {}).items():
        if name in ("compression", "oiio:ColorSpace", "colorInteropID"):
            raise ValueError("set %r through write_exr's own argument, not attributes" % name)
        spec.attribute(name, _header_value(name, value))
    if colourspace:
        spec.attribute("oiio:ColorSpace", canonical_colourspace_name(colourspace))
        # OpenImageIO writes oiio:ColorSpace as colorInteropID and reads colorInteropID first, so
        # the two must agree; a space without an interop ID is recorded by name only.
        interop_id = colour_interop_id(colourspace)
        if interop_id:
            spec.attribute("colorInteropID", interop_id)

    stored = pixels[window.y:window.y + window.height, window.x:window.x + window.width]
    _write_atomically(path, spec, np.ascontiguousarray(stored, dtype=np.float32))


def _rational(fps: float) -> Tuple[int, int]:
    """24 -> 24/1, 23.976 -> 24000/1001 (the NTSC rates as EXR and Nuke write them)."""
    for base in (24, 30, 48, 60, 120):
        if abs(fps - base * 1000 / 1001) < 0.005:
            return base * 1000, 1001
    if abs(fps - round(fps)) < 1e-6:
        return int(round(fps)), 1
    return int(round(fps * 1000)), 1000


def _header_value(name: str, value: AttributeValue) -> AttributeValue:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError("EXR header attribute %r must be a string, int or float, got %r" % (
            name, value))
    return value


def _write_atomically(path: str, spec: "oiio.ImageSpec", pixels: np.ndarray) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MediaError("cannot write %s: the folder %s does not exist; create it or fix the output "
                         "path" % (path, directory))
    # A hidden name that no Read node's sequence pattern matches, in the same folder so that the
    # rename is atomic.
    temporary = os.path.join(directory, ".%s.%s.partial" % (os.path.basename(path), uuid.uuid4().hex))
    image_output = oiio.ImageOutput.create("exr")
    try:
        if not image_output.open(temporary, spec):
            raise MediaError("cannot write into the folder %s: %s; check that it is writable and has "
                             "space" % (directory, image_output.geterror() or oiio.geterror()))
        written = image_output.write_image(pixels)
        closed = image_output.close()
        if not (written and closed):
            raise MediaError("writing %s failed: %s; check the free space in %s" % (
                path, image_output.geterror(), directory))
        os.replace(temporary, path)
    except OSError as error:
        raise MediaError("cannot write %s into the folder %s: %s; check that it is writable" % (
            path, directory, error.strerror))
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
