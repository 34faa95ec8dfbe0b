"""Collect: the nodes that bring finished versions into the comp, as a plan.

For every version not in the script yet: a Read of the generated plate (file and range set together,
original frame numbers, explicit colour space, `on_error` so a partly rendered farm result shows black
instead of stopping the comp), labelled with job, version and seed; and a Merge2 of the original subject
(the plate through the matte: Copy the matte channel into alpha, Premult) over it. The subject branch is
shared by the versions of one Collect. The artist's nodes are only read from: never rewired, never
deleted; a new version adds new nodes beside the old ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Set

from ..engine.sequence import FrameRange, FrameSequence
from ..engine.outputs import PublishedVersion
from .node_plan import Existing, NodePlan, PlannedNode
from .published import versions_of

COLUMN = 140  # node graph spacing
ROW = 60


@dataclass
class SubjectSource:
    """Where the subject comes from: the artist's plate and matte nodes, and the files the job read
    (what a standalone .nk snippet reads instead of the nodes)."""

    plate_node: str
    matte_node: str
    matte_channel: str  # Nuke channel of the matte node, e.g. rgba.alpha
    plate_file: str = ""
    matte_file: str = ""
    matte_file_channel: str = "rgba.alpha"  # the matte channel as a Read of matte_file shows it
    first: int = 1001
    last: int = 1001
    plate_colourspace: str = ""  # Nuke's name for the plate file's colour space


def read_path(path: str) -> str:
    """The %04d form Nuke's Read prefers, forward slashes."""
    return FrameSequence.parse(path.replace("\\", "/")).as_printf()


def unique_name(base: str, taken: Set[str]) -> str:
    name, index = base, 1
    while name in taken:
        index += 1
        name = "%s_%d" % (base, index)
    taken.add(name)
    return name


def new_versions(versions: Iterable[PublishedVersion], existing_read_files: Iterable[str]) -> List[PublishedVersion]:
    """The versions no Read of the script shows yet, each once."""
    seen = {read_path(path) for path in existing_read_files if path}
    fresh = []
    for version in versions:
        path = read_path(version.sequences["bg"])
        if path not in seen:
            seen.add(path)
            fresh.append(version)
    return fresh


def plan_collect(versions: List[PublishedVersion], subject: SubjectSource, colourspace: str,
                 on_error: str = "black", origin=(0, 0), taken_names: Optional[Set[str]] = None,
                 width: int = 0, height: int = 0, standalone: bool = False, job_id: str = "") -> NodePlan:
    """Nodes for `versions` (already filtered by `new_versions`), placed right of `origin`
    (the ActAnywhere node's position), one column per version. `standalone` reads the subject from
    the job's plate and matte files instead of the artist's nodes: a .nk snippet that pastes anywhere.
    `job_id` labels the nodes (the job the artist submitted; else each version's own)."""
    taken = set(taken_names or ())
    plan = NodePlan()
    if not versions:
        return plan
    x, y = int(origin[0]) + COLUMN, int(origin[1])
    shot = versions[0].shot
    if standalone:
        plan.add(_file_read("plate_source", subject.plate_file, subject, x, y - 2 * ROW, width, height, raw=False,
                            taken=taken, shot=shot))
        plan.add(_file_read("matte_source", subject.matte_file, subject, x - COLUMN, y - 2 * ROW, width, height,
                            raw=True, taken=taken, shot=shot))
        plate, matte, channel = "plate_source", "matte_source", subject.matte_file_channel  # type: ignore
    else:
        plate, matte, channel = Existing(subject.plate_node), Existing(subject.matte_node), subject.matte_channel
    plan.add(PlannedNode("subject_copy", "Copy", {
        "from0": channel, "to0": "rgba.alpha",
        "name": unique_name("AA_%s_subject" % shot, taken),
        "label": "subject alpha from\n%s %s" % (subject.matte_node, subject.matte_channel),
        "xpos": x, "ypos": y}, [plate, matte]))
    plan.add(PlannedNode("subject_premult", "Premult", {
        "name": unique_name("AA_%s_subject_premult" % shot, taken), "xpos": x, "ypos": y + ROW}, ["subject_copy"]))
    for index, version in enumerate(versions):
        column = x + COLUMN * (index + 1)
        read_key, merge_key = "read_%s" % version.version_name, "merge_%s" % version.version_name
        label = "job %s\n%s seed %s" % (job_id or version.job_id or "-", version.version_name,
                                        "-" if version.seed is None else version.seed)
        frames = version.frame_range
        knobs = {
            "file": read_path(version.sequences["bg"]),
            "first": frames.first, "last": frames.last,
            "origfirst": frames.first, "origlast": frames.last, "origset": True,
        }
        if width and height:
            knobs["format"] = "%d %d 0 0 %d %d 1" % (width, height, width, height)
        knobs.update({
            "colorspace": colourspace,
            "on_error": on_error,
            "name": unique_name("AA_%s_%s_bg" % (shot, version.version_name), taken),
            "label": label,
            "xpos": column, "ypos": y - ROW,
        })
        plan.add(PlannedNode(read_key, "Read", knobs, []))
        plan.add(PlannedNode(merge_key, "Merge2", {
            "operation": "over",
            "name": unique_name("AA_%s_%s_comp" % (shot, version.version_name), taken),
            "label": label,
            "xpos": column, "ypos": y + 2 * ROW,
        }, [read_key, "subject_premult"]))  # B: the generated plate, A: the subject
    return plan


