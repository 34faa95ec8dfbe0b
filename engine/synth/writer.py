"""Writing synthetic clips to disk: the files of each clip, the trainer's manifest, the ground-truth
manifest of each split, the bundled demo shot and a contact sheet.

Layout of `generate_dataset(out_dir, "train", ...)`:

    out_dir/train/clips.yaml            the trainer's manifest (frames, matte, matte_channel, range, colourspace,
                                        condition: the background-only condition image)
    out_dir/train/ground_truth.yaml     per clip: the ground-truth files and what was rendered (seeds, light,
                                        contacts, lowest subject point per frame, ...)
    out_dir/train/clip_000000/frame.1001.png ...          the clip (subject composited over the scene)
                              matte.1001.png ...          subject = 1 (one channel)
                              foreground.1001.png ...     the subject over grey 0.5
                              scene.1001.png ...          ground truth: no subject, with shadow and effects
                              interaction.1001.png ...    where the shadow and contact effects lie (one channel)
                              condition_background.png    the background only, at the condition frame
                              condition_composite.png     the clip's frame at the condition frame
                              plate.1001.png ...          new-scene splits only: the plate, the same motion
                                                          and light in the clip's own scene

A new-scene split (`new_scene=True`) is a "new background" request with its answer: every file above shows
the clip in another world (synth.clips.new_scene_seed) under the plate's light, and `plate` is what the
compositor has, the subject in the original world with its real shadow. A plain split's plate is its frames.

PNG (the default) is 8-bit sRGB, display-referred: what the model consumes, so the trainer reads it with
no colour conversion. EXR (`file_format="exr"`) stores colour as half-float scene-linear ACEScg, as a
plate would be; the trainer then converts every frame through OCIO, which is slower.
"""
from __future__ import annotations

import os
import time
import uuid
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import yaml

from ..errors import ConfigError
from .. import preview
from ..preview import write_png
from ..progress import EtaClock, ProgressEvent, ignore_progress
from .clips import SPLITS, RenderedClip, clip_seed, new_scene_seed, render_clip

FILE_FORMATS = ("png", "exr")
FIRST_FRAME = 1001
LINEAR_COLOURSPACE = "ACEScg"
DISPLAY_COLOURSPACE = "sRGB Encoded Rec.709 (sRGB)"
# Ground-truth keys and the file names they stand for.
SEQUENCES = ("frames", "matte", "foreground", "scene", "clean", "interaction")
_FILE_NAMES = {"frames": "frame"}
STILLS = ("condition_background", "condition_composite")
PLATE = "plate"  # new-scene splits: the plate in the clip's own world
DEMO_SHOT = "synth010"


# -- files ----------------------------------------------------------------------------------------------
def _write_yaml(path: str, data: dict) -> None:
    temporary = "%s.%s.partial" % (path, uuid.uuid4().hex)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with open(temporary, "w", encoding="utf-8") as stream:
        yaml.dump(data, stream, Dumper=dumper, sort_keys=False, default_flow_style=None, width=110)
    os.replace(temporary, path)


class _ColourWriter:
    """Writes display-referred colour images as PNG, or as scene-linear EXR through OCIO."""

    def __init__(self, file_format: str, model_colourspace: str = DISPLAY_COLOURSPACE,
                 linear_colourspace: str = LINEAR_COLOURSPACE, ocio_config: Optional[str] = None):
        if file_format not in FILE_FORMATS:
            raise ConfigError("file format %r: use one of %s" % (file_format, ", ".join(FILE_FORMATS)))
        self.file_format = file_format
        self.linear_colourspace = linear_colourspace
        self._to_linear = None
        if file_format == "exr":
            from ..media import ColourTransform

            self._to_linear = ColourTransform(model_colourspace, linear_colourspace, ocio_config)

    @property
    def colour_manifest_space(self) -> str:
        return "auto" if self.file_format == "png" else self.linear_colourspace

    def colour(self, path: str, pixels: np.ndarray) -> None:
        if self.file_format == "png":
            write_png(path, pixels)
        else:
            from ..media import write_exr

            write_exr(path, self._to_linear.apply(np.ascontiguousarray(pixels)), ("R", "G", "B"),
                      colourspace=self.linear_colourspace)

    def mask(self, path: str, pixels: np.ndarray, channel: str = "A") -> None:
        if self.file_format == "png":
            write_png(path, pixels)
        else:
            from ..media import write_exr

            write_exr(path, pixels, (channel,))


