import os
import threading

import numpy as np
import opentimelineio as otio
import pytest

from actanywhere.engine.errors import MediaError
from actanywhere.engine.media import VersionedOutput, existing_versions, read_image
from actanywhere.engine.outputs import RECORD, OutputError, OutputTemplate, read_record

FOLDER_TEMPLATE = "{root}/sh010/actanywhere/{{version}}/sh010_{{pass}}_{{version}}.####.exr"
# the version folder with other tokens in its name, passes in subfolders, %04d frames
NESTED_TEMPLATE = "{root}/out/{{shot}}_s{{seed}}_{{version}}/{{pass}}/{{shot}}_{{pass}}.%04d.exr"
FRAMES = [1001, 1002, 1003]


def render(template, frames=FRAMES, passes=("bg", "comp"), **options):
    with VersionedOutput(template, frames=frames, shot="sh010", passes=passes, seed=7, **options) as out:
        for pass_name in passes:
            for frame in frames:
                out.write_frame(pass_name, frame, np.full((4, 6, 3), frame, np.float32), "RGB")
    return out


def all_files(root):
    return sorted(os.path.relpath(os.path.join(folder, name), root)
                  for folder, _, names in os.walk(root) for name in names)


def visible_files(root):
    """What a Read or a glob would see: no hidden file and nothing under a hidden folder."""
    return [name for name in all_files(str(root)) if not any(part.startswith(".") for part in name.split("/"))]


def test_template_paths():
    template = OutputTemplate.parse("/a/{shot}/{version}/{shot}_{pass}_{seed}_{version}.####.exr")
    assert template.sequence_path(3, "sh010", "bg", 7) == "/a/sh010/v003/sh010_bg_7_v003.####.exr"
    assert template.version_folder(3, "sh010", 7) == "/a/sh010/v003"
    assert template.otio_path(3, "sh010", "bg", 7) == "/a/sh010/v003/sh010_bg_7_v003.otio"
    assert template.static_root() == "/a"
    nested = OutputTemplate.parse("/a/{shot}_s{seed}_{version}/{pass}/x_{pass}.%04d.exr")
    assert nested.version_folder(12, "sh010", 7) == "/a/sh010_s7_v012"
    assert nested.folder_pattern("sh010", 7).match("sh010_s7_v012").group(1) == "012"
    assert not nested.folder_pattern("sh010", 7).match("sh010_s8_v012")


@pytest.mark.parametrize("layout", [FOLDER_TEMPLATE, NESTED_TEMPLATE])
def test_versions_count_up_and_publish_every_frame(tmp_path, layout):
    template = layout.format(root=tmp_path)
    first = render(template)
    second = render(template)
    assert (first.version, second.version) == (1, 2)
    assert second.version_name == "v002"
    assert existing_versions(template, shot="sh010", seed=7) == (1, 2)
    for out in (first, second):
        for pass_name in ("bg", "comp"):
            for frame in FRAMES:
                pixels, _ = read_image(out.final_path(pass_name, frame))
                assert pixels[0, 0, 0] == frame
        record = read_record(out.record.folder)
        assert record == out.record and record.frames == "1001-1003" and record.seed == 7
        assert record.sequences["comp"] == out.sequences["comp"].as_hashes()
        assert os.path.isfile(record.otio_paths["bg"])
    # nothing hidden is left: no staging folder, no claim; the records are the only dot files
    assert [name for name in all_files(str(tmp_path)) if name not in visible_files(tmp_path)] == \
        sorted(os.path.relpath(os.path.join(out.record.folder, RECORD), str(tmp_path)) for out in (first, second))


def test_failed_job_leaves_no_final_frame(tmp_path):
    template = FOLDER_TEMPLATE.format(root=tmp_path)
    with pytest.raises(RuntimeError):
        with VersionedOutput(template, frames=FRAMES, shot="sh010", passes=("bg",)) as out:
            out.write_frame("bg", 1001, np.zeros((4, 4, 3), np.float32), "RGB")
            out.write_frame("bg", 1002, np.zeros((4, 4, 3), np.float32), "RGB")
            assert len([name for name in all_files(str(tmp_path)) if name.endswith(".exr")]) == 2
            assert visible_files(tmp_path) == []  # written, but hidden
            raise RuntimeError("model crashed")
    assert all_files(str(tmp_path)) == []
    assert render(template, passes=("bg",)).version == 1


