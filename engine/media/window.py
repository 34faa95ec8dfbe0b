"""A rectangle of pixels, as EXR data and display windows are."""
from __future__ import annotations

from typing import NamedTuple


class Window(NamedTuple):
    """Origin and size in pixels; x to the right, y down (file order, not Nuke's y-up)."""

    x: int
    y: int
    width: int
    height: int
