"""The demo shot: a small plate, its roto matte and a new-scene condition image, written as a
compositor would hand them over (scene-linear EXR plate, a matte whose data window is the subject's
bounding box as Nuke writes a roto, an sRGB PNG condition), then run like any other shot.

The scene is drawn procedurally so the demo needs no download: a figure walks across a meadow under a
blue sky; the condition image is a dusk scene with a low sun. Frames keep Nuke's 1001 numbering.
"""
from __future__ import annotations

import os

import numpy as np
import OpenImageIO as oiio

from . import shotspec
from .config import Config
from .media.colour import ColourTransform
from .media.exr_write import write_exr
from .media.window import Window

DEMO_SHOT = "demo010"
DEMO_FRAMES = range(1001, 1017)
DEMO_SIZE = (320, 180)  # width, height


def prepare_demo_shot(out_dir: str, config: Config, steps=None) -> shotspec.ShotSpec:
    """Write the demo's inputs under `out_dir`/inputs (once) and return its shot spec."""
    out_dir = os.path.abspath(out_dir)
    inputs = os.path.join(out_dir, "inputs")
    plate = os.path.join(inputs, "plate", DEMO_SHOT + "_plate.%04d.exr")
    matte = os.path.join(inputs, "roto", DEMO_SHOT + "_matte.####.exr")
    condition = os.path.join(inputs, "ref", "dusk.png")
    if not os.path.isfile(condition):
        _write_inputs(plate, matte, condition, config)
    data = {
        "shot": DEMO_SHOT,
        "plate": plate,
        "matte": matte,
        "matte_channel": "A",
        "condition": condition,
        "frames": "%d-%d" % (DEMO_FRAMES[0], DEMO_FRAMES[-1]),
        "output": {"template": os.path.join(out_dir, "{shot}", "{version}", "{shot}_{pass}_{version}.####.exr")},
        "colour": {"plate_colourspace": "ACEScg"},
    }
    if steps is not None:
        data["sampler"] = {"steps": steps}
    spec = shotspec.from_data(data, config, source="demo shot")
    spec.save(os.path.join(out_dir, DEMO_SHOT + ".yaml"))
    return spec


def _write_inputs(plate: str, matte: str, condition: str, config: Config) -> None:
    width, height = DEMO_SIZE
    for path in (plate, matte, condition):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    to_linear = ColourTransform(config.colour.model_colourspace, "ACEScg", config.colour.ocio_config)
    meadow = _meadow(width, height)
    for index, frame in enumerate(DEMO_FRAMES):
        figure_alpha, figure_colour = _walking_figure(width, height, index / (len(DEMO_FRAMES) - 1))
        # The figure's shadow darkens the meadow: an interaction the model is meant to regenerate.
        shadow = _shadow(figure_alpha, height)
        background = meadow * (1.0 - 0.45 * shadow[..., None])
        display = figure_colour * figure_alpha[..., None] + background * (1.0 - figure_alpha[..., None])
        write_exr(plate % frame, to_linear.apply(display), ("R", "G", "B"), colourspace="ACEScg")
        rows, columns = np.nonzero(figure_alpha > 0)
        box = Window(int(columns.min()), int(rows.min()),
                     int(columns.max() - columns.min() + 1), int(rows.max() - rows.min() + 1))
        write_exr(matte.replace("####", "%04d" % frame), figure_alpha, ("A",), data_window=box)
    dusk = (_dusk(width, height) * 255.0 + 0.5).astype(np.uint8)
    buffer = oiio.ImageBuf(oiio.ImageSpec(width, height, 3, oiio.UINT8))
    buffer.set_pixels(oiio.ROI(0, width, 0, height), dusk)
    if not buffer.write(condition):
        raise OSError("cannot write %s: %s" % (condition, buffer.geterror()))


def _grid(width: int, height: int):
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs / width, ys / height


def _meadow(width: int, height: int) -> np.ndarray:
    x, y = _grid(width, height)
    horizon = 0.55
    sky = np.stack([0.35 + 0.3 * y, 0.55 + 0.3 * y, 0.95 - 0.1 * y], axis=-1)
    texture = 0.06 * np.sin(x * 90.0 + 7.0 * np.sin(y * 40.0)) * np.sin(y * 70.0)
    ground = np.stack([0.30 + texture, 0.55 + 0.2 * (y - horizon) + texture, 0.20 + texture], axis=-1)
    image = np.where((y < horizon)[..., None], sky, ground)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _dusk(width: int, height: int) -> np.ndarray:
    x, y = _grid(width, height)
    horizon = 0.6
    sky = np.stack([0.95 - 0.5 * y, 0.55 - 0.4 * y, 0.35 + 0.2 * y], axis=-1)
    sun = np.exp(-(((x - 0.75) * 1.8) ** 2 + ((y - 0.5) * 3.2) ** 2) * 40.0)[..., None] * np.array([0.1, 0.35, 0.3])
    ground = np.stack([0.25 - 0.1 * y, 0.18 - 0.08 * y, 0.2 - 0.05 * y], axis=-1)
    image = np.where((y < horizon)[..., None], sky + sun, ground)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _walking_figure(width: int, height: int, progress: float):
    """An anti-aliased figure (head, body, two swinging legs) and its colours, at `progress` in [0, 1]
    of its walk from left to right."""
    x, y = _grid(width, height)
    x = x * width / height  # square pixels: distances in units of the frame height
    centre = 0.35 + progress * (width / height - 0.7)
    bob = 0.01 * np.sin(progress * 8 * np.pi)
    swing = 0.05 * np.sin(progress * 4 * np.pi)
    pixel = 1.0 / height

    def disc(cx, cy, rx, ry):
        distance = np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) - 1.0
        return np.clip(0.5 - distance * min(rx, ry) / pixel, 0.0, 1.0)

    head = disc(centre, 0.40 + bob, 0.035, 0.04)
    body = disc(centre, 0.55 + bob, 0.05, 0.11)
    legs = np.maximum(disc(centre - swing, 0.74, 0.018, 0.09), disc(centre + swing, 0.74, 0.018, 0.09))
    alpha = np.maximum.reduce([head, body, legs]).astype(np.float32)
    colour = np.empty((height, width, 3), np.float32)
    colour[:] = (0.8, 0.25, 0.2)  # red shirt
    colour[y < 0.44 + bob] = (0.85, 0.65, 0.5)  # skin
    colour[y > 0.64] = (0.15, 0.15, 0.35)  # dark trousers
    return alpha, colour


def _shadow(alpha: np.ndarray, height: int) -> np.ndarray:
    """The figure's alpha, squashed and sheared onto the ground behind its feet."""
    rows = np.nonzero(alpha.max(axis=1) > 0)[0]
    feet = rows.max()
    shadow = np.zeros_like(alpha)
    for row in rows:
        target = feet + (feet - row) // 4
        shift = (feet - row) // 2
        if target < height:
            shadow[target] = np.maximum(shadow[target], np.roll(alpha[row], shift))
    return shadow * (1.0 - alpha)
