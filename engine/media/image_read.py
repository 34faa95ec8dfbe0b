"""Reading images (EXR, DPX, TIFF, PNG, JPEG) into float32 arrays in the display window."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Optional, Sequence, Tuple

import numpy as np
import OpenImageIO as oiio

from ..errors import MediaError
from .colour import canonical_colourspace_name
from .pixel_checks import check_finite, clamp_matte_range
from .window import Window

# Names a matte's alpha goes by, in the order they are looked for.
_ALPHA_NAMES = ("A", "alpha", "Alpha", "a")
# Bigger is a typo or a texture, not a plate: a frame of it would take gigabytes before the model starts.
MAX_PIXELS = 8192 * 8192
# EXR chromaticities (R, G, B, white as xy) -> the linear space they are (Color Interop Forum IDs).
_PRIMARIES = {
    "lin_rec709_scene": (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290),
    "lin_ap1_scene": (0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767),
    "lin_ap0_scene": (0.7347, 0.2653, 0.0, 1.0, 0.0001, -0.077, 0.32168, 0.33767),
    "lin_p3d65_scene": (0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290),
    "lin_rec2020_scene": (0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290),
    "lin_ciexyzd65_scene": (1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0 / 3.0, 1.0 / 3.0),
}


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says, enough to validate a sequence before reading any pixels."""

    path: str
    width: int  # display window
    height: int
    pixel_aspect: float
    channel_names: Tuple[str, ...]
    colourspace: Optional[str]
    fps: Optional[float]
    data_window: Window  # in display-window pixel coordinates
    file_format: str
    pixel_type: str  # "half", "float", "uint8", ...
    display_origin: Tuple[int, int] = (0, 0)  # the display window's own origin (EXR displayWindow min)
    deep: bool = False  # a deep image (samples per pixel): the engine reads flat images only
    chromaticities: Optional[Tuple[float, ...]] = None  # EXR chromaticities (R, G, B, white xy), if written
    # A multi-part file's parts after the first: (part name, its channels). The fields above are part 0's.
    other_parts: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    timecode: Optional[Tuple[int, int]] = None  # SMPTE time code and user bits, as EXR stores them

    @property
    def work_window(self) -> Window:
        """The display window and the data window together, in display-window coordinates: what the
        engine reads and writes, so overscan (a data window beyond the display window) is kept."""
        x0, y0 = min(0, self.data_window.x), min(0, self.data_window.y)
        x1 = max(self.width, self.data_window.x + self.data_window.width)
        y1 = max(self.height, self.data_window.y + self.data_window.height)
        return Window(x0, y0, x1 - x0, y1 - y0)


def read_image_info(path: str) -> ImageInfo:
    """Opens only the header (of every part of a multi-part file)."""
    image_input = _open(path)
    try:
        info = _image_info(path, image_input.spec(), image_input.format_name())
        parts, index = [], 1
        while image_input.seek_subimage(index, 0):
            spec = image_input.spec()
            parts.append((str(spec.getattribute("name") or "part%d" % index), tuple(spec.channelnames)))
            index += 1
        return replace(info, other_parts=tuple(parts)) if parts else info
    finally:
        image_input.close()


def read_image(
    path: str, channels: Optional[Sequence[str]] = None, *, check_pixels: bool = True,
    region: Optional[Window] = None, part: int = 0,
) -> Tuple[np.ndarray, ImageInfo]:
    """Returns (H x W x C float32 array covering the display window, or `region`, ImageInfo).

    Pixels are placed by the data window, which Nuke writes as a node's bounding box and which may be
    smaller or larger than the display window; what lies outside the data window is 0. `region`
    (display-window coordinates, e.g. a plate's `work_window` with its overscan) is the area returned
    instead of the display window. `channels` picks and orders channels by name (all channels by
    default). `part`: the part of a multi-part file. With `check_pixels`, NaN or Inf raises MediaError."""
    image_input = _open(path)
    try:
        if part and not image_input.seek_subimage(part, 0):
            raise MediaError("%s has no part %s" % (path, part))
        spec = image_input.spec()
        info = _image_info(path, spec, image_input.format_name())
        indices = _channel_indices(info, channels)
        first, last = min(indices), max(indices) + 1
        data = image_input.read_image(part, 0, first, last, "float")
        if data is None:
            raise MediaError(
                "cannot read the pixels of %s: %s; the file is probably truncated or corrupt; "
                "render or copy it again" % (path, image_input.geterror() or "unknown error")
            )
    finally:
        image_input.close()
    data = data.reshape(spec.height, spec.width, last - first)
    if [index - first for index in indices] != list(range(last - first)):
        data = data[:, :, [index - first for index in indices]]
    pixels = _place(data, spec, region or Window(0, 0, spec.full_width, spec.full_height))
    if check_pixels:
        check_finite(pixels, path)
    return pixels, replace(info, channel_names=tuple(info.channel_names[i] for i in indices))