def clip_paths(clip_id: str, file_format: str = "png") -> Dict[str, str]:
    """The clip's files relative to the split folder; sequences use #### for the frame number."""
    paths = {name: "%s/%s.####.%s" % (clip_id, _FILE_NAMES.get(name, name), file_format) for name in SEQUENCES}
    paths.update({name: "%s/%s.%s" % (clip_id, name, file_format) for name in STILLS})
    return paths


def write_clip(clip: RenderedClip, split_dir: str, clip_id: str, first_frame: int = FIRST_FRAME,
               writer: Optional[_ColourWriter] = None) -> Dict[str, str]:
    """Writes every file of `clip` under split_dir/clip_id; returns clip_paths(...)."""
    writer = writer or _ColourWriter("png")
    paths = clip_paths(clip_id, writer.file_format)
    os.makedirs(os.path.join(split_dir, clip_id), exist_ok=True)

    def frame_path(name: str, index: int) -> str:
        return os.path.join(split_dir, paths[name].replace("####", "%04d" % (first_frame + index)))

    for index in range(clip.frames.shape[0]):
        writer.colour(frame_path("frames", index), clip.frames[index])
        writer.mask(frame_path("matte", index), clip.mattes[index], "A")
        writer.colour(frame_path("foreground", index), clip.foreground[index])
        writer.colour(frame_path("scene", index), clip.scene[index])
        writer.colour(frame_path("clean", index), clip.background[index])  # no subject, shadow or effect
        writer.mask(frame_path("interaction", index), clip.interaction[index], "Y")
    writer.colour(os.path.join(split_dir, paths["condition_background"]), clip.condition_background)
    writer.colour(os.path.join(split_dir, paths["condition_composite"]), clip.condition_composite)
    return paths


def write_plate(plate_clip: RenderedClip, split_dir: str, clip_id: str, first_frame: int = FIRST_FRAME,
                writer: Optional[_ColourWriter] = None) -> str:
    """A new-scene clip's plate (the subject in its own world) beside its files; returns its path pattern."""
    writer = writer or _ColourWriter("png")
    pattern = "%s/%s.####.%s" % (clip_id, PLATE, writer.file_format)
    for index in range(plate_clip.frames.shape[0]):
        writer.colour(os.path.join(split_dir, pattern.replace("####", "%04d" % (first_frame + index))),
                      plate_clip.frames[index])
    return pattern


# -- datasets -------------------------------------------------------------------------------------------
def parse_size(text) -> Tuple[int, int]:
    """"96x64" (width x height) or a (width, height) pair."""
    if isinstance(text, (tuple, list)):
        width, height = (int(value) for value in text)
    else:
        try:
            width, height = (int(part) for part in str(text).lower().split("x"))
        except ValueError:
            raise ConfigError("size %r: write WIDTHxHEIGHT, e.g. 64x64 or 96x64" % (text,)) from None
    if width < 16 or height < 16 or width % 4 or height % 4:
        raise ConfigError("size %dx%d: width and height must be at least 16 and multiples of 4 (the tiny "
                          "model's VAE factor)" % (width, height))
    return width, height


