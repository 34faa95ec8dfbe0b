"""The pieces of a synthetic scene: textures and backgrounds, an articulated subject, its cast shadow, its
contact effects, and the camera. Every function draws from the numpy Generator it is given, so a clip is
a pure function of its seed.

Coordinates: a clip lives on a world canvas larger than the frame, measured in world pixels (one world
pixel is one frame pixel at zoom 1); y grows downwards. The ground is the part of the canvas below the
horizon; the subject stands on a ground line `ground_y`. All drawing is vectorised over frames: arrays of
per-frame values have shape (T, 1, 1) and pixel grids (T, H, W).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".dpx")


# -- colour --------------------------------------------------------------------------------------------
def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0.0, 1.0)
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0.0, 1.0)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1.0 / 2.4) - 0.055).astype(np.float32)


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    """A display-referred RGB colour from hue in [0, 1)."""
    k = (hue * 6.0 + np.array([5.0, 3.0, 1.0])) % 6.0
    return (value * (1.0 - saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))).astype(np.float32)


# -- textures ------------------------------------------------------------------------------------------
def _smooth_upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """A (gh, gw) grid stretched over (height, width) with smoothstep interpolation."""
    grid_h, grid_w = grid.shape
    ys = np.linspace(0.0, grid_h - 1.0, height)
    xs = np.linspace(0.0, grid_w - 1.0, width)
    y0 = np.minimum(ys.astype(int), grid_h - 2)
    x0 = np.minimum(xs.astype(int), grid_w - 2)
    fy = ys - y0
    fx = xs - x0
    fy = (fy * fy * (3.0 - 2.0 * fy))[:, None]
    fx = (fx * fx * (3.0 - 2.0 * fx))[None, :]
    top = grid[y0][:, x0] * (1.0 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1.0 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1.0 - fy) + bottom * fy


def value_noise(rng: np.random.Generator, height: int, width: int, cell: float, octaves: int = 4,
                persistence: float = 0.5) -> np.ndarray:
    """Multi-scale value noise in [0, 1]: `octaves` layers, the first with features about `cell` pixels
    wide, each next one half as wide and `persistence` times as strong."""
    total = np.zeros((height, width), np.float64)
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        size = cell / 2 ** octave
        grid_h = max(2, int(np.ceil(height / max(size, 1.0))) + 1)
        grid_w = max(2, int(np.ceil(width / max(size, 1.0))) + 1)
        total += amplitude * _smooth_upsample(rng.random((grid_h, grid_w)), height, width)
        norm += amplitude
        amplitude *= persistence
    total /= norm
    # Stretch to use the whole range: averaged octaves bunch up around 0.5.
    low, high = np.percentile(total, (1.0, 99.0))
    return np.clip((total - low) / max(high - low, 1e-6), 0.0, 1.0).astype(np.float32)


def sample_bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray, wrap: bool = False) -> np.ndarray:
    """`image` (h, w, c) at pixel-centre coordinates x, y (broadcast together); edges clamp or wrap."""
    height, width = image.shape[:2]
    u = x - 0.5
    v = y - 0.5
    u0 = np.floor(u)
    v0 = np.floor(v)
    fu = (u - u0)[..., None].astype(np.float32)
    fv = (v - v0)[..., None].astype(np.float32)
    u0 = u0.astype(np.int64)
    v0 = v0.astype(np.int64)
    if wrap:
        u0, u1 = u0 % width, (u0 + 1) % width
        v0, v1 = v0 % height, (v0 + 1) % height
    else:
        u1 = np.clip(u0 + 1, 0, width - 1)
        v1 = np.clip(v0 + 1, 0, height - 1)
        u0 = np.clip(u0, 0, width - 1)
        v0 = np.clip(v0, 0, height - 1)
    top = image[v0, u0] * (1.0 - fu) + image[v0, u1] * fu
    bottom = image[v1, u0] * (1.0 - fu) + image[v1, u1] * fu
    return top * (1.0 - fv) + bottom * fv


# -- backgrounds ---------------------------------------------------------------------------------------
GROUND_HUES = {  # (hue, saturation, value) ranges of the ground's base colour, display-referred
    "grass": ((0.20, 0.33), (0.35, 0.7), (0.35, 0.65)),
    "sand": ((0.08, 0.14), (0.25, 0.55), (0.55, 0.85)),
    "asphalt": ((0.0, 1.0), (0.0, 0.12), (0.25, 0.5)),
    "soil": ((0.03, 0.09), (0.35, 0.65), (0.3, 0.55)),
    "snow": ((0.5, 0.65), (0.0, 0.12), (0.75, 0.95)),
    "water": ((0.48, 0.6), (0.35, 0.7), (0.3, 0.6)),
}


@dataclass
class Background:
    """The world canvas (display-referred albedo, h x w x 3) and where its ground lies."""

    canvas: np.ndarray
    horizon_y: float
    ground_kind: str
    ground_colour: np.ndarray  # its mean colour (display-referred), for dust
    photo: Optional[str] = None

    def ground_weight(self, y: np.ndarray) -> np.ndarray:
        """1 on the ground, 0 in the sky, a soft pixel-wide step at the horizon."""
        return np.clip(y - self.horizon_y + 0.5, 0.0, 1.0)


def _ellipses(rng: np.random.Generator, canvas: np.ndarray, region: np.ndarray, count: int, size: float,
              base: np.ndarray) -> None:
    """Paints `count` soft ellipses (rocks, bushes, puddles) of colours near `base` where `region` is set."""
    height, width = canvas.shape[:2]
    ys, xs = np.nonzero(region)
    if len(ys) == 0:
        return
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    for _ in range(count):
        pick = rng.integers(len(ys))
        cx, cy = xs[pick] + 0.5, ys[pick] + 0.5
        rx = size * rng.uniform(0.4, 1.6)
        ry = rx * rng.uniform(0.25, 0.6)  # flattened by perspective
        distance = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
        alpha = np.clip((1.0 - distance) * min(rx, ry), 0.0, 1.0)[..., None] * rng.uniform(0.5, 1.0)
        colour = np.clip(base * rng.uniform(0.5, 1.5, 3), 0.0, 1.0)
        canvas[:] = canvas * (1.0 - alpha) + colour * alpha


def _skyline(rng: np.random.Generator, canvas: np.ndarray, horizon: float, unit: float) -> None:
    """Blocks standing on the horizon (buildings, hills, trees at a distance)."""
    height, width = canvas.shape[:2]
    xs = np.arange(width) + 0.5
    yy = np.arange(height)[:, None] + 0.5
    x = 0.0
    hills = rng.random() < 0.5
    base = _hsv(rng.random(), rng.uniform(0.1, 0.5), rng.uniform(0.2, 0.6))
    while x < width:
        block_w = unit * rng.uniform(0.15, 0.6)
        block_h = unit * rng.uniform(0.05, 0.35)
        colour = np.clip(base * rng.uniform(0.7, 1.3), 0.0, 1.0)
        if hills:
            centre = x + block_w / 2
            top = horizon - block_h * np.sqrt(np.clip(1.0 - ((xs - centre) / block_w) ** 2, 0.0, 1.0))
            columns = np.abs(xs - centre) < block_w
        else:
            top = np.full(width, horizon - block_h)
            columns = (xs >= x) & (xs < x + block_w)
        alpha = (np.clip(yy - top[None, :] + 0.5, 0.0, 1.0) * (yy < horizon + 0.5) * columns[None, :])[..., None]
        canvas[:] = canvas * (1.0 - alpha) + colour * alpha
        x += block_w * rng.uniform(0.7, 1.4)


def procedural_background(rng: np.random.Generator, width: int, height: int, horizon: float, unit: float
                          ) -> Background:
    """Sky (gradient, clouds, a skyline) over textured ground (multi-scale noise, a depth gradient, stripes
    or shapes). `unit` is the frame height in world pixels: feature sizes follow it."""
    yy = (np.arange(height, dtype=np.float32)[:, None, None] + 0.5)
    sky_top = _hsv(rng.uniform(0.5, 0.7), rng.uniform(0.2, 0.7), rng.uniform(0.5, 0.95))
    sky_low = _hsv(rng.uniform(0.0, 0.7), rng.uniform(0.05, 0.4), rng.uniform(0.6, 1.0))
    if rng.random() < 0.25:  # dusk
        sky_low = _hsv(rng.uniform(0.0, 0.1), rng.uniform(0.4, 0.8), rng.uniform(0.7, 1.0))
    ramp = np.clip(yy / max(horizon, 1.0), 0.0, 1.0)
    sky = sky_top * (1.0 - ramp) + sky_low * ramp
    clouds = value_noise(rng, height, width, unit * rng.uniform(0.3, 0.8), octaves=3)[..., None]
    sky = sky + rng.uniform(0.0, 0.35) * np.clip(clouds - 0.45, 0.0, 1.0) * (1.0 - sky)
    sky = np.broadcast_to(sky, (height, width, 3)).copy()
    if rng.random() < 0.75:
        _skyline(rng, sky, horizon, unit)

    kind = str(rng.choice(sorted(GROUND_HUES)))
    hue, saturation, value = (rng.uniform(*limits) for limits in GROUND_HUES[kind])
    ground_colour = _hsv(hue % 1.0, saturation, value)
    detail = value_noise(rng, height, width, unit * rng.uniform(0.08, 0.3), octaves=4)[..., None]
    large = value_noise(rng, height, width, unit * rng.uniform(0.5, 1.2), octaves=2)[..., None]
    contrast = rng.uniform(0.15, 0.5)
    ground = ground_colour * (1.0 - contrast + contrast * 2.0 * detail) * (0.8 + 0.4 * large)
    depth = np.clip((yy - horizon) / max(height - horizon, 1.0), 0.0, 1.0)
    ground = ground * (1.0 + rng.uniform(-0.35, 0.25) * (1.0 - depth))  # haze or darkening to the horizon
    ground = np.broadcast_to(ground, (height, width, 3)).copy()
    below = (yy[..., 0] > horizon + 1.0) & np.ones((height, width), bool)
    if rng.random() < 0.35:  # stripes across the ground (a road, furrows, tiles), narrowing to the horizon
        period = unit * rng.uniform(0.06, 0.2)
        warped = np.maximum(yy - horizon, 0.0) ** 1.3 / max(period, 1.0)
        stripes = (np.sin(warped) > rng.uniform(0.3, 0.8)).astype(np.float32)
        ground = ground * (1.0 - rng.uniform(0.1, 0.3) * stripes)
    _ellipses(rng, ground, below, int(rng.integers(0, 8)), unit * rng.uniform(0.04, 0.12), ground_colour)

    image = np.where((yy > horizon), ground, sky)
    # Anti-alias the horizon row.
    row = int(np.floor(horizon))
    if 0 <= row < height:
        fraction = horizon - row
        image[row] = sky[row] * fraction + ground[row] * (1.0 - fraction)
    return Background(np.clip(image, 0.0, 1.0).astype(np.float32), float(horizon), kind,
                      np.clip(ground_colour, 0.0, 1.0))


def list_photos(directory: str) -> List[str]:
    """The image files of a folder (not recursive), sorted so that a seed picks the same one each time."""
    names = sorted(name for name in os.listdir(directory) if name.lower().endswith(PHOTO_EXTENSIONS)
                   and not name.startswith("."))
    return [os.path.join(directory, name) for name in names]


def photo_background(rng: np.random.Generator, photo: str, width: int, height: int, horizon: float) -> Background:
    """A photo covering the canvas (scaled to cover, centre-cropped, display-referred). The horizon is
    the clip's chosen line: shadows and contact effects fall below it."""
    from ..media import read_image
    from ..training.data import fit_to_size

    pixels, info = read_image(photo)
    pixels = pixels[..., :3] if pixels.shape[2] >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
    if not info.pixel_type.startswith(("uint", "int")):
        pixels = linear_to_srgb(pixels)  # a float photo is taken as scene-linear Rec.709
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    canvas = fit_to_size(np.clip(pixels, 0.0, 1.0), height, width, "triangle")
    below = canvas[int(min(height - 1, horizon + 1)):]
    mean = below.reshape(-1, 3).mean(axis=0) if below.size else np.full(3, 0.5, np.float32)
    return Background(canvas, float(horizon), "photo", mean.astype(np.float32), photo=photo)


