"""Export: the plate (RGB) and matte (one channel) as EXR sequences the engine reads, and the
condition image when it comes from a node.

Each input that is already such a sequence (a plain Read of EXR files covering the frames, not
retimed) is used as is. Every other input gets temporary nodes: Crop (the data window cropped to the
format), a Copy that moves the matte channel into alpha when needed, and a Write (16-bit half, lossless
Zip, directories created). The Write's file knob takes the export folder as the artist typed it, TCL
and all, and the adapter evaluates it with `nuke.filename`, so the spec always holds the path Nuke
actually writes. Plain data in and out; the adapter creates, executes and removes the nodes.
"""
from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..engine.errors import ActAnywhereError
from ..engine.sequence import FrameRange, FrameSequence
from .frames import render_ranges
from .node_plan import Existing, NodePlan, PlannedNode

EXR_DATATYPE = "16 bit half"
EXR_COMPRESSION = "Zip (1 scanline)"  # lossless; never DWA/B44 for mattes or model inputs
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
# Nuke channel -> the EXR channel name Nuke writes and the engine reads.
_EXR_CHANNEL = {"rgba.red": "R", "rgba.green": "G", "rgba.blue": "B", "rgba.alpha": "A"}


class ExportError(ActAnywhereError):
    """An input cannot be exported: the message says which and what to do."""


@dataclass
class SourceInfo:
    """What the adapter tells about a node feeding one of the ActAnywhere node's inputs."""

    name: str
    node_class: str
    file: str = ""  # evaluated file path of a Read (frame token kept), forward slashes
    file_type: str = ""
    first: Optional[int] = None
    last: Optional[int] = None
    channels: List[str] = field(default_factory=list)
    colourspace: str = ""  # a Read's colorspace knob, e.g. "default (ACEScg)"
    raw: bool = False
    retimed: bool = False  # a Read whose frame knob or frame_mode changes the numbers
    disabled: bool = False
    width: int = 0
    height: int = 0

    @property
    def frame_range(self) -> Optional[Tuple[int, int]]:
        if self.first is None or self.last is None:
            return None
        return (self.first, self.last)


@dataclass
class RootInfo:
    """The script's settings that decide paths, frames and colour."""

    name: str = ""  # the script's path, "" when unsaved
    project_directory: str = ""
    first: int = 1001
    last: int = 1100
    colour_management: str = "Nuke"  # "Nuke" or "OCIO"
    working_space: str = "linear"
    ocio_config: str = ""  # a custom OCIO config path, else ""


@dataclass
class Render:
    write: str  # key of the Write in the plan
    ranges: List[Tuple[int, int, int]]  # (first, last, step) runs


@dataclass
class ExportPlan:
    nodes: NodePlan  # temporary nodes, removed after rendering
    renders: List[Render]
    sources: Dict[str, str]  # role -> a fixed path (reused input) or "write:<key>"
    frames: FrameRange
    matte_channel: str  # the EXR channel of the matte file the engine reads
    condition_frame: Optional[int]
    plate_colourspace: str
    reused: Dict[str, bool]

    def writes(self) -> List[str]:
        return [node.key for node in self.nodes if node.node_class == "Write"]


@dataclass
class ExportResult:
    plate: str
    matte: str
    matte_channel: str
    condition: str
    condition_frame: Optional[int]
    frames: FrameRange
    plate_colourspace: str
    reused: Dict[str, bool]


def safe_name(text: str) -> str:
    """A name with no spaces or odd characters, for shots and generated files."""
    cleaned = _SAFE_NAME.sub("_", text).strip("_.-")
    return cleaned or "shot"


def exr_channel(nuke_channel: str) -> str:
    """rgba.alpha -> A; other layers keep Nuke's layer.channel name."""
    return _EXR_CHANNEL.get(nuke_channel, nuke_channel)


def working_colourspace(root: RootInfo) -> str:
    """The engine's name for the script's working space (what exported EXRs hold)."""
    return engine_colourspace(root.working_space, root.colour_management)


