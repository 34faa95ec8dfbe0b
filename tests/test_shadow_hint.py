"""The shadow hint (camera/shadow_hint.py): a moving subject's shadow read off the plate against a clean
plate made from the neighbouring frames, on a locked-off and on a panning camera."""
import numpy as np

from actanywhere.engine.camera.shadow_hint import shadow_hint
from actanywhere.engine.camera.track import CameraTrack
from actanywhere.engine.synth.clips import clip_seed, ground_truth_track, render_clip


def walking_subject_with_shadow(frames=12, width=96, height=64, seed=0):
    """A textured ground, a subject walking right, and its shadow (the plate darkened by half) beside it."""
    rng = np.random.default_rng(seed)
    ground = 0.3 + 0.4 * rng.random((height, width, 1), dtype=np.float32).repeat(3, axis=2)
    plates, mattes, shadows = [], [], []
    for t in range(frames):
        x = 10 + 6 * t
        matte = np.zeros((height, width), np.float32)
        matte[20:50, x:x + 8] = 1.0
        shadow = np.zeros((height, width), np.float32)
        shadow[50:56, x + 8:x + 24] = 1.0
        plate = ground * (1.0 - 0.5 * shadow[..., None])
        plate = plate * (1 - matte[..., None]) + 0.9 * matte[..., None]
        plates.append(plate)
        mattes.append(matte)
        shadows.append(shadow)
    return np.stack(plates), np.stack(mattes), np.stack(shadows)


def test_a_moving_subjects_shadow_is_read_and_nothing_else():
    plates, mattes, shadows = walking_subject_with_shadow()
    hint = shadow_hint(plates, mattes, CameraTrack.static(list(range(12)), 0))
    assert hint.shape == mattes.shape and hint.dtype == np.float32
    inner = shadows > 0.5
    inner[:, 50] = inner[:, 55] = False  # the shadow's edge is blurred by the luma blur
    assert hint[:, 51:55][inner[:, 51:55]].mean() > 0.4  # half the light removed: luma ratio 0.5
    quiet = (shadows == 0) & (mattes == 0)
    assert np.abs(hint[quiet]).mean() < 0.02
    assert np.all(hint[mattes > 0] == 0.0)  # no evidence inside the subject


def test_the_hint_follows_a_panning_camera():
    clip = render_clip(clip_seed("test", 3), size=(96, 96), frames=12)
    track = ground_truth_track(clip.info["camera_path"], 96, 96, clip.condition_index)
    hint = shadow_hint(clip.frames, clip.mattes, track)
    darkening = 1.0 - (clip.frames @ [0.2126, 0.7152, 0.0722]) / np.maximum(clip.background @ [0.2126, 0.7152, 0.0722], 1e-3)
    outside = clip.mattes < 0.01
    assert np.corrcoef(hint[outside], darkening[outside])[0, 1] > 0.3
    static = shadow_hint(clip.frames, clip.mattes, CameraTrack.static(list(range(12)), clip.condition_index))
    # Without the camera the moving ground itself reads as darkening and brightening everywhere.
    assert np.abs(static[outside & (clip.interaction < 0.01)]).mean() > 2 * np.abs(hint[outside & (clip.interaction < 0.01)]).mean()
