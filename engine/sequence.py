"""Frame ranges ("1001-1100x2,1200") and frame-sequence paths ("plate.####.exr").

Pure Python and compatible with Python 3.7, because Nuke's own Python imports this module to build
and check shot specs before anything is sent to the engine.
"""
from __future__ import annotations

import os
import re
from typing import Iterable, Iterator, List, Tuple

from .errors import SequenceError

# More frames than an hour at 24 fps several times over is a typo, not a shot: refused before the
# range is expanded (a range of 10 million frames would take 800 MB and block its reader).
MAX_FRAMES = 100000
_RANGE_FORMS = '"1001", "1001-1048", "1001-1100x2" or a list of these separated by commas or spaces (as Nuke writes them)'

# One range part: a frame, or first-last with an optional step ("x2"). Frames may be negative.
_RANGE_PART = re.compile(r"^(-?\d+)(?:\s*-\s*(-?\d+)(?:\s*x\s*(\d+))?)?$")


class FrameRange:
    """A set of frame numbers, kept sorted and unique. Never renumbered: the numbers are the shot's."""

    def __init__(self, frames: Iterable[int]):
        self._frames = tuple(sorted(set(int(frame) for frame in frames)))
        if not self._frames:
            raise SequenceError("a frame range needs at least one frame")

    @classmethod
    def parse(cls, text: str) -> "FrameRange":
        # Nuke writes "1-10 20-30"; "1001 - 1048" and "1-100 x 2" are one part each.
        joined = re.sub(r"(\d)\s*x\s*(\d)", r"\1x\2", re.sub(r"(\d)\s*-\s*(-?\d)", r"\1-\2", str(text).strip()))
        parts = re.split(r"\s*,\s*|\s+", joined)  # ",," leaves an empty part: refused below
        frames = []  # type: List[int]
        count = 0
        for part in parts:
            match = _RANGE_PART.match(part.strip())
            if not match:
                raise SequenceError(
                    "cannot read the frame range %r: use %s" % (text, _RANGE_FORMS)
                )
            first = int(match.group(1))
            last = int(match.group(2)) if match.group(2) is not None else first
            step = int(match.group(3)) if match.group(3) is not None else 1
            if last < first or step < 1:
                raise SequenceError(
                    "cannot read the frame range %r: %r must run from the lower frame to the "
                    "higher with a positive step; use %s" % (text, part.strip(), _RANGE_FORMS)
                )
            count += len(range(first, last + 1, step))
            if count > MAX_FRAMES:
                raise SequenceError(
                    "the frame range %r holds more than %d frames; split the shot into several jobs"
                    % (text if len(str(text)) < 80 else str(text)[:80] + "...", MAX_FRAMES)
                )
            frames.extend(range(first, last + 1, step))
        return cls(frames)

    @classmethod
    def from_frames(cls, frames: Iterable[int]) -> "FrameRange":
        return cls(frames)

    @property
    def frames(self) -> Tuple[int, ...]:
        return self._frames

    @property
    def first(self) -> int:
        return self._frames[0]

    @property
    def last(self) -> int:
        return self._frames[-1]

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self) -> Iterator[int]:
        return iter(self._frames)

    def __contains__(self, frame: object) -> bool:
        return frame in self._frames

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameRange):
            return NotImplemented
        return self._frames == other._frames

    def __hash__(self) -> int:
        return hash(self._frames)

    def __repr__(self) -> str:
        return "FrameRange(%r)" % str(self)

    def __str__(self) -> str:
        return ",".join(_compact_runs(self._frames))


def _compact_runs(frames: Tuple[int, ...]) -> List[str]:
    """Greedy runs of constant step. A two-frame run with a step other than 1 is no shorter written
    as a run, and its second frame may start a longer run, so it is written as a single frame."""
    parts = []  # type: List[str]
    index = 0
    while index < len(frames):
        first = frames[index]
        if index + 1 == len(frames):
            parts.append(str(first))
            break
        step = frames[index + 1] - first
        end = index + 1
        while end + 1 < len(frames) and frames[end + 1] - frames[end] == step:
            end += 1
        if end - index + 1 < 3 and step != 1:
            parts.append(str(first))
            index += 1
            continue
        last = frames[end]
        parts.append("%d-%d" % (first, last) if step == 1 else "%d-%dx%d" % (first, last, step))
        index = end + 1
    return parts


# Frame tokens, in the file name only: "####", "@@@" (one digit each), "%04d" / "%d", "$F4" / "$F".
_FRAME_TOKEN = re.compile(r"#+|@+|%(0?\d+)?d|\$F(\d*)")


