"""The shot spec: the one contract for a generation request.

The CLI, the engine protocol, farm tasks and the Nuke panel all build and pass this object. A resolved
spec is self-contained: it carries its sampler, tiling, colour and output settings (filled from the
config where the request left them out), so the same spec gives the same result on any engine. It
serialises to YAML and JSON with a schema version. Pure Python + PyYAML (Nuke imports this).

    schema_version: 1
    shot: sh010
    plate: /shows/demo/sh010/plate/sh010_plate.%04d.exr
    matte: /shows/demo/sh010/roto/sh010_matte.####.exr
    matte_channel: A
    condition: /shows/demo/sh010/ref/beach.png
    frames: 1001-1048
    model: tiny
    sampler: {steps: 25, seed: 7}
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

import yaml

from . import schema
from .config import Config, read_yaml_mapping
from .errors import ActAnywhereError, SequenceError, ShotSpecError
from .schema import setting
from .sequence import FrameRange, FrameSequence
from .settings import CameraSettings, ColourSettings, OutputSettings, SamplerSettings, TilingSettings

SHOT_SPEC_VERSION = 1
_SHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_SHOT_NAME = 128  # it goes into file names (255 bytes with version, pass and frame) and job listings
# Sections a spec inherits from the config when it leaves them (or some of their keys) out.
INHERITED_SECTIONS = ("sampler", "tiling", "camera", "colour", "output")


@dataclass
class ShotSpec:
    shot: str = setting(help="shot name: letters, digits, _ . -")
    plate: str = setting(is_path=True, help="plate frame sequence (####, %04d, @ or $F4)")
    matte: str = setting(is_path=True, help="matte frame sequence or single-channel files")
    condition: str = setting(is_path=True, help="condition image: a background or a composited frame")
    matte_channel: str = setting("A", help="matte channel: A, a named channel, or the only channel of the file")
    condition_frame: Optional[int] = setting(
        None, help="the plate frame the condition image matches (the camera is tracked relative to it; for a "
                   "condition sequence, also the frame read); empty: the shot's first frame")
    track: Optional[str] = setting(None, is_path=True,
                                   help="a camera track file from `actanywhere track`; empty: camera.track decides")
    frames: Optional[str] = setting(None, help="frame range such as 1001-1048; empty: every plate frame on disk")
    model: Optional[str] = setting(None, help="model profile; empty: the config's default profile")
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    tiling: TilingSettings = field(default_factory=TilingSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    colour: ColourSettings = field(default_factory=ColourSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    schema_version: int = setting(SHOT_SPEC_VERSION, choices=(SHOT_SPEC_VERSION,))

    def __post_init__(self):
        if len(self.shot) > MAX_SHOT_NAME:
            raise ValueError("shot name of %d characters is over the limit of %d" % (len(self.shot), MAX_SHOT_NAME))
        if not _SHOT_NAME.match(self.shot):
            raise ValueError("shot name %r may hold only letters, digits, _ . - (no spaces)" % self.shot)
        try:
            for name in ("plate", "matte"):
                FrameSequence.parse(getattr(self, name))
            if self.frames is not None:
                name = "frames"
                self.frames = str(FrameRange.parse(self.frames))
        except SequenceError as error:
            raise ValueError("%s: %s" % (name, error))

    # -- the pieces callers use -------------------------------------------------------------------
    @property
    def plate_sequence(self) -> FrameSequence:
        return FrameSequence.parse(self.plate)

    @property
    def matte_sequence(self) -> FrameSequence:
        return FrameSequence.parse(self.matte)

    @property
    def seeds(self) -> List[int]:
        return [self.sampler.seed + variant for variant in range(self.sampler.variants)]

    def frame_range(self) -> FrameRange:
        """The frames to generate: the spec's range, else every plate frame found on disk."""
        if self.frames is not None:
            return FrameRange.parse(self.frames)
        found = self.plate_sequence.existing_frames()
        if not found:
            raise ShotSpecError("plate: no frames found for %s; check the path or give frames" % self.plate)
        # A hole in the plate is a render that failed, not a shot with fewer frames: it would publish a
        # version with the same hole. Frames given explicitly may skip it.
        step = min((b - a for a, b in zip(found, found[1:])), default=1)  # a plate rendered on 2s is whole
        holes = sorted(set(range(found[0], found[-1] + 1, step)) - set(found))
        if holes:
            raise ShotSpecError(
                "plate: %s is missing %s %s inside its range %d-%d; render %s, or give frames to skip %s (e.g. %s)"
                % (self.plate, "frame" if len(holes) == 1 else "frames", FrameRange.from_frames(holes), found[0],
                   found[-1], "it" if len(holes) == 1 else "them", "it" if len(holes) == 1 else "them",
                   FrameRange.from_frames(found)))
        return FrameRange.from_frames(found)

    # -- serialisation ----------------------------------------------------------------------------
    def to_data(self) -> Dict[str, Any]:
        data = schema.to_data(self)
        data = {"schema_version": data.pop("schema_version"), **data}
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_data(), sort_keys=False)

    def to_json(self) -> str:
        return json.dumps(self.to_data(), sort_keys=True)

    def spec_hash(self) -> str:
        """A stable hash of everything that decides the result (for provenance and idempotent jobs)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]

    def save(self, path: str) -> None:
        """Write the spec as YAML (or JSON for a .json path) atomically."""
        text = self.to_json() if path.endswith(".json") else self.to_yaml()
        temporary = "%s.tmp-%d" % (path, os.getpid())
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)


def from_data(
    data: Mapping[str, Any],
    config: Optional[Config] = None,
    base_dir: Optional[str] = None,
    source: str = "shot spec",
) -> ShotSpec:
    """Build a spec from plain data (parsed YAML/JSON, or the panel's fields).

    Missing sections and keys are filled from `config` (the resolved studio config); relative paths
    resolve against `base_dir` (the directory of the spec file)."""
    if not isinstance(data, Mapping):
        raise ShotSpecError("%s: a shot spec must be a mapping of keys, found %s" % (source, type(data).__name__))
    data = dict(data)
    version = data.get("schema_version", SHOT_SPEC_VERSION)
    if version != SHOT_SPEC_VERSION:
        raise ShotSpecError(
            "%s: schema_version %r is not supported by this engine (it reads version %d); "
            "re-export the shot from the panel or upgrade the engine" % (source, version, SHOT_SPEC_VERSION)
        )
    if config is not None:
        for section in INHERITED_SECTIONS:
            inherited = schema.to_data(getattr(config, section))
            given = data.get(section) or {}
            if isinstance(given, Mapping):
                inherited.update(given)
                data[section] = inherited
        if data.get("model") is None:
            data["model"] = config.models.default_profile
    try:
        spec = schema.build(ShotSpec, data, context=schema.Context(base_dir=base_dir))
    except schema.Invalid as error:
        raise ShotSpecError("%s: %s" % (source, error.describe())) from None
    if config is not None and spec.model not in config.models.profiles:
        raise ShotSpecError(
            "%s: model: profile %r is not configured; known profiles: %s"
            % (source, spec.model, ", ".join(sorted(config.models.profiles)))
        )
    return spec


def load(path: str, config: Optional[Config] = None) -> ShotSpec:
    """Read a shot spec file (YAML or JSON)."""
    try:
        data = read_yaml_mapping(path, "shot spec")
    except ActAnywhereError as error:
        raise ShotSpecError(str(error)) from None
    return from_data(data, config, base_dir=os.path.dirname(os.path.abspath(path)), source=path)
