import threading

import numpy as np
import pytest

from actanywhere.engine.errors import MediaError
from actanywhere.engine.media import check_sequence, read_sequence, write_exr
from actanywhere.engine.sequence import FrameRange, FrameSequence


def make_sequence(folder, frames, size=(16, 8)):
    sequence = FrameSequence.parse(str(folder / "plate.####.exr"))
    for frame in frames:
        pixels = np.full((size[1], size[0], 4), frame / 2000.0, np.float32)
        write_exr(sequence.path(frame), pixels, "RGBA")
    return sequence


def test_streams_frames_in_order_with_progress(tmp_path):
    sequence = make_sequence(tmp_path, range(1001, 1013))
    events = []
    frames = [frame for frame, pixels, info in read_sequence(
        sequence, FrameRange.parse("1001-1012"), progress=events.append, workers=3)]
    assert frames == list(range(1001, 1013))
    assert [event.done for event in events] == list(range(1, 13))
    assert {event.stage for event in events} == {"read"} and events[-1].total == 12
    assert events[0].frame == 1001


def test_pixels_match_their_frame(tmp_path):
    sequence = make_sequence(tmp_path, range(1, 6))
    for frame, pixels, info in read_sequence(sequence, [5, 1, 3], ["R"]):
        assert pixels.shape == (8, 16, 1)
        assert pixels[0, 0, 0] == pytest.approx(frame / 2000.0, abs=1e-4)
        assert info.path == sequence.path(frame)


def test_read_ahead_is_bounded(tmp_path, monkeypatch):
    import actanywhere.engine.media.sequence_read as sequence_read

    sequence = make_sequence(tmp_path, range(1, 21))
    started = []
    original = sequence_read.read_image

    def counting_read(path, channels=None, region=None):
        started.append(path)
        return original(path, channels, region=region)

    monkeypatch.setattr(sequence_read, "read_image", counting_read)
    stream = read_sequence(sequence, range(1, 21), workers=2, prefetch=3)
    next(stream)
    threading.Event().wait(0.3)  # give the workers time to run ahead if they could
    assert len(started) <= 4  # the frame handed out plus at most 3 read ahead
    stream.close()


def test_matte_sequence(tmp_path):
    sequence = make_sequence(tmp_path, [1, 2])
    mattes = list(read_sequence(sequence, [1, 2], matte_channel="A"))
    assert mattes[1][1].shape == (8, 16)


def test_missing_frame_while_streaming_names_path_and_frame(tmp_path):
    sequence = make_sequence(tmp_path, [1, 2, 4])
    with pytest.raises(MediaError, match=r"frame 3 is missing: .*plate\.0003\.exr"):
        list(read_sequence(sequence, range(1, 5)))


def test_check_lists_missing_frames_compactly(tmp_path):
    sequence = make_sequence(tmp_path, [1001, 1002, 1006, 1007, 1008, 1009, 1011])
    with pytest.raises(MediaError) as error:
        check_sequence(sequence, range(1001, 1012))
    assert "frames 1003-1005, 1010 missing in %s" % sequence.as_hashes() in str(error.value)


def test_check_reports_unreadable_and_mismatched_frames(tmp_path):
    sequence = make_sequence(tmp_path, [1, 2, 3])
    write_exr(sequence.path(2), np.zeros((8, 20, 4), np.float32), "RGBA")
    with open(sequence.path(3), "wb") as handle:
        handle.write(b"truncated")
    with pytest.raises(MediaError) as error:
        check_sequence(sequence, [1, 2, 3])
    message = str(error.value)
    assert "frame 3: " in message and "plate.0003.exr" in message
    assert "frame 2 is 20x8" in message and "frame 1 is 16x8" in message


def test_check_returns_headers(tmp_path):
    sequence = make_sequence(tmp_path, [7, 8])
    infos = check_sequence(sequence, [8, 7])
    assert [info.path for info in infos] == [sequence.path(7), sequence.path(8)]
