"""SpatialCondition: the condition image as each frame of the shot sees it.

The condition image shows the new scene framed like the plate at its reference frame (the
`condition_frame`). A camera that pans, tilts or zooms sees that scene from elsewhere in every other
frame, so each frame gets the condition warped by the plate's camera track: frame pixels -> reference
picture -> condition image pixels. Where the warp leaves the condition image (the camera has moved on to
what the condition never showed), `validity` is 0 and the picture is filled by mirroring the edge (a
plausible texture for the model to start from; the model must generate that part).

Without a track (or with a static one) every frame sees the condition stretched over it, which is how
the model saw it before tracking existed; the static case is encoded once for the whole shot.

`keep` says where a plate may keep the condition image's own pixels (profiles with `keep_condition`):
where the warp covers the frame, less a margin at the warp's edge and, when the condition shows the
subject (a composite: `condition_shows_subject`), less where the subject stood in the condition's frame.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .track import CameraTrack, to_pixels

KEEP_MARGIN = 0.02  # of the frame's height: kept off the warp's edge and grown around the condition's subject
# Mean absolute difference (display-referred) inside the subject below which a condition image is taken to
# show the plate's own subject there: a composite made from the plate's frame holds its pixels.
SUBJECT_MATCH = 0.06


def condition_shows_subject(condition: np.ndarray, plate_frame: np.ndarray, matte: np.ndarray) -> bool:
    """Whether `condition` (h, w, 3) shows the plate's subject where `matte` (H, W) puts it in
    `plate_frame` (H, W, 3), the frame the condition matches: a composited condition does, a background
    does not. Decides whether a plate may keep the condition's pixels there (SpatialCondition `subject`)."""
    height, width = np.shape(matte)
    inside = np.asarray(matte) > 0.9
    if inside.sum() < 4:
        return False
    stretched = stretch_image(np.asarray(condition, np.float32), width, height)
    difference = np.abs(stretched - np.asarray(plate_frame, np.float32)[..., :3]).mean(axis=-1)
    return bool(difference[inside].mean() < SUBJECT_MATCH)


def shown_subject(condition: np.ndarray, plate_frame: np.ndarray, matte: np.ndarray) -> Optional[np.ndarray]:
    """`matte` when the condition shows the plate's subject there (condition_shows_subject), else None:
    the SpatialCondition `subject` for a condition that matches `plate_frame`."""
    return matte if condition_shows_subject(condition, plate_frame, matte) else None


def stretch_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """(h, w, 3) in [0, 1] -> (height, width, 3) float32 in [0, 1]: bicubic with antialiasing, the one
    way the condition image is brought to a frame's size (the model was trained on this)."""
    import torch
    import torch.nn.functional as F

    pixels = torch.from_numpy(np.ascontiguousarray(image[..., :3], dtype=np.float32)).permute(2, 0, 1)[None]
    if tuple(pixels.shape[-2:]) != (height, width):
        pixels = F.interpolate(pixels, size=(int(height), int(width)), mode="bicubic", antialias=True,
                               align_corners=False)
    return pixels.clamp(0, 1)[0].permute(1, 2, 0).contiguous().numpy()


def is_tracked(spatial: Optional["SpatialCondition"]) -> bool:
    """Whether `spatial` gives each frame its own view (a moving camera), rather than one stretched image."""
    return spatial is not None and not spatial.is_static


class SpatialCondition:
    def __init__(self, image: np.ndarray, frames: int, track: Optional[CameraTrack] = None,
                 subject: Optional[np.ndarray] = None):
        """image: (h, w, 3) in [0, 1]; frames: the shot's frame count; track: its camera, or None;
        subject: (h', w') the matte at the condition's frame (any size), where the condition image may
        show the subject; None: it shows the background only."""
        self.image = np.ascontiguousarray(np.clip(np.asarray(image, np.float32)[..., :3], 0.0, 1.0))
        self.subject = None if subject is None else np.ascontiguousarray(np.clip(np.asarray(subject, np.float32), 0, 1))
        self.frames = int(frames)
        if track is not None and len(track.frames) != self.frames:
            raise ValueError("camera track has %d frames, the shot %d" % (len(track.frames), self.frames))
        self.track = None if track is None or track.is_static else track
        self._stretched = {}  # (width, height) -> the image at that size

    @property
    def is_static(self) -> bool:
        return self.track is None

    def stretched(self, width: int, height: int) -> np.ndarray:
        """The condition image at (width, height), antialiased: the reference frame's view."""
        key = (int(width), int(height))
        if key not in self._stretched:
            self._stretched[key] = stretch_image(self.image, width, height)
        return self._stretched[key]

    def _matrix(self, index: int, width: int, height: int) -> np.ndarray:
        # Frame pixels -> reference pixels at the same size: the stretched image is the reference's view.
        return to_pixels(self.track.homographies[index], width, height)

    def frame(self, index: int, width: int, height: int) -> np.ndarray:
        """(height, width, 3) float32: the condition as frame `index` (0-based) sees it."""
        base = self.stretched(width, height)
        if self.track is None:
            return base
        import cv2

        # Bicubic, as Nuke's Transform filters by default: bilinear resampling at sub-pixel shifts halves
        # the finest texture (measured: 0.74 of the truth's high-frequency energy, bicubic 1.00).
        warped = cv2.warpPerspective(base, self._matrix(index, width, height), (int(width), int(height)),
                                     flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REFLECT_101)
        return np.clip(warped, 0.0, 1.0, out=warped)

    def validity(self, index: int, width: int, height: int) -> np.ndarray:
        """(height, width) float32: 1 where frame `index` sees the condition image, 0 where the warp left it."""
        if self.track is None:
            return np.ones((int(height), int(width)), np.float32)
        import cv2

        ones = np.ones((int(height), int(width)), np.float32)
        return cv2.warpPerspective(ones, self._matrix(index, width, height), (int(width), int(height)),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)

    def keep(self, index: int, width: int, height: int) -> np.ndarray:
        """(height, width) float32 in [0, 1]: where frame `index` may keep the condition's own pixels (module
        docstring), feathered over a couple of pixels."""
        import cv2

        margin = max(1, int(round(KEEP_MARGIN * height)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        valid = (self.validity(index, width, height) > 0.999).astype(np.float32)
        keep = cv2.erode(valid, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1.0)
        if self.subject is not None:
            subject = (stretch_image(self.subject[..., None].repeat(3, axis=2), width, height)[..., 0] > 0.01)
            subject = cv2.dilate(subject.astype(np.float32), kernel)
            if self.track is not None:
                subject = cv2.warpPerspective(subject, self._matrix(index, width, height), (int(width), int(height)),
                                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
            keep *= 1.0 - np.clip(subject, 0.0, 1.0)
        return cv2.GaussianBlur(keep, (0, 0), max(1.0, margin / 2.0)) * valid

    def kept(self, index: int, frame: np.ndarray) -> np.ndarray:
        """`frame` (H, W, 3), a generated frame `index`, with the condition's own pixels where `keep` says."""
        height, width = frame.shape[:2]
        keep = self.keep(index, width, height)[..., None]
        return (frame * (1.0 - keep) + self.frame(index, width, height) * keep).astype(np.float32)

    def all_frames(self, width: int, height: int) -> np.ndarray:
        """(T, height, width, 3): every frame's view (for the working-size global pass)."""
        return np.stack([self.frame(index, width, height) for index in range(self.frames)])

    def coverage(self, width: int = 64, height: int = 64) -> np.ndarray:
        """(T,): the fraction of each frame the condition image covers."""
        return np.array([float(self.validity(index, width, height).mean()) for index in range(self.frames)])