# -- the subject ----------------------------------------------------------------------------------------
@dataclass
class Part:
    """One rigid piece of the subject for every frame: a capsule from (ax, ay) to (bx, by) with radius r,
    or an ellipse centred on (ax, ay) with radii (r, ry) when `ry` is set. Arrays of shape (T, 1, 1)."""

    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    r: np.ndarray
    colour: np.ndarray  # display-referred RGB
    ry: Optional[np.ndarray] = None

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Signed distance (approximate for ellipses) from each point to the part's outline."""
        if self.ry is not None:
            scale = np.minimum(self.r, self.ry)
            return (np.sqrt(((x - self.ax) / self.r) ** 2 + ((y - self.ay) / self.ry) ** 2) - 1.0) * scale
        dx, dy = self.bx - self.ax, self.by - self.ay
        length2 = np.maximum(dx * dx + dy * dy, 1e-9)
        along = np.clip(((x - self.ax) * dx + (y - self.ay) * dy) / length2, 0.0, 1.0)
        return np.hypot(x - self.ax - along * dx, y - self.ay - along * dy) - self.r

    def bottom(self) -> np.ndarray:
        """The lowest y of the part per frame, shape (T,)."""
        if self.ry is not None:
            return (self.ay + self.ry).reshape(-1)
        return (np.maximum(self.ay, self.by) + self.r).reshape(-1)