def test_incomplete_job_is_not_published(tmp_path):
    template = NESTED_TEMPLATE.format(root=tmp_path)
    with pytest.raises(MediaError, match=r"comp frames 1002-1003"):
        with VersionedOutput(template, frames=FRAMES, shot="sh010", passes=("bg", "comp"), seed=7) as out:
            for frame in FRAMES:
                out.write_frame("bg", frame, np.zeros((4, 4, 3), np.float32), "RGB")
            out.write_frame("comp", 1001, np.zeros((4, 4, 3), np.float32), "RGB")
    assert all_files(str(tmp_path)) == []


def test_an_existing_version_is_never_overwritten(tmp_path):
    template = FOLDER_TEMPLATE.format(root=tmp_path)
    stray = tmp_path / "sh010" / "actanywhere" / "v004" / "sh010_bg_v004.1001.exr"  # e.g. copied in by hand
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"keep me")
    assert render(template).version == 5
    assert stray.read_bytes() == b"keep me"


def test_two_jobs_at_once_claim_different_versions(tmp_path):
    for index, layout in enumerate((FOLDER_TEMPLATE, NESTED_TEMPLATE)):
        template = layout.format(root=tmp_path / str(index))
        start = threading.Barrier(4)
        versions = []

        def job():
            start.wait()
            versions.append(render(template, frames=[1001]).version)

        threads = [threading.Thread(target=job) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(versions) == [1, 2, 3, 4]


@pytest.mark.parametrize("template, problem", [
    ("", "it is empty"),
    ("{version}/a_{pass}.exr", "the file name has no frame token"),
    ("out/a_{pass}_{version}.####.exr", "{version} must name a folder"),
    ("out/{pass}/{version}/a.####.exr", "{pass} must come after the {version} folder"),
    ("out/{version}/a.####.exr", "it has no {pass} token below the {version} folder"),
    ("out/{version}/{take}_{pass}.####.exr", "{take} is not a token"),
    ("out/{version}/{0}_{pass}.####.exr", "{0} is not a token"),
    ("out/{version}/a_{pass}}.####.exr", "stray brace"),
    ("out/{version}/{pass}.####.exr.####.exr", "frame token"),
    ("out/{version}/.a_{pass}.####.exr", "hidden"),
])
def test_bad_templates_are_refused_with_an_example(template, problem):
    with pytest.raises(OutputError) as raised:
        VersionedOutput(template, frames=[1], shot="sh010")
    assert problem in str(raised.value) and "for example out/{shot}/{version}/" in str(raised.value)
    assert raised.value.code == "bad_template"


def test_otio_beside_each_version_keeps_frame_numbers(tmp_path):
    template = FOLDER_TEMPLATE.format(root=tmp_path)
    out = render(template, frames=range(1001, 1049), fps=23.976, otio_metadata={"model": "tiny"})
    timeline = otio.adapters.read_from_file(out.otio_path("comp"))
    assert out.otio_path("comp").endswith("/v001/sh010_comp_v001.otio")
    clip = timeline.tracks[0][0]
    reference = clip.media_reference
    assert isinstance(reference, otio.schema.ImageSequenceReference)
    assert reference.start_frame == 1001 and reference.frame_zero_padding == 4
    assert reference.available_range.start_time.to_frames() == 1001
    assert reference.available_range.duration.to_frames() == 48
    assert reference.rate == pytest.approx(23.976)
    assert reference.target_url_for_image_number(47) == out.final_path("comp", 1048)
    assert os.path.isfile(reference.target_url_for_image_number(0))
    assert clip.metadata["actanywhere"]["model"] == "tiny"
    assert clip.metadata["actanywhere"]["version"] == "v001"


def test_otio_for_stepped_frames(tmp_path):
    template = FOLDER_TEMPLATE.format(root=tmp_path)
    out = render(template, frames=[1001, 1003, 1005], passes=("bg",))
    reference = otio.adapters.read_from_file(out.otio_path("bg")).tracks[0][0].media_reference
    assert reference.frame_step == 2 and reference.number_of_images_in_sequence() == 3
    assert reference.target_url_for_image_number(2) == out.final_path("bg", 1005)
