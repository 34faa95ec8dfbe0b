"""Rendering one synthetic clip, deterministically, from its seeds.

A clip is a pure function of (dataset seed, clip seed, size, frames, photos). Two random streams feed it:
the *motion* stream (the subject, its path and gait, the camera, the condition frame) and the *scene*
stream (the background, the light and tint, the contact effect). Rendering the same motion in another
scene (`scene_seed`) gives the ground truth of a "new background" request: the same subject and camera
move, a different world.

Seeds: clip `index` of a split has clip seed `SPLIT_SEED_BASE[split] + index`, and the splits' ranges
are `SPLIT_SEED_STRIDE` apart, so train, validation, test and the demo never share a clip seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .scene import (Camera, Contact, find_contacts, follow_camera, linear_to_srgb, photo_background,
                    procedural_background, random_effect, random_light, random_subject, render_contacts,
                    render_shadow, render_subject, sample_bilinear, srgb_to_linear)

SPLIT_SEED_STRIDE = 100_000_000
SPLIT_SEED_BASE = {"train": 0, "val": SPLIT_SEED_STRIDE, "test": 2 * SPLIT_SEED_STRIDE, "demo": 3 * SPLIT_SEED_STRIDE}
SPLITS = tuple(SPLIT_SEED_BASE)
# A new-scene clip's world: its clip seed plus this, in the upper half of its split's seed range (never a
# clip seed of a split of fewer than 50 million clips).
NEW_SCENE_OFFSET = SPLIT_SEED_STRIDE // 2
FOREGROUND_GREY = 0.5  # display-referred grey behind the subject in the foreground segmentation


def clip_seed(split: str, index: int) -> int:
    """The seed of clip `index` of `split`; the splits' seed ranges never overlap."""
    if split not in SPLIT_SEED_BASE:
        raise ValueError("unknown split %r; use one of %s" % (split, ", ".join(SPLITS)))
    if not 0 <= index < SPLIT_SEED_STRIDE:
        raise ValueError("clip index %d out of range [0, %d)" % (index, SPLIT_SEED_STRIDE))
    return SPLIT_SEED_BASE[split] + int(index)


def new_scene_seed(seed: int) -> int:
    """The scene a new-scene split renders clip `seed`'s ground truth in (its plate is in its own)."""
    return int(seed) + NEW_SCENE_OFFSET


def split_of_seed(seed: int) -> str:
    for split, base in SPLIT_SEED_BASE.items():
        if base <= seed < base + SPLIT_SEED_STRIDE:
            return split
    raise ValueError("clip seed %d belongs to no split" % seed)


@dataclass
class RenderedClip:
    """A clip's pixels, display-referred (sRGB-encoded) float32 in [0, 1], T frames of H x W:

    frames       (T, H, W, 3)  the subject composited over `scene` under `mattes`
    mattes       (T, H, W)     subject = 1, anti-aliased edges
    foreground   (T, H, W, 3)  the subject over FOREGROUND_GREY (the model's segmentation input)
    scene        (T, H, W, 3)  ground truth without the subject, with its shadow and contact effects
    background   (T, H, W, 3)  the lit scene with no subject, no shadow, no effect
    interaction  (T, H, W)     coverage of the shadow and contact effects (0 where the scene is clean)
    condition_background  (H, W, 3)  `background` at the condition frame
    condition_composite   (H, W, 3)  `frames` at the condition frame
    info: plain data (subject, light, camera, contacts in frame pixels, ...) for the manifest."""

    frames: np.ndarray
    mattes: np.ndarray
    foreground: np.ndarray
    scene: np.ndarray
    background: np.ndarray
    interaction: np.ndarray
    condition_index: int
    info: dict

    @property
    def condition_background(self) -> np.ndarray:
        return self.background[self.condition_index]

    @property
    def condition_composite(self) -> np.ndarray:
        return self.frames[self.condition_index]


