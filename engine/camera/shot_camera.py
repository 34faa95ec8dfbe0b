"""A shot's camera track: handed in by the spec (`track: FILE`), assumed static (`camera.track: static`),
found in the track cache, or tracked from the plate while generate reads it.

The cache key is a fingerprint of the plate's and matte's files (path, size and modification time of
every frame: cheap, and it changes whenever a frame is re-rendered), the matte channel, the frames,
the tracker's method and settings. Cached tracks live in $ACTANYWHERE_CACHE/tracks (default
~/.cache/actanywhere/tracks), one JSON file per key, written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from typing import Callable, List, Optional

import numpy as np

from ..errors import MediaError
from ..media.resize import resize_image
from ..progress import ProgressCallback, ignore_progress
from .track import CameraTrack
from .tracker import METHOD, PlateTracker, TrackerSettings, tracking_size


def cache_directory() -> str:
    root = os.environ.get("ACTANYWHERE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "actanywhere")
    return os.path.join(root, "tracks")


def reference_frame(spec, frames: List[int]) -> int:
    """The plate frame the condition image matches: the spec's condition_frame, else the first frame."""
    return int(spec.condition_frame) if spec.condition_frame is not None else int(frames[0])


def tracker_settings(spec) -> TrackerSettings:
    return TrackerSettings(dilate=float(spec.camera.matte_dilate))


def plate_fingerprint(spec, frames: List[int]) -> str:
    """A hash of what a track is measured from (see the module's docstring)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"method": METHOD, "settings": asdict(tracker_settings(spec)),
                              "matte_channel": spec.matte_channel, "frames": list(frames),
                              "reference": reference_frame(spec, frames)}, sort_keys=True).encode())
    for sequence in (spec.plate_sequence, spec.matte_sequence):
        for frame in frames:
            path = sequence.path(frame)
            try:
                status = os.stat(path)
            except OSError:
                raise MediaError("%s does not exist: the camera track needs every plate and matte frame" % path) from None
            digest.update(("%s|%d|%d\n" % (os.path.abspath(path), status.st_size, status.st_mtime_ns)).encode())
    return digest.hexdigest()[:24]


class ShotCamera:
    """Decides where the track comes from; when it must be tracked, collects the frames as they are read
    (`add`) and tracks them on the way (`finish`)."""

    def __init__(self, spec, frames: List[int], plate_width: int, plate_height: int,
                 progress: ProgressCallback = ignore_progress, log: Callable[[str], None] = print,
                 use_cache: bool = True):
        self.spec, self.frames = spec, [int(frame) for frame in frames]
        self.reference = reference_frame(spec, self.frames)
        self.log, self.use_cache = log, use_cache
        self.track: Optional[CameraTrack] = None
        self.tracker: Optional[PlateTracker] = None
        self.fingerprint = ""
        self.source = ""
        if spec.track:
            self.track = self._from_file(spec.track)
            self.source = spec.track
        elif spec.camera.track == "static":
            self.track = CameraTrack.static(self.frames, self.reference if self.reference in self.frames else self.frames[0])
            self.source = "static (camera.track)"
        else:
            if self.reference not in self.frames:
                raise MediaError("condition_frame %d is outside the shot's frames %d-%d: the camera is tracked relative "
                                 "to it, so include it in frames (or set camera.track: static)"
                                 % (self.reference, self.frames[0], self.frames[-1]))
            self.fingerprint = plate_fingerprint(spec, self.frames)
            cached = self._cache_path()
            if use_cache and os.path.isfile(cached):
                try:
                    self.track = CameraTrack.load(cached)
                    self.source = "cache %s" % cached
                except MediaError as error:  # a damaged cache entry is re-tracked, never trusted
                    log("warning: ignoring the cached track: %s" % error)
            if self.track is None:
                self.tracking_size = tracking_size(plate_width, plate_height)
                self.tracker = PlateTracker(tracker_settings(spec), "plate %s" % spec.plate, progress, len(self.frames))
                self.source = "tracked from the plate"

    @property
    def needs_frames(self) -> bool:
        return self.tracker is not None

    def _cache_path(self) -> str:
        return os.path.join(cache_directory(), "%s.json" % self.fingerprint)

    def _from_file(self, path: str) -> CameraTrack:
        track = CameraTrack.load(path)
        missing = [frame for frame in self.frames if frame not in track.frames]
        if missing:
            raise MediaError("camera track %s has no frame %d (it covers %d-%d): track the shot's whole range"
                             % (path, missing[0], track.frames[0], track.frames[-1]))
        if self.reference not in track.frames:
            raise MediaError("camera track %s does not cover condition_frame %d" % (path, self.reference))
        return track.relative_to(self.reference).subset(self.frames)

    def add(self, frame: int, model_plate: np.ndarray, matte: np.ndarray) -> None:
        """One plate frame in the model's colour space (H, W, 3) and its matte (H, W), at plate size."""
        width, height = self.tracking_size
        rgb = np.clip(resize_image(model_plate[..., :3], width, height), 0.0, 1.0)
        self.tracker.add(frame, rgb, np.clip(resize_image(matte, width, height, "box"), 0.0, 1.0))

    def finish(self) -> CameraTrack:
        if self.track is None:
            track = self.tracker.finish(self.reference)
            track.plate_hash = self.fingerprint
            if self.use_cache:
                try:
                    track.save(self._cache_path())
                except OSError as error:  # a read-only home still generates; it only tracks again next time
                    self.log("warning: cannot cache the camera track in %s (%s)" % (cache_directory(), error))
            self.track = track
        summary = self.track.summary()
        self.log("camera: %s; %s" % (self.source, ", ".join("%s %d" % item for item in summary["flags"].items())))
        return self.track
