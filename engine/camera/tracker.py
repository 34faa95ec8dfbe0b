"""Tracking the plate's camera: the 2D motion of its background outside the subject, frame to frame,
chained into one homography per frame relative to the reference frame (the frame the condition image
matches).

OpenCV does the optics (Shi-Tomasi corners, pyramidal Lucas-Kanade with a forward-backward check,
RANSAC homographies); this module decides what counts as background and what to do when a frame
cannot be measured:
- the subject is masked out, with its matte grown by `dilate` so its edge and its shadow's start do
  not vote;
- an occluder that is not in the matte is outvoted by RANSAC as long as the background dominates;
- a frame with too little texture outside the matte takes its neighbours' motion (constant velocity)
  and is flagged `filled`; a shot with none at all is refused;
- a pair of frames whose textured backgrounds do not move together is refused as a cut, naming the
  frame, because one homography cannot describe two shots.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

import numpy as np

from ..errors import MediaError
from ..progress import ProgressCallback, ProgressEvent, ignore_progress
from .track import FILLED, REFERENCE, TRACKED, CameraTrack, to_normalised

# Longest side of the images the tracker measures on: enough for sub-pixel tracks of a 2K plate,
# cheap on a CPU. Smaller plates are tracked at their own size.
TRACKING_SIZE = 1024
METHOD = "opencv-lk-ransac-1"  # recorded in tracks and in the cache key: bump when the method changes


@dataclass
class TrackerSettings:
    min_points: int = 12  # background points needed to measure a frame's motion
    cut_points: int = 40  # with this many candidate points, a failure to agree is a cut, not low texture
    cut_agreement: float = 0.25  # fraction of points that must move together between two frames
    dilate: float = 0.03  # the matte grown by this fraction of the frame's diagonal before masking
    max_corners: int = 600
    corner_quality: float = 0.001  # of the strongest corner: low, so smooth scenes still give points
    ransac_px: float = 1.5  # reprojection threshold at 1024 px (scaled with the tracking size)


@dataclass
class PairMotion:
    """The motion between two consecutive frames: `homography` maps the later frame's pixels onto the
    earlier frame's (None when the frame could not be measured)."""

    homography: Optional[np.ndarray]
    inliers: int
    candidates: int


def tracking_size(width: int, height: int) -> Tuple[int, int]:
    scale = min(1.0, TRACKING_SIZE / float(max(width, height)))
    return max(16, int(round(width * scale))), max(16, int(round(height * scale)))


def grey8(rgb: np.ndarray) -> np.ndarray:
    """Display-referred RGB in [0, 1] -> 8-bit luma (what the feature tracker reads)."""
    luma = rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722
    return np.clip(luma * 255.0 + 0.5, 0, 255).astype(np.uint8)