def read_matte(path: str, channel: str = "A", region: Optional[Window] = None) -> np.ndarray:
    """Returns an H x W float32 matte in [0, 1].

    "A" or "alpha" takes the alpha channel; any other name (e.g. "matte.A", "mask") takes that
    channel. A file with exactly one channel is taken as is whatever it is called (Y, R, A, ...),
    since that is how mattes are often rendered. Filtering overshoot up to 0.01 outside [0, 1] is
    clamped; more raises MediaError."""
    info = read_image_info(path)
    part, name = matte_location(info, channel)
    pixels, _ = read_image(path, [name], region=region, part=part)
    return clamp_matte_range(pixels[:, :, 0], path)


def rgb(pixels: np.ndarray) -> np.ndarray:
    """The first three channels as RGB; a one- or two-channel image (Y, or Y and A) as grey."""
    if pixels.shape[2] >= 3:
        return pixels[..., :3]
    return np.repeat(pixels[..., :1], 3, axis=2)


def check_readable(info: ImageInfo) -> None:
    """Refuses, from the header alone, what the engine cannot read right: deep images, luminance/chroma
    EXRs and frames past MAX_PIXELS; each with what to do."""
    if info.deep:
        raise MediaError("%s is a deep image; the engine reads flat images: flatten it (Nuke: DeepToImage, or "
                         "oiiotool --flatten) and render it again" % info.path)
    if {"RY", "BY"} & set(info.channel_names):
        raise MediaError("%s is a luminance/chroma EXR (channels %s), which OpenImageIO cannot read as RGB: "
                         "write it as RGB (Nuke's Write: no luminance/chroma) and render it again" % (
                             info.path, ", ".join(info.channel_names)))
    work = info.work_window
    if work.width * work.height > MAX_PIXELS:
        raise MediaError("%s is %dx%d (%.0f megapixels with its overscan), over the engine's limit of %.0f: "
                         "reformat the plate (e.g. to 4K) or check the file" % (
                             info.path, work.width, work.height, work.width * work.height / 1e6, MAX_PIXELS / 1e6))


def chromaticities_space(info: ImageInfo) -> Optional[str]:
    """The linear colour space an EXR's chromaticities attribute names (an interop ID), else None.
    MediaError when it names primaries this engine does not know (it would read them as another space)."""
    if not info.chromaticities:
        return None
    for space, primaries in _PRIMARIES.items():
        if all(abs(a - b) < 0.002 for a, b in zip(info.chromaticities, primaries)):
            return space
    raise MediaError("%s has chromaticities %s that are none of Rec.709, ACES AP0/AP1, P3-D65, Rec.2020 or XYZ: "
                     "set colour.plate_colourspace to its colour space" % (
                         info.path, ", ".join("%.4f" % value for value in info.chromaticities)))