def render_clip(seed: int, size: Tuple[int, int] = (64, 64), frames: int = 16, dataset_seed: int = 0,
                photos: Sequence[str] = (), photo_fraction: float = 0.5, scene_seed: Optional[int] = None,
                light_seed: Optional[int] = None) -> RenderedClip:
    """Renders clip `seed` at `size` (width, height) for `frames` frames. `photos`: image files that
    replace the procedural background in about `photo_fraction` of the clips. `scene_seed` (default
    `seed`) picks the world: the same `seed` with another `scene_seed` moves the same subject and camera
    through a different scene. `light_seed` (default `scene_seed`): the scene whose light is used; a
    new-scene ground truth keeps the plate's light (`light_seed=seed`), which its subject is lit by, so
    the subject's shading and shadow agree with the plate's."""
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16 or frames < 1:
        raise ValueError("a clip needs at least 16x16 pixels and one frame, got %dx%d x %d" % (width, height, frames))
    scene_seed = seed if scene_seed is None else scene_seed
    motion_rng = np.random.default_rng([int(dataset_seed), int(seed), 0])
    scene_rng = np.random.default_rng([int(dataset_seed), int(scene_seed), 1])

    # Motion: the subject walks or hops along the ground line y = 0; the camera follows.
    unit = float(height)
    ground_y = 0.0
    subject = random_subject(motion_rng, unit, frames)
    pose = subject.pose(frames, ground_y)
    camera, camera_info = follow_camera(motion_rng, pose.centre_x, ground_y, width, height)
    condition_index = int(motion_rng.integers(frames))
    x, y, pixel = camera.world_grid(width, height)

    # Scene: a canvas covering every frame's view, the light, the contact effect.
    light = random_light(scene_rng)  # drawn in every case, so the rest of the scene does not depend on light_seed
    if light_seed is not None and light_seed != scene_seed:
        light = random_light(np.random.default_rng([int(dataset_seed), int(light_seed), 1]))
    effect_strength = float(scene_rng.uniform(0.35, 0.6))
    origin_x, origin_y = float(np.floor(x.min())) - 2.0, float(np.floor(y.min())) - 2.0
    canvas_w = int(np.ceil(x.max() - origin_x)) + 3
    canvas_h = int(np.ceil(y.max() - origin_y)) + 3
    horizon = ground_y - unit * float(scene_rng.uniform(0.22, 0.55)) - origin_y
    use_photo = bool(photos) and scene_rng.random() < photo_fraction
    if use_photo:
        photo = photos[int(scene_rng.integers(len(photos)))]
        background = photo_background(scene_rng, photo, canvas_w, canvas_h, horizon)
    else:
        background = procedural_background(scene_rng, canvas_w, canvas_h, horizon, unit)

    effect = random_effect(scene_rng, background.ground_kind)
    albedo = srgb_to_linear(sample_bilinear(background.canvas, x - origin_x, y - origin_y))
    on_ground = background.ground_weight(y - origin_y)[..., None]  # (T, H, 1, 1)

    # Interactions: the cast shadow and the contact effect, drawn in world space.
    alpha, subject_albedo = render_subject(pose, x, y, pixel, subject)
    shadow = render_shadow(pose, light, x, y, ground_y, pixel) * on_ground[..., 0]
    contacts = find_contacts(pose, ground_y, tolerance=0.01 * unit)
    effect_alpha, mode = render_contacts(effect, contacts, frames, x, y, pixel, unit, effect_strength)
    if mode != "dust":  # prints and ripples mark the ground only; dust rises into the air
        effect_alpha = effect_alpha * on_ground[..., 0]

    # Light (scene-linear): the tint multiplies subject and scene alike; the shadow removes the direct part.
    tint = light.tint.reshape(1, 1, 1, 3)
    lit = albedo * tint
    scene = lit * (1.0 - light.strength * shadow[..., None])
    if mode == "dust":
        dust = srgb_to_linear(np.clip(background.ground_colour * 1.2 + 0.12, 0.0, 1.0)) * tint
        scene = scene + (dust - scene) * effect_alpha[..., None]
    elif mode == "darken":
        scene = scene * (1.0 - effect_alpha[..., None])
    else:
        scene = scene * np.maximum(1.0 + effect_alpha[..., None], 0.0)
    centre = pose.centre_x.reshape(-1, 1, 1)
    shading = 1.0 + 0.18 * light.side() * np.clip((x - centre) / (0.15 * pose.height), -1.0, 1.0)
    subject_lit = srgb_to_linear(subject_albedo) * tint * shading[..., None]

    # Display-referred layers; the composite is made here, in the space the model consumes.
    scene_d = linear_to_srgb(scene)
    subject_d = linear_to_srgb(subject_lit)
    background_d = linear_to_srgb(lit)
    matte = alpha[..., None]
    composite = subject_d * matte + scene_d * (1.0 - matte)
    foreground = subject_d * matte + FOREGROUND_GREY * (1.0 - matte)
    effect_cover = np.clip(np.abs(effect_alpha) / effect_strength, 0.0, 1.0)
    interaction = np.maximum(shadow, np.where(effect_cover > 1.0 / 255.0, effect_cover, 0.0))

    info = {
        "clip_seed": int(seed),
        "scene_seed": int(scene_seed),
        "light_seed": int(scene_seed if light_seed is None else light_seed),
        "dataset_seed": int(dataset_seed),
        "subject": subject.kind,
        "contact_effect": effect,
        "background": background.ground_kind if not use_photo else "photo",
        "photo": background.photo,
        "light": {"shadow_shear": [round(light.shear_x, 4), round(light.shear_y, 4)],
                  "shadow_strength": round(light.strength, 4), "tint": [round(float(v), 4) for v in light.tint]},
        "camera": dict(camera_info, pan_px=round(float(_pan(camera, width, height)), 3)),
        # Per frame [world x, world y, zoom] at the frame's centre: the exact camera (ground_truth_track).
        "camera_path": [[round(float(x), 4), round(float(y), 4), round(float(z), 6)]
                        for x, y, z in zip(camera.centre_x, camera.centre_y, camera.zoom)],
        "condition_index": condition_index,
        "contacts": _contacts_in_frame(contacts, camera, width, height),
        "lowest_point": _lowest_points(alpha),
    }
    return RenderedClip(
        frames=_finish(composite), mattes=_finish(alpha), foreground=_finish(foreground), scene=_finish(scene_d),
        background=_finish(background_d), interaction=_finish(interaction), condition_index=condition_index,
        info=info)


