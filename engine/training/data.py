"""Training data: the clip manifest, and the samples of each step.

Every random choice of a sample (which clip, which frames, which condition frame, the mask
augmentation, condition dropout, the timestep and the noise) is drawn from a generator seeded by
(seed, step, slot), where slot numbers the samples of one step across all processes. So the data order
depends on nothing but the config: a resumed run sees exactly what an uninterrupted one would have,
and any number of DataLoader workers gives the same batches.

Manifest (YAML), paths relative to the manifest's folder:

    clips:
      - frames: shots/a/plate.####.exr      # frame sequence (EXR, PNG, DPX, TIFF, JPEG)
        matte: shots/a/matte.####.png       # its matte sequence, subject = 1
        matte_channel: A                    # optional (default A; a one-channel file is taken as is)
        range: 1001-1100                    # optional (default: the frames on disk)
        colourspace: auto                   # optional: the frames' colour space (see docs/training.md)
        condition: shots/a/clean_plate.png  # optional: a condition image of this clip (e.g. the background
                                            # without the subject), used at data.condition_image_rate

or CSV with a header row naming the same columns (frames and matte required).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from actanywhere.engine import schema
from actanywhere.engine.config import read_yaml_mapping
from actanywhere.engine.errors import ActAnywhereError, ConfigError
from actanywhere.engine.schema import setting
from actanywhere.engine.sequence import FrameRange, FrameSequence
from actanywhere.engine.training.config import DataSettings, MaskAugmentSettings
from actanywhere.engine.training.mask_augment import augment_matte

VIDEO_EXTENSIONS = (".mov", ".mp4", ".m4v", ".avi", ".mkv", ".webm", ".mxf", ".mpg", ".mpeg", ".wmv")
_INTEGER_PIXEL_TYPES = ("uint8", "uint16", "int8", "int16", "uint", "int")


@dataclass
class ClipEntry:
    frames: str = setting(is_path=True, help="the clip's frame sequence, e.g. plate.####.exr")
    matte: str = setting(is_path=True, help="its matte sequence, subject = 1")
    matte_channel: str = setting("A", help="matte channel")
    range: Optional[str] = setting(None, help="frame range, e.g. 1001-1100 (default: the frames on disk)")
    colourspace: str = setting("auto", help="the frames' colour space; auto: integer files are taken as "
                                            "display-referred, float files by their header, else scene_linear")
    condition: Optional[str] = setting(None, is_path=True,
                                       help="a condition image of this clip, e.g. its background without the "
                                            "subject (same colour space as the frames)")
    condition_frame: Optional[int] = setting(None, help="the frame the condition image matches (its camera "
                                                          "framing); empty: unknown, the image is not tracked")


@dataclass
class Clip:
    """A manifest entry resolved against the disk."""

    frames: FrameSequence
    matte: FrameSequence
    matte_channel: str
    frame_numbers: List[int]
    colourspace: str
    source: str  # "manifest.yaml: clips[3]", for errors
    condition: Optional[str] = None  # a still condition image, see ClipEntry.condition
    condition_frame: Optional[int] = None  # the frame it matches, see ClipEntry.condition_frame


def _is_video(path: str) -> bool:
    return path.lower().endswith(VIDEO_EXTENSIONS)


def read_manifest(path: str) -> List[ClipEntry]:
    """The entries of a YAML or CSV manifest; errors name the file, the entry and the key."""
    path = str(path)
    base_dir = os.path.dirname(os.path.abspath(path))
    context = schema.Context(base_dir=base_dir)
    if path.lower().endswith(".csv"):
        rows = _read_csv(path)
        labels = ["row %d" % (index + 2) for index in range(len(rows))]  # row 1 is the header
    else:
        data = read_yaml_mapping(path, "clip manifest")
        unknown = sorted(set(data) - {"clips"})
        if unknown:
            raise ConfigError("%s: %s: unknown key; a manifest holds `clips`, a list of clips" % (path, unknown[0]))
        rows = data.get("clips")
        if not isinstance(rows, list):
            raise ConfigError("%s: clips: expected a list of clips (frames, matte, ...), got %r" % (path, rows))
        labels = ["clips[%d]" % index for index in range(len(rows))]
    if not rows:
        raise ConfigError("%s: the manifest lists no clips" % path)
    entries = []
    for label, row in zip(labels, rows):
        if not isinstance(row, dict):
            raise ConfigError("%s: %s: expected a mapping with frames and matte, got %r" % (path, label, row))
        try:
            entry = schema.build(ClipEntry, row, label, context)
        except schema.Invalid as error:
            raise schema.config_error(error, path)
        for key in ("frames", "matte"):
            if _is_video(getattr(entry, key)):
                raise ConfigError(
                    "%s: %s.%s: %s is a video file; this build's OpenImageIO reads no movies (no ffmpeg). "
                    "Extract its frames first, e.g. `ffmpeg -i clip.mov frames/clip.%%04d.png`, and list "
                    "the frame sequence" % (path, label, key, getattr(entry, key)))
        entries.append(entry)
    return entries


def _read_csv(path: str) -> List[Dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            rows = []
            for row in reader:
                if None in row:
                    raise ConfigError("%s: row %d: more cells than header columns" % (path, reader.line_num))
                rows.append({key.strip(): value.strip() for key, value in row.items() if value and value.strip()})
    except FileNotFoundError:
        raise ConfigError("%s: clip manifest not found; check data.manifest" % path) from None
    except (OSError, csv.Error, UnicodeDecodeError) as error:
        raise ConfigError("%s: cannot read the CSV manifest: %s" % (path, error)) from None
    return rows


def resolve_clips(manifest_path: str, min_frames: int) -> List[Clip]:
    """Check each clip on disk: sequences parse, frames and mattes exist, enough frames for a clip."""
    clips = []
    for index, entry in enumerate(read_manifest(manifest_path)):
        label = "%s: %s" % (manifest_path, "clip %d (%s)" % (index, entry.frames))
        try:
            frames = FrameSequence.parse(entry.frames)
            matte = FrameSequence.parse(entry.matte)
            if not frames.has_frame_token:
                raise ConfigError("frames has no frame token (#### or %04d): a clip is a frame sequence")
            numbers = list(FrameRange.parse(entry.range)) if entry.range else frames.existing_frames()
            missing = frames.missing_frames(numbers)
            if missing:
                raise ConfigError("frames missing on disk: %s" % FrameRange(missing))
            missing = matte.missing_frames(numbers)
            if missing:
                raise ConfigError("matte frames missing on disk: %s" % FrameRange(missing))
            if entry.condition and not os.path.isfile(entry.condition):
                raise ConfigError("condition image %s not found" % entry.condition)
        except ActAnywhereError as error:
            raise ConfigError("%s: %s" % (label, error)) from None
        if len(numbers) < min_frames:
            raise ConfigError("%s: has %d frames; a training clip needs %d (data.frames x data.frame_stride)"
                              % (label, len(numbers), min_frames))
        clips.append(Clip(frames, matte, entry.matte_channel, numbers, entry.colourspace, label, entry.condition,
                          entry.condition_frame))
    return clips


# -- reading frames at training size ----------------------------------------------------------------
def fit_to_size(pixels: np.ndarray, height: int, width: int, filter_name: str) -> np.ndarray:
    """Scale to cover (height, width) and crop the centre: the aspect ratio is kept."""
    from actanywhere.engine.media import resize_image

    source_h, source_w = pixels.shape[:2]
    if (source_h, source_w) != (height, width):
        scale = max(height / source_h, width / source_w)
        new_h, new_w = max(height, round(source_h * scale)), max(width, round(source_w * scale))
        pixels = resize_image(pixels, new_w, new_h, filter_name)
        top, left = (new_h - height) // 2, (new_w - width) // 2
        pixels = pixels[top:top + height, left:left + width]
    return np.ascontiguousarray(pixels, dtype=np.float32)


class FrameReader:
    """Reads a clip's frames (RGB, in the model's colour space) and mattes at training size."""

    def __init__(self, settings: DataSettings):
        self.settings = settings
        self._transforms = {}

    def _to_model_space(self, pixels: np.ndarray, info, clip: Clip) -> np.ndarray:
        from actanywhere.engine.media import ColourTransform

        space = clip.colourspace
        if space == "auto":
            if info.pixel_type in _INTEGER_PIXEL_TYPES:
                return pixels
            space = info.colourspace or "scene_linear"
        key = (space, self.settings.model_colourspace)
        if key not in self._transforms:
            self._transforms[key] = ColourTransform(space, self.settings.model_colourspace, self.settings.ocio_config)
        return self._transforms[key].apply(pixels)

    def rgb(self, clip: Clip, frame: int) -> np.ndarray:
        return self.image(clip, clip.frames.path(frame))

    def image(self, clip: Clip, path: str) -> np.ndarray:
        """Any image of the clip (a frame, its condition image), RGB in the model's space at training size."""
        from actanywhere.engine.media import read_image

        pixels, info = read_image(path)
        pixels = pixels[..., :3] if pixels.shape[2] >= 3 else np.repeat(pixels[..., :1], 3, axis=2)
        pixels = self._to_model_space(np.ascontiguousarray(pixels), info, clip)
        pixels = fit_to_size(pixels, self.settings.height, self.settings.width, "lanczos3")
        return np.clip(pixels, 0.0, 1.0)

    def matte(self, clip: Clip, frame: int) -> np.ndarray:
        from actanywhere.engine.media import read_matte

        matte = read_matte(clip.matte.path(frame), clip.matte_channel)
        return np.clip(fit_to_size(matte, self.settings.height, self.settings.width, "triangle"), 0.0, 1.0)