def generate_dataset(out_dir: str, split: str = "train", count: int = 100, size=(64, 64), frames: int = 16,
                     seed: int = 0, progress: Callable[[ProgressEvent], None] = ignore_progress,
                     photos: Optional[str] = None, file_format: str = "png", first_frame: int = FIRST_FRAME,
                     start: int = 0, new_scene: bool = False) -> str:
    """Renders clips `start` .. `start + count - 1` of `split` into out_dir/split and writes its
    clips.yaml (the trainer's manifest) and ground_truth.yaml; returns the clips.yaml path. The same
    arguments always give the same bytes. `photos`: a folder of images used as backgrounds for about
    half the clips. `seed` is the dataset seed, mixed into every clip's own seed. `new_scene`: the
    ground truth in another world, with the plate in the clip's own (module docstring)."""
    if split not in SPLITS or split == "demo":
        raise ConfigError("split %r: use train, val or test" % (split,))
    if count < 1:
        raise ConfigError("count %d: generate at least one clip" % count)
    if frames < 1:
        raise ConfigError("frames %d: a clip needs at least one frame" % frames)
    width, height = parse_size(size)
    photo_files = _photo_list(photos)
    writer = _ColourWriter(file_format)
    split_dir = os.path.join(os.path.abspath(out_dir), split)
    os.makedirs(split_dir, exist_ok=True)
    last_frame = first_frame + frames - 1
    manifest_entries, truth_entries = [], []
    clock = EtaClock()
    for done, index in enumerate(range(start, start + count)):
        clip_id = "clip_%06d" % index
        seed_of_clip = clip_seed(split, index)
        plate_clip = render_clip(seed_of_clip, (width, height), frames, dataset_seed=seed, photos=photo_files)
        clip = plate_clip
        if new_scene:
            clip = render_clip(seed_of_clip, (width, height), frames, dataset_seed=seed, photos=photo_files,
                               scene_seed=new_scene_seed(seed_of_clip), light_seed=seed_of_clip)
        paths = write_clip(clip, split_dir, clip_id, first_frame, writer)
        if new_scene:
            paths["plate"] = write_plate(plate_clip, split_dir, clip_id, first_frame, writer)
        manifest_entries.append({
            "frames": paths["frames"], "matte": paths["matte"], "matte_channel": "A",
            "range": "%d-%d" % (first_frame, last_frame), "colourspace": writer.colour_manifest_space,
            "condition": paths["condition_background"],
            "condition_frame": first_frame + clip.condition_index,
        })
        truth_entries.append(_truth_entry(clip_id, index, paths, clip, first_frame))
        if new_scene:
            truth_entries[-1]["plate_scene_seed"] = plate_clip.info["scene_seed"]
        progress(ProgressEvent("synth", done + 1, count, eta_s=clock.eta(done + 1, count),
                               message="%s %s" % (split, clip_id)))
    _write_yaml(os.path.join(split_dir, "ground_truth.yaml"), {
        "split": split, "dataset_seed": int(seed), "size": [width, height], "frames": frames,
        "first_frame": first_frame, "file_format": file_format, "colourspace": writer.colour_manifest_space,
        "foreground_grey": 0.5, "new_scene": bool(new_scene), "clips": truth_entries,
    })
    manifest = os.path.join(split_dir, "clips.yaml")
    _write_yaml(manifest, {"clips": manifest_entries})
    return manifest


def _photo_list(photos: Optional[str]) -> List[str]:
    if not photos:
        return []
    from .scene import list_photos

    if not os.path.isdir(photos):
        raise ConfigError("--photos %s: not a folder; give a folder of background images" % photos)
    files = list_photos(photos)
    if not files:
        raise ConfigError("--photos %s: holds no images (png, jpg, tif, exr, dpx)" % photos)
    return files


def _truth_entry(clip_id: str, index: int, paths: Dict[str, str], clip: RenderedClip, first_frame: int) -> dict:
    info = clip.info
    entry = {"id": clip_id, "index": index}
    entry.update(paths)
    entry.update({
        "condition_frame": first_frame + info["condition_index"],
        "clip_seed": info["clip_seed"],
        "subject": info["subject"],
        "contact_effect": info["contact_effect"],
        "background": info["background"],
        "light": info["light"],
        "camera": info["camera"],
        "camera_path": info["camera_path"],
        "contacts": [dict(contact, frame=first_frame + contact.pop("index")) for contact in
                     [dict(item) for item in info["contacts"]]],
        "lowest_point": info["lowest_point"],
    })
    if info["photo"]:
        entry["photo"] = info["photo"]
    return entry


