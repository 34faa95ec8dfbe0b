"""The synthetic clip generator: determinism, disjoint splits, the trainer's manifest, the ground-truth
invariants (composite, segmentation, shadow, contact, camera) and speed."""
import hashlib
import os
import time

import numpy as np
import pytest
import yaml

from actanywhere.engine.synth import (SPLITS, clip_seed, contact_sheet, generate_dataset, read_ground_truth,
                                      render_clip, run_synth, split_of_seed, write_demo_shot)
from actanywhere.engine.synth.clips import FOREGROUND_GREY

SEEDS = range(12)


@pytest.fixture(scope="module")
def clips():
    return [render_clip(seed) for seed in SEEDS]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    manifest = generate_dataset(str(out), "val", count=3, size="48x32", frames=8, seed=7)
    return out, manifest


def _digest(folder):
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as stream:
                digest.update(stream.read())
    return digest.hexdigest()


# -- seeds and determinism -------------------------------------------------------------------------------
def test_same_seed_gives_the_same_bytes(dataset, tmp_path):
    out, _ = dataset
    generate_dataset(str(tmp_path), "val", count=3, size="48x32", frames=8, seed=7)
    assert _digest(os.path.join(str(out), "val")) == _digest(os.path.join(str(tmp_path), "val"))


def test_different_seeds_give_different_clips():
    first, second = render_clip(clip_seed("train", 0)), render_clip(clip_seed("train", 1))
    assert not np.array_equal(first.frames, second.frames)
    other_dataset = render_clip(clip_seed("train", 0), dataset_seed=1)
    assert not np.array_equal(first.frames, other_dataset.frames)


def test_splits_share_no_seeds():
    seeds = {split: {clip_seed(split, index) for index in range(0, 10**8, 997)} for split in SPLITS}
    for split in SPLITS:
        for other in SPLITS:
            if split != other:
                assert not seeds[split] & seeds[other]
        assert all(split_of_seed(seed) == split for seed in seeds[split])
    with pytest.raises(ValueError):
        clip_seed("train", 10**8)


# -- the manifests ----------------------------------------------------------------------------------------
def test_manifest_loads_with_the_trainers_reader(dataset):
    from actanywhere.engine.training.config import DataSettings
    from actanywhere.engine.training.data import FrameReader, read_manifest, resolve_clips

    _, manifest = dataset
    entries = read_manifest(manifest)
    assert len(entries) == 3 and entries[0].range == "1001-1008" and entries[0].colourspace == "auto"
    clips = resolve_clips(manifest, min_frames=8)
    assert clips[0].frame_numbers == list(range(1001, 1009))
    reader = FrameReader(DataSettings(manifest=manifest, frames=8, height=32, width=48))
    rgb = reader.rgb(clips[1], 1003)
    matte = reader.matte(clips[1], 1003)
    expected = render_clip(clip_seed("val", 1), (48, 32), 8, dataset_seed=7)
    assert rgb.shape == (32, 48, 3) and matte.shape == (32, 48)
    assert np.abs(rgb - expected.frames[2]).max() <= 0.5 / 255 + 1e-6
    assert np.abs(matte - expected.mattes[2]).max() <= 0.5 / 255 + 1e-6


def test_ground_truth_manifest_lists_existing_files(dataset):
    _, manifest = dataset
    truth = read_ground_truth(os.path.join(os.path.dirname(manifest), "ground_truth.yaml"))
    assert truth["split"] == "val" and truth["size"] == [48, 32] and truth["frames"] == 8
    for entry in truth["clips"]:
        for name in ("frames", "matte", "foreground", "scene", "interaction"):
            for frame in range(1001, 1009):
                assert os.path.isfile(entry[name].replace("####", "%04d" % frame)), (name, frame)
        assert os.path.isfile(entry["condition_background"]) and os.path.isfile(entry["condition_composite"])
        assert 1001 <= entry["condition_frame"] <= 1008
        assert len(entry["lowest_point"]) == 8
        assert all(1001 <= contact["frame"] <= 1008 for contact in entry["contacts"])


