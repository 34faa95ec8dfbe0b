"""What the ActAnywhere node's buttons decide, in plain Python.

The adapter (nuke_adapter.py) reads the script into plain data (export.RootInfo, export.SourceInfo,
NodeSettings), asks these functions, and carries out the answer in Nuke. Everything here is tested
without Nuke or its fake (tests/test_plugin_workflow.py). Pure Python 3.7+ (Nuke imports this).
"""
from __future__ import annotations

import re
import time
from typing import Any, Dict, Mapping, Optional, Sequence

from . import published
from .export import ExportError, ExportResult, RootInfo, SourceInfo
from .farm_submit import export_command
from .node_knobs import DEFAULT_CHOICE

_STEREO_TOKEN = re.compile(r"%[Vv]")
# OCIO 2.2 and later build these ACES configs in: a root naming one means ocio://<name>.
_BUILT_IN_OCIO_CONFIGS = ("cg-config-", "studio-config-")


def check_exportable(root: RootInfo, proxy: bool, view_count: int, plate_file: str, purpose: str = "export") -> None:
    """Refuse a script the export cannot serve, saying what to change (ExportError).

    `purpose` "farm": the farm opens the saved script itself to export the inputs."""
    if not root.name or root.name == "Root":
        # The exports go beside the script ([file dirname [value root.name]]): for an unsaved script that is
        # "." in TCL, Nuke's working directory, which the engine and the farm never see.
        raise ExportError("save the script first: the farm opens it to export the inputs" if purpose == "farm"
                          else "save the script first: the exported plate and matte go beside it")
    if proxy:
        # Nuke renders and evaluates paths at proxy size then: the engine would get a smaller plate.
        raise ExportError("switch proxy mode off: the engine generates at the plate's full resolution")
    if view_count > 1 and _STEREO_TOKEN.search(plate_file or ""):
        raise ExportError("the plate is a stereo sequence (%%V in %s): ActAnywhere generates one view; "
                          "give it one eye's Read (e.g. a OneView node on the plate)" % plate_file)


def ocio_config(colour_management: str, environ: Mapping[str, str], config_name: str, custom_path: str) -> str:
    """The OCIO config the script's colour spaces are names of, as Deadline Cloud's Nuke submitter resolves
    it: $OCIO (which overrides the root in Nuke too), else the root's custom config path (evaluated: TCL,
    environment variables), else a stock config OCIO ships (ocio://<name>); "" for Nuke's own colour
    management or a stock config OCIO does not ship (the engine then uses its own)."""
    if colour_management != "OCIO":
        return ""
    if environ.get("OCIO"):
        return environ["OCIO"]
    if config_name == "custom":
        return custom_path
    if config_name.startswith(_BUILT_IN_OCIO_CONFIGS):
        return "ocio://" + config_name
    return ""


def farm_backend(settings: Any, configured: str) -> str:
    """The node's farm knob, else the studio config's farm.backend."""
    return configured if settings.farm_backend == DEFAULT_CHOICE else settings.farm_backend


def farm_export_request(exported: ExportResult, script: str, node_name: str) -> Optional[Dict[str, Any]]:
    """The export step a farm job needs, or None when every input is already a sequence on disk."""
    if all(exported.reused.get(role, True) for role in exported.reused):
        return None
    frames = str(exported.frames)
    return {"script": script, "node": node_name, "frames": frames,
            "command": export_command(script, node_name, frames)}


def nuke_colourspace(plate: Optional[SourceInfo], exported: ExportResult, working_space: str) -> str:
    """The Nuke colour space collected Reads use: the plate Read's own when the plate was read as is,
    else the script's working space (what the export wrote)."""
    if plate is not None and exported.reused.get("plate") and plate.colourspace:
        return plate.colourspace
    return working_space


def history_entry(spec, exported: ExportResult, settings: Any, destination: str, plate: Optional[SourceInfo],
                  matte_node: str, colourspace: str, tasks: Sequence[Dict[str, Any]] = (),
                  job_id: str = "", now: Optional[float] = None) -> Dict[str, Any]:
    """What the node's job_history keeps of one job: how to find its versions again and how to collect
    them (the subject's nodes and files, the colour space, the plate's size)."""
    spec_data = spec.to_data()
    return dict(published.history_keys(spec.seeds, list(tasks)), **{
        "job_id": job_id, "destination": destination, "shot": spec_data["shot"],
        "output_template": spec_data["output"]["template"], "frames": spec_data["frames"],
        "plate": exported.plate, "matte": exported.matte,
        "matte_file_channel": "rgba.alpha" if not exported.reused.get("matte") else settings.matte_channel,
        "plate_node": plate.name if plate is not None else "",
        "matte_node": matte_node,
        "matte_channel": settings.matte_channel,
        "nuke_colourspace": colourspace,
        "width": plate.width if plate is not None else 0,
        "height": plate.height if plate is not None else 0,
        "submitted": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
    })