def read_ground_truth(path: str) -> dict:
    """A split's ground_truth.yaml with every file path made absolute (against the file's folder)."""
    with open(path, encoding="utf-8") as stream:
        data = yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    base = os.path.dirname(os.path.abspath(path))
    for entry in data["clips"]:
        for name in SEQUENCES + STILLS + (PLATE,):
            if name in entry:
                entry[name] = os.path.join(base, entry[name])
    return data


# -- the demo shot -----------------------------------------------------------------------------------------
def write_demo_shot(out_dir: str, size=(320, 180), frames: int = 16, first_frame: int = FIRST_FRAME,
                    seed: int = 0, new_scene_seed: Optional[int] = None, shot: str = DEMO_SHOT,
                    model_colourspace: str = DISPLAY_COLOURSPACE, plate_colourspace: str = LINEAR_COLOURSPACE,
                    ocio_config: Optional[str] = None) -> Dict[str, str]:
    """A demo shot as a compositor hands it over, plus the answer. The plate is a subject moving through
    scene A (scene-linear EXR in `plate_colourspace`); the matte an EXR whose data window is the subject's
    bounding box, as Nuke writes a roto; the condition images show scene B (another seed of the same
    generator), background-only and with the subject composited. The ground truth is the same motion and
    camera rendered in scene B: its scene without the subject (what the generated plate should be), the
    composite, and the interaction mask. Returns the paths (sequences with ####) and the frame range."""
    from ..media import ColourTransform, Window, write_exr

    width, height = parse_size(size)
    out_dir = os.path.abspath(out_dir)
    seed_a = clip_seed("demo", 0)
    seed_b = clip_seed("demo", 1) if new_scene_seed is None else new_scene_seed
    plate_clip = render_clip(seed_a, (width, height), frames, dataset_seed=seed)
    # The new world under the plate's light: the subject was lit by it, so its shadow there agrees.
    new_clip = render_clip(seed_a, (width, height), frames, dataset_seed=seed, scene_seed=seed_b, light_seed=seed_a)
    paths = {
        "plate": os.path.join(out_dir, "plate", "%s_plate.####.exr" % shot),
        "matte": os.path.join(out_dir, "roto", "%s_matte.####.exr" % shot),
        "condition": os.path.join(out_dir, "ref", "%s_condition_background.png" % shot),
        "condition_composite": os.path.join(out_dir, "ref", "%s_condition_composite.png" % shot),
        "truth_scene": os.path.join(out_dir, "truth", "%s_truth_scene.####.exr" % shot),
        "truth_composite": os.path.join(out_dir, "truth", "%s_truth_comp.####.exr" % shot),
        "truth_interaction": os.path.join(out_dir, "truth", "%s_truth_interaction.####.exr" % shot),
        "info": os.path.join(out_dir, "%s_synth.yaml" % shot),
    }
    for path in paths.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
    to_plate = ColourTransform(model_colourspace, plate_colourspace, ocio_config)

    def frame_path(key: str, index: int) -> str:
        return paths[key].replace("####", "%04d" % (first_frame + index))

    for index in range(frames):
        write_exr(frame_path("plate", index), to_plate.apply(plate_clip.frames[index]), ("R", "G", "B"),
                  colourspace=plate_colourspace)
        matte = plate_clip.mattes[index]
        rows, columns = np.nonzero(matte > 0)
        if len(rows):
            box = Window(int(columns.min()), int(rows.min()), int(columns.max() - columns.min() + 1),
                         int(rows.max() - rows.min() + 1))
        else:  # no subject in this frame: the smallest window Nuke would write
            box = Window(0, 0, 1, 1)
        write_exr(frame_path("matte", index), matte, ("A",), data_window=box)
        write_exr(frame_path("truth_scene", index), to_plate.apply(new_clip.scene[index]), ("R", "G", "B"),
                  colourspace=plate_colourspace)
        write_exr(frame_path("truth_composite", index), to_plate.apply(new_clip.frames[index]), ("R", "G", "B"),
                  colourspace=plate_colourspace)
        write_exr(frame_path("truth_interaction", index), new_clip.interaction[index], ("Y",))
    condition_index = new_clip.condition_index
    write_png(paths["condition"], new_clip.background[condition_index])
    write_png(paths["condition_composite"], new_clip.frames[condition_index])
    paths["frames"] = "%d-%d" % (first_frame, first_frame + frames - 1)
    paths["condition_frame"] = first_frame + condition_index  # the plate frame the condition image matches
    paths["matte_channel"] = "A"
    paths["plate_colourspace"] = plate_colourspace
    paths["shot"] = shot
    _write_yaml(paths["info"], {
        "shot": shot, "frames": paths["frames"], "size": [width, height], "dataset_seed": int(seed),
        "condition_frame": first_frame + condition_index,
        "plate": _frame_info(plate_clip.info, first_frame), "new_scene": _frame_info(new_clip.info, first_frame),
        "files": {key: value for key, value in paths.items() if key != "info"},
    })
    return paths