# -- the samples of a step ----------------------------------------------------------------------------
def sample_rng(seed: int, step: int, slot: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(step), int(slot)])


@dataclass
class SampleChoice:
    """The random choices of one sample, drawn before any pixel is read."""

    clip_index: int
    frame_numbers: List[int]
    condition_frame: int
    use_condition_image: bool  # the clip's own condition image instead of condition_frame
    drop_condition: bool
    timestep: int
    noise_seed: int
    augment_seed: int


def choose_sample(clips: List[Clip], seed: int, step: int, slot: int, frames: int, stride: int,
                  condition_dropout: float, num_train_timesteps: int, condition_image_rate: float = 0.0
                  ) -> SampleChoice:
    rng = sample_rng(seed, step, slot)
    clip_index = int(rng.integers(len(clips)))
    numbers = clips[clip_index].frame_numbers
    span = (frames - 1) * stride + 1
    start = int(rng.integers(0, len(numbers) - span + 1))
    # The paper's condition: a random frame of the same video, subject included (not only of the clip).
    condition_frame = numbers[int(rng.integers(len(numbers)))]
    choice = SampleChoice(
        clip_index=clip_index,
        frame_numbers=numbers[start:start + span:stride],
        condition_frame=condition_frame,
        use_condition_image=False,
        drop_condition=bool(rng.random() < condition_dropout),
        timestep=int(rng.integers(num_train_timesteps)),
        noise_seed=int(rng.integers(2**62)),
        augment_seed=int(rng.integers(2**62)),
    )
    # Drawn last, so the choices above do not depend on whether a manifest has condition images.
    choice.use_condition_image = bool(rng.random() < condition_image_rate) and bool(clips[clip_index].condition)
    return choice