def ground_truth_track(camera_path: Sequence[Sequence[float]], width: int, height: int, reference_index: int,
                       first_frame: int = 0):
    """The exact camera track of a clip (engine/camera/track.py's CameraTrack) from its info's
    `camera_path`: frame pixel (x + 0.5) = (world - centre) * zoom + size / 2, so frame t maps onto the
    reference frame r by a scale and a shift, here in normalised coordinates."""
    from ..camera.track import REFERENCE, TRACKED, CameraTrack

    path = np.asarray(camera_path, np.float64)
    reference_x, reference_y, reference_zoom = path[reference_index]
    homographies, flags = [], []
    for index, (centre_x, centre_y, zoom) in enumerate(path):
        scale = reference_zoom / zoom
        shift_x = 0.5 - 0.5 * scale + (centre_x - reference_x) * reference_zoom / width
        shift_y = 0.5 - 0.5 * scale + (centre_y - reference_y) * reference_zoom / height
        homographies.append([[scale, 0.0, shift_x], [0.0, scale, shift_y], [0.0, 0.0, 1.0]])
        flags.append(REFERENCE if index == reference_index else TRACKED)
    frames = [first_frame + index for index in range(len(path))]
    return CameraTrack(frames, first_frame + reference_index, homographies, flags, size=(width, height),
                       method="synthetic ground truth")


def _finish(pixels: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(pixels, 0.0, 1.0), dtype=np.float32)


def _pan(camera: Camera, width: int, height: int) -> float:
    """How far the world moves across the frame, first to last frame, in frame pixels (at the centre)."""
    last = len(camera.zoom) - 1
    x_first, _ = camera.to_frame(last, float(camera.centre_x[0]), float(camera.centre_y[0]), width, height)
    return abs(x_first - width / 2.0)


def _contacts_in_frame(contacts: List[Contact], camera: Camera, width: int, height: int) -> List[dict]:
    entries = []
    for contact in contacts:
        index = int(contact.frame)
        fx, fy = camera.to_frame(index, contact.x, contact.y, width, height)
        entries.append({"index": index, "x": round(fx, 2), "y": round(fy, 2),
                        "width": round(contact.width * float(camera.zoom[index]), 2)})
    return entries


def _lowest_points(alpha: np.ndarray) -> List[Optional[List[float]]]:
    """Per frame, the centre of the subject's lowest row (matte > 0.5) in frame pixels, or None."""
    points = []
    for frame in alpha:
        rows = np.nonzero((frame > 0.5).any(axis=1))[0]
        if len(rows) == 0:
            points.append(None)
            continue
        row = int(rows[-1])
        columns = np.nonzero(frame[row] > 0.5)[0]
        points.append([round(float(columns.mean()) + 0.5, 2), float(row) + 0.5])
    return points