def test_files_hold_the_rendered_pixels(dataset):
    from actanywhere.engine.media import read_image, read_matte

    out, _ = dataset
    clip = render_clip(clip_seed("val", 0), (48, 32), 8, dataset_seed=7)
    folder = os.path.join(str(out), "val", "clip_000000")
    scene, info = read_image(os.path.join(folder, "scene.1005.png"))
    assert info.pixel_type == "uint8" and scene.shape == (32, 48, 3)
    assert np.abs(scene - clip.scene[4]).max() <= 0.5 / 255 + 1e-6
    interaction = read_matte(os.path.join(folder, "interaction.1005.png"), "Y")
    assert np.abs(interaction - clip.interaction[4]).max() <= 0.5 / 255 + 1e-6
    condition, _ = read_image(os.path.join(folder, "condition_background.png"))
    assert np.abs(condition - clip.background[clip.condition_index]).max() <= 0.5 / 255 + 1e-6


# -- ground-truth invariants ----------------------------------------------------------------------------------
def test_composite_is_subject_over_scene(clips):
    for clip in clips:
        matte = clip.mattes[..., None]
        # Where the matte is 0 the frame is the scene; where it is 1 the frame is the foreground segmentation.
        outside, inside = matte[..., 0] == 0.0, matte[..., 0] == 1.0
        assert np.array_equal(clip.frames[outside], clip.scene[outside])
        assert np.array_equal(clip.frames[inside], clip.foreground[inside])
        # Everywhere: frame = subject * matte + scene * (1 - matte), with subject recovered from the segmentation.
        rebuilt = (clip.foreground - FOREGROUND_GREY * (1 - matte)) + clip.scene * (1 - matte)
        assert np.abs(rebuilt - clip.frames).max() < 1e-5


def test_foreground_is_grey_outside_the_matte(clips):
    for clip in clips:
        outside = clip.mattes == 0.0
        assert outside.mean() > 0.5
        assert np.all(clip.foreground[outside] == FOREGROUND_GREY)
        assert np.all(clip.mattes >= 0) and np.all(clip.mattes <= 1)
        edges = (clip.mattes > 0) & (clip.mattes < 1)
        assert edges.any()  # anti-aliased


def test_shadow_darkens_and_lies_mostly_outside_the_subject(clips):
    for clip in clips:
        shadow_only = (clip.interaction > 0.2) & ((clip.scene < clip.background - 1e-6).any(axis=-1))
        assert shadow_only.any(), clip.info
        if clip.info["contact_effect"] == "footprints":  # nothing here brightens
            assert np.all(clip.scene <= clip.background + 1e-6)
        # Visible interaction: most of it lies where there is no subject.
        visible = clip.interaction * (1.0 - clip.mattes)
        assert visible.sum() > 0.5 * clip.interaction.sum()


def test_shadow_only_darkens():
    """With the contact effect rendered away, the scene never exceeds the lit background."""
    for seed in SEEDS:
        clip = render_clip(seed)
        if clip.info["contact_effect"] != "footprints":
            continue
        darker = clip.background - clip.scene
        assert darker.min() >= -1e-6
        assert (darker.max(axis=-1) > 0.02).any()


def test_contacts_lie_at_the_lowest_subject_pixels(clips):
    checked = 0
    for clip in clips:
        assert clip.info["contacts"], clip.info
        for contact in clip.info["contacts"]:
            matte = clip.mattes[contact["index"]]
            rows = np.nonzero((matte > 0.5).any(axis=1))[0]
            lowest = rows.max() + 0.5
            assert abs(contact["y"] - (lowest + 0.5)) <= 1.5, (contact, lowest)
            # A foot of the subject rests there: matte just above the contact point, within the foot's width.
            y0, x0, reach = int(contact["y"]), int(contact["x"]), int(np.ceil(contact["width"])) + 1
            assert (matte[max(0, y0 - 3):y0 + 1, max(0, x0 - reach):x0 + reach + 1] > 0.5).any(), contact
            # The effect is drawn there: interaction near the contact point at that frame or soon after.
            index = min(contact["index"] + 1, clip.interaction.shape[0] - 1)
            y0, x0 = int(contact["y"]), int(contact["x"])
            window = clip.interaction[index, max(0, y0 - 4):y0 + 4, max(0, x0 - 6):x0 + 6]
            assert window.max() > 0.05
            checked += 1
    assert checked > len(clips)


def test_camera_moves(clips):
    for clip in clips:
        assert clip.info["camera"]["pan_px"] > 1.0 or abs(np.subtract(*clip.info["camera"]["zoom"])) > 0.02
        # The background itself moves in frame: the clean background differs between first and last frame.
        assert np.abs(clip.background[0] - clip.background[-1]).mean() > 0.01