@dataclass
class Foot:
    """A point of the subject that touches the ground: its x and its lowest y per frame, shape (T,)."""

    x: np.ndarray
    bottom: np.ndarray
    width: float


@dataclass
class SubjectPose:
    parts: List[Part]  # back to front
    feet: List[Foot]
    centre_x: np.ndarray  # (T,) where the subject is, for the camera
    height: float  # world pixels, standing


@dataclass
class Subject:
    """A silhouette with its own texture and articulation, moving along a path on the ground line."""

    kind: str  # "walker" or "hopper"
    height: float
    start_x: float
    speed: float  # world pixels per frame, signed
    phase: float
    cadence: float  # radians per frame of the gait cycle
    colours: List[np.ndarray]
    texture: np.ndarray  # (h, w, 1) value noise tile in [0, 1], wrapped
    texture_scale: float
    proportions: dict = field(default_factory=dict)

    def pose(self, frames: int, ground_y: float) -> SubjectPose:
        t = np.arange(frames, dtype=np.float32)
        if self.kind == "walker":
            return self._walker(t, ground_y)
        return self._hopper(t, ground_y)

    def _walker(self, t: np.ndarray, ground_y: float) -> SubjectPose:
        p, h = self.proportions, self.height
        direction = 1.0 if self.speed >= 0 else -1.0
        phase = self.phase + self.cadence * t
        centre = self.start_x + self.speed * t
        leg = p["leg"] * h
        foot_r = p["limb"] * h * 0.9
        bob = 0.025 * h * np.abs(np.sin(phase))
        hip_y = ground_y - leg - foot_r + bob * 0.6
        neck_y = hip_y - p["torso"] * h
        head_r = p["head"] * h
        parts_back, parts_front, feet = [], [], []
        for side, layer in ((0, parts_back), (1, parts_front)):
            swing = np.sin(phase + side * np.pi)
            forward = np.cos(phase + side * np.pi)  # > 0: the leg swings forward, foot in the air
            lift = 0.22 * leg * np.clip(forward, 0.0, 1.0) ** 1.5
            foot_x = centre + direction * p["stride"] * leg * swing
            foot_y = ground_y - foot_r - lift
            knee_x = (centre + foot_x) / 2 + direction * 0.25 * leg * np.clip(forward, 0.0, 1.0)
            knee_y = (hip_y + foot_y) / 2
            limb = p["limb"] * h
            shade = 0.8 if side == 0 else 1.0
            layer.append(_capsule(centre, hip_y, knee_x, knee_y, limb * 1.1, self.colours[2] * shade))
            layer.append(_capsule(knee_x, knee_y, foot_x, foot_y, limb, self.colours[2] * shade))
            layer.append(_capsule(foot_x, foot_y, foot_x + direction * limb * 1.2, foot_y, foot_r,
                                  self.colours[3] * shade))
            arm_swing = -0.7 * swing
            shoulder_y = neck_y + 0.1 * h
            hand_x = centre + direction * 0.32 * leg * arm_swing
            hand_y = shoulder_y + p["arm"] * h * np.sqrt(np.clip(1.0 - (0.32 * arm_swing) ** 2, 0.2, 1.0))
            layer.append(_capsule(centre, shoulder_y, hand_x, hand_y, limb * 0.8, self.colours[1] * shade))
            feet.append(Foot(_flat(foot_x + direction * limb * 0.6), _flat(foot_y + foot_r), 2.0 * limb + foot_r))
        torso = _capsule(centre, hip_y, centre, neck_y, p["body"] * h, self.colours[0])
        head = _capsule(centre + direction * 0.02 * h, neck_y - head_r * 0.9, centre + direction * 0.02 * h,
                        neck_y - head_r * 0.9, head_r, self.colours[4])
        # The back arm and leg, the torso, then the front leg, the head and the front arm.
        parts = parts_back + [torso] + parts_front[:3] + [head] + parts_front[3:]
        return SubjectPose(parts, feet, _flat(centre), h)

    def _hopper(self, t: np.ndarray, ground_y: float) -> SubjectPose:
        p, h = self.proportions, self.height
        direction = 1.0 if self.speed >= 0 else -1.0
        phase = self.phase + self.cadence * t
        centre = self.start_x + self.speed * t
        # Airborne for most of the cycle, resting on the ground around every landing (so a frame catches it).
        bounce = np.clip((np.abs(np.sin(phase)) - 0.35) / 0.65, 0.0, 1.0) ** 0.8
        squash = 0.2 * np.clip(1.0 - bounce / 0.2, 0.0, 1.0)  # flattened on the ground
        rx = p["body"] * h * (1.0 + squash)
        ry = p["body"] * h * 1.15 * (1.0 - squash)
        height_above = p["jump"] * h * bounce
        cy = ground_y - ry - height_above
        body = _ellipse(centre, cy, rx, ry, self.colours[0])
        eye_x = centre + direction * rx * 0.45
        eye = _capsule(eye_x, cy - ry * 0.35, eye_x, cy - ry * 0.35, 0.18 * rx, self.colours[4])
        # A tail or antenna that trails and whips with the bounce: the articulation.
        whip = 0.6 * np.cos(phase * 2.0)
        root_x, root_y = centre - direction * rx * 0.6, cy - ry * 0.55
        tip_x = root_x - direction * p["tail"] * h * np.cos(0.7 + whip)
        tip_y = root_y - p["tail"] * h * np.sin(0.7 + whip)
        tail = _capsule(root_x, root_y, tip_x, tip_y, 0.05 * h, self.colours[1])
        feet_parts = [_ellipse(centre + offset * rx, cy + ry * 0.85 - 0.5, 0.22 * rx, 0.15 * ry + 0.5, self.colours[3])
                      for offset in (-0.45, 0.45)]
        feet = [Foot(_flat(centre), _flat(cy + ry), float(np.mean(rx)) * 1.4)]
        return SubjectPose([tail] + feet_parts + [body, eye], feet, _flat(centre), h)