def _frame_info(info: dict, first_frame: int) -> dict:
    info = dict(info)
    info["contacts"] = [dict(contact, frame=first_frame + contact["index"]) for contact in info["contacts"]]
    for contact in info["contacts"]:
        del contact["index"]
    info["condition_frame"] = first_frame + info.pop("condition_index")
    return info


# -- a contact sheet ----------------------------------------------------------------------------------------
def contact_sheet(clip: RenderedClip, columns: int = 6, scale: int = 2) -> np.ndarray:
    """An RGB image of one clip: rows frame, foreground, matte, scene (ground truth), interaction, over
    `columns` frames spread through the clip; the two condition images close the first two rows."""
    picks = np.unique(np.linspace(0, clip.frames.shape[0] - 1, columns).round().astype(int))
    rows = [
        ("frame | cond. bg", [clip.frames[i] for i in picks] + [clip.condition_background]),
        ("fg | cond. comp", [clip.foreground[i] for i in picks] + [clip.condition_composite]),
        ("matte", [clip.mattes[i] for i in picks]),
        ("scene (GT)", [clip.scene[i] for i in picks]),
        ("interaction", [clip.interaction[i] for i in picks]),
    ]
    return preview.contact_sheet(rows, scale=scale)


# -- the command line --------------------------------------------------------------------------------------
def run_synth(out_dir: str, split: str = "train", count: int = 100, size: str = "64x64", frames: int = 16,
              seed: int = 0, photos: Optional[str] = None, file_format: str = "png", demo: bool = False,
              progress: Optional[Callable[[ProgressEvent], None]] = None, log: Callable[[str], None] = print,
              new_scene: bool = False) -> int:
    """`actanywhere synth OUT_DIR --split train --count N [--size WxH] [--frames N] [--seed S]
    [--photos DIR] [--format png|exr] [--new-scene] [--demo]`: writes the split (or, with `demo`, the demo shot at
    `size`, 320x180 unless given) and logs where. Returns the exit status (0)."""
    started = time.monotonic()
    if demo:
        demo_size = (320, 180) if size in (None, "64x64") else size
        paths = write_demo_shot(out_dir, size=demo_size, frames=frames, seed=seed)
        log("demo shot %s, frames %s: plate %s, matte %s, condition %s (ground truth in %s)" % (
            paths["shot"], paths["frames"], paths["plate"], paths["matte"], paths["condition"],
            os.path.dirname(paths["truth_scene"])))
        return 0
    manifest = generate_dataset(out_dir, split, count, size, frames, seed, progress or ignore_progress,
                                photos=photos, file_format=file_format, new_scene=new_scene)
    log("%d %s clips in %.1f s: %s (ground truth: %s)" % (
        count, split, time.monotonic() - started, manifest, os.path.join(os.path.dirname(manifest), "ground_truth.yaml")))
    return 0
