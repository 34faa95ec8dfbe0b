"""The shot spec: the one contract for a generation request.

The CLI, the engine protocol, farm tasks and the Nuke panel all build and pass this object. A spec is
resolved once, where the request is written (`resolve`: the CLI, the panel, farm submit), and is then
self-contained: it carries its model, sampler, tiling, camera, colour and output settings, so the same
spec gives the same result on any engine. Every later hop reads it with `from_resolved`, which fills
nothing from its own config. It serialises to YAML and JSON with a schema version. Pure Python +
PyYAML (Nuke imports this).

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

import dataclasses
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
_SECTION_TYPES = {"sampler": SamplerSettings, "tiling": TilingSettings, "camera": CameraSettings,
                  "colour": ColourSettings, "output": OutputSettings}


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


def resolve(
    data: Mapping[str, Any],
    config: Config,
    base_dir: Optional[str] = None,
    source: str = "shot spec",
) -> ShotSpec:
    """Resolve a request into a self-contained spec: the one place a spec is filled from a config.

    Called once per request, where it is written (the CLI, the Nuke panel, farm submit). Missing sections
    and keys come from `config` (the studio's resolved config), the model from its default profile;
    relative paths resolve against `base_dir` (the directory of the spec file). Every later hop reads the
    result with `from_resolved`."""
    data = _checked_mapping(data, source)
    for section in INHERITED_SECTIONS:
        inherited = schema.to_data(getattr(config, section))
        given = data.get(section) or {}
        if isinstance(given, Mapping):
            inherited.update(given)
            data[section] = inherited
    if data.get("model") is None:
        data["model"] = config.models.default_profile
    spec = _build(data, base_dir, source)
    check_model_configured(spec, config, source)
    return spec


def from_resolved(data: Mapping[str, Any], source: str = "resolved shot spec") -> ShotSpec:
    """Read a spec that `resolve` made (sent to an engine, written into a farm job), filling nothing.

    A section, a key of one or the model left out is an error: a hop that filled it from its own config
    would make the result depend on where the job ran."""
    data = _checked_mapping(data, source)
    missing = [name for name in INHERITED_SECTIONS if not isinstance(data.get(name), Mapping)]
    missing += ["model"] if data.get("model") is None else []
    for section in INHERITED_SECTIONS:
        given = data.get(section)
        if isinstance(given, Mapping):
            fields = [item.name for item in dataclasses.fields(_SECTION_TYPES[section])]
            missing += ["%s.%s" % (section, name) for name in fields if name not in given]
    if missing:
        raise ShotSpecError(
            "%s: not a resolved spec, %s %s missing; resolve it where the request is written "
            "(shotspec.resolve with the studio config; `actanywhere spec check SHOT.yaml` prints one)"
            % (source, ", ".join(missing), "is" if len(missing) == 1 else "are"))
    return _build(data, None, source)


def check_model_configured(spec: ShotSpec, config: Config, source: str = "shot spec") -> None:
    """The spec's model is a profile `config` knows (what an engine checks of a resolved spec)."""
    if spec.model not in config.models.profiles:
        raise ShotSpecError(
            "%s: model: profile %r is not configured; known profiles: %s"
            % (source, spec.model, ", ".join(sorted(config.models.profiles)))
        )


def derive(spec: ShotSpec, **sampler: Any) -> ShotSpec:
    """A copy of a resolved spec with some sampler settings changed (one variant's seed, a farm task's)."""
    return dataclasses.replace(spec, sampler=dataclasses.replace(spec.sampler, **sampler))


def _checked_mapping(data: Any, source: str) -> Dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ShotSpecError("%s: a shot spec must be a mapping of keys, found %s" % (source, type(data).__name__))
    version = data.get("schema_version", SHOT_SPEC_VERSION)
    if version != SHOT_SPEC_VERSION:
        raise ShotSpecError(
            "%s: schema_version %r is not supported by this engine (it reads version %d); "
            "re-export the shot from the panel or upgrade the engine" % (source, version, SHOT_SPEC_VERSION)
        )
    return dict(data)


def _build(data: Dict[str, Any], base_dir: Optional[str], source: str) -> ShotSpec:
    try:
        return schema.build(ShotSpec, data, context=schema.Context(base_dir=base_dir))
    except schema.Invalid as error:
        raise ShotSpecError("%s: %s" % (source, error.describe())) from None


def load(path: str, config: Config) -> ShotSpec:
    """Read a shot spec file (YAML or JSON) and resolve it against `config`."""
    return resolve(_read(path), config, base_dir=os.path.dirname(os.path.abspath(path)), source=path)


def load_resolved(path: str) -> ShotSpec:
    """Read a resolved spec file (a farm job's specs/): nothing filled in."""
    return from_resolved(_read(path), source=path)


def _read(path: str) -> Dict[str, Any]:
    try:
        return read_yaml_mapping(path, "shot spec")
    except ActAnywhereError as error:
        raise ShotSpecError(str(error)) from None
