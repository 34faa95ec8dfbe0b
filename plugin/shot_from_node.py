"""The shot spec from the node's settings, the exported paths and the studio config.

Sampler, tiling and camera values come from the knobs declared for spec keys (node_knobs.spec_values);
colour and output come from the export and the config; the config fills everything else. The result is
a validated ShotSpec, so a bad knob is reported here, in Nuke, before anything is sent.
"""
from __future__ import annotations

from typing import Any, Dict

from ..engine import shotspec
from ..engine.config import BUILT_IN, Resolved
from ..engine.errors import ShotSpecError
from ..engine.shotspec import ShotSpec
from .export import ExportResult, absolute_path, safe_name
from .node_knobs import DEFAULT_CHOICE, NodeSettings, spec_values

OUTPUT_PATTERN = "{shot}/{version}/{shot}_{pass}_{version}.####.exr"


def shot_name(settings: NodeSettings) -> str:
    return safe_name(settings.shot or settings.node_name)


def studio_template(resolved: Resolved) -> str:
    """The config's output template when a studio, show or shot layer sets it; "" when it is the
    built-in default, whose relative path would land in whatever folder Nuke was started from."""
    if resolved.sources.get("output.template", BUILT_IN) == BUILT_IN:
        return ""
    return resolved.config.output.template


def output_template(settings: NodeSettings, config_template: str, export_dir: str, project_directory: str = "") -> str:
    """The node's template; else the studio config's; else beside the exported inputs."""
    if settings.output_template:
        return absolute_path(settings.output_template, project_directory)
    if config_template:
        return absolute_path(config_template, project_directory)
    return absolute_path(export_dir.rstrip("/") + "/" + OUTPUT_PATTERN, project_directory)


def spec_data(settings: NodeSettings, exported: ExportResult, template: str, ocio_config: str = "") -> Dict[str, Any]:
    """The request as plain data (what goes to the engine or the farm)."""
    colour = {"plate_colourspace": exported.plate_colourspace}  # type: Dict[str, Any]
    if ocio_config:
        colour["ocio_config"] = ocio_config
    data = {
        "shot": shot_name(settings),
        "plate": exported.plate,
        "matte": exported.matte,
        "matte_channel": exported.matte_channel,
        "condition": exported.condition,
        "frames": str(exported.frames),
        "colour": colour,
        "output": {"template": template},
    }  # type: Dict[str, Any]
    for section, values in spec_values(settings).items():  # the knobs declared for spec keys
        data.setdefault(section, {}).update(values)
    if exported.condition_frame is not None:
        data["condition_frame"] = exported.condition_frame
    elif settings.condition_frame in exported.frames:  # a file condition: the plate frame it matches
        data["condition_frame"] = settings.condition_frame
    if settings.model and settings.model != DEFAULT_CHOICE:
        data["model"] = settings.model
    return data


def build_spec(settings: NodeSettings, exported: ExportResult, resolved: Resolved, export_dir: str,
               project_directory: str = "", ocio_config: str = "") -> ShotSpec:
    """A validated spec; ShotSpecError names the knob's field when a value is out of range."""
    template = output_template(settings, studio_template(resolved), export_dir, project_directory)
    data = spec_data(settings, exported, template, ocio_config)
    return shotspec.resolve(data, resolved.config, source="ActAnywhere node %s" % settings.node_name)



__all__ = ["build_spec", "spec_data", "output_template", "shot_name", "ShotSpecError"]
