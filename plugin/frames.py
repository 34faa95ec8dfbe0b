"""Which frames to generate: the plate input's range, the script's, or a custom one, plus handles.

Frame numbers are the shot's own and are never renumbered: a 1001-1100 shot with 8 frames of handles
generates 993-1108.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from ..engine.errors import SequenceError
from ..engine.sequence import FrameRange
from .node_knobs import FRAME_RANGE_MODES


class FrameChoiceError(SequenceError):
    """The frame range knobs name frames the plate does not have, or cannot be read."""


def choose_frames(mode: str, custom: str, handles: int, input_range: Optional[Tuple[int, int]],
                  root_range: Tuple[int, int]) -> FrameRange:
    """The frames to generate. `input_range` is the plate input's first and last frame (None when
    unknown), `root_range` the script's."""
    if mode not in FRAME_RANGE_MODES:
        raise FrameChoiceError("frame_range_mode %r: use one of %s" % (mode, ", ".join(FRAME_RANGE_MODES)))
    if mode == "custom":
        try:
            frames = FrameRange.parse(custom)
        except SequenceError as error:
            raise FrameChoiceError("frame_range knob: %s" % error)
    elif mode == "input":
        if input_range is None:
            raise FrameChoiceError("frame_range_mode is 'input' but the plate input has no frame range; "
                                   "connect a plate or choose 'root' or 'custom'")
        frames = FrameRange(range(input_range[0], input_range[1] + 1))
    else:
        frames = FrameRange(range(root_range[0], root_range[1] + 1))
    if handles < 0:
        raise FrameChoiceError("handles knob: %d is negative; use 0 or more" % handles)
    if handles:
        frames = FrameRange(list(range(frames.first - handles, frames.first)) + list(frames)
                            + list(range(frames.last + 1, frames.last + handles + 1)))
    if input_range is not None and (frames.first < input_range[0] or frames.last > input_range[1]):
        raise FrameChoiceError(
            "frames %s (with %d handles) go beyond the plate input's %d-%d; lower the handles or choose a "
            "range inside the plate" % (frames, handles, input_range[0], input_range[1]))
    return frames


def render_ranges(frames: FrameRange) -> List[Tuple[int, int, int]]:
    """(first, last, step) runs for nuke.execute, in order."""
    runs = []  # type: List[Tuple[int, int, int]]
    for part in str(frames).split(","):
        first_last, _, step = part.partition("x")
        first, _, last = first_last.lstrip("-").partition("-")
        # a negative first frame: restore the sign that lstrip removed
        first_text = first_last[: len(first_last) - len(first_last.lstrip("-"))] + first
        if last:
            runs.append((int(first_text), int(last), int(step or 1)))
        else:
            runs.append((int(first_text), int(first_text), 1))
    return runs
