"""Finished versions: from an engine's `result` reply, or found on disk from the .otio file the engine
publishes beside every version (how farm jobs, whose results never pass through this Nuke, are
collected). The .otio is read as plain JSON: Nuke's Python has no opentimelineio.
"""
from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from ..engine.errors import ActAnywhereError
from ..engine.sequence import FrameRange, FrameSequence

PASSES = ("bg", "comp")
_VERSION = re.compile(r"^v(\d{3,})$")


class PublishedError(ActAnywhereError):
    """A published version cannot be read: the message names the file."""


@dataclass
class PublishedVersion:
    job_id: str
    shot: str
    version_name: str  # v001
    seed: Optional[int]
    sequences: Dict[str, str]  # pass -> frame-sequence path
    frames: FrameRange
    otio_paths: Dict[str, str] = field(default_factory=dict)

    @property
    def version(self) -> int:
        match = _VERSION.match(self.version_name)
        return int(match.group(1)) if match else 0


def read_otio(path: str) -> Dict[str, Any]:
    """The first clip's image sequence of an .otio written by the engine: path (#### form), first and
    last frame, and the clip's actanywhere metadata."""
    try:
        with open(path, "r", encoding="utf-8") as stream:
            timeline = json.load(stream)
        track = timeline["tracks"]["children"][0]
        clip = next(child for child in track["children"] if str(child.get("OTIO_SCHEMA", "")).startswith("Clip"))
        references = clip.get("media_references") or {}
        reference = references.get(clip.get("active_media_reference_key", "DEFAULT_MEDIA")) or clip["media_reference"]
        padding = int(reference.get("frame_zero_padding") or 0)
        token = "#" * padding if padding else "#"
        sequence_path = "%s%s%s%s" % (reference["target_url_base"], reference["name_prefix"], token,
                                      reference["name_suffix"])
        available = reference["available_range"]
        step = int(reference.get("frame_step") or 1)
        first = int(round(available["start_time"]["value"]))
        count = int(round(available["duration"]["value"]))
        last = first + count - step
        metadata = dict((clip.get("metadata") or {}).get("actanywhere") or {})
    except FileNotFoundError:
        raise PublishedError("%s: no such .otio file; the version may still be rendering" % path) from None
    except (OSError, ValueError, KeyError, IndexError, TypeError, StopIteration) as error:
        raise PublishedError("%s: not an ActAnywhere .otio (%s: %s); re-publish the version"
                             % (path, type(error).__name__, error)) from None
    return {"path": sequence_path.replace("\\", "/"), "frames": FrameRange(range(first, last + 1, step)),
            "metadata": metadata}


def from_engine_result(job_id: str, shot: str, result: Mapping[str, Any], frames: FrameRange) -> List[PublishedVersion]:
    """The versions of a finished engine job (the `result` reply). Frames come from each version's
    .otio when it is readable, else from the spec."""
    versions = []
    for entry in result.get("results") or []:
        otio_paths = dict(entry.get("otio_paths") or {})
        version_frames = frames
        if otio_paths.get("bg") and os.path.isfile(otio_paths["bg"]):
            version_frames = read_otio(otio_paths["bg"])["frames"]
        versions.append(PublishedVersion(
            job_id, shot, str(entry.get("version_name") or ""), entry.get("seed"),
            {name: path.replace("\\", "/") for name, path in (entry.get("sequences") or {}).items()},
            version_frames, otio_paths))
    return sorted(versions, key=lambda version: version.version)


def find_on_disk(template: str, shot: str, job_id: str = "", seed: Optional[int] = None) -> List[PublishedVersion]:
    """Every published version of `template` for `shot`: one .otio per pass beside its frames. A
    version whose .otio is not there yet (still rendering, or failed) is not listed."""
    versions = {}  # type: Dict[str, PublishedVersion]
    for pass_name in PASSES:
        otio_template = _otio_template(template, shot, pass_name, seed)
        pattern = _glob_pattern(otio_template)
        matcher = _version_matcher(otio_template)
        for path in sorted(glob.glob(pattern)):
            path = path.replace("\\", "/")
            match = matcher.match(path)
            if not match:
                continue
            otio = read_otio(path)
            name = "v" + match.group(1)
            version = versions.get(name)
            if version is None:
                version = versions[name] = PublishedVersion(
                    job_id or str(otio["metadata"].get("job_id", "")), shot, name, otio["metadata"].get("seed"),
                    {}, otio["frames"])
            version.sequences[pass_name] = otio["path"]
            version.otio_paths[pass_name] = path
    return sorted((version for version in versions.values() if "bg" in version.sequences),
                  key=lambda version: version.version)


def _otio_template(template: str, shot: str, pass_name: str, seed: Optional[int]) -> str:
    """The .otio path for a frame-sequence template, as the engine names it: the sequence's prefix
    without its trailing separator, plus .otio."""
    filled = template.replace("\\", "/").replace("{shot}", shot).replace("{pass}", pass_name)
    if seed is not None:
        filled = filled.replace("{seed}", str(seed))
    prefix = FrameSequence.parse(filled.replace("{version}", "VERSIONTOKEN")).prefix
    return prefix.rstrip("._-").replace("VERSIONTOKEN", "{version}") + ".otio"


def _glob_pattern(otio_template: str) -> str:
    pattern = glob.escape(otio_template).replace("{version}", "v[0-9][0-9][0-9]*")
    return pattern.replace("{seed}", "[0-9]*")


def _version_matcher(otio_template: str) -> "re.Pattern":
    pieces = re.split(r"(\{version\}|\{seed\})", otio_template)
    regex, seen = "", False
    for piece in pieces:
        if piece == "{version}":
            regex += r"v\1" if seen else r"v(\d{3,})"
            seen = True
        elif piece == "{seed}":
            regex += r"\d+"
        else:
            regex += re.escape(piece)
    return re.compile(regex + "$")
