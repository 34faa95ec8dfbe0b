"""The path sandbox: the engine reads and writes only under the roots its config lists.

Every path of a submitted spec (plate, matte, condition, OCIO config, output template) is checked
before the job is queued: it must be absolute, hold no `..`, and resolve (symlinks followed, for the
directory and for every existing frame) to a place under a root. A path that fails names the field,
the path and the roots.
"""
from __future__ import annotations

import os
import re
from typing import Sequence

from ..errors import ActAnywhereError, SequenceError
from ..outputs import OutputTemplate
from ..sequence import FrameSequence
from ..shotspec import ShotSpec



class SandboxError(ActAnywhereError):
    """A path of a submitted spec leads outside the engine's sandbox roots."""


class Sandbox:
    def __init__(self, roots: Sequence[str]):
        if not roots:
            raise SandboxError(
                "engine.sandbox_roots is empty: list the directories the engine may read and write, "
                "e.g. --sandbox /shows (or engine.sandbox_roots in the config)"
            )
        for root in roots:
            if not os.path.isabs(root):
                raise SandboxError("sandbox root %r is not an absolute path" % root)
        self.roots = [os.path.realpath(root) for root in roots]

    def check_spec(self, spec: ShotSpec) -> None:
        self._check_sequence("plate", spec.plate, spec)
        self._check_sequence("matte", spec.matte, spec)
        self._check_sequence("condition", spec.condition, spec)
        ocio = spec.colour.ocio_config
        if ocio and not ocio.startswith("ocio://"):
            self.check_path("colour.ocio_config", ocio)
        self._check_output("output.template", spec.output.template, spec)

    def check_path(self, field: str, path: str) -> str:
        """The real path of `path`, if it lies under a root; else SandboxError naming `field`."""
        self._check_text(field, path)
        real = os.path.realpath(path)
        if not self._inside(real):
            via = "" if real == os.path.normpath(path) else " (it resolves to %s through a symlink)" % real
            raise SandboxError(
                "%s: %s is outside the engine's sandbox%s; allowed roots: %s"
                % (field, path, via, ", ".join(self.roots))
            )
        return real

    # -- helpers --------------------------------------------------------------------------------
    def _check_text(self, field: str, path: str) -> None:
        if "\x00" in path:
            raise SandboxError("%s: the path holds a NUL character" % field)
        if not path.startswith("/") and not re.match(r"^[A-Za-z]:[\\/]", path):
            raise SandboxError("%s: %r is not an absolute path; the engine takes absolute paths on shared storage"
                               % (field, path))
        if ".." in re.split(r"[\\/]", path):
            raise SandboxError("%s: %s holds '..'; send the path without parent references" % (field, path))

    def _inside(self, real: str) -> bool:
        return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots)

    def _check_sequence(self, field: str, path: str, spec: ShotSpec) -> None:
        self._check_text(field, path)
        sequence = FrameSequence.parse(path)
        self.check_path(field, os.path.dirname(path) or "/")
        if not sequence.has_frame_token:
            self.check_path(field, path)
            return
        # Only frames on disk can lead out, and only through a symlink (the folder is checked above):
        # one listing and one lstat per frame found, however long the requested range.
        try:
            frames = set(sequence.existing_frames())
        except SequenceError:
            return  # no folder yet: nothing there to lead out; the job reports the missing frames
        if field == "condition":
            frames &= {spec.condition_frame} if spec.condition_frame is not None else set()
        elif spec.frames:
            frames &= set(spec.frame_range())
        for frame in sorted(frames):
            path = sequence.path(frame)
            if os.path.islink(path):
                self.check_path(field, path)

    def _check_output(self, field: str, template: str, spec: ShotSpec) -> None:
        self._check_text(field, template)
        parsed = OutputTemplate.parse(template, field)
        # Every folder a version is written in (its staging folder is a sibling of the version folder).
        folders = {os.path.dirname(parsed.sequence_path(1, spec.shot, pass_name, seed))
                   for pass_name in ("bg", "comp") for seed in spec.seeds}
        for directory in sorted(folders):
            self.check_path(field, directory)  # lexical check, and symlinks of the existing part
            existing = directory
            while existing and not os.path.exists(existing):
                existing = os.path.dirname(existing)
            self.check_path(field, existing or "/")
