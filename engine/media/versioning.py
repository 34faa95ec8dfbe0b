"""Writing one version's frames: EXR files and .otio into the version's hidden staging folder, then
published all at once (engine/outputs.py owns the template, the claim, the rename and the record)."""
from __future__ import annotations

import os
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import MediaError
from ..outputs import Claim, OutputTemplate, PublishedVersion, claim_version, fault, version_name
from ..sequence import FrameRange, FrameSequence
from .exr_write import write_exr
from .otio_export import write_otio


class VersionedOutput:
    """Claims the next free version of an output template and publishes it whole.

        with VersionedOutput(template, shot="sh010", passes=("bg", "comp"), seed=7,
                             frames=FrameRange.parse("1001-1048"), fps=24.0,
                             record={"job_id": "sh010-7f3a", "spec_hash": ...}) as out:
            out.write_frame("bg", 1001, pixels, ("R", "G", "B"), attributes={...})
        out.record  # the PublishedVersion

    Everything is written inside the claimed version's hidden staging folder. Only when the block ends
    without an exception and every pass has every frame are the .otio files and the record written
    and the folder renamed into place; otherwise the staging folder is removed. `record` holds the
    version record's job_id, task_id, spec_hash, model and model_checksum; its key (the farm task id,
    else the engine job id) makes the publication exactly-once per key and seed (outputs.py)."""

    def __init__(self, template: str, *, frames: Iterable[int], shot: str, passes: Sequence[str] = ("bg",),
                 seed: Optional[int] = None, fps: float = 24.0,
                 otio_metadata: Optional[Mapping[str, object]] = None, record: Optional[Mapping[str, str]] = None,
                 log=lambda text: None):
        self.template = OutputTemplate.parse(template)
        self.frames = FrameRange.from_frames(frames)
        self.shot, self.passes, self.seed, self.fps = shot, tuple(passes), seed, fps
        self.otio_metadata = dict(otio_metadata or {})
        self.record_fields = dict(record or {})  # job_id, task_id, spec_hash, model, model_checksum
        self.key = self.record_fields.get("task_id") or self.record_fields.get("job_id") or ""
        self._log = log
        self.claim = None  # type: Optional[Claim]
        self.sequences = {}  # type: Dict[str, FrameSequence]
        self.record = None  # type: Optional[PublishedVersion]
        self._written = set()  # type: set

    @property
    def version(self) -> int:
        return self.claim.version if self.claim else 0

    @property
    def version_name(self) -> str:
        return version_name(self.version)

    def final_path(self, pass_name: str, frame: int) -> str:
        return self.sequences[pass_name].path(frame)

    def otio_path(self, pass_name: str) -> str:
        return self.template.otio_path(self.version, self.shot, pass_name, self.seed)

    def __enter__(self) -> "VersionedOutput":
        self.claim = claim_version(self.template, self.shot, self.seed, self.key, self._log)
        self.sequences = {pass_name: FrameSequence.parse(self.template.sequence_path(
            self.version, self.shot, pass_name, self.seed)) for pass_name in self.passes}
        for sequence in self.sequences.values():
            os.makedirs(os.path.dirname(self.claim.staged_path(sequence.prefix)), exist_ok=True)
        return self

    def write_frame(self, pass_name: str, frame: int, pixels: np.ndarray, channel_names: Sequence[str],
                    **write_options) -> str:
        """Writes one frame of one pass into the staging folder; `write_options` go to write_exr
        (attributes, colourspace, compression, ...). Returns the final path."""
        if pass_name not in self.sequences:
            raise ValueError("pass %r is not one of this output's passes %s" % (pass_name, self.passes))
        if frame not in self.frames:
            raise ValueError("frame %s is outside this output's frames %s" % (frame, self.frames))
        final = self.final_path(pass_name, frame)
        fault("write frame")
        write_exr(self.claim.staged_path(final), pixels, channel_names, **write_options)
        self.claim.heartbeat()
        self._written.add((pass_name, frame))
        return final

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self.claim.abandon()
            return
        missing = {pass_name: [f for f in self.frames if (pass_name, f) not in self._written]
                   for pass_name in self.passes}
        missing = {pass_name: frames for pass_name, frames in missing.items() if frames}
        if missing:
            self.claim.abandon()
            raise MediaError("output %s %s was not published: frames were never written (%s)" % (
                self.template.text, self.version_name, "; ".join(
                    "%s frames %s" % (p, FrameRange.from_frames(f)) for p, f in missing.items())))
        try:
            self._publish()
        except BaseException:
            self.claim.abandon()
            raise

    def _publish(self) -> None:
        otio_paths = {}
        for pass_name, sequence in self.sequences.items():
            otio_paths[pass_name] = self.otio_path(pass_name)
            fault("write otio")
            write_otio(self.claim.staged_path(otio_paths[pass_name]), sequence, self.frames, self.fps,
                       metadata=dict(self.otio_metadata, version=self.version_name, pass_name=pass_name,
                                     shot=self.shot, seed=self.seed, job_id=self.record_fields.get("job_id", ""),
                                     task_id=self.record_fields.get("task_id", "")))
        record = PublishedVersion(
            shot=self.shot, version=self.version, seed=self.seed, frames=str(self.frames),
            sequences={name: sequence.as_hashes() for name, sequence in self.sequences.items()},
            otio_paths=otio_paths, **self.record_fields)
        self.record = self.claim.publish(record)


def existing_versions(template: str, *, shot: str, seed: Optional[int] = None) -> Tuple[int, ...]:
    """Version numbers published or claimed for the shot, sorted."""
    return tuple(OutputTemplate.parse(template).versions_taken(shot, seed))
