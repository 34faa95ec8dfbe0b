"""`actanywhere generate` end to end on real EXR files: a good shot publishes a version; every bad input
gives one line naming the file, frame or key, a non-zero exit, and no frame under a final name."""
import json
import os
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import OpenImageIO as oiio
import opentimelineio as otio
import pytest

from actanywhere.engine import config, shotspec
from actanywhere.engine.cli import main
from actanywhere.engine.generate import generate_shot
from actanywhere.engine.model.profile import ModelProfile
from actanywhere.engine.media.exr_write import write_exr
from shot_files import write_png, write_shot

FRAMES = (1001, 1002, 1003, 1004)
WIDTH, HEIGHT = 64, 36
OIIOTOOL = shutil.which("oiiotool") or os.path.join(os.path.dirname(os.sys.executable), "oiiotool")


def subject_matte(index, width=WIDTH, height=HEIGHT):
    matte = np.zeros((height, width), np.float32)
    left = 10 + 6 * index
    matte[8:30, left:left + 12] = 1.0
    return matte


@pytest.fixture
def shot(tmp_path):
    """A 4-frame 64x36 shot: ACEScg plate, roto matte with a bounding-box data window, PNG condition."""
    return write_shot(tmp_path, FRAMES, WIDTH, HEIGHT, subject_matte)


def arguments(shot, *extra):
    return [
        "generate",
        "--plate", str(shot / "plate" / "p.%04d.exr"),
        "--matte", str(shot / "roto" / "m.####.exr"),
        "--condition", str(shot / "cond.png"),
        "--out", str(shot / "out" / "{version}" / "{shot}_{pass}_{version}.####.exr"),
        "--frames", "1001-1004",
        "--steps", "2",
        "--set", "colour.plate_colourspace=ACEScg",
        "--quiet",
        *extra,
    ]


def published_frames(shot):
    found = []
    for root, _, files in os.walk(str(shot / "out")):
        found += [name for name in files if name.endswith(".exr") and not name.startswith(".")]
    return sorted(found)


def run_failing(shot, capsys, *extra):
    code = main(arguments(shot, *extra))
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    # Progress and log lines may come first; the error is the last line, and a single one.
    assert lines[-1].startswith("actanywhere: error: "), lines
    assert sum("error" in line for line in lines) == 1, lines
    assert published_frames(shot) == []
    return lines[-1]


@pytest.mark.slow
def test_good_shot_publishes_bg_and_comp_with_exact_subject(shot, capsys):
    assert main(arguments(shot, "--shot", "sh010")) == 0
    out = capsys.readouterr().out
    assert "v001 seed 0 bg:" in out and "v001 seed 0 comp:" in out
    assert published_frames(shot) == sorted(
        "sh010_%s_v001.%04d.exr" % (pass_name, frame) for pass_name in ("bg", "comp") for frame in FRAMES
    )
    for index, frame in enumerate(FRAMES):
        comp = oiio.ImageBuf(str(shot / "out" / "v001" / ("sh010_comp_v001.%04d.exr" % frame))).get_pixels(oiio.FLOAT)
        plate = oiio.ImageBuf(str(shot / "plate" / ("p.%04d.exr" % frame))).get_pixels(oiio.FLOAT)
        subject = subject_matte(index) == 1.0
        assert np.array_equal(comp[subject], plate[subject])  # the subject is the plate's own pixels
        assert not np.array_equal(comp[~subject], plate[~subject])  # the background is generated
    info = subprocess.run([OIIOTOOL, "--info", "-v", str(shot / "out" / "v001" / "sh010_bg_v001.1001.exr")],
                          capture_output=True, text=True, check=True).stdout
    assert 'actanywhere/seed: "0"' in info and 'actanywhere/model_profile: "tiny"' in info
    assert "lin_ap1_scene" in info  # written back in the plate's colour space
    timeline = otio.adapters.read_from_file(str(shot / "out" / "v001" / "sh010_bg_v001.otio"))
    clip = timeline if isinstance(timeline, otio.schema.Clip) else list(timeline.find_clips())[0]
    assert clip.media_reference.start_frame == 1001

    # A second run never overwrites: it publishes v002 next to v001.
    assert main(arguments(shot, "--shot", "sh010", "--seed", "3")) == 0
    assert "v002 seed 3 bg:" in capsys.readouterr().out
    assert len(published_frames(shot)) == 16


