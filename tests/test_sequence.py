import ast
import pathlib

import pytest

from actanywhere.engine.errors import SequenceError
from actanywhere.engine.sequence import FrameRange, FrameSequence


@pytest.mark.parametrize(
    "text, frames",
    [
        ("1001", (1001,)),
        ("1001-1005", (1001, 1002, 1003, 1004, 1005)),
        ("1001-1009x4", (1001, 1005, 1009)),
        ("1001-1010x4", (1001, 1005, 1009)),
        ("1001-1003,1015,1020-1022", (1001, 1002, 1003, 1015, 1020, 1021, 1022)),
        ("-5--3", (-5, -4, -3)),
        ("-2-1", (-2, -1, 0, 1)),
        ("5,3,3,1", (1, 3, 5)),
    ],
)
def test_frame_range_parse(text, frames):
    assert FrameRange.parse(text).frames == frames


def test_frame_range_parse_tolerates_spaces():
    assert FrameRange.parse(" 1001 - 1005 x 2 , 1010 ").frames == (1001, 1003, 1005, 1010)


@pytest.mark.parametrize("text", ["", "abc", "1001-", "1010-1001", "1001-1010x0", "1001,,1002", "1.5", "1001x2"])
def test_frame_range_rejects_bad_text_naming_it_and_the_forms(text):
    with pytest.raises(SequenceError) as error:
        FrameRange.parse(text)
    if text:
        assert repr(text) in str(error.value)
        assert "1001-1100x2" in str(error.value)


def test_frame_range_protocol():
    frames = FrameRange.from_frames([1003, 1001, 1002, 1001])
    assert frames.frames == (1001, 1002, 1003)
    assert (frames.first, frames.last, len(frames)) == (1001, 1003, 3)
    assert list(frames) == [1001, 1002, 1003]
    assert 1002 in frames and 1004 not in frames
    assert frames == FrameRange.parse("1001-1003")
    assert frames != FrameRange.parse("1001-1004")
    assert hash(frames) == hash(FrameRange.parse("1001-1003"))
    with pytest.raises(SequenceError):
        FrameRange.from_frames([])


@pytest.mark.parametrize(
    "frames, text",
    [
        ([1001], "1001"),
        ([1001, 1002], "1001-1002"),
        (range(1001, 1049), "1001-1048"),
        (range(1001, 1101, 2), "1001-1099x2"),
        ([1001, 1003], "1001,1003"),
        ([1, 5, 6, 7], "1,5-7"),
        ([1, 2, 3, 5, 7, 9], "1-3,5-9x2"),
        ([1001, 1002, 1003, 1015, 1020, 1021], "1001-1003,1015,1020-1021"),
        ([-3, -2, -1, 0], "-3-0"),
    ],
)
def test_frame_range_str_is_compact_and_round_trips(frames, text):
    frame_range = FrameRange.from_frames(frames)
    assert str(frame_range) == text
    assert FrameRange.parse(str(frame_range)) == frame_range


def test_frame_range_str_round_trips_irregular_sets():
    import random

    generator = random.Random(7)
    for _ in range(200):
        frames = generator.sample(range(-20, 60), generator.randint(1, 30))
        frame_range = FrameRange.from_frames(frames)
        assert FrameRange.parse(str(frame_range)) == frame_range


@pytest.mark.parametrize(
    "template, padding, frame, expected",
    [
        ("/p/plate.####.exr", 4, 1001, "/p/plate.1001.exr"),
        ("/p/plate.#.exr", 1, 7, "/p/plate.7.exr"),
        ("/p/plate.%04d.exr", 4, 7, "/p/plate.0007.exr"),
        ("/p/plate.%d.exr", 1, 7, "/p/plate.7.exr"),
        ("/p/plate.@@@.exr", 3, 7, "/p/plate.007.exr"),
        ("/p/plate.$F4.exr", 4, 7, "/p/plate.0007.exr"),
        ("/p/plate.$F.exr", 1, 12, "/p/plate.12.exr"),
        ("/p/plate_####", 4, 12345, "/p/plate_12345"),
        ("/p/plate.####.exr", 4, -5, "/p/plate.-005.exr"),
    ],
)
def test_frame_sequence_tokens(template, padding, frame, expected):
    sequence = FrameSequence.parse(template)
    assert sequence.has_frame_token
    assert sequence.template == template
    assert sequence.padding == padding
    assert sequence.path(frame) == expected


