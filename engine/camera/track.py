"""CameraTrack: the 2D motion of a plate's background, per frame, relative to one reference frame.

Each frame holds a homography that maps that frame's picture onto the reference frame's picture, in
*normalised* image coordinates: u = (x + 0.5) / width, v = (y + 0.5) / height for pixel indices x, y.
Normalised, one track serves every resolution the engine works at (the tracking size, the model's
working size, the refinement at plate size) and the plate itself; `pixel_homography` converts.

Pure numpy + json (no OpenCV, no torch): the Nuke side and the farm read tracks too.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import MediaError

TRACK_FORMAT = 1
# Per-frame flags: how each frame's homography was found.
REFERENCE = "reference"  # the reference frame itself (identity)
TRACKED = "tracked"  # measured from the plate's background
FILLED = "filled"  # too little background texture: its motion is its neighbours' (constant velocity)
STATIC = "static"  # no tracking asked for (a locked-off camera): identity
FLAGS = (REFERENCE, TRACKED, FILLED, STATIC)


def normalising(width: int, height: int) -> np.ndarray:
    """The 3x3 map from pixel indices of a width x height image to normalised coordinates."""
    return np.array([[1.0 / width, 0.0, 0.5 / width], [0.0, 1.0 / height, 0.5 / height], [0.0, 0.0, 1.0]])


def to_pixels(homography: np.ndarray, width: int, height: int,
              source_size: Optional[Sequence[int]] = None) -> np.ndarray:
    """A normalised homography as a pixel homography: from pixels of a width x height frame to pixels of
    a `source_size` (width, height) image (default: the same size)."""
    source_width, source_height = source_size or (width, height)
    return np.linalg.inv(normalising(source_width, source_height)) @ homography @ normalising(width, height)


def to_normalised(homography: np.ndarray, width: int, height: int) -> np.ndarray:
    """A pixel homography between two width x height images, normalised."""
    scale = normalising(width, height)
    return scale @ homography @ np.linalg.inv(scale)


@dataclass
class CameraTrack:
    """frames: the plate frame numbers; homographies (T, 3, 3): frame -> reference, normalised;
    flags: one of FLAGS per frame; inliers: background points that agreed on each frame's motion (0 for
    the reference and for filled frames); size: (width, height) of the images it was measured on."""

    frames: List[int]
    reference_frame: int
    homographies: np.ndarray
    flags: List[str]
    inliers: List[int] = field(default_factory=list)
    size: Sequence[int] = (0, 0)
    plate_hash: str = ""  # what it was tracked from (a hash of the plate's and matte's files), for caching
    method: str = ""

    def __post_init__(self):
        self.frames = [int(frame) for frame in self.frames]
        self.homographies = np.asarray(self.homographies, dtype=np.float64).reshape(-1, 3, 3)
        if len(self.homographies) and np.all(np.abs(self.homographies[:, 2, 2]) > 1e-12):
            self.homographies = self.homographies / self.homographies[:, 2:, 2:]  # one scale: h33 = 1
        self.inliers = [int(count) for count in self.inliers] or [0] * len(self.frames)
        self.size = tuple(int(value) for value in self.size)
        if not (len(self.frames) == len(self.homographies) == len(self.flags) == len(self.inliers)):
            raise MediaError("camera track: %d frames, %d homographies, %d flags and %d inlier counts: a track "
                             "needs one of each per frame" % (len(self.frames), len(self.homographies),
                                                              len(self.flags), len(self.inliers)))
        unknown = sorted(set(self.flags) - set(FLAGS))
        if unknown:
            raise MediaError("camera track: unknown frame flag %r; expected one of %s" % (unknown[0], ", ".join(FLAGS)))
        if not np.isfinite(self.homographies).all():
            raise MediaError("camera track: a homography holds NaN or infinite values")

    # -- building -----------------------------------------------------------------------------------
    @classmethod
    def static(cls, frames: Sequence[int], reference_frame: int) -> "CameraTrack":
        """A locked-off camera: every frame is the reference frame's picture."""
        count = len(frames)
        return cls(list(frames), reference_frame, np.repeat(np.eye(3)[None], count, axis=0), [STATIC] * count,
                   method="static")

    def index(self, frame: int) -> int:
        try:
            return self.frames.index(int(frame))
        except ValueError:
            raise MediaError("camera track has no frame %d (it covers %d-%d): track the shot's whole range"
                             % (frame, self.frames[0], self.frames[-1])) from None

    def relative_to(self, reference_frame: int) -> "CameraTrack":
        """The same motion relative to another of its frames."""
        to_old = self.homographies[self.index(reference_frame)]
        inverse = np.linalg.inv(to_old)
        homographies = np.stack([inverse @ homography for homography in self.homographies])  # rescaled on init
        flags = [REFERENCE if frame == reference_frame else (TRACKED if flag == REFERENCE else flag)
                 for frame, flag in zip(self.frames, self.flags)]
        return CameraTrack(self.frames, reference_frame, homographies, flags, self.inliers, self.size,
                           self.plate_hash, self.method)

    def subset(self, frames: Sequence[int]) -> "CameraTrack":
        """The track of some of its frames (a shorter range of the same shot), still relative to its
        reference frame (which need not be one of them)."""
        indices = [self.index(frame) for frame in frames]
        return CameraTrack([self.frames[i] for i in indices], self.reference_frame, self.homographies[indices],
                           [self.flags[i] for i in indices], [self.inliers[i] for i in indices], self.size,
                           self.plate_hash, self.method)

    # -- reading ------------------------------------------------------------------------------------
    @property
    def is_static(self) -> bool:
        return bool(np.allclose(self.homographies, np.eye(3)[None], atol=1e-9))

    def pixel_homography(self, index: int, width: int, height: int) -> np.ndarray:
        """Frame `index` (0-based) -> reference, in pixels of a width x height image."""
        return to_pixels(self.homographies[index], width, height)

    def reference_centre_path(self, width: int, height: int) -> np.ndarray:
        """(T, 2): where the reference frame's centre appears in each frame, in pixels of width x height:
        the camera's path as a compositor reads it off a 2D track."""
        centre = np.array([0.5, 0.5, 1.0])
        points = []
        for homography in self.homographies:
            point = np.linalg.inv(homography) @ centre
            points.append(point[:2] / point[2])
        return (np.asarray(points) * [width, height]) - 0.5

    def corner_paths(self, width: int, height: int) -> np.ndarray:
        """(T, 4, 2): where the reference frame's corners (bottom-left, bottom-right, top-right, top-left
        in pixel coordinates with y down) appear in each frame, in pixels of width x height."""
        corners = np.array([[0.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]).T
        paths = []
        for homography in self.homographies:
            points = np.linalg.inv(homography) @ corners
            paths.append((points[:2] / points[2]).T * [width, height])
        return np.asarray(paths)

    def summary(self) -> Dict[str, object]:
        counts = {flag: self.flags.count(flag) for flag in FLAGS if flag in self.flags}
        path = self.reference_centre_path(*self.size) if all(self.size) else None
        centre = np.array(self.size, np.float64) / 2.0 - 0.5
        travel = float(np.abs(path - centre).max()) if path is not None else 0.0
        return {"frames": "%d-%d" % (self.frames[0], self.frames[-1]), "reference_frame": self.reference_frame,
                "flags": counts, "largest_offset_px": round(travel, 2), "size": list(self.size)}

    # -- files --------------------------------------------------------------------------------------
    def to_data(self) -> dict:
        return {
            "format": TRACK_FORMAT, "method": self.method, "reference_frame": self.reference_frame,
            "size": list(self.size), "plate_hash": self.plate_hash,
            "coordinates": "normalised: u = (x + 0.5) / width, v = (y + 0.5) / height; frame -> reference",
            "frames": [
                {"frame": frame, "flag": flag, "inliers": inliers,
                 "homography": [[round(float(value), 10) for value in row] for row in homography]}
                for frame, flag, inliers, homography in zip(self.frames, self.flags, self.inliers, self.homographies)
            ],
        }

    @classmethod
    def from_data(cls, data: dict, source: str = "camera track") -> "CameraTrack":
        if not isinstance(data, dict) or data.get("format") != TRACK_FORMAT:
            raise MediaError("%s: not a camera track of format %d (write one with `actanywhere track`)"
                             % (source, TRACK_FORMAT))
        try:
            entries = data["frames"]
            return cls([entry["frame"] for entry in entries], int(data["reference_frame"]),
                       [entry["homography"] for entry in entries], [entry["flag"] for entry in entries],
                       [entry.get("inliers", 0) for entry in entries], data.get("size", (0, 0)),
                       data.get("plate_hash", ""), data.get("method", ""))
        except MediaError as error:
            raise MediaError("%s: %s" % (source, error)) from None
        except (KeyError, TypeError, ValueError) as error:
            raise MediaError("%s: malformed camera track (%s: %s); re-run `actanywhere track`"
                             % (source, type(error).__name__, error)) from None

    def save(self, path: str) -> None:
        """Write as JSON, atomically (a reader never sees half a track)."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        temporary = "%s.tmp-%d" % (path, os.getpid())
        data = self.to_data()
        frames = data.pop("frames")
        # One line per frame: a long shot's track stays readable and diffable.
        text = json.dumps(data, indent=1)[:-2] + ',\n "frames": [\n  ' + ",\n  ".join(
            json.dumps(entry) for entry in frames) + "\n ]\n}\n"
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: str) -> "CameraTrack":
        try:
            with open(path, encoding="utf-8") as stream:
                data = json.load(stream)
        except FileNotFoundError:
            raise MediaError("camera track %s does not exist: write it with `actanywhere track SHOT.yaml`" % path) from None
        except (OSError, ValueError) as error:
            raise MediaError("camera track %s is not readable JSON (%s)" % (path, error)) from None
        return cls.from_data(data, source=path)