def test_missing_frame_is_named(shot, capsys):
    os.remove(str(shot / "plate" / "p.1003.exr"))
    assert "1003" in run_failing(shot, capsys)


def test_plate_and_matte_of_different_sizes(shot, capsys):
    for frame in FRAMES:
        write_exr(str(shot / "roto" / ("m.%04d.exr" % frame)), np.zeros((18, 32), np.float32), ("A",))
    error = run_failing(shot, capsys)
    assert "m.1001.exr is 32x18 but its plate" in error and "p.1001.exr is 64x36" in error


def test_frames_of_different_sizes_within_a_sequence(shot, capsys):
    write_exr(str(shot / "roto" / "m.1002.exr"), np.zeros((18, 32), np.float32), ("A",))
    assert "frame 1002 is 32x18" in run_failing(shot, capsys)


def test_matte_outside_zero_one(shot, capsys):
    write_exr(str(shot / "roto" / "m.1004.exr"), np.full((HEIGHT, WIDTH), 3.0, np.float32), ("A",))
    assert "m.1004.exr" in run_failing(shot, capsys)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_nan_or_inf_in_the_plate(shot, capsys, bad_value):
    plate = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    plate[3, 4] = bad_value
    write_exr(str(shot / "plate" / "p.1002.exr"), plate, ("R", "G", "B"), datatype="float")
    assert "p.1002.exr" in run_failing(shot, capsys)


def test_truncated_file(shot, capsys):
    path = shot / "plate" / "p.1004.exr"
    path.write_bytes(path.read_bytes()[:200])
    assert "p.1004.exr" in run_failing(shot, capsys)


def test_non_image_file(shot, capsys):
    (shot / "cond.png").write_text("not a picture")
    assert "cond.png" in run_failing(shot, capsys)


def test_unknown_colour_space(shot, capsys):
    error = run_failing(shot, capsys, "--set", "colour.plate_colourspace=ACEScgg")
    assert "ACEScgg" in error


def test_full_matte_leaves_nothing_to_generate(shot, capsys):
    for frame in FRAMES:
        write_exr(str(shot / "roto" / ("m.%04d.exr" % frame)), np.ones((HEIGHT, WIDTH), np.float32), ("A",))
    assert "covers the whole frame" in run_failing(shot, capsys)


def test_missing_matte_channel_lists_the_channels(shot, capsys):
    for index, frame in enumerate(FRAMES):
        rgba = np.repeat(subject_matte(index)[..., None], 4, axis=2)
        write_exr(str(shot / "roto" / ("m.%04d.exr" % frame)), rgba, ("R", "G", "B", "A"))
    error = run_failing(shot, capsys, "--matte-channel", "mask")
    assert "mask" in error and "m.1001.exr" in error and "R, G, B, A" in error


