"""The layered studio configuration.

Layers, later ones winning key by key:
  1. config/default.yaml, shipped in the package
  2. the studio file named by $ACTANYWHERE_CONFIG
  3. the show file named by $ACTANYWHERE_SHOW_CONFIG, then the shot file named by $ACTANYWHERE_SHOT_CONFIG
  4. files given with --config, in order
  5. single values given with --set key.path=value

Each file is checked on its own (unknown keys, types, allowed values) so an error names the file that
holds it; `${NAME}` and `${NAME:-fallback}` expand from the environment; relative paths resolve against
the directory of the file that sets them. `Resolved.sources` records which layer set every value, for
`actanywhere config show`. Pure Python + PyYAML (Nuke imports this).
"""
from __future__ import annotations

import copy
import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

from . import extensions, schema
from .errors import ConfigError
from .schema import setting
from .settings import (
    CameraSettings,
    ColourSettings,
    EngineSettings,
    ModelSettings,
    OutputSettings,
    SamplerSettings,
    TilingSettings,
)

CONFIG_SCHEMA_VERSION = 1
ENV_LAYERS = ("ACTANYWHERE_CONFIG", "ACTANYWHERE_SHOW_CONFIG", "ACTANYWHERE_SHOT_CONFIG")
BUILT_IN = "built-in default.yaml"
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Config:
    schema_version: int = setting(CONFIG_SCHEMA_VERSION, choices=(CONFIG_SCHEMA_VERSION,))
    models: ModelSettings = field(default_factory=ModelSettings)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    tiling: TilingSettings = field(default_factory=TilingSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    colour: ColourSettings = field(default_factory=ColourSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    # The sections other packages add (engine/extensions.py), such as `farm`: read as config.farm.
    # Not a key of the file: each section sits at the top level beside the engine's own.
    extensions: Dict[str, Any] = field(
        default_factory=lambda: {name: cls() for name, cls in extensions.config_sections().items()})

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("extensions") or {}
        if name in sections:
            return sections[name]
        raise AttributeError("the config has no section %r (known sections: %s)" % (name, ", ".join(section_names())))


def section_names() -> List[str]:
    """The config's top-level keys: the engine's sections and the ones installed packages add."""
    own = [f.name for f in dataclasses.fields(Config) if f.name != "extensions"]
    return own + sorted(extensions.config_sections())


def build_config(data: Mapping[str, Any], context: Optional[schema.Context] = None) -> Any:
    """A Config from plain data, the package sections included (a partial context: the checked mapping)."""
    context = context or schema.Context()
    added = extensions.config_sections()
    unknown = sorted(set(data) - set(section_names()))
    if unknown:
        raise schema.Invalid(unknown[0], "unknown key; known keys here: %s" % ", ".join(sorted(section_names())))
    sections = {name: schema.convert(cls, data[name], name, None, context)
                for name, cls in added.items() if name in data or not context.partial}
    own = schema.build(Config, {key: value for key, value in data.items() if key not in added}, context=context)
    if context.partial:
        own.update(sections)
        return own
    own.extensions = sections
    return own


def config_data(config: Config) -> Dict[str, Any]:
    """The plain-data form of a config, every section at the top level (as a config file holds it)."""
    data = schema.to_data(config)
    data.update(data.pop("extensions"))
    return data


@dataclass
class Resolved:
    """The merged config and, for every leaf key path, the layer that set it."""

    config: Config
    sources: Dict[str, str]
    layers: List[str]

    def to_yaml(self) -> str:
        """The resolved config as YAML, each value annotated with its source."""
        lines = []
        _annotated_yaml(config_data(self.config), "", 0, self.sources, lines)
        return "\n".join(lines) + "\n"


def default_config_path() -> str:
    from .. import config as config_package  # the repo's config/ folder, installed as actanywhere.config

    return os.path.join(os.path.dirname(config_package.__file__), "default.yaml")


def load(
    files: Sequence[str] = (),
    overrides: Sequence[str] = (),
    environ: Optional[Mapping[str, str]] = None,
) -> Resolved:
    """Resolve the config from every layer (see the module docstring)."""
    environ = os.environ if environ is None else environ
    layer_files = [(default_config_path(), BUILT_IN)]
    for variable in ENV_LAYERS:
        for path in filter(None, environ.get(variable, "").split(os.pathsep)):
            layer_files.append((path, "%s (%s)" % (path, variable)))
    layer_files.extend((path, path) for path in files)

    merged: Dict[str, Any] = {}
    sources: Dict[str, str] = {}
    for path, label in layer_files:
        layer = read_layer(path, environ, beside_file=label != BUILT_IN)
        _merge(merged, layer, "", sources, label)
    for override in overrides:
        _merge(merged, parse_override(override, environ), "", sources, "--set " + override)

    try:
        config = build_config(merged)
    except schema.Invalid as error:
        raise schema.config_error(error, "the merged config (" + ", ".join(label for _, label in layer_files) + ")")
    return Resolved(config, sources, [label for _, label in layer_files])


def read_layer(path: str, environ: Mapping[str, str], beside_file: bool = True) -> Dict[str, Any]:
    """Read one config file and check it on its own; returns its (partial) settings.

    Relative paths in the shipped defaults resolve against the working directory: they name output
    locations, not files beside the package."""
    data = read_yaml_mapping(path, "config file")
    data = expand_environment(data, environ, path)
    base_dir = os.path.dirname(os.path.abspath(path)) if beside_file else os.getcwd()
    try:
        return build_config(data, schema.Context(base_dir=base_dir, partial=True))
    except schema.Invalid as error:
        raise schema.config_error(error, path)


def check_file(path: str, environ: Optional[Mapping[str, str]] = None) -> None:
    """Validate one config file alone (for `actanywhere config check`)."""
    read_layer(path, os.environ if environ is None else environ)


def read_yaml_mapping(path: str, what: str) -> Dict[str, Any]:
    """A YAML (or JSON) file that must hold a mapping; errors name the file and line."""
    try:
        with open(path, "r", encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except FileNotFoundError:
        raise ConfigError("%s: %s not found; check the path" % (path, what)) from None
    except OSError as error:
        raise ConfigError("%s: cannot read %s: %s" % (path, what, error.strerror)) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = ":%d" % (mark.line + 1) if mark else ""
        raise ConfigError("%s%s: not valid YAML: %s" % (path, where, getattr(error, "problem", error))) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("%s: a %s must be a mapping of keys, found %s" % (path, what, type(data).__name__))
    return data


def expand_environment(data: Any, environ: Mapping[str, str], source: str, key_path: str = "") -> Any:
    """Expand ${NAME} and ${NAME:-fallback} in every string value. Other `$` uses, such as Houdini's
    `$F4` frame token, are left alone."""
    if isinstance(data, dict):
        return {key: expand_environment(value, environ, source, schema.join_key(key_path, key)) for key, value in data.items()}
    if isinstance(data, list):
        return [expand_environment(value, environ, source, "%s[%d]" % (key_path, i)) for i, value in enumerate(data)]
    if not isinstance(data, str):
        return data

    def substitute(match: "re.Match") -> str:
        name, fallback = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if fallback is not None:
            return fallback
        raise ConfigError(
            "%s: %s: environment variable %s is not set; set it or write ${%s:-fallback}" % (source, key_path, name, name)
        )

    return _ENV_REFERENCE.sub(substitute, data)


def parse_override(text: str, environ: Mapping[str, str]) -> Dict[str, Any]:
    """`key.path=value` -> a partial config; the value is read as YAML (`steps=30` is an int)."""
    key_path, separator, raw_value = text.partition("=")
    if not separator or not key_path.strip():
        raise ConfigError("--set %s: expected key.path=value, for example --set sampler.steps=30" % text)
    try:
        value = yaml.safe_load(raw_value) if raw_value.strip() else None
    except yaml.YAMLError:
        value = raw_value
    nested: Dict[str, Any] = {}
    cursor = nested
    keys = key_path.strip().split(".")
    for key in keys[:-1]:
        cursor = cursor.setdefault(key, {})
    cursor[keys[-1]] = value
    nested = expand_environment(nested, environ, "--set " + text)
    try:
        return build_config(nested, schema.Context(base_dir=os.getcwd(), partial=True))
    except schema.Invalid as error:
        raise schema.config_error(error, "--set " + text)


def _merge(target: Dict[str, Any], layer: Dict[str, Any], prefix: str, sources: Dict[str, str], label: str) -> None:
    for key, value in layer.items():
        key_path = schema.join_key(prefix, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, key_path, sources, label)
        else:
            target[key] = copy.deepcopy(value)
            for stale in [path for path in sources if path.startswith(key_path + ".")]:
                del sources[stale]
            _record_sources(value, key_path, sources, label)


def _record_sources(value: Any, key_path: str, sources: Dict[str, str], label: str) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _record_sources(item, schema.join_key(key_path, key), sources, label)
    else:
        sources[key_path] = label


def _annotated_yaml(data: Any, key_path: str, indent: int, sources: Dict[str, str], lines: List[str]) -> None:
    pad = "  " * indent
    for key, value in data.items():
        child = schema.join_key(key_path, key)
        if isinstance(value, dict) and value:
            lines.append("%s%s:" % (pad, key))
            _annotated_yaml(value, child, indent + 1, sources, lines)
        else:
            text = yaml.safe_dump({key: value}, default_flow_style=True, width=10**6).strip()[1:-1]
            lines.append("%s%s  # %s" % (pad, text, _source_of(child, sources)))


def _source_of(key_path: str, sources: Dict[str, str]) -> str:
    """The layer that set a key, or the one that set its closest parent, else the schema default."""
    while key_path:
        if key_path in sources:
            return sources[key_path]
        key_path = key_path.rpartition(".")[0]
    return "schema default"