def _file_read(key: str, path: str, subject: SubjectSource, x: int, y: int, width: int, height: int, raw: bool,
               taken: Set[str], shot: str) -> PlannedNode:
    if not path:
        raise ValueError("a standalone collect needs the job's %s file" % key.split("_")[0])
    knobs = {"file": read_path(path), "first": subject.first, "last": subject.last,
             "origfirst": subject.first, "origlast": subject.last, "origset": True}
    if width and height:
        knobs["format"] = "%d %d 0 0 %d %d 1" % (width, height, width, height)
    if raw:
        knobs["raw"] = True  # a matte is data
    elif subject.plate_colourspace:
        knobs["colorspace"] = subject.plate_colourspace
    knobs.update({"name": unique_name("AA_%s_%s" % (shot, key), taken), "xpos": x, "ypos": y})
    return PlannedNode(key, "Read", knobs, [])


def plan_history(history: Iterable[dict], taken_names: Set[str], read_files: List[str], origin, read_on_error: str,
                 node_exists, standalone: bool = False) -> NodePlan:
    """Nodes for every version of the node's job history not in the script yet: each job's versions
    from its own records (published.versions_of), one Read per version folder however many entries name
    it, each job's nodes in columns right of `origin`. `node_exists(name)` says whether the artist's
    plate and matte nodes are still there (else the nodes read the job's files: standalone)."""
    plan = NodePlan()
    taken = set(taken_names)
    reads = list(read_files)
    column = 0
    for entry in history:
        versions = new_versions(versions_of(entry), reads)
        reads += [version.sequences["bg"] for version in versions]
        if not versions:
            continue
        frame_range = FrameRange.parse(entry["frames"])
        subject = SubjectSource(entry.get("plate_node") or "", entry.get("matte_node") or "",
                                entry.get("matte_channel") or "rgba.alpha", entry.get("plate", ""),
                                entry.get("matte", ""), entry.get("matte_file_channel", "rgba.alpha"),
                                frame_range.first, frame_range.last, entry.get("nuke_colourspace", ""))
        alone = standalone or not (node_exists(subject.plate_node) and node_exists(subject.matte_node))
        part = plan_collect(versions, subject, entry.get("nuke_colourspace", ""), read_on_error,
                            (origin[0] + column, origin[1]), taken, entry.get("width", 0), entry.get("height", 0),
                            alone, job_id=entry.get("job_id") or "")
        column += COLUMN * (len(versions) + 2)
        prefix = (entry.get("job_id") or "job") + "_"
        for planned in part:
            planned.key = prefix + planned.key
            planned.inputs = [prefix + source if isinstance(source, str) else source for source in planned.inputs]
            plan.add(planned)
            taken.add(planned.name)
    return plan