def _per_frame(*values) -> List[np.ndarray]:
    arrays = np.broadcast_arrays(*[np.asarray(value, np.float32) for value in values])
    return [np.ascontiguousarray(array).reshape(-1, 1, 1) for array in arrays]


def _capsule(ax, ay, bx, by, r, colour) -> Part:
    return Part(*_per_frame(ax, ay, bx, by, r), colour=np.asarray(colour, np.float32))


def _ellipse(cx, cy, rx, ry, colour) -> Part:
    cx, cy, rx, ry = _per_frame(cx, cy, rx, ry)
    return Part(cx, cy, cx, cy, rx, np.asarray(colour, np.float32), ry=ry)


def _flat(values) -> np.ndarray:
    return np.asarray(values, np.float32).reshape(-1)


def random_subject(rng: np.random.Generator, unit: float, frames: int) -> Subject:
    """A walker (legs, arms, head) or a hopper (a bouncing body with a tail) of random size, colours,
    speed and gait. `unit` is the frame height in world pixels."""
    kind = "walker" if rng.random() < 0.65 else "hopper"
    hue = rng.random()
    colours = [_hsv((hue + shift) % 1.0, rng.uniform(0.3, 0.9), rng.uniform(0.35, 0.95))
               for shift in (0.0, rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.9), rng.uniform(0.0, 1.0))]
    colours.append(_hsv(rng.uniform(0.02, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.4, 0.9)))  # skin / eye
    if kind == "walker":
        height = unit * rng.uniform(0.42, 0.62)
        proportions = {"leg": rng.uniform(0.4, 0.48), "torso": rng.uniform(0.26, 0.32),
                       "head": rng.uniform(0.07, 0.1), "limb": rng.uniform(0.035, 0.055),
                       "body": rng.uniform(0.07, 0.11), "arm": rng.uniform(0.28, 0.36),
                       "stride": rng.uniform(0.3, 0.5)}
        cadence = rng.uniform(2 * np.pi / 12, 2 * np.pi / 6)  # a step every 3 to 6 frames
        speed = proportions["stride"] * proportions["leg"] * height * cadence / np.pi * rng.uniform(0.8, 1.3)
    else:
        height = unit * rng.uniform(0.45, 0.6)
        proportions = {"body": rng.uniform(0.16, 0.24), "jump": rng.uniform(0.25, 0.55), "tail": rng.uniform(0.2, 0.35)}
        cadence = rng.uniform(np.pi / 9, np.pi / 5)  # a landing every 5 to 9 frames
        speed = unit * rng.uniform(0.01, 0.03)
    speed *= 1.0 if rng.random() < 0.5 else -1.0
    texture = value_noise(rng, 24, 24, rng.uniform(3.0, 8.0), octaves=2)[..., None]
    if rng.random() < 0.4:  # stripes woven into the texture
        texture = 0.5 * texture + 0.5 * (np.sin(np.arange(24)[:, None, None] * rng.uniform(0.8, 1.6)) > 0)
    return Subject(kind, float(height), 0.0, float(speed), float(rng.uniform(0, 2 * np.pi)), float(cadence),
                   colours, texture.astype(np.float32), float(height * rng.uniform(0.1, 0.25)), proportions)


