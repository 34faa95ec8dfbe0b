"""The plate's camera: the tracker against exact synthetic cameras (pan, zoom, roll), its refusals (a
cut, a blank plate), low-texture frames, occluders outside the matte, the track as data and as a
CornerPin2D, and the condition image warped by it."""
import json

import cv2
import nkparser
import numpy as np
import pytest

from actanywhere.engine.camera.condition_warp import SpatialCondition, condition_shows_subject, stretch_image
from actanywhere.engine.camera.track import FILLED, REFERENCE, STATIC, TRACKED, CameraTrack, to_normalised
from actanywhere.engine.camera.tracker import track_frames
from actanywhere.engine.errors import MediaError
from actanywhere.engine.synth.clips import clip_seed, ground_truth_track, render_clip
from actanywhere.plugin.camera_track_nodes import track_snippet


def texture(width, height, seed=0):
    """A smooth, well-textured scene (blurred noise at two scales), display-referred RGB in [0, 1]."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.uniform(0, 1, (height, width, 3)).astype(np.float32), (0, 0), 1.5)
    coarse = cv2.GaussianBlur(rng.uniform(0, 1, (height, width, 3)).astype(np.float32), (0, 0), 6.0)
    return np.clip(0.5 + 2.5 * (fine - 0.5) + 4.0 * (coarse - 0.5), 0, 1)


def moving_shot(matrices, width=160, height=96, seed=0):
    """Frames of one scene seen through pixel homographies (frame pixels -> scene pixels), a subject
    square walking across, and the matte."""
    scene = texture(width * 2, height * 2, seed)
    offset = np.array([[1, 0, width / 2.0], [0, 1, height / 2.0], [0, 0, 1]])  # the frame sits in the scene's middle
    frames = []
    for index, matrix in enumerate(matrices):
        view = cv2.warpPerspective(scene, offset @ matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        matte = np.zeros((height, width), np.float32)
        left = 20 + 4 * index
        matte[30:80, left:left + 24] = 1.0
        view = view * (1 - matte[..., None]) + np.float32([0.9, 0.2, 0.2]) * matte[..., None]
        frames.append((1001 + index, view.astype(np.float32), matte))
    return frames


def similarity(angle_deg=0.0, scale=1.0, tx=0.0, ty=0.0, width=160, height=96):
    """Frame pixels -> reference pixels: a roll and zoom about the frame's centre, then a shift."""
    centre = np.array([[1, 0, width / 2.0], [0, 1, height / 2.0], [0, 0, 1]])
    angle = np.deg2rad(angle_deg)
    rotate = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 0], [scale * np.sin(angle), scale * np.cos(angle), 0], [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    return shift @ centre @ rotate @ np.linalg.inv(centre)


def centre_error(track, truths, width=160, height=96):
    """Largest distance (px) between the tracked and the true position of the reference's centre."""
    path = track.reference_centre_path(width, height)
    expected = []
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0, 1.0])
    for matrix in truths:
        point = np.linalg.inv(matrix) @ centre
        expected.append(point[:2] / point[2])
    return float(np.linalg.norm(path - np.asarray(expected), axis=1).max())


@pytest.mark.parametrize("size", [(128, 128), (192, 108)])
def test_the_tracker_follows_synthetic_cameras_to_a_fraction_of_a_pixel(size):
    worst = []
    for index in range(6):
        clip = render_clip(clip_seed("val", 1000 + index), size=size, frames=16)
        reference = clip.condition_index
        truth = ground_truth_track(clip.info["camera_path"], *size, reference)
        tracked = track_frames([(i, clip.frames[i], clip.mattes[i]) for i in range(16)], reference)
        assert tracked.flags[reference] == REFERENCE and tracked.flags.count(FILLED) == 0
        worst.append(np.abs(tracked.reference_centre_path(*size) - truth.reference_centre_path(*size)).max())
    # Pans of 5-45 px with zooms of up to 25 %: every frame within a pixel of the true camera.
    assert max(worst) < 1.0, worst


def test_roll_zoom_and_pan_are_recovered_relative_to_the_reference_frame():
    truths = [similarity(angle_deg=0.8 * i, scale=1.0 + 0.015 * i, tx=2.5 * i, ty=-1.0 * i) for i in range(10)]
    reference = 4
    relative = [np.linalg.inv(truths[reference]) @ matrix for matrix in truths]  # frame -> reference frame
    track = track_frames(moving_shot(truths), 1001 + reference)
    assert track.reference_frame == 1005 and track.flags.count(TRACKED) == 9
    assert centre_error(track, relative) < 0.5