def test_unwritable_output_directory(shot, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere; the permission check cannot be exercised")
    (shot / "out").mkdir()
    os.chmod(str(shot / "out"), 0o500)
    assert "not writable" in run_failing(shot, capsys)


def test_output_under_a_file_is_refused(shot, capsys):
    (shot / "out").write_text("a file where the output folder should be")
    error = run_failing(shot, capsys, "--out", str(shot / "out" / "x" / "{version}" / "x_{pass}.####.exr"))
    assert str(shot / "out") in error


def test_bad_frame_range_and_missing_inputs(shot, capsys):
    error = run_failing(shot, capsys, "--frames", "1001-x")
    assert "frames" in error and "1001-x" in error
    assert main(["generate", "--plate", str(shot / "plate" / "p.%04d.exr"), "--quiet"]) == 2
    assert "matte, condition not given" in capsys.readouterr().err


def test_empty_matte_warns_and_condition_of_another_aspect_warns(shot, capsys):
    for frame in FRAMES:
        write_exr(str(shot / "roto" / ("m.%04d.exr" % frame)), np.zeros((HEIGHT, WIDTH), np.float32), ("A",))
    write_png(str(shot / "cond.png"), np.full((40, 30, 3), 0.5))
    with pytest.warns(UserWarning, match="is empty"):
        assert main(arguments(shot, "--steps", "1")) == 0
    assert "has aspect 0.75, the plate 1.78" in capsys.readouterr().err


# -- sampler.steps / sampler.guidance 0: the model profile's defaults ---------------------------------
class RecordingPipeline:
    """Stands in for the model: records what it is asked to sample with, returns grey frames."""

    vae_scale_factor = 4
    supports_refinement = True

    def __init__(self):
        self.profile = ModelProfile(name="stub", native_size=(64, 64, 16), default_tile_size=256,
                                    default_steps=7, default_guidance_scale=2.5)
        self.model = SimpleNamespace(max_frames_per_call=16, checksum="stub", interaction=None)
        self.calls = []

    def __call__(self, foreground, matte, condition, steps, guidance_scale, **_):
        self.calls.append((steps, guidance_scale))
        return np.full(foreground.shape, 0.5, np.float32)


def test_zero_steps_or_guidance_take_the_profile_defaults():
    profile = RecordingPipeline().profile
    assert profile.sampling(0, 0.0) == (7, 2.5)
    assert profile.sampling(3, 1.0) == (3, 1.0)
    assert profile.sampling(0, 4.0) == (7, 4.0)
    assert profile.sampling(None, None) == (7, 2.5)  # a pipeline called without them
    assert (profile.window_frames(0, 16), profile.window_frames(8, 16), profile.window_frames(32, 16)) == (16, 8, 16)


def test_a_shot_with_zero_steps_and_guidance_samples_with_the_profile_defaults(shot):
    resolved = config.load(environ={}).config
    spec = shotspec.resolve({
        "shot": "sh030", "plate": str(shot / "plate" / "p.%04d.exr"), "matte": str(shot / "roto" / "m.####.exr"),
        "condition": str(shot / "cond.png"), "frames": "1001-1002", "colour": {"plate_colourspace": "ACEScg"},
        "output": {"template": str(shot / "out" / "{version}" / "{shot}_{pass}_{version}.####.exr"), "write_comp": False},
    }, resolved)
    assert (spec.sampler.steps, spec.sampler.guidance) == (0, 0.0)  # the built-in config's defaults
    pipeline = RecordingPipeline()
    generate_shot(spec, resolved, log=lambda text: None, pipeline=pipeline)
    assert pipeline.calls == [(7, 2.5)]
    header = oiio.ImageBuf(str(shot / "out" / "v001" / "sh030_bg_v001.1001.exr")).spec()
    sampler = json.loads(header.get_string_attribute("actanywhere/sampler"))
    assert (sampler["steps"], sampler["guidance"]) == (7, 2.5)  # what was used, not 0


def test_a_job_run_again_returns_its_version_instead_of_rendering_again(shot):
    """What a requeued engine job (the engine died after the worker published) or a retried farm task
    does: the version its id published is found by its record, and nothing is sampled or written."""
    resolved = config.load(environ={}).config
    spec = shotspec.resolve({
        "shot": "sh030", "plate": str(shot / "plate" / "p.%04d.exr"), "matte": str(shot / "roto" / "m.####.exr"),
        "condition": str(shot / "cond.png"), "frames": "1001-1002", "colour": {"plate_colourspace": "ACEScg"},
        "sampler": {"variants": 2},
        "output": {"template": str(shot / "out" / "{version}" / "{shot}_{pass}_{version}.####.exr")},
    }, resolved)
    pipeline = RecordingPipeline()
    first = generate_shot(spec, resolved, log=lambda text: None, pipeline=pipeline, job_id="sh030-job1")
    assert [(r.version_name, r.job_id, r.spec_hash) for r in first] == [
        ("v001", "sh030-job1", spec.spec_hash()), ("v002", "sh030-job1", spec.spec_hash())]
    assert first[0].model_checksum == "stub" and first[0].frames == "1001-1002"
    again = generate_shot(spec, resolved, log=lambda text: None, pipeline=pipeline, job_id="sh030-job1")
    assert again == first and len(pipeline.calls) == 2  # no sampling the second time
    other = generate_shot(spec, resolved, log=lambda text: None, pipeline=pipeline, job_id="sh030-job2")
    assert [r.version_name for r in other] == ["v003", "v004"] and len(pipeline.calls) == 4
    by_task = generate_shot(spec, resolved, log=lambda text: None, pipeline=pipeline, job_id="e1", task_id="sh030-t")
    assert generate_shot(spec, resolved, log=lambda text: None, pipeline=pipeline, job_id="e2", task_id="sh030-t") \
        == by_task  # a farm task's retry on another engine job: still its one version
    assert sorted(os.listdir(str(shot / "out"))) == ["v001", "v002", "v003", "v004", "v005", "v006"]


def shot_spec(shot, **changes):
    data = {"shot": "sh010", "plate": str(shot / "plate" / "p.%04d.exr"), "matte": str(shot / "roto" / "m.####.exr"),
            "condition": str(shot / "cond.png"), "frames": "1001-1004",
            "output": {"template": str(shot / "out" / "{version}" / "{shot}_{pass}_{version}.####.exr")}}
    data.update(changes)
    return shotspec.resolve(data, config.load(environ={}).config)


def test_the_header_pass_refuses_bad_inputs_before_any_model_work(shot, monkeypatch):
    """A wrong matte channel or a deep file is named by check_inputs, which reads headers only."""
    from actanywhere.engine import generate
    from actanywhere.engine.errors import MediaError

    monkeypatch.setattr(generate, "load_pipeline", lambda *args, **kwargs: pytest.fail("the model was loaded"))
    for index, frame in enumerate(FRAMES):
        rgba = np.repeat(subject_matte(index)[..., None], 4, axis=2)
        write_exr(str(shot / "roto" / ("m.%04d.exr" % frame)), rgba, ("R", "G", "B", "A"))
    with pytest.raises(MediaError, match=r"m.1001.exr has no channel 'mask' for the matte; its channels are R, G, B, A"):
        generate.check_inputs(shot_spec(shot, matte_channel="mask"))
    deep = oiio.ImageSpec(WIDTH, HEIGHT, 2, oiio.FLOAT)
    deep.channelnames, deep.deep = ("A", "Z"), True
    assert oiio.ImageBuf(deep).write(str(shot / "plate" / "p.1002.exr"))
    with pytest.raises(MediaError, match=r"frame 1002: .*p.1002.exr is a deep image.*flatten it"):
        generate.check_inputs(shot_spec(shot))


def test_an_8_bit_plate_is_read_in_the_space_its_file_says(shot):
    """OpenImageIO tags a PNG sRGB: `auto` (the default) takes that, not scene-linear; an untagged float
    EXR stays scene_linear."""
    from actanywhere.engine import generate

    for index, frame in enumerate(FRAMES):
        write_png(str(shot / "plate" / ("p.%04d.png" % frame)), np.full((HEIGHT, WIDTH, 3), 0.5, np.float32))
    png = generate.check_inputs(shot_spec(shot, plate=str(shot / "plate" / "p.%04d.png")))
    assert png.plate_colourspace == "sRGB Encoded Rec.709 (sRGB)"
    for frame in FRAMES:
        write_exr(str(shot / "plate" / ("q.%04d.exr" % frame)), np.zeros((HEIGHT, WIDTH, 3), np.float32), ("R", "G", "B"))
    assert generate.check_inputs(shot_spec(shot, plate=str(shot / "plate" / "q.%04d.exr"))).plate_colourspace == \
        "scene_linear"


@pytest.mark.slow
def test_a_one_channel_plate_is_generated_as_grey(shot, capsys):
    luminance = {}
    for frame in FRAMES:
        path = str(shot / "plate" / ("p.%04d.exr" % frame))
        luminance[frame] = oiio.ImageBuf(path).get_pixels(oiio.FLOAT)[..., 0]
        write_exr(path, luminance[frame], ("Y",), datatype="float")
    assert main(arguments(shot, "--shot", "sh010")) == 0, capsys.readouterr().err
    comp = oiio.ImageBuf(str(shot / "out" / "v001" / "sh010_comp_v001.1001.exr")).get_pixels(oiio.FLOAT)
    subject = subject_matte(0) == 1.0
    for channel in range(3):  # the plate's own grey pixels, in R, G and B
        np.testing.assert_allclose(comp[..., channel][subject], luminance[1001][subject], atol=2e-3)
