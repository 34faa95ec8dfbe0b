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
    """Opens only the header."""
    image_input = _open(path)
    try:
        return _image_info(path, image_input.spec(), image_input.format_name())
    finally:
        image_input.close()


def read_image(
    path: str, channels: Optional[Sequence[str]] = None, *, check_pixels: bool = True,
    region: Optional[Window] = None,
) -> Tuple[np.ndarray, ImageInfo]:
    """Returns (H x W x C float32 array covering the display window, or `region`, ImageInfo).

    Pixels are placed by the data window, which Nuke writes as a node's bounding box and which may be
    smaller or larger than the display window; what lies outside the data window is 0. `region`
    (display-window coordinates, e.g. a plate's `work_window` with its overscan) is the area returned
    instead of the display window. `channels` picks and orders channels by name (all channels by
    default). With `check_pixels`, NaN or Inf raises MediaError."""
    image_input = _open(path)
    try:
        spec = image_input.spec()
        info = _image_info(path, spec, image_input.format_name())
        indices = _channel_indices(info, channels)
        first, last = min(indices), max(indices) + 1
        data = image_input.read_image(0, 0, first, last, "float")
        if data is None:
            raise MediaError(
                "Cannot read the pixels of {}: {}. The file is probably truncated or corrupt; "
                "render or copy it again.".format(path, image_input.geterror() or "unknown error")
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
    name = _matte_channel_name(info, channel)
    pixels, _ = read_image(path, [name], region=region)
    return clamp_matte_range(pixels[:, :, 0], path)


def rgb(pixels: np.ndarray) -> np.ndarray:
    """The first three channels as RGB; a one- or two-channel image (Y, or Y and A) as grey."""
    if pixels.shape[2] >= 3:
        return pixels[..., :3]
    return np.repeat(pixels[..., :1], 3, axis=2)


def check_flat(info: ImageInfo) -> None:
    if info.deep:
        raise MediaError("{} is a deep image; the engine reads flat images: flatten it (Nuke: DeepToImage, or "
                         "oiiotool --flatten) and render it again.".format(info.path))


def matte_channel_name(info: ImageInfo, channel: str) -> str:
    """The channel of `info`'s file that holds the matte asked for as `channel` (see read_matte)."""
    return _matte_channel_name(info, channel)


def _matte_channel_name(info: ImageInfo, channel: str) -> str:
    wanted = _ALPHA_NAMES if channel.lower() in ("a", "alpha") else (channel,)
    for name in wanted:
        if name in info.channel_names:
            return name
    if len(info.channel_names) == 1:
        return info.channel_names[0]
    raise MediaError(
        "{} has no channel {!r} for the matte; its channels are {}. Set the matte channel to one "
        "of them.".format(info.path, channel, ", ".join(info.channel_names))
    )


def _open(path: str) -> "oiio.ImageInput":
    if not os.path.isfile(path):
        raise MediaError("Image file not found: {}. Check the path and that it is rendered.".format(path))
    image_input = oiio.ImageInput.open(path)
    if image_input is None:
        raise MediaError(
            "Cannot open {} as an image: {}. The file is truncated, corrupt or not an image; "
            "render or copy it again.".format(path, oiio.geterror() or "unknown format")
        )
    return image_input


def _image_info(path: str, spec: "oiio.ImageSpec", file_format: str) -> ImageInfo:
    fps = spec.getattribute("FramesPerSecond")
    if isinstance(fps, tuple):  # EXR stores a rational (numerator, denominator)
        fps = fps[0] / fps[1] if fps[1] else None
    colourspace = spec.getattribute("oiio:ColorSpace")
    timecode = spec.getattribute("smpte:TimeCode")
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
        timecode=tuple(int(v) for v in timecode) if isinstance(timecode, (tuple, list)) and len(timecode) == 2 else None,
    )


def _channel_indices(info: ImageInfo, channels: Optional[Sequence[str]]) -> list:
    if channels is None:
        return list(range(len(info.channel_names)))
    missing = [name for name in channels if name not in info.channel_names]
    if missing:
        raise MediaError(
            "{} has no channel {}; its channels are {}.".format(
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