def test_an_occluder_outside_the_matte_is_outvoted():
    truths = [similarity(tx=3.0 * i) for i in range(8)]
    frames = []
    for number, view, matte in moving_shot(truths):
        view = view.copy()
        left = 100 - 6 * (number - 1001)  # a grey pole crossing the other way, not in the matte
        view[:, left:left + 10] = 0.35
        frames.append((number, view, matte))
    track = track_frames(frames, 1001)
    assert centre_error(track, truths) < 0.5


def test_a_blank_frame_takes_its_neighbours_motion_and_is_flagged():
    truths = [similarity(tx=2.0 * i) for i in range(8)]
    frames = moving_shot(truths)
    number, view, matte = frames[5]
    frames[5] = (number, np.full_like(view, 0.5), matte)  # a frame with nothing to track (a flash frame, a slate)
    track = track_frames(frames, 1001)
    assert track.flags[5] == FILLED and track.flags[6] == FILLED  # both pairs touching it were unmeasurable
    assert track.flags.count(TRACKED) == 5
    assert centre_error(track, truths) < 1.0  # constant velocity across the gap


def test_a_cut_is_refused_naming_the_frame():
    frames = moving_shot([similarity(tx=2.0 * i) for i in range(4)])
    other = moving_shot([similarity(tx=2.0 * i) for i in range(4)], seed=7)
    with pytest.raises(MediaError, match=r"frame 1003 does not continue frame 1002.*Split the shot at frame 1003"):
        track_frames(frames[:2] + other[2:], 1001)


def test_a_blank_plate_is_refused_naming_the_frames():
    frames = [(1001 + i, np.full((96, 160, 3), 0.5, np.float32), np.zeros((96, 160), np.float32)) for i in range(4)]
    with pytest.raises(MediaError, match=r"frames 1001-1004: no background texture.*camera.track: static"):
        track_frames(frames, 1001)


def test_a_matte_over_everything_leaves_nothing_to_track():
    frames = [(n, view, np.ones_like(matte)) for n, view, matte in moving_shot([similarity(tx=i) for i in range(3)])]
    with pytest.raises(MediaError, match="no background texture outside the matte"):
        track_frames(frames, 1001)


def test_a_reference_outside_the_shot_is_refused():
    with pytest.raises(MediaError, match="condition_frame 990 is outside the tracked frames 1001-1003"):
        track_frames(moving_shot([similarity(tx=i) for i in range(3)]), 990)


# -- the track as data ---------------------------------------------------------------------------------------
def test_tracks_round_trip_through_json_and_change_reference(tmp_path):
    track = track_frames(moving_shot([similarity(tx=2.0 * i, scale=1 + 0.01 * i) for i in range(6)]), 1001)
    path = str(tmp_path / "t.json")
    track.save(path)
    loaded = CameraTrack.load(path)
    assert loaded.frames == track.frames and loaded.flags == track.flags and loaded.size == track.size
    np.testing.assert_allclose(loaded.homographies, track.homographies, atol=1e-9)
    moved = loaded.relative_to(1004)
    assert moved.flags[3] == REFERENCE and moved.flags[0] == TRACKED
    np.testing.assert_allclose(moved.homographies[3], np.eye(3), atol=1e-12)
    # Through the new reference and back again is the identity.
    np.testing.assert_allclose(moved.relative_to(1001).homographies, track.homographies, atol=1e-9)
    assert [frame for frame in moved.subset([1002, 1003]).frames] == [1002, 1003]


@pytest.mark.parametrize("text, problem", [
    ("{}", "not a camera track of format 1"),
    ('{"format": 1, "reference_frame": 1, "frames": [{"frame": 1}]}', "malformed camera track"),
    ('{"format": 1, "reference_frame": 1, "frames": [{"frame": 1, "flag": "odd", "homography": '
     '[[1,0,0],[0,1,0],[0,0,1]]}]}', "unknown frame flag 'odd'"),
    ("not json", "not readable JSON"),
])
def test_bad_track_files_are_named(tmp_path, text, problem):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(MediaError, match=problem) as caught:
        CameraTrack.load(str(path))
    assert str(path) in str(caught.value)


