"""Reading a frame sequence: a cheap up-front check of every frame, then a streaming parallel read."""
from __future__ import annotations

import collections
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import MediaError
from ..progress import EtaClock, ProgressCallback, ProgressEvent, ignore_progress
from ..sequence import FrameRange, FrameSequence
from .image_read import ImageInfo, check_readable, read_image, read_image_info, read_matte
from .window import Window


def default_workers() -> int:
    # OpenImageIO already decompresses each EXR on several threads, so a few frames at once suffice.
    return max(2, min(8, os.cpu_count() or 2))


def check_sequence(sequence: FrameSequence, frames: Iterable[int]) -> List[ImageInfo]:
    """Checks, before any pixel work, that every frame exists, has a readable header and the same
    size as the others. Returns the headers in frame order; raises one MediaError listing every
    problem found."""
    frames = sorted(set(frames))
    missing = sequence.missing_frames(frames)
    if missing:
        raise MediaError("%s %s missing in %s; render or copy them, or shorten the frame range" % (
            "frame" if len(missing) == 1 else "frames",
            str(FrameRange.from_frames(missing)).replace(",", ", "),
            sequence.as_hashes(),
        ))
    problems = []  # type: List[str]
    infos = {}  # type: Dict[int, ImageInfo]
    with ThreadPoolExecutor(default_workers()) as pool:
        for frame, outcome in zip(frames, pool.map(_header_or_error, [sequence.path(f) for f in frames])):
            if isinstance(outcome, MediaError):
                problems.append("frame %s: %s" % (frame, outcome))
            else:
                infos[frame] = outcome
    if infos:
        reference_frame = min(infos)
        reference = infos[reference_frame]
        for frame, info in sorted(infos.items()):
            if (info.width, info.height, info.pixel_aspect) != (
                reference.width, reference.height, reference.pixel_aspect
            ):
                problems.append("frame %s is %sx%s (pixel aspect %s) but frame %s is %sx%s (pixel "
                                "aspect %s)" % (frame, info.width, info.height, info.pixel_aspect,
                                                    reference_frame, reference.width,
                                                    reference.height, reference.pixel_aspect))
    if problems:
        # One line, as every error the CLI prints: the first few problems, then a count.
        shown = "; ".join(problems[:3]) + ("; and %d more" % (len(problems) - 3) if len(problems) > 3 else "")
        raise MediaError("%s has %d unusable %s: %s" % (
            sequence.as_hashes(), len(problems), "frame" if len(problems) == 1 else "frames", shown))
    return [infos[frame] for frame in frames]


def _header_or_error(path: str):
    try:
        info = read_image_info(path)
        check_readable(info)
        return info
    except MediaError as error:
        return error


def read_sequence(
    sequence: FrameSequence,
    frames: Iterable[int],
    channels: Optional[Sequence[str]] = None,
    *,
    matte_channel: Optional[str] = None,
    progress: ProgressCallback = ignore_progress,
    workers: Optional[int] = None,
    prefetch: Optional[int] = None,
    region: Optional[Window] = None,
) -> Iterator[Tuple[int, np.ndarray, ImageInfo]]:
    """Yields (frame, pixels, info) in frame order, reading ahead on `workers` threads.

    At most `prefetch` frames (default twice the workers) are held beyond the one being used, so
    memory is bounded by a few frames, not the shot. With `matte_channel`, each array is an H x W
    matte read with `read_matte` (range-checked); otherwise H x W x C through `read_image`
    (NaN/Inf-checked). `region`: the area read (read_image), default the display window. Reports stage
    "read" to `progress`."""
    frames = sorted(set(frames))
    workers = workers or default_workers()
    prefetch = max(1, prefetch or 2 * workers)
    clock = EtaClock()

    def read(frame: int) -> Tuple[np.ndarray, ImageInfo]:
        path = sequence.path(frame)
        if not os.path.isfile(path):
            raise MediaError("frame %s is missing: %s does not exist; render or copy it, or shorten "
                             "the frame range" % (frame, path))
        if matte_channel is not None:
            return read_matte(path, matte_channel, region), read_image_info(path)
        return read_image(path, channels, region=region)

    pool = ThreadPoolExecutor(workers)
    pending = collections.deque()  # type: collections.deque
    try:
        upcoming = iter(frames)
        for frame in upcoming:
            pending.append((frame, pool.submit(read, frame)))
            if len(pending) >= prefetch:
                break
        done = 0
        while pending:
            frame, future = pending.popleft()
            pixels, info = future.result()
            for next_frame in upcoming:
                pending.append((next_frame, pool.submit(read, next_frame)))
                break
            done += 1
            progress(ProgressEvent(stage="read", done=done, total=len(frames), frame=frame,
                                   eta_s=clock.eta(done, len(frames)),
                                   message="read %s" % os.path.basename(info.path)))
            yield frame, pixels, info
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)