def engine_colourspace(space: str, colour_management: str) -> str:
    """A Nuke colour space name as the engine's OCIO config knows it."""
    space = strip_default(space)
    if colour_management != "OCIO":
        # nuke-default's "linear" is scene-linear Rec.709 primaries
        return "Linear Rec.709 (sRGB)" if space in ("", "linear") else space
    return space or "scene_linear"


def strip_default(space: str) -> str:
    """Read knobs show "default (ACEScg)": the space is what is in the brackets."""
    match = re.match(r"^default\s*\((.*)\)$", space.strip())
    return (match.group(1) if match else space).strip()


def is_reusable_exr(source: SourceInfo, frames: FrameRange, channel: Optional[str] = None) -> bool:
    """A plain Read of an EXR sequence that covers `frames` (and holds `channel`) is used as is."""
    if source.node_class != "Read" or source.disabled or source.retimed or not source.file:
        return False
    if (source.file_type or os.path.splitext(source.file)[1].lstrip(".")).lower() != "exr":
        return False
    if source.frame_range is None or source.first > frames.first or source.last < frames.last:
        return False
    try:
        if not FrameSequence.parse(source.file).has_frame_token:
            return False
    except ActAnywhereError:
        return False
    return channel is None or channel in source.channels


def export_path(export_dir: str, shot: str, role: str) -> str:
    """Where an input is exported: <export dir>/<shot>/<role>/<shot>_<role>.%04d.exr (TCL kept)."""
    folder = export_dir.replace("\\", "/").rstrip("/")
    return "%s/%s/%s/%s_%s.%%04d.exr" % (folder, shot, role, shot, role)


def plan_export(shot: str, export_dir: str, frames: FrameRange, plate: SourceInfo, matte: SourceInfo,
                matte_channel: str, root: RootInfo, condition: Optional[SourceInfo] = None,
                condition_frame: Optional[int] = None) -> ExportPlan:
    """The temporary nodes and renders that give the engine its inputs."""
    if not export_dir.strip():
        raise ExportError("export_dir is empty: give a folder on storage the engine can read")
    working = working_colourspace(root)
    nuke_space = strip_default(root.working_space) or ("scene_linear" if root.colour_management == "OCIO" else "linear")
    nodes = NodePlan()
    renders = []  # type: List[Render]
    sources = {}  # type: Dict[str, str]
    reused = {}  # type: Dict[str, bool]
    ranges = render_ranges(frames)

    if is_reusable_exr(plate, frames):
        sources["plate"], reused["plate"] = plate.file, True
        plate_colourspace = ("auto" if plate.raw else
                             engine_colourspace(plate.colourspace, root.colour_management) if plate.colourspace else working)
    else:
        _check_format(plate, "plate")
        crop = _crop("plate_crop", Existing(plate.name), plate)
        nodes.add(crop)
        nodes.add(_write("plate_write", crop.key, export_path(export_dir, shot, "plate"), "rgb", nuke_space, frames))
        renders.append(Render("plate_write", ranges))
        sources["plate"], reused["plate"] = "write:plate_write", False
        plate_colourspace = working

    if is_reusable_exr(matte, frames, matte_channel):
        sources["matte"], reused["matte"] = matte.file, True
        engine_channel = exr_channel(matte_channel)
    else:
        if matte.channels and matte_channel not in matte.channels:
            raise ExportError("matte input %s has no channel %s (it has %s); choose matte_channel"
                              % (matte.name, matte_channel, ", ".join(matte.channels) or "none"))
        upstream = Existing(matte.name)  # type: object
        if matte_channel != "rgba.alpha":
            copy = PlannedNode("matte_copy", "Copy", {"from0": matte_channel, "to0": "rgba.alpha"},
                               [Existing(matte.name), Existing(matte.name)], temporary=True)
            nodes.add(copy)
            upstream = copy.key
        _check_format(matte if matte.width else plate, "matte")
        crop = _crop("matte_crop", upstream, matte if matte.width else plate)
        nodes.add(crop)
        write = _write("matte_write", crop.key, export_path(export_dir, shot, "matte"), "alpha", nuke_space, frames)
        write.knobs["raw"] = True  # a matte is data: no colour conversion
        nodes.add(write)
        renders.append(Render("matte_write", ranges))
        sources["matte"], reused["matte"] = "write:matte_write", False
        engine_channel = "A"

    if condition is not None:
        if condition_frame is None:
            raise ExportError("condition input: no condition_frame given")
        if condition.frame_range is not None and not condition.first <= condition_frame <= condition.last:
            raise ExportError("condition_frame %d is outside the condition input %s (%d-%d)"
                              % (condition_frame, condition.name, condition.first, condition.last))
        _check_format(condition, "condition")
        crop = _crop("condition_crop", Existing(condition.name), condition)
        nodes.add(crop)
        nodes.add(_write("condition_write", crop.key, export_path(export_dir, shot, "condition"), "rgb", nuke_space,
                         FrameRange([condition_frame])))
        renders.append(Render("condition_write", [(condition_frame, condition_frame, 1)]))
        sources["condition"], reused["condition"] = "write:condition_write", False

    return ExportPlan(nodes, renders, sources, frames, engine_channel, condition_frame, plate_colourspace, reused)