class StepSamples:
    """A map-style dataset over the samples this process trains on, from `start_step` to `steps`.

    Item i is sample (step, slot) with step = start_step + i // batch_size and slot =
    rank * batch_size + i % batch_size: every process reads only its own share of each step."""

    def __init__(self, clips: List[Clip], settings: DataSettings, augment: MaskAugmentSettings, seed: int,
                 start_step: int, steps: int, batch_size: int, rank: int, condition_dropout: float,
                 num_train_timesteps: int):
        self.clips = clips
        self.settings = settings
        self.augment = augment
        self.seed = seed
        self.start_step = start_step
        self.steps = steps
        self.batch_size = batch_size
        self.rank = rank
        self.condition_dropout = condition_dropout
        self.num_train_timesteps = num_train_timesteps
        self.reader = FrameReader(settings)

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step) * self.batch_size

    def position(self, index: int):
        return self.start_step + index // self.batch_size, self.rank * self.batch_size + index % self.batch_size

    def __getitem__(self, index: int) -> dict:
        step, slot = self.position(index)
        return self.sample(step, slot)

    def sample(self, step: int, slot: int) -> dict:
        choice = choose_sample(self.clips, self.seed, step, slot, self.settings.frames, self.settings.frame_stride,
                               self.condition_dropout, self.num_train_timesteps, self.settings.condition_image_rate)
        clip = self.clips[choice.clip_index]
        frames = np.stack([self.reader.rgb(clip, number) for number in choice.frame_numbers])
        matte = np.stack([self.reader.matte(clip, number) for number in choice.frame_numbers])
        matte, applied = augment_matte(matte, np.random.default_rng(choice.augment_seed), self.augment)
        if choice.use_condition_image:
            condition = self.reader.image(clip, clip.condition)
        else:
            condition = self.reader.rgb(clip, choice.condition_frame)
        return {
            "step": step, "slot": slot, "frames": frames, "matte": matte, "condition": condition,
            "drop_condition": choice.drop_condition, "timestep": choice.timestep, "noise_seed": choice.noise_seed,
            "clip_index": choice.clip_index, "frame_numbers": choice.frame_numbers, "augmented": applied,
        }


def collate(samples: List[dict]) -> List[dict]:
    """Samples stay a list: the trainer encodes each clip with the pipeline's own encoder."""
    return samples