def render_subject(pose: SubjectPose, x: np.ndarray, y: np.ndarray, softness: np.ndarray,
                   subject: Optional[Subject] = None, want_colour: bool = True):
    """Coverage (T, H, W) of the subject at world points (x, y), anti-aliased over `softness` world
    pixels, and (when `want_colour`) its display-referred albedo (T, H, W, 3), textured."""
    alpha = np.zeros(np.broadcast_shapes(x.shape, y.shape), np.float32)
    colour = np.zeros(alpha.shape + (3,), np.float32) if want_colour else None
    for part in pose.parts:
        coverage = np.clip(0.5 - part.distance(x, y) / softness, 0.0, 1.0).astype(np.float32)
        if want_colour:
            colour += (part.colour - colour) * coverage[..., None]  # back to front, "over"
        alpha = np.maximum(alpha, coverage)
    if want_colour and subject is not None:
        centre = pose.centre_x.reshape(-1, 1, 1)
        local_x = (x - centre) / subject.texture_scale * 4.0
        local_y = y / subject.texture_scale * 4.0
        grain = sample_bilinear(subject.texture, local_x, local_y, wrap=True)
        colour = colour * (0.75 + 0.5 * grain)
    return alpha, colour


# -- shadow -------------------------------------------------------------------------------------------
@dataclass
class Light:
    """A directional light: the shadow of a point `height` above the ground line falls at
    (x + shear_x * height, ground_y + shear_y * height). shear_y > 0 throws it towards the camera (down
    the frame), < 0 away from it (up towards the horizon)."""

    shear_x: float
    shear_y: float
    strength: float  # the fraction of light the shadow removes (the direct part)
    penumbra: float
    tint: np.ndarray  # linear RGB multiplier shared by subject and scene

    def side(self) -> float:
        """+1 when the light comes from the right of the frame (shadow thrown to the left)."""
        return -1.0 if self.shear_x > 0 else 1.0


