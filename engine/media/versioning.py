"""Versioned output folders and files ("{version}" -> v001, v002, ...), claimed safely when several
farm tasks start at once, and published all at once so that a failed job leaves nothing a Read
node would pick up."""
from __future__ import annotations

import os
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import MediaError
from ..sequence import FrameRange, FrameSequence
from .exr_write import write_exr
from .otio_export import write_otio

TOKENS = ("version", "shot", "pass", "seed")
_TOKEN = re.compile(r"\{(\w+)\}")
_FRAME_TOKEN_PATTERN = r"(?:-?\d+|#+|@+|%0?\d*d|\$F\d*)"
_VERSION_PATTERN = r"v(\d{3,})"


def version_name(version: int) -> str:
    return "v{:03d}".format(version)


def expand_template(template: str, version: int, shot: Optional[str] = None,
                    pass_name: Optional[str] = None, seed: Optional[int] = None) -> str:
    """The template with its tokens filled in; the frame token stays."""
    values = {"version": version_name(version), "shot": shot, "pass": pass_name,
              "seed": None if seed is None else str(seed)}
    return _fill(template, values)


def _fill(text: str, values: Mapping[str, Optional[str]]) -> str:
    def replace(match: "re.Match") -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else value

    return _TOKEN.sub(replace, text)


def _check_template(template: str, shot: Optional[str], passes: Sequence[str], seed: Optional[int]) -> None:
    names = _TOKEN.findall(template)
    unknown = sorted(set(names) - set(TOKENS))
    problem = None
    if unknown:
        problem = "unknown token(s) {}; the tokens are {}".format(
            ", ".join("{" + name + "}" for name in unknown), ", ".join("{" + t + "}" for t in TOKENS))
    elif "version" not in names:
        problem = "it has no {version} token, so a new run would overwrite the last"
    elif len(passes) > 1 and "pass" not in names:
        problem = "it has no {{pass}} token but {} passes are written".format(len(passes))
    elif "shot" in names and not shot:
        problem = "it has a {shot} token but no shot name was given"
    elif "seed" in names and seed is None:
        problem = "it has a {seed} token but no seed was given"
    if problem:
        raise MediaError("Output template {!r}: {}.".format(template, problem))


class _VersionSlot:
    """Where in the path the version number first appears, and how to scan and claim it."""

    def __init__(self, template: str, shot: Optional[str], seed: Optional[int]):
        parts = template.replace("\\", "/").split("/")
        index = next(i for i, part in enumerate(parts) if "{version}" in part)
        self.is_folder = index < len(parts) - 1
        self.parent_template = "/".join(parts[:index]) or "/"
        self.component_template = parts[index]
        self.shot, self.seed = shot, seed

    def parent(self, pass_name: str) -> str:
        return _fill(self.parent_template, {"shot": self.shot, "pass": pass_name,
                                            "seed": None if self.seed is None else str(self.seed)})

    def pattern(self) -> "re.Pattern":
        """Matches the component for any version, any pass and any frame; the version appears
        in group 1, and wherever it recurs it must be the same."""
        pieces = []
        seen_version = False
        for piece in re.split(r"(\{\w+\}|#+|@+|%0?\d*d|\$F\d*)", self.component_template):
            if piece == "{version}":
                pieces.append(r"v\1" if seen_version else _VERSION_PATTERN)
                seen_version = True
            elif piece == "{pass}":
                pieces.append(r"[^/]+")
            elif piece == "{shot}":
                pieces.append(re.escape(self.shot or ""))
            elif piece == "{seed}":
                pieces.append(re.escape(str(self.seed)))
            elif piece and re.fullmatch(r"#+|@+|%0?\d*d|\$F\d*", piece):
                pieces.append(_FRAME_TOKEN_PATTERN)
            else:
                pieces.append(re.escape(piece))
        return re.compile("".join(pieces))

    def claim_marker(self, parent: str, version: int) -> str:
        """The file that claims a version whose number is only in file names."""
        component = _fill(self.component_template, {"version": version_name(version),
                                                     "shot": self.shot,
                                                     "seed": None if self.seed is None else str(self.seed)})
        return os.path.join(parent, ".{}.claim".format(component))