def finish_export(plan: ExportPlan, evaluated: Dict[str, str], condition_file: str = "",
                  condition_frame: Optional[int] = None, project_directory: str = "") -> ExportResult:
    """The paths the engine reads, once the adapter has evaluated each Write's file knob."""
    paths = {}  # type: Dict[str, str]
    for role, source in plan.sources.items():
        if source.startswith("write:"):
            key = source[len("write:"):]
            if key not in evaluated:
                raise ExportError("export: the path of %s was not evaluated" % key)
            source = evaluated[key]
        paths[role] = absolute_path(source, project_directory)
    if "condition" in paths:
        condition, frame = paths["condition"], plan.condition_frame
    else:
        if not condition_file.strip():
            raise ExportError("condition_file is empty: pick a condition image, or set condition_source to "
                              "'input' and connect one")
        condition, frame = absolute_path(condition_file, project_directory), condition_frame
        if not FrameSequence.parse(condition).has_frame_token:
            frame = None
    return ExportResult(paths["plate"], paths["matte"], plan.matte_channel, condition, frame, plan.frames,
                        plan.plate_colourspace, dict(plan.reused))


def absolute_path(path: str, project_directory: str = "") -> str:
    """Forward slashes; a relative path resolves against the script's project directory, as Nuke does."""
    path = path.strip().replace("\\", "/")
    if not path:
        return path
    if not (path.startswith("/") or re.match(r"^[A-Za-z]:/", path)):
        base = (project_directory or os.getcwd()).replace("\\", "/")
        path = posixpath.join(base, path)
    drive = ""
    if re.match(r"^[A-Za-z]:/", path):
        drive, path = path[:2], path[2:]
    return drive + posixpath.normpath(path)


def _check_format(source: SourceInfo, role: str) -> None:
    if source.width <= 0 or source.height <= 0:
        raise ExportError("%s input %s has no image format; connect an image node" % (role, source.name))


def _crop(key: str, upstream: object, source: SourceInfo) -> PlannedNode:
    # The EXR data window becomes the format: no overscan, no bbox smaller than the frame.
    return PlannedNode(key, "Crop", {"box": [0, 0, source.width, source.height], "reformat": False, "crop": True},
                       [upstream], temporary=True)


def _write(key: str, upstream: str, path: str, channels: str, colourspace: str, frames: FrameRange) -> PlannedNode:
    knobs = {
        "file": path,
        "file_type": "exr",
        "channels": channels,
        "datatype": EXR_DATATYPE,
        "compression": EXR_COMPRESSION,
        "colorspace": colourspace,
        "create_directories": True,
        "use_limit": True,
        "first": frames.first,
        "last": frames.last,
    }
    return PlannedNode(key, "Write", knobs, [upstream], temporary=True)