def random_light(rng: np.random.Generator) -> Light:
    shear_x = rng.uniform(0.2, 1.0) * (1.0 if rng.random() < 0.5 else -1.0)
    shear_y = rng.uniform(0.25, 0.65) * (1.0 if rng.random() < 0.6 else -1.0)
    warmth = rng.uniform(-1.0, 1.0)
    tint = np.array([1.0 + 0.25 * warmth, 1.0 + 0.05 * rng.uniform(-1, 1), 1.0 - 0.25 * warmth], np.float32)
    tint *= rng.uniform(0.75, 1.15) / tint.mean()
    return Light(float(shear_x), float(shear_y), float(rng.uniform(0.35, 0.7)), float(rng.uniform(0.5, 3.0)), tint)


def render_shadow(pose: SubjectPose, light: Light, x: np.ndarray, y: np.ndarray, ground_y: float,
                  pixel: np.ndarray) -> np.ndarray:
    """The subject's silhouette projected onto the ground plane along the light: for each ground point,
    the coverage of the subject at the point that casts onto it, softened with height (penumbra)."""
    height = (y - ground_y) / light.shear_y  # how high above the ground the casting point is
    source_x = x - light.shear_x * height
    source_y = ground_y - height
    relative = np.clip(height / pose.height, 0.0, 1.5)
    softness = pixel * (1.0 + light.penumbra * relative) / np.sqrt(abs(light.shear_y))
    shadow, _ = render_subject(pose, source_x, source_y, softness, want_colour=False)
    # Only what stands above the ground casts; fade out below the contact line over a pixel.
    return shadow * np.clip(height / pixel + 1.0, 0.0, 1.0)