def test_variety(clips):
    infos = [clip.info for clip in clips]
    assert {info["subject"] for info in infos} == {"walker", "hopper"}
    assert len({info["contact_effect"] for info in infos}) >= 2
    tints = np.array([info["light"]["tint"] for info in infos])
    assert tints.std(axis=0).max() > 0.03


def test_photos_as_backgrounds(tmp_path):
    from actanywhere.engine.synth import write_png

    photos = tmp_path / "photos"
    photos.mkdir()
    gradient = np.linspace(0, 1, 40 * 60 * 3, dtype=np.float32).reshape(40, 60, 3)
    write_png(str(photos / "a.png"), gradient)
    backgrounds = {render_clip(seed, photos=[str(photos / "a.png")]).info["background"] for seed in range(8)}
    assert "photo" in backgrounds and len(backgrounds) > 1


def test_a_clip_renders_fast():
    render_clip(0)
    started = time.perf_counter()
    for seed in range(5):
        render_clip(seed + 100)
    assert (time.perf_counter() - started) / 5 < 0.5


def test_custom_size_and_frames():
    clip = render_clip(5, (96, 64), 10)
    assert clip.frames.shape == (10, 64, 96, 3) and clip.mattes.shape == (10, 64, 96)


# -- the demo shot and the command -------------------------------------------------------------------------
def test_demo_shot_is_a_nuke_style_shot(tmp_path):
    from actanywhere.engine.media import read_image, read_image_info, read_matte

    paths = write_demo_shot(str(tmp_path), size=(96, 56), frames=4)
    assert paths["frames"] == "1001-1004"
    plate = read_image_info(paths["plate"].replace("####", "1001"))
    assert plate.colourspace == "ACEScg" and (plate.width, plate.height) == (96, 56)
    matte_file = paths["matte"].replace("####", "1002")
    info = read_image_info(matte_file)
    assert info.data_window.width < 96 and info.data_window.height < 56  # the subject's bounding box
    matte = read_matte(matte_file)
    assert matte.shape == (56, 96) and matte.max() == 1.0
    truth, _ = read_image(paths["truth_scene"].replace("####", "1004"))
    condition, _ = read_image(paths["condition"])
    assert truth.shape == (56, 96, 3) and condition.shape == (56, 96, 3)
    plate_pixels, _ = read_image(paths["plate"].replace("####", "1004"))
    assert not np.allclose(plate_pixels, truth, atol=0.05)  # a new scene, not the plate's
    with open(paths["info"]) as stream:
        assert yaml.safe_load(stream)["shot"] == paths["shot"]


def test_run_synth_and_contact_sheet(tmp_path):
    events, lines = [], []
    assert run_synth(str(tmp_path), "test", count=2, size="32x32", frames=4, progress=events.append,
                     log=lines.append) == 0
    assert [(event.stage, event.done, event.total) for event in events] == [("synth", 1, 2), ("synth", 2, 2)]
    assert os.path.isfile(os.path.join(str(tmp_path), "test", "clips.yaml")) and "2 test clips" in lines[0]
    sheet = contact_sheet(render_clip(clip_seed("test", 0), (32, 32), 4))
    assert sheet.ndim == 3 and sheet.shape[2] == 3


def test_bad_arguments_name_the_problem(tmp_path):
    from actanywhere.engine.errors import ConfigError

    with pytest.raises(ConfigError, match="WIDTHxHEIGHT"):
        generate_dataset(str(tmp_path), "train", 1, size="64")
    with pytest.raises(ConfigError, match="split"):
        generate_dataset(str(tmp_path), "demo", 1)
    with pytest.raises(ConfigError, match="photos"):
        generate_dataset(str(tmp_path), "train", 1, photos=str(tmp_path / "missing"))


def test_exr_clips_read_back_through_the_trainers_colour_path(tmp_path):
    from actanywhere.engine.training.config import DataSettings
    from actanywhere.engine.training.data import FrameReader, resolve_clips

    manifest = generate_dataset(str(tmp_path), "train", count=1, size="32x32", frames=2, file_format="exr")
    clip = resolve_clips(manifest, min_frames=2)[0]
    assert clip.colourspace == "ACEScg"
    reader = FrameReader(DataSettings(manifest=manifest, frames=2, height=32, width=32))
    expected = render_clip(clip_seed("train", 0), (32, 32), 2)
    assert np.abs(reader.rgb(clip, 1002) - expected.frames[1]).max() < 0.01  # half floats
    assert np.abs(reader.matte(clip, 1002) - expected.mattes[1]).max() < 0.002