def background_mask(matte: np.ndarray, settings: TrackerSettings) -> np.ndarray:
    """uint8 mask (255 = background the tracker may use): outside the grown matte, off the border."""
    import cv2

    height, width = matte.shape
    radius = max(1, int(round(settings.dilate * float(np.hypot(width, height)))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    subject = cv2.dilate((matte > 0.05).astype(np.uint8), kernel)
    mask = np.where(subject > 0, 0, 255).astype(np.uint8)
    border = max(2, min(width, height) // 64)
    mask[:border], mask[-border:], mask[:, :border], mask[:, -border:] = 0, 0, 0, 0
    return mask


def measure_pair(earlier: np.ndarray, later: np.ndarray, earlier_mask: np.ndarray, later_mask: np.ndarray,
                 settings: TrackerSettings) -> PairMotion:
    """The homography from `later`'s pixels to `earlier`'s, from background points of both."""
    import cv2

    height, width = earlier.shape
    diagonal = float(np.hypot(width, height))
    spacing = max(3.0, diagonal / 150.0)
    points = cv2.goodFeaturesToTrack(earlier, settings.max_corners, settings.corner_quality, spacing,
                                     mask=earlier_mask, blockSize=5)
    later_points = cv2.goodFeaturesToTrack(later, settings.max_corners, settings.corner_quality, spacing,
                                           mask=later_mask, blockSize=5)
    # The texture both frames have: a textured frame next to a blank one is low texture, not a cut.
    candidates = min(0 if points is None else len(points), 0 if later_points is None else len(later_points))
    if candidates < settings.min_points:
        return PairMotion(None, 0, candidates)
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    moved, status, _ = cv2.calcOpticalFlowPyrLK(earlier, later, points, None, **lk)
    back, back_status, _ = cv2.calcOpticalFlowPyrLK(later, earlier, moved, None, **lk)
    agree = (status[:, 0] == 1) & (back_status[:, 0] == 1) & (np.linalg.norm(back - points, axis=2)[:, 0] < 1.0)
    inside = _inside(moved[:, 0], width, height)
    good = agree & inside
    landing = moved[good, 0]
    in_background = later_mask[landing[:, 1].astype(int), landing[:, 0].astype(int)] > 0
    source, target = points[good][in_background], moved[good][in_background]
    if len(source) < settings.min_points:
        return PairMotion(None, int(len(source)), candidates)
    threshold = settings.ransac_px * max(width, height) / float(TRACKING_SIZE)
    homography, inliers = cv2.findHomography(target, source, cv2.RANSAC, max(0.5, threshold))
    count = 0 if inliers is None else int(inliers.sum())
    if homography is None or count < settings.min_points or not _plausible(homography, width, height):
        # Too few points for eight degrees of freedom: a similarity (pan, zoom, roll) is still measurable.
        similarity, inliers = cv2.estimateAffinePartial2D(target, source, method=cv2.RANSAC,
                                                          ransacReprojThreshold=max(0.5, threshold))
        count = 0 if inliers is None else int(inliers.sum())
        if similarity is None or count < settings.min_points:
            return PairMotion(None, count, candidates)
        homography = np.vstack([similarity, [0.0, 0.0, 1.0]])
    return PairMotion(homography / homography[2, 2], count, candidates)


def _inside(points: np.ndarray, width: int, height: int) -> np.ndarray:
    return (points[:, 0] >= 0) & (points[:, 0] <= width - 1) & (points[:, 1] >= 0) & (points[:, 1] <= height - 1)


def _plausible(homography: np.ndarray, width: int, height: int) -> bool:
    """One frame to the next moves a picture by less than half its diagonal and scales its area by less
    than 2x; anything wilder is a bad fit (or a cut, which the caller judges)."""
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], np.float64).T
    moved = homography @ corners
    if np.any(moved[2] <= 1e-6):
        return False
    moved = (moved[:2] / moved[2]).T
    shift = np.linalg.norm(moved - corners[:2].T, axis=1).max()
    x, y = moved[:, 0], moved[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    ratio = area / float(width * height)
    return shift < 0.5 * np.hypot(width, height) and 0.5 < ratio < 2.0


def _is_cut(motion: PairMotion, settings: TrackerSettings) -> bool:
    if motion.candidates < settings.cut_points:
        return False  # too little texture to tell: a low-texture frame, filled from its neighbours
    return motion.homography is None or motion.inliers < settings.cut_agreement * motion.candidates


class PlateTracker:
    """Tracks a shot frame by frame (only the previous frame is kept, so a long 4K shot costs two frames
    of memory): `add` each frame in order, then `finish` with the reference frame."""

    def __init__(self, settings: Optional[TrackerSettings] = None, source: str = "plate",
                 progress: ProgressCallback = ignore_progress, total: int = 0):
        self.settings = settings or TrackerSettings()
        self.source, self.progress, self.total = source, progress, total
        self.numbers: List[int] = []
        self.pairs: List[PairMotion] = []  # pairs[i]: frame i+1 -> frame i
        self.previous = None
        self.size = (0, 0)

    def add(self, number: int, rgb: np.ndarray, matte: np.ndarray) -> None:
        """One frame: display-referred RGB (H, W, 3) in [0, 1] and its matte (H, W), subject = 1."""
        image, mask = grey8(rgb), background_mask(matte, self.settings)
        self.size = (image.shape[1], image.shape[0])
        if self.previous is not None:
            motion = measure_pair(self.previous[0], image, self.previous[1], mask, self.settings)
            if _is_cut(motion, self.settings):
                raise MediaError(
                    "%s frame %d does not continue frame %d: only %d of %d background points moved together "
                    "(a cut, a flash, or something large outside the matte crossing the frame). Split the shot "
                    "at frame %d, or put the occluder into the matte"
                    % (self.source, number, self.numbers[-1], motion.inliers, motion.candidates, number))
            self.pairs.append(motion)
        self.numbers.append(int(number))
        self.previous = (image, mask)
        self.progress(ProgressEvent("track", len(self.numbers), self.total or len(self.numbers), frame=int(number)))

    def finish(self, reference_frame: int) -> CameraTrack:
        numbers, pairs = self.numbers, self.pairs
        if not numbers:
            raise MediaError("%s: no frames to track" % self.source)
        if reference_frame not in numbers:
            raise MediaError("condition_frame %d is outside the tracked frames %d-%d: set it to the plate frame "
                             "the condition image matches" % (reference_frame, numbers[0], numbers[-1]))
        steps = _fill_untracked(pairs, numbers, self.source)
        reference = numbers.index(reference_frame)
        homographies = _chain(steps, reference)
        flags, inliers = [], []
        for index in range(len(numbers)):
            if index == reference:
                flags.append(REFERENCE)
                inliers.append(0)
                continue
            # The pair that links this frame towards the reference: the one before it, or after it.
            link = pairs[index - 1] if index > reference else pairs[index]
            flags.append(TRACKED if link.homography is not None else FILLED)
            inliers.append(link.inliers if link.homography is not None else 0)
        normalised = [to_normalised(homography, *self.size) for homography in homographies]
        return CameraTrack(numbers, reference_frame, normalised, flags, inliers, self.size, method=METHOD)


def track_frames(frames: Iterable[Tuple[int, np.ndarray, np.ndarray]], reference_frame: int,
                 settings: Optional[TrackerSettings] = None, progress: ProgressCallback = ignore_progress,
                 total: int = 0, source: str = "plate") -> CameraTrack:
    """Track a shot given as (frame number, display-referred RGB (H, W, 3) in [0, 1], matte (H, W) with
    subject = 1) in frame order, all at one size. Returns the track relative to `reference_frame`."""
    tracker = PlateTracker(settings, source, progress, total)
    for number, rgb, matte in frames:
        tracker.add(number, rgb, matte)
    return tracker.finish(reference_frame)


def _fill_untracked(pairs: List[PairMotion], numbers: List[int], source: str) -> List[np.ndarray]:
    """Each pair's homography; an unmeasured pair takes the nearest measured pair's motion."""
    measured = [index for index, pair in enumerate(pairs) if pair.homography is not None]
    if pairs and not measured:
        raise MediaError(
            "%s frames %d-%d: no background texture outside the matte to track in any frame (a blank plate, or a "
            "matte that covers the background). For a locked-off shot set camera.track: static; else hand "
            "the shot a track (track: FILE)" % (source, numbers[0], numbers[-1]))
    steps = []
    for index, pair in enumerate(pairs):
        if pair.homography is not None:
            steps.append(pair.homography)
        else:
            nearest = min(measured, key=lambda other: (abs(other - index), other))
            steps.append(pairs[nearest].homography)
    return steps


def _chain(steps: List[np.ndarray], reference: int) -> List[np.ndarray]:
    """Pixel homographies frame -> reference from the frame-to-frame steps (steps[i]: frame i+1 -> i)."""
    count = len(steps) + 1
    chained: List[Optional[np.ndarray]] = [None] * count
    chained[reference] = np.eye(3)
    for index in range(reference + 1, count):  # later frames: through the frame before
        chained[index] = chained[index - 1] @ steps[index - 1]
    for index in range(reference - 1, -1, -1):  # earlier frames: through the frame after
        chained[index] = chained[index + 1] @ np.linalg.inv(steps[index])
    return [homography / homography[2, 2] for homography in chained]