# -- contact effects --------------------------------------------------------------------------------------
CONTACT_EFFECTS = ("dust", "ripples", "footprints")
# Which contact effect each ground shows, with its odds: water ripples, snow and sand keep prints, dry
# ground raises dust. A photo background may show any.
EFFECT_ODDS = {
    "grass": (0.6, 0.0, 0.4), "sand": (0.5, 0.0, 0.5), "asphalt": (0.85, 0.15, 0.0), "soil": (0.5, 0.0, 0.5),
    "snow": (0.3, 0.0, 0.7), "water": (0.0, 1.0, 0.0), "photo": (0.4, 0.3, 0.3),
}


def random_effect(rng: np.random.Generator, ground_kind: str) -> str:
    odds = np.asarray(EFFECT_ODDS.get(ground_kind, (1.0, 1.0, 1.0)), np.float64)
    return CONTACT_EFFECTS[int(rng.choice(len(CONTACT_EFFECTS), p=odds / odds.sum()))]


@dataclass
class Contact:
    """A moment the subject lands on the ground: frame index (0-based, may be fractional), world point."""

    frame: float
    x: float
    y: float
    width: float


def find_contacts(pose: SubjectPose, ground_y: float, tolerance: float) -> List[Contact]:
    """Each landing of each foot: the first frame of every run of frames it rests on the ground."""
    contacts = []
    for foot in pose.feet:
        down = foot.bottom >= ground_y - tolerance
        for index in np.nonzero(down & ~np.concatenate([[False], down[:-1]]))[0]:
            contacts.append(Contact(float(index), float(foot.x[index]), ground_y, foot.width))
    return sorted(contacts, key=lambda contact: (contact.frame, contact.x))