def matte_location(info: ImageInfo, channel: str) -> Tuple[int, str]:
    """(part, channel name) of the matte asked for as `channel` (see read_matte). In a multi-part file
    the matte may be in any part; "part.channel" (e.g. "matte.A") names the part when several hold it."""
    wanted = _ALPHA_NAMES if channel.lower() in ("a", "alpha") else (channel,)
    for name in wanted:
        if name in info.channel_names:
            return 0, name
    found = []
    for index, (part_name, channels) in enumerate(info.other_parts, start=1):
        for name in wanted:
            if name in channels:
                found.append((index, name))
            elif "." in name and name.split(".", 1)[0] == part_name and name.split(".", 1)[1] in channels:
                found.append((index, name.split(".", 1)[1]))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise MediaError("%s holds a channel %r in several parts (%s); name the part as part.channel, e.g. "
                         "%s.%s" % (info.path, channel, ", ".join(info.other_parts[i - 1][0] for i, _ in found),
                                        info.other_parts[found[0][0] - 1][0], found[0][1]))
    if len(info.channel_names) == 1 and not info.other_parts:
        return 0, info.channel_names[0]
    listed = ", ".join(info.channel_names) + "".join(
        "; part %s: %s" % (part_name, ", ".join(channels)) for part_name, channels in info.other_parts)
    raise MediaError(
        "%s has no channel %r for the matte; its channels are %s; set the matte channel to one "
        "of them" % (info.path, channel, listed)
    )


def _open(path: str) -> "oiio.ImageInput":
    if not os.path.isfile(path):
        if os.path.islink(path):
            raise MediaError("%s is a symbolic link that leads to no file (a loop, or its target is gone: %s); "
                             "fix the link" % (path, os.readlink(path)))
        raise MediaError("image file not found: %s; check the path and that it is rendered" % path)
    image_input = oiio.ImageInput.open(path)
    if image_input is None:
        raise MediaError(
            "cannot open %s as an image: %s; the file is truncated, corrupt or not an image; "
            "render or copy it again" % (path, oiio.geterror() or "unknown format")
        )
    return image_input


def _image_info(path: str, spec: "oiio.ImageSpec", file_format: str) -> ImageInfo:
    fps = spec.getattribute("FramesPerSecond")
    if isinstance(fps, tuple):  # EXR stores a rational (numerator, denominator)
        fps = fps[0] / fps[1] if fps[1] else None
    colourspace = spec.getattribute("oiio:ColorSpace")
    timecode = spec.getattribute("smpte:TimeCode")
    chromaticities = spec.getattribute("chromaticities")
    return ImageInfo(
        path=path,
        width=spec.full_width,
        height=spec.full_height,
        pixel_aspect=float(spec.get_float_attribute("PixelAspectRatio", 1.0)),
        channel_names=tuple(spec.channelnames),
        colourspace=canonical_colourspace_name(colourspace) if colourspace else None,
        fps=float(fps) if fps else None,
        data_window=Window(spec.x - spec.full_x, spec.y - spec.full_y, spec.width, spec.height),
        file_format=file_format,
        pixel_type=str(spec.format),
        display_origin=(spec.full_x, spec.full_y),
        deep=bool(spec.deep),
        chromaticities=tuple(float(v) for v in chromaticities) if chromaticities else None,
        timecode=tuple(int(v) for v in timecode) if isinstance(timecode, (tuple, list)) and len(timecode) == 2 else None,
    )


def _channel_indices(info: ImageInfo, channels: Optional[Sequence[str]]) -> list:
    if channels is None:
        return list(range(len(info.channel_names)))
    missing = [name for name in channels if name not in info.channel_names]
    if missing:
        raise MediaError(
            "%s has no channel %s; its channels are %s" % (
                info.path, ", ".join(repr(name) for name in missing), ", ".join(info.channel_names)
            )
        )
    return [info.channel_names.index(name) for name in channels]


def _place(data: np.ndarray, spec: "oiio.ImageSpec", region: Window) -> np.ndarray:
    """The data window's pixels placed in `region` (display-window coordinates); 0 where it has none."""
    dx, dy = spec.x - spec.full_x, spec.y - spec.full_y  # the data window in display-window coordinates
    if (dx, dy, spec.width, spec.height) == tuple(region):
        return data
    pixels = np.zeros((region.height, region.width, data.shape[2]), np.float32)
    x0, y0 = max(dx, region.x), max(dy, region.y)
    x1, y1 = min(dx + spec.width, region.x + region.width), min(dy + spec.height, region.y + region.height)
    if x0 < x1 and y0 < y1:
        pixels[y0 - region.y:y1 - region.y, x0 - region.x:x1 - region.x] = data[y0 - dy:y1 - dy, x0 - dx:x1 - dx]
    return pixels
