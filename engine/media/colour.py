"""Colour conversions through OCIO (via OpenImageIO), and colour-space names as a config knows them."""
from __future__ import annotations

import functools
import os
from typing import Optional

import numpy as np
import OpenImageIO as oiio

from ..errors import MediaError

BUILT_IN_CONFIG = "ocio://default"

# Transfer functions (the first part of a Color Interop Forum ID such as "srgb_rec709_scene") whose
# encoded values are meant to lie in [0, 1]. OCIO's sRGB and gamma curves extend negatives linearly
# and pass values over 1, which display-referred model input must not see.
_BOUNDED_TRANSFERS = ("srgb", "g18", "g22", "g24", "g26", "pq")


def resolve_config(config: Optional[str] = None) -> str:
    """The OCIO config to use: the one given, else $OCIO, else OpenImageIO's built-in ACES config."""
    return config or os.environ.get("OCIO") or BUILT_IN_CONFIG


@functools.lru_cache(maxsize=None)
def _colour_config(config: str) -> "oiio.ColorConfig":
    colour_config = oiio.ColorConfig(config)
    error = colour_config.geterror()
    if error:
        raise MediaError(
            "cannot load the OCIO config %s: %s; check the path, or unset $OCIO to use the built-in "
            "%s" % (config, error, BUILT_IN_CONFIG)
        )
    return colour_config


def canonical_colourspace_name(name: str, config: Optional[str] = None) -> str:
    """The config's own name for a colour space, role, alias or interop ID ("lin_ap1_scene" ->
    "ACEScg"); the text unchanged when the config does not know it."""
    config_name = resolve_config(config)
    colour_config = _colour_config(config_name)
    resolved = colour_config.resolve(name)
    return resolved if resolved in colour_config.getColorSpaceNames() else name


def colour_interop_id(name: str, config: Optional[str] = None) -> str:
    """The Color Interop Forum ID of a colour space ("ACEScg" -> "lin_ap1_scene"), or "" if it has
    none."""
    colour_config = _colour_config(resolve_config(config))
    return colour_config.get_color_interop_id(colour_config.resolve(name)) or ""


class ColourTransform:
    """Converts RGB between two colour spaces (names, roles such as "scene_linear", or aliases).
    Channels after the first three (alpha, mattes) pass through unchanged."""

    def __init__(self, src: str, dst: str, config: Optional[str] = None):
        self.config = resolve_config(config)
        colour_config = _colour_config(self.config)
        self.src = self._known_space(colour_config, src)
        self.dst = self._known_space(colour_config, dst)
        self.clamps = _is_bounded_encoding(colour_config, self.dst)

    @staticmethod
    def _known_space(colour_config: "oiio.ColorConfig", name: str) -> str:
        resolved = colour_config.resolve(name)
        names = colour_config.getColorSpaceNames()
        if resolved not in names:
            raise MediaError(
                "unknown colour space %r in the OCIO config %s; known names include: %s; roles: %s"
                % (name, colour_config.configname(), ", ".join(names[:20]),
                        ", ".join(colour_config.getRoles()))
            )
        return resolved

    @property
    def description(self) -> str:
        """For recording in output headers, e.g. "ACEScg -> sRGB Encoded Rec.709 (sRGB) via
        ocio://default"."""
        return "%s -> %s via %s" % (self.src, self.dst, self.config)

    def inverse(self) -> "ColourTransform":
        return ColourTransform(self.dst, self.src, self.config)

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """Returns a converted float32 copy of an H x W x C array (C >= 3)."""
        if pixels.ndim != 3 or pixels.shape[2] < 3:
            raise ValueError(
                "a colour conversion needs an H x W x C array with at least 3 channels, got shape %s"
                % (pixels.shape,)
            )
        if self.src == self.dst:
            converted = np.array(pixels, dtype=np.float32)
        else:
            buffer = oiio.ImageBuf(np.ascontiguousarray(pixels, dtype=np.float32))
            # unpremult=False: plates are converted as they are, as Nuke's Read does by default.
            if not oiio.ImageBufAlgo.colorconvert(
                buffer, buffer, self.src, self.dst, False, "", "", self.config
            ):
                raise MediaError("colour conversion %s failed: %s" % (
                    self.description, buffer.geterror()))
            converted = buffer.get_pixels(oiio.FLOAT)
        if self.clamps:
            np.clip(converted[:, :, :3], 0.0, 1.0, out=converted[:, :, :3])
        return converted

    def __repr__(self) -> str:
        return "ColourTransform(%r, %r, %r)" % (self.src, self.dst, self.config)


def _is_bounded_encoding(colour_config: "oiio.ColorConfig", name: str) -> bool:
    """True for display-referred and SDR-encoded spaces (sRGB, gamma, PQ), whose values belong in
    [0, 1]; False for linear, log and data spaces."""
    interop_id = colour_config.get_color_interop_id(name) or ""
    transfer = interop_id.split(":")[-1].split("_")[0]
    if transfer:
        return transfer in _BOUNDED_TRANSFERS
    return colour_config.getColorSpaceFamilyByName(name).lower() == "display"