class FrameSequence:
    """A frame-sequence path with one frame token, or a still image when it has none (a still gives
    the same path for every frame)."""

    def __init__(self, template: str, prefix: str, suffix: str, padding: int, has_frame_token: bool):
        self._template = template
        self._prefix = prefix
        self._suffix = suffix
        self._padding = padding
        self._has_frame_token = has_frame_token

    @classmethod
    def parse(cls, path: str) -> "FrameSequence":
        path = str(path)
        # Only the file name holds a frame token: "@" or "$F" in a folder name is part of its name ("@archive");
        # "#" or "%04d" there is a token in the wrong place.
        directory, name = os.path.split(path)
        if re.search(r"#|%0?\d*d", directory):
            raise SequenceError(
                "the frame token in %r is in a folder name: put the frame number in the file name, "
                "e.g. plate.####.exr" % path
            )
        tokens = list(_FRAME_TOKEN.finditer(name))
        if len(tokens) > 1:
            raise SequenceError(
                "%r has %d frame tokens (%s): a sequence path needs exactly one, e.g. "
                "plate.####.exr or plate.%%04d.exr" % (
                    path, len(tokens), ", ".join(token.group(0) for token in tokens)
                )
            )
        if not tokens:
            return cls(path, path, "", 0, False)
        token = tokens[0]
        if re.search(r"\d+-\d+$", name[:token.start()]):
            raise SequenceError(
                "%r holds a frame range before its frame token (%r): give the path with the token alone, "
                "e.g. %s, and the range as the shot's frames" % (
                    path, re.search(r"\d+-\d+$", name[:token.start()]).group(0),
                    re.sub(r"\d+-\d+$", "", name[:token.start()]) + token.group(0) + name[token.end():]))
        start = len(path) - len(name) + token.start()
        end = len(path) - len(name) + token.end()
        return cls(path, path[:start], path[end:], _token_padding(token), True)

    @property
    def template(self) -> str:
        return self._template

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def suffix(self) -> str:
        return self._suffix

    @property
    def padding(self) -> int:
        return self._padding

    @property
    def has_frame_token(self) -> bool:
        return self._has_frame_token

    def path(self, frame: int) -> str:
        if not self._has_frame_token:
            return self._template
        return self._prefix + _frame_digits(frame, self._padding) + self._suffix

    def as_hashes(self) -> str:
        if not self._has_frame_token:
            return self._template
        return self._prefix + "#" * self._padding + self._suffix

    def as_printf(self) -> str:
        """The form Nuke's Read and Write nodes prefer."""
        if not self._has_frame_token:
            return self._template
        token = "%d" if self._padding == 1 else "%%0%dd" % self._padding
        return self._prefix + token + self._suffix

    def existing_frames(self) -> List[int]:
        """Frames on disk, sorted. A file counts only if its number is written exactly as `path`
        would write it, so "plate.01001.exr" is not frame 1001 of "plate.####.exr" but
        "plate.10000.exr" (the padding overflowing) is frame 10000."""
        if not self._has_frame_token:
            raise SequenceError(
                "%r is a still image with no frame token, so it has no frame numbers to list"
                % self._template
            )
        directory, name_prefix = os.path.split(self._prefix)
        pattern = re.compile(re.escape(name_prefix) + r"(-?\d+)" + re.escape(self._suffix) + "$")
        try:
            names = os.listdir(directory or ".")
        except OSError as error:
            raise SequenceError(
                "cannot list the folder %r of %r: %s; check the path and permissions"
                % (directory or ".", self._template, error.strerror)
            )
        frames = []  # type: List[int]
        for name in names:
            match = pattern.match(name)
            if match and _frame_digits(int(match.group(1)), self._padding) == match.group(1):
                frames.append(int(match.group(1)))
        return sorted(frames)

    def missing_frames(self, frames: Iterable[int]) -> List[int]:
        """Frames among `frames` whose file does not exist, sorted."""
        wanted = sorted(set(int(frame) for frame in frames))
        if not self._has_frame_token:
            return [] if os.path.isfile(self._template) else wanted
        existing = set(self.existing_frames()) if os.path.isdir(self._directory()) else set()
        return [frame for frame in wanted if frame not in existing]

    def _directory(self) -> str:
        return os.path.dirname(self._prefix) or "."

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameSequence):
            return NotImplemented
        return (self._prefix, self._suffix, self._padding, self._has_frame_token) == (
            other._prefix, other._suffix, other._padding, other._has_frame_token
        )

    def __hash__(self) -> int:
        return hash((self._prefix, self._suffix, self._padding, self._has_frame_token))

    def __repr__(self) -> str:
        return "FrameSequence(%r)" % self._template

    def __str__(self) -> str:
        return self._template


def _token_padding(token: "re.Match") -> int:
    text = token.group(0)
    if text[0] in "#@":
        return len(text)
    if text[0] == "%":
        return int(token.group(1)) if token.group(1) else 1
    return int(token.group(2)) if token.group(2) else 1


def _frame_digits(frame: int, padding: int) -> str:
    """printf's %0Nd, as Nuke writes frame numbers: the sign counts in the width (-5 -> "-005")."""
    return "%0*d" % (padding, frame)