def existing_versions(template: str, *, shot: Optional[str] = None, passes: Sequence[str] = ("bg",),
                      seed: Optional[int] = None) -> List[int]:
    """Version numbers already on disk (or claimed by a running job) for this template, sorted."""
    _check_template(template, shot, passes, seed)
    slot = _VersionSlot(template, shot, seed)
    component = slot.pattern()
    marker = re.compile(r"\." + component.pattern + r"\.claim")
    versions = set()
    for parent in {slot.parent(pass_name) for pass_name in passes}:
        try:
            names = os.listdir(parent)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise MediaError("Cannot list the output folder {}: {}. Check its permissions.".format(
                parent, error.strerror))
        for name in names:
            match = component.fullmatch(name) or marker.fullmatch(name)
            if match:
                versions.add(int(match.group(1)))
    return sorted(versions)


class VersionedOutput:
    """Claims the next free version of an output template and publishes its frames atomically.

        with VersionedOutput(template, shot="sh010", passes=("bg", "comp"), seed=7,
                             frames=FrameRange.parse("1001-1048"), fps=24.0) as out:
            out.write_frame("bg", 1001, pixels, ("R", "G", "B"), attributes={...})

    Frames are written under hidden temporary names. Only when the block ends without an exception
    and every pass has every frame are they renamed to their final names, followed by one .otio file
    per pass; otherwise the temporaries and the claim are removed and no final frame appears.
    An existing version is never overwritten."""

    def __init__(self, template: str, *, frames: Iterable[int], shot: Optional[str] = None,
                 passes: Sequence[str] = ("bg",), seed: Optional[int] = None, fps: float = 24.0,
                 otio_metadata: Optional[Mapping[str, object]] = None):
        self.template = template
        self.frames = FrameRange.from_frames(frames)
        self.shot, self.passes, self.seed, self.fps = shot, tuple(passes), seed, fps
        self.otio_metadata = dict(otio_metadata or {})
        _check_template(template, shot, self.passes, seed)
        self._slot = _VersionSlot(template, shot, seed)
        self.version = 0
        self.sequences = {}  # type: Dict[str, FrameSequence]
        self._claims = []  # type: List[Tuple[str, bool]]  # (path, is_folder)
        self._staged = {}  # type: Dict[Tuple[str, int], str]

    @property
    def version_name(self) -> str:
        return version_name(self.version)

    def final_path(self, pass_name: str, frame: int) -> str:
        return self.sequences[pass_name].path(frame)

    def otio_path(self, pass_name: str) -> str:
        return self.sequences[pass_name].prefix.rstrip("._-") + ".otio"

    def __enter__(self) -> "VersionedOutput":
        on_disk = existing_versions(self.template, shot=self.shot, passes=self.passes, seed=self.seed)
        version = (on_disk[-1] if on_disk else 0) + 1
        while not self._claim(version):
            version += 1
        self.version = version
        self.sequences = {
            pass_name: FrameSequence.parse(expand_template(self.template, version, self.shot,
                                                           pass_name, self.seed))
            for pass_name in self.passes
        }
        for sequence in self.sequences.values():
            os.makedirs(os.path.dirname(sequence.prefix) or ".", exist_ok=True)
        return self

    def _claim(self, version: int) -> bool:
        """Atomically takes `version` (mkdir or O_EXCL create) for every pass, or none of them."""
        claims = []  # type: List[Tuple[str, bool]]
        for parent in sorted({self._slot.parent(pass_name) for pass_name in self.passes}):
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as error:
                raise MediaError("Cannot create the output folder {}: {}. Check the output path and "
                                 "permissions.".format(parent, error.strerror))
            if self._slot.is_folder:
                folders = sorted({os.path.join(parent, _fill(self._slot.component_template, {
                    "version": version_name(version), "shot": self.shot, "pass": pass_name,
                    "seed": None if self.seed is None else str(self.seed)}))
                    for pass_name in self.passes if self._slot.parent(pass_name) == parent})
                targets = [(folder, True) for folder in folders]
            else:
                targets = [(self._slot.claim_marker(parent, version), False)]
            for path, is_folder in targets:
                try:
                    if is_folder:
                        os.mkdir(path)
                    else:
                        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    self._release(claims)
                    return False
                except OSError as error:
                    self._release(claims)
                    raise MediaError("Cannot claim {} in {}: {}. Check that the folder is writable."
                                     .format(version_name(version), parent, error.strerror))
                claims.append((path, is_folder))
                if not is_folder and self._published(parent, version):
                    # Another job claimed, published and un-claimed this version after our scan: its frames
                    # are on disk (they are renamed into place before its marker goes), so it is taken.
                    self._release(claims)
                    return False
        self._claims = claims
        return True

    def _published(self, parent: str, version: int) -> bool:
        component = self._slot.pattern()
        try:
            names = os.listdir(parent)
        except OSError:
            return False
        return any(match and int(match.group(1)) == version for match in map(component.fullmatch, names))

    @staticmethod
    def _release(claims: List[Tuple[str, bool]]) -> None:
        for path, is_folder in reversed(claims):
            try:
                if is_folder:
                    _remove_empty_tree(path)
                else:
                    os.remove(path)
            except OSError:
                pass  # a folder someone else has put files into stays

    def write_frame(self, pass_name: str, frame: int, pixels: np.ndarray, channel_names: Sequence[str],
                    **write_options) -> str:
        """Writes one frame of one pass (hidden until the block ends); `write_options` go to
        write_exr (attributes, colourspace, compression, ...). Returns the final path."""
        if pass_name not in self.sequences:
            raise ValueError("Pass {!r} is not one of this output's passes {}".format(pass_name, self.passes))
        if frame not in self.frames:
            raise ValueError("Frame {} is outside this output's frames {}".format(frame, self.frames))
        final = self.final_path(pass_name, frame)
        staged = os.path.join(os.path.dirname(final), ".{}.staged".format(os.path.basename(final)))
        write_exr(staged, pixels, channel_names, **write_options)
        self._staged[(pass_name, frame)] = staged
        return final

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            missing = {pass_name: [f for f in self.frames if (pass_name, f) not in self._staged]
                       for pass_name in self.passes}
            missing = {pass_name: frames for pass_name, frames in missing.items() if frames}
            if missing:
                self._abandon()
                raise MediaError("Output {} {} was not published: frames were never written ({}).".format(
                    self.template, self.version_name, "; ".join(
                        "{} frames {}".format(p, FrameRange.from_frames(f)) for p, f in missing.items())))
            self._publish()
        else:
            self._abandon()

    def _publish(self) -> None:
        renames = [(staged, self.final_path(pass_name, frame))
                   for (pass_name, frame), staged in sorted(self._staged.items())]
        clashes = [final for _, final in renames if os.path.exists(final)]
        if clashes:
            self._abandon()
            raise MediaError("{} already exists; versions are never overwritten. Remove the stray "
                             "file or render again to get a new version.".format(clashes[0]))
        for staged, final in renames:
            os.replace(staged, final)
        for pass_name, sequence in self.sequences.items():
            write_otio(self.otio_path(pass_name), sequence, self.frames, self.fps,
                       metadata=dict(self.otio_metadata, version=self.version_name, pass_name=pass_name,
                                     shot=self.shot, seed=self.seed))
        for path, is_folder in self._claims:
            if not is_folder:
                os.remove(path)  # the published frames now mark the version as taken
        self._staged.clear()

    def _abandon(self) -> None:
        for staged in self._staged.values():
            if os.path.exists(staged):
                os.remove(staged)
        self._staged.clear()
        self._release(self._claims)
        self._claims = []


def _remove_empty_tree(folder: str) -> None:
    for root, _, _ in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
        os.rmdir(root)
