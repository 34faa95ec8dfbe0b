"""A camera track (engine/camera/track.py) as Nuke nodes: a CornerPin2D whose `to` corners follow where the
reference frame's corners appear in every frame, so a compositor can inspect the track over the plate and
reuse it (pin the condition image, a clean plate or a matte painting onto the shot's camera).

Nuke's image coordinates run from the bottom-left corner, y up; the track's run y down from the top-left,
so y is flipped here. CornerPin2D's corners are to1 bottom-left, to2 bottom-right, to3 top-right,
to4 top-left; `from` holds the image's own corners. Plain data: the .nk text comes from nk_snippet.
"""
from __future__ import annotations

from ..engine.sequence import FrameRange
from .nk_snippet import Animation, render
from .node_plan import NodePlan, PlannedNode


def track_plan(track, width: int, height: int, name: str = "ActAnywhere_camera") -> NodePlan:
    """The CornerPin2D node of `track` for a width x height plate (its frames keep their numbers)."""
    corners = track.corner_paths(width, height)  # (T, 4, 2): bottom-left, bottom-right, top-right, top-left
    knobs = {}
    for corner in range(4):
        x = Animation({frame: corners[index, corner, 0] for index, frame in enumerate(track.frames)})
        y = Animation({frame: height - corners[index, corner, 1] for index, frame in enumerate(track.frames)})
        knobs["to%d" % (corner + 1)] = [x, y]
    for corner, (x, y) in enumerate(((0, 0), (width, 0), (width, height), (0, height))):
        knobs["from%d" % (corner + 1)] = [x, y]
    filled = [frame for frame, flag in zip(track.frames, track.flags) if flag == "filled"]
    knobs["label"] = "camera track, reference frame %d%s" % (
        track.reference_frame, "\nfilled (no texture): %s" % FrameRange.from_frames(filled) if filled else "")
    knobs["name"] = name
    return NodePlan([PlannedNode(name, "CornerPin2D", knobs)])


def track_snippet(track, width: int, height: int, name: str = "ActAnywhere_camera") -> str:
    """The .nk text of the CornerPin2D (paste it into a script with Ctrl+V)."""
    return render(track_plan(track, width, height, name))