def test_the_cornerpin_snippet_parses_and_pins_the_reference_corners():
    truths = [similarity(tx=4.0 * i) for i in range(5)]
    track = track_frames(moving_shot(truths), 1001)
    text = track_snippet(track, 1920, 1080, "sh010_camera")
    script = nkparser.Script.from_string(text)
    node = [node for node in script.all_nodes()][0]
    assert node.class_name == "CornerPin2D" and node.name == "sh010_camera"
    assert node.get("from3") == "{1920 1080}"
    to1 = node.get("to1")
    assert to1.startswith("{{curve x1001 0 x1002 ") and to1.count("x100") == 10
    # The world moves left 4 plate pixels a frame at 160 px: 48 px a frame at 1920 (y is flipped to Nuke's, up).
    corners = track.corner_paths(1920, 1080)
    assert abs(corners[4, 0, 0] - (-4 * 4.0 * 12)) < 6.0 and abs(corners[4, 0, 1] - 1080) < 6.0


# -- the warped condition ------------------------------------------------------------------------------------
def test_the_exact_camera_warps_the_condition_onto_every_frame():
    size = (128, 128)
    clip = render_clip(clip_seed("val", 1003), size=size, frames=16)
    reference = clip.condition_index
    spatial = SpatialCondition(clip.condition_background, 16, ground_truth_track(clip.info["camera_path"], *size, reference))
    static = SpatialCondition(clip.condition_background, 16)
    assert static.is_static and not spatial.is_static
    for index in (0, 7, 15):
        valid = spatial.validity(index, *size) > 0.999
        warped_error = np.abs(spatial.frame(index, *size) - clip.background[index])[valid].mean()
        static_error = np.abs(static.frame(index, *size) - clip.background[index]).mean()
        assert warped_error < 0.01 and (index == reference or static_error > 3 * warped_error)
    np.testing.assert_allclose(spatial.frame(reference, *size), stretch_image(clip.condition_background, *size), atol=1e-4)
    assert spatial.coverage()[reference] == 1.0 and spatial.coverage().min() < 1.0


def test_the_plate_keeps_the_condition_where_it_covers_the_frame_and_not_where_its_subject_stood():
    width, height = 160, 96
    image = texture(width, height)
    subject = np.zeros((height, width), np.float32)
    subject[30:70, 60:90] = 1.0
    shift = to_normalised(similarity(tx=20.0, width=width, height=height), width, height)  # the camera moved 20 px
    track = CameraTrack([1, 2], 1, [np.eye(3), shift], [REFERENCE, TRACKED])
    spatial = SpatialCondition(image, 2, track, subject=subject)
    keep = spatial.keep(0, width, height)
    assert keep[10, 10] > 0.99 and keep[50, 75] == 0.0  # kept away from the subject; not on it
    moved = spatial.keep(1, width, height)
    validity = spatial.validity(1, width, height)
    assert (validity < 0.5).sum() > 0 and moved[validity < 0.5].max() == 0.0  # the uncovered strip: generated
    assert moved[validity > 0.999].max() > 0.99
    generated = np.zeros((height, width, 3), np.float32)
    kept = spatial.kept(1, generated)
    np.testing.assert_allclose(kept[moved > 0.999], spatial.frame(1, width, height)[moved > 0.999], atol=1e-3)
    assert np.all(kept[moved == 0.0] == 0.0)
    assert np.all(SpatialCondition(image, 2).keep(0, width, height) > 0.999)  # locked off, background only


def test_a_composited_condition_is_told_from_a_background_by_the_subjects_pixels():
    clip = render_clip(clip_seed("val", 1003), size=(64, 64), frames=4)
    at = clip.condition_index
    assert condition_shows_subject(clip.condition_composite, clip.frames[at], clip.mattes[at])
    assert not condition_shows_subject(clip.condition_background, clip.frames[at], clip.mattes[at])
    assert not condition_shows_subject(clip.condition_composite, clip.frames[at], np.zeros((64, 64)))  # no subject


def test_normalised_tracks_serve_every_resolution():
    pixels = similarity(angle_deg=2.0, scale=1.05, tx=6.0, ty=-3.0, width=160, height=90)
    normalised = to_normalised(pixels, 160, 90)
    track = CameraTrack([1, 2], 1, [np.eye(3), normalised], [REFERENCE, TRACKED])
    small, large = track.reference_centre_path(160, 90)[1], track.reference_centre_path(1600, 900)[1]
    np.testing.assert_allclose((large + 0.5) / 10.0 - 0.5, small, atol=1e-9)
    static = CameraTrack.static([1, 2, 3], 2)
    assert static.is_static and static.flags == [STATIC] * 3
    assert json.loads(json.dumps(static.to_data()))["frames"][0]["flag"] == STATIC