def test_frame_sequence_parts_and_forms():
    sequence = FrameSequence.parse("/shows/demo/sh010/plate.$F4.exr")
    assert sequence.prefix == "/shows/demo/sh010/plate."
    assert sequence.suffix == ".exr"
    assert sequence.as_hashes() == "/shows/demo/sh010/plate.####.exr"
    assert sequence.as_printf() == "/shows/demo/sh010/plate.%04d.exr"
    assert FrameSequence.parse("a.%d.exr").as_printf() == "a.%d.exr"
    assert FrameSequence.parse("a.%d.exr").as_hashes() == "a.#.exr"
    assert FrameSequence.parse("a.####.exr") == FrameSequence.parse("a.%04d.exr")
    assert FrameSequence.parse("a.####.exr") != FrameSequence.parse("a.###.exr")


def test_still_image_gives_its_path_for_every_frame(tmp_path):
    still = tmp_path / "clean_plate.exr"
    sequence = FrameSequence.parse(str(still))
    assert not sequence.has_frame_token
    assert sequence.path(1001) == sequence.path(-3) == str(still)
    assert sequence.as_hashes() == sequence.as_printf() == str(still)
    assert sequence.missing_frames([1001, 1002]) == [1001, 1002]
    still.write_bytes(b"x")
    assert sequence.missing_frames([1001, 1002]) == []
    with pytest.raises(SequenceError, match="still image"):
        sequence.existing_frames()


@pytest.mark.parametrize("template", ["/p/a.####.$F4.exr", "/p/a.%04d_##.exr"])
def test_two_frame_tokens_are_rejected(template):
    with pytest.raises(SequenceError, match="exactly one"):
        FrameSequence.parse(template)


def test_frame_token_in_a_folder_is_rejected():
    with pytest.raises(SequenceError, match="folder"):
        FrameSequence.parse("/p/####/a.exr")


def test_existing_and_missing_frames(tmp_path):
    names = [
        "plate.1001.exr", "plate.1002.exr", "plate.1004.exr", "plate.10000.exr", "plate.-005.exr",
        "plate.01003.exr",  # wrong padding for ####: not frame 1003
        "plate.103.exr",  # too short for ####
        "plate.1005.exr.tmp", "other.1006.exr", "plate.1007.dpx",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    sequence = FrameSequence.parse(str(tmp_path / "plate.####.exr"))
    assert sequence.existing_frames() == [-5, 1001, 1002, 1004, 10000]
    assert sequence.missing_frames(FrameRange.parse("1001-1005")) == [1003, 1005]
    unpadded = FrameSequence.parse(str(tmp_path / "plate.%d.exr"))
    assert unpadded.existing_frames() == [103, 1001, 1002, 1004, 10000]  # "-005" is not how %d writes -5


def test_missing_frames_in_a_missing_folder(tmp_path):
    sequence = FrameSequence.parse(str(tmp_path / "nowhere" / "plate.####.exr"))
    assert sequence.missing_frames([1, 2]) == [1, 2]
    with pytest.raises(SequenceError, match="nowhere"):
        sequence.existing_frames()


def test_module_parses_as_python_3_7():
    # Nuke 13 runs Python 3.7: no walrus, no positional-only parameters, no match statements.
    source = (pathlib.Path(__file__).parents[1] / "engine" / "sequence.py").read_text()
    ast.parse(source, feature_version=(3, 7))


def test_nuke_style_ranges_and_paths():
    """Issue 19: Nuke writes space-separated ranges; "@" and "$" are ordinary characters in folder
    names; a range written into the path before its token is refused instead of becoming the prefix."""
    assert FrameRange.parse("1-10 20-30").frames == tuple(range(1, 11)) + tuple(range(20, 31))
    assert FrameRange.parse("1001-1003  1005").frames == (1001, 1002, 1003, 1005)
    sequence = FrameSequence.parse("/shows/@archive/$F_plates/p.####.exr")
    assert sequence.prefix == "/shows/@archive/$F_plates/p." and sequence.path(7) == "/shows/@archive/$F_plates/p.0007.exr"
    with pytest.raises(SequenceError, match=r"holds a frame range before its frame token \('1-10'\).*e.g. plate.#.exr"):
        FrameSequence.parse("/p/plate.1-10#.exr")


def test_a_shot_name_taken_from_a_file_name_is_always_valid():
    from actanywhere.engine.cli import _shot_name_from_path

    assert _shot_name_from_path("/x/Plage été 01.%04d.exr") == "Plage_ete_01"
    assert _shot_name_from_path("/x/§§§.%04d.exr") == "shot"