def render_contacts(effect: str, contacts: Sequence[Contact], frames: int, x: np.ndarray, y: np.ndarray,
                    pixel: np.ndarray, unit: float, strength: float):
    """The effect's coverage (T, H, W) and how it changes the ground: returns (alpha, mode), mode "dust"
    (mix towards a dust colour), "darken" (footprints) or "ripple" (a ring that brightens and darkens).
    For ripples alpha is signed: > 0 brightens, < 0 darkens."""
    shape = np.broadcast_shapes(x.shape, y.shape)
    alpha = np.zeros(shape, np.float32)
    t = np.arange(frames, dtype=np.float32).reshape(-1, 1, 1)
    for contact in contacts:
        age = t - contact.frame
        started = (age >= 0).astype(np.float32)
        dx = x - contact.x
        dy = y - contact.y
        if effect == "dust":
            radius = contact.width * (0.7 + 0.55 * np.maximum(age, 0.0))
            rise = 0.35 * radius  # puffs drift up and spread
            blob = np.exp(-((dx / radius) ** 2 + ((dy + rise) / (0.55 * radius)) ** 2))
            fade = np.exp(-np.maximum(age, 0.0) / 3.0)
            alpha = np.maximum(alpha, strength * blob * fade * started)
        elif effect == "ripples":
            radius = contact.width * (0.5 + 0.4 * np.maximum(age, 0.0))
            distance = np.sqrt(dx ** 2 + (dy / 0.35) ** 2)
            ring = np.exp(-((distance - radius) / (0.15 * contact.width + pixel)) ** 2)
            inner = np.exp(-((distance - 0.55 * radius) / (0.12 * contact.width + pixel)) ** 2)
            fade = np.exp(-np.maximum(age, 0.0) / 3.5) * started
            alpha = alpha + strength * (ring - 0.6 * inner) * fade
        else:  # footprints: stay where the foot landed
            rx = 0.45 * contact.width
            ry = 0.15 * contact.width + 0.5
            distance = np.sqrt((dx / rx) ** 2 + ((dy - 0.5 * ry) / ry) ** 2)
            print_alpha = np.clip((1.0 - distance) * np.minimum(rx, ry) / pixel + 0.5, 0.0, 1.0)
            alpha = np.maximum(alpha, strength * print_alpha * started)
    mode = {"dust": "dust", "ripples": "ripple", "footprints": "darken"}[effect]
    return alpha.astype(np.float32), mode


# -- camera -------------------------------------------------------------------------------------------
@dataclass
class Camera:
    """Per frame, the world point at the frame's centre and the zoom (frame pixels per world pixel)."""

    centre_x: np.ndarray  # (T,)
    centre_y: np.ndarray
    zoom: np.ndarray

    def world_grid(self, width: int, height: int):
        """World coordinates of every frame pixel's centre: x (T, 1, W), y (T, H, 1), and the size of a
        frame pixel in world pixels (T, 1, 1)."""
        zoom = self.zoom.reshape(-1, 1, 1)
        columns = (np.arange(width, dtype=np.float32) + 0.5 - width / 2.0).reshape(1, 1, -1)
        rows = (np.arange(height, dtype=np.float32) + 0.5 - height / 2.0).reshape(1, -1, 1)
        x = self.centre_x.reshape(-1, 1, 1) + columns / zoom
        y = self.centre_y.reshape(-1, 1, 1) + rows / zoom
        return x.astype(np.float32), y.astype(np.float32), (1.0 / zoom).astype(np.float32)

    def to_frame(self, index: int, x: float, y: float, width: int, height: int) -> Tuple[float, float]:
        """A world point in frame pixel coordinates at frame `index`."""
        zoom = float(self.zoom[index])
        return ((x - float(self.centre_x[index])) * zoom + width / 2.0,
                (y - float(self.centre_y[index])) * zoom + height / 2.0)


def follow_camera(rng: np.random.Generator, subject_x: np.ndarray, ground_y: float, width: int, height: int
                  ) -> Tuple[Camera, dict]:
    """A camera that pans with the subject (following a random fraction of its motion, plus a drift) and
    zooms in or out slowly, framing the ground line in the lower part of the frame."""
    frames = len(subject_x)
    t = np.arange(frames, dtype=np.float32)
    zoom_start = rng.uniform(1.0, 1.2)
    zoom_end = max(1.0, zoom_start * rng.uniform(0.85, 1.25))
    zoom = np.linspace(zoom_start, zoom_end, frames).astype(np.float32)
    follow = rng.uniform(0.4, 1.0)
    drift = rng.uniform(-0.006, 0.006) * width * 1.0
    offset = rng.uniform(-0.12, 0.12) * width
    centre_x = subject_x[0] + offset + follow * (subject_x - subject_x[0]) + drift * t
    feet_at = rng.uniform(0.74, 0.9)  # where the ground line sits in the frame, from the top
    centre_y = ground_y - (feet_at - 0.5) * height / zoom + rng.uniform(-0.01, 0.01) * height * t
    info = {"follow": round(float(follow), 4), "zoom": [round(float(zoom_start), 4), round(float(zoom_end), 4)],
            "feet_at": round(float(feet_at), 4)}
    return Camera(centre_x.astype(np.float32), centre_y.astype(np.float32), zoom), info
