"""An OpenTimelineIO file beside each output version, so editorial and review tools load it with its
original frame numbers."""
from __future__ import annotations

import os
import uuid
from typing import Iterable, Mapping, Optional

import opentimelineio as otio

from ..errors import MediaError
from ..sequence import FrameRange, FrameSequence


def write_otio(
    path: str,
    sequence: FrameSequence,
    frames: Iterable[int],
    rate: float,
    *,
    name: Optional[str] = None,
    metadata: Optional[Mapping[str, object]] = None,
) -> None:
    """Writes (atomically) a timeline with one clip whose ImageSequenceReference points at
    `sequence`. Frame numbers are kept as rendered (1001 stays 1001); `metadata` goes under
    metadata["actanywhere"] of the clip."""
    frame_range = FrameRange.from_frames(frames)
    steps = {b - a for a, b in zip(frame_range.frames, frame_range.frames[1:])}
    regular = len(steps) <= 1
    frame_step = min(steps) if len(steps) == 1 else 1
    directory, name_prefix = os.path.split(sequence.prefix)
    reference = otio.schema.ImageSequenceReference(
        target_url_base=os.path.abspath(directory) + "/",
        name_prefix=name_prefix,
        name_suffix=sequence.suffix,
        start_frame=frame_range.first,
        frame_step=frame_step,
        rate=rate,
        frame_zero_padding=sequence.padding,
        # Irregular frame sets are described frame by frame and hold over the gaps.
        missing_frame_policy=(otio.schema.ImageSequenceReference.MissingFramePolicy.error
                              if regular else
                              otio.schema.ImageSequenceReference.MissingFramePolicy.hold),
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(frame_range.first, rate),
            # OTIO gives each image `frame_step` frames of duration, so a stepped range ends a
            # step after its last frame.
            otio.opentime.RationalTime(frame_range.last - frame_range.first + frame_step, rate),
        ),
    )
    clip_name = name or os.path.basename(sequence.as_hashes())
    clip = otio.schema.Clip(name=clip_name, media_reference=reference,
                            source_range=reference.available_range)
    clip.metadata["actanywhere"] = dict(metadata or {})
    timeline = otio.schema.Timeline(name=clip_name, tracks=[otio.schema.Track(children=[clip])])
    text = otio.adapters.write_to_string(timeline, "otio_json")
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)),
                             ".%s.%s.partial" % (os.path.basename(path), uuid.uuid4().hex))
    try:
        with open(temporary, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as error:
        raise MediaError("cannot write the OTIO file %s: %s; check that its folder is writable" % (
            path, error.strerror))
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
