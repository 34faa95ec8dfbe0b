"""The demo shot, and the preview a person looks at after running it.

The shot comes from the synthetic generator (engine/synth): a subject walking through scene A, handed
over as a compositor would (scene-linear EXR plate, an EXR matte whose data window is the subject's
bounding box as Nuke writes a roto, an sRGB PNG condition image of scene B), with the ground truth of
the same motion in scene B beside it. Frames keep Nuke's 1001 numbering.
"""
from __future__ import annotations

import os
from typing import Dict

import numpy as np

from . import shotspec
from .config import Config
from .outputs import PublishedVersion
from .media.colour import ColourTransform
from .media.image_read import read_image
from .preview import contact_sheet, write_gif, write_png
from .sequence import FrameRange, FrameSequence

DEMO_SIZE = (320, 180)
DEMO_FRAMES = 16
PREVIEW_COLUMNS = 6


def prepare_demo_shot(out_dir: str, config: Config, steps=None) -> shotspec.ShotSpec:
    """Write the demo's inputs under `out_dir`/inputs (once) and return its shot spec."""
    from .synth import write_demo_shot

    out_dir = os.path.abspath(out_dir)
    inputs = demo_inputs(out_dir)
    if inputs is None:
        inputs = write_demo_shot(os.path.join(out_dir, "inputs"), size=DEMO_SIZE, frames=DEMO_FRAMES,
                                 model_colourspace=config.colour.model_colourspace,
                                 ocio_config=config.colour.ocio_config)
        remember_inputs(out_dir, inputs)
    data = {
        "shot": inputs["shot"],
        "plate": inputs["plate"],
        "matte": inputs["matte"],
        "matte_channel": inputs["matte_channel"],
        "condition": inputs["condition"],
        "frames": inputs["frames"],
        "condition_frame": inputs.get("condition_frame"),
        "output": {"template": os.path.join(out_dir, "{shot}", "{version}", "{shot}_{pass}_{version}.####.exr")},
        "colour": {"plate_colourspace": inputs["plate_colourspace"]},
    }
    if steps is not None:
        data["sampler"] = {"steps": steps}
    spec = shotspec.resolve(data, config, source="demo shot")
    spec.save(os.path.join(out_dir, inputs["shot"] + ".yaml"))
    return spec


def demo_inputs(out_dir: str):
    """The paths of demo inputs written by an earlier run, or None."""
    import yaml

    record = os.path.join(out_dir, "inputs", "demo_inputs.yaml")
    if not os.path.isfile(record):
        return None
    with open(record, "r", encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def remember_inputs(out_dir: str, inputs: Dict[str, str]) -> None:
    import yaml

    with open(os.path.join(out_dir, "inputs", "demo_inputs.yaml"), "w", encoding="utf-8") as stream:
        yaml.safe_dump(inputs, stream)


def write_preview(spec: shotspec.ShotSpec, result: PublishedVersion, out_dir: str) -> Dict[str, str]:
    """A contact sheet (plate, matte, generated plate, comp, ground truth; the condition image) and an
    animated GIF of the plate beside the comp, next to the version. Returns their paths."""
    frames = list(FrameRange.parse(spec.frames))
    picks = [frames[i] for i in np.unique(np.linspace(0, len(frames) - 1, PREVIEW_COLUMNS).round().astype(int))]
    to_display = ColourTransform(spec.colour.plate_colourspace, spec.colour.model_colourspace, spec.colour.ocio_config)

    def display(template: str, frame: int) -> np.ndarray:
        pixels, _ = read_image(FrameSequence.parse(template).path(frame))
        return to_display.apply(pixels[..., :3])

    def matte(frame: int) -> np.ndarray:
        pixels, _ = read_image(spec.matte_sequence.path(frame))
        return pixels[..., -1]

    condition, _ = read_image(spec.condition)
    truth = (demo_inputs(out_dir) or {}).get("truth_scene")
    rows = [
        ("plate", [display(spec.plate, f) for f in picks]),
        ("matte", [matte(f) for f in picks]),
        ("condition", [condition[..., :3]]),
        ("generated bg", [display(result.sequences["bg"], f) for f in picks]),
    ]
    if "comp" in result.sequences:
        rows.append(("comp", [display(result.sequences["comp"], f) for f in picks]))
    if truth and os.path.isfile(FrameSequence.parse(truth).path(frames[0])):
        rows.append(("ground truth", [display(truth, f) for f in picks]))
    folder = os.path.dirname(result.sequences["bg"])
    paths = {
        "contact_sheet": os.path.join(folder, "%s_%s_contact_sheet.png" % (spec.shot, result.version_name)),
        "gif": os.path.join(folder, "%s_%s_preview.gif" % (spec.shot, result.version_name)),
    }
    write_png(paths["contact_sheet"], contact_sheet(rows))
    shown = result.sequences.get("comp", result.sequences["bg"])
    write_gif(paths["gif"], [np.concatenate([display(spec.plate, f), display(shown, f)], axis=1) for f in frames],
              fps=spec.output.fps or 24.0)
    return paths
