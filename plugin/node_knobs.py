"""The ActAnywhere node's knobs, declared once: the adapter builds them, the .nk keeps their values,
`NodeSettings` (made from this list) reads them back typed, and shot_from_node puts every knob that names
a shot-spec key (`spec_path`) into the spec.

Names are lowercase_with_underscores and every knob has a tooltip. A knob for a spec key takes its
default, range, choices and tooltip from the settings schema (engine/settings.py), so the node and the
config cannot disagree. Defaults that come from the studio config (steps, guidance, endpoint, farm
backend ...) start empty, 0 or "default": such a knob sends nothing, "what the config says", so a show can
change its defaults without touching saved scripts.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..engine.shotspec import ShotSpec
from ..farm.backends import BACKENDS as FARM_BACKENDS

INPUTS = ("plate", "matte", "condition")  # the Group's inputs, in order
FRAME_RANGE_MODES = ("input", "root", "custom")
CONDITION_SOURCES = ("file", "input")
READ_ON_ERROR = ("black", "checkerboard", "nearest frame", "error")
DEFAULT_EXPORT_DIR = "[file dirname [value root.name]]/actanywhere"
DEFAULT_CHOICE = "default"  # an enumeration's "from the config" entry


@dataclass
class KnobSpec:
    kind: str  # tab, text, string, file, int, double, enum, bool, channel, button, multiline, divider
    name: str
    label: str = ""
    default: Any = None
    tooltip: str = ""
    values: Sequence[str] = ()  # enum choices
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    command: str = ""  # button: Python run in Nuke
    hidden: bool = False
    read_only: bool = False
    new_line: bool = True
    spec_path: str = ""  # the shot-spec key this knob sets, e.g. "sampler.steps"
    unset: Any = None  # the value that leaves that key to the studio config (None: the value is always sent)


_SECTIONS = {item.name: item.type for item in dataclasses.fields(ShotSpec)}


def spec_knob(kind: str, name: str, label: str, spec_path: str, nuke_tooltip: str = "", unset: Any = None) -> KnobSpec:
    """A knob for a shot-spec key: default, range, choices and tooltip from that key's setting in the
    schema; `nuke_tooltip` adds what the node does with it."""
    section, key = spec_path.split(".")
    setting = {item.name: item for item in dataclasses.fields(_section_type(section))}[key]
    rules = setting.metadata
    tooltip = rules["help"][:1].upper() + rules["help"][1:] + "."
    return KnobSpec(kind, name, label, setting.default, tooltip + (" " + nuke_tooltip if nuke_tooltip else ""),
                    values=tuple(rules["choices"] or ()), minimum=rules["minimum"], maximum=rules["maximum"],
                    spec_path=spec_path, unset=unset)


def _section_type(section: str) -> type:
    hinted = _SECTIONS[section]
    if isinstance(hinted, str):  # `from __future__ import annotations`: the name of the class
        from ..engine import settings

        return getattr(settings, hinted)
    return hinted


def _button(name: str, label: str, handler: str, tooltip: str) -> KnobSpec:
    command = "from actanywhere.plugin import nuke_adapter; nuke_adapter.%s(nuke.thisNode())" % handler
    return KnobSpec("button", name, label, command=command, tooltip=tooltip, new_line=False)


KNOBS = [
    KnobSpec("tab", "actanywhere_tab", "ActAnywhere", tooltip="ActAnywhere: generate a background plate for the subject"),
    KnobSpec("text", "inputs_header", "<b>Inputs</b>", tooltip="plate (input 0), matte (input 1), condition (input 2)"),
    KnobSpec("channel", "matte_channel", "matte channel", "rgba.alpha",
             tooltip="Channel of the matte input that holds the subject (1 = subject). A Roto's alpha by default."),
    KnobSpec("enum", "condition_source", "condition from", "file", values=CONDITION_SOURCES,
             tooltip="file: the image in condition_file. input: the condition input rendered at condition_frame."),
    KnobSpec("file", "condition_file", "condition file", "",
             tooltip="Condition image: a background-only picture or a frame with the subject in the new scene. "
                     "A sequence path uses condition_frame."),
    KnobSpec("int", "condition_frame", "condition frame", 1001,
             tooltip="The plate frame the condition image matches (its framing): the camera is tracked relative "
                     "to it. Also the frame of the condition input (or of a condition sequence) to use. For a "
                     "file condition, a frame outside the shot's range means the shot's first frame."),
    spec_knob("enum", "camera_track", "camera", "camera.track",
              "auto moves the new background with the plate's camera (docs/camera.md); static stretches the "
              "condition over every frame."),
    KnobSpec("divider", "frames_divider", "Frames", tooltip="Which frames to generate"),
    KnobSpec("enum", "frame_range_mode", "frame range", "input", values=FRAME_RANGE_MODES,
             tooltip="input: the plate input's range. root: the script's range. custom: frame_range. "
                     "Frame numbers are never renumbered (1001 stays 1001)."),
    KnobSpec("string", "frame_range", "custom range", "1001-1100",
             tooltip="Frames for 'custom', e.g. 1001-1100 or 1001-1100x2."),
    KnobSpec("int", "handles", "handles", 0, minimum=0, maximum=1000,
             tooltip="Extra frames generated before and after the range (the plate must have them)."),
    KnobSpec("divider", "model_divider", "Model", tooltip="Model profile and sampler settings"),
    KnobSpec("enum", "model", "model profile", DEFAULT_CHOICE, values=(DEFAULT_CHOICE,),
             tooltip="Model profile on the engine; 'default': the config's default. 'refresh from engine' lists them."),
    # 0 sends nothing: the studio config decides, and its own 0 means the model profile's default.
    spec_knob("int", "steps", "steps", "sampler.steps", "More is slower and finer.", unset=0),
    spec_knob("double", "guidance", "guidance", "sampler.guidance",
              "How strongly the result follows the condition image.", unset=0.0),
    spec_knob("enum", "scheduler", "scheduler", "sampler.scheduler"),
    spec_knob("int", "seed", "seed", "sampler.seed", "Variant n uses seed + n."),
    spec_knob("int", "variants", "variants", "sampler.variants", "Each becomes its own version and Read."),
    spec_knob("string", "prompt", "prompt", "sampler.prompt",
              "The other profiles follow the condition image only.", unset=""),
    spec_knob("int", "tile_size", "tile size", "tiling.tile_size"),
    spec_knob("double", "refine_strength", "refine strength", "tiling.refine_strength",
              "How much the plate-resolution refinement may change the global pass."),
    KnobSpec("divider", "output_divider", "Output", tooltip="Where the work goes"),
    KnobSpec("string", "shot", "shot", "",
             tooltip="Shot name (letters, digits, _ . -); empty: this node's name."),
    KnobSpec("file", "export_dir", "export folder", DEFAULT_EXPORT_DIR,
             tooltip="Shared folder for exported plate, matte and condition; TCL allowed. The engine must see it."),
    KnobSpec("string", "output_template", "output template", "",
             tooltip="Where versions are written: a {version} folder, then {pass} and a frame token (and {shot} "
                     "{seed}); empty: the config's template when absolute, else "
                     "<export folder>/<shot>/{version}/{shot}_{pass}_{version}.####.exr"),
    KnobSpec("string", "engine_endpoint", "engine", "",
             tooltip="Engine address such as tcp://gpu01:5570; empty: engine.endpoint of the studio config."),
    KnobSpec("enum", "farm_backend", "farm", DEFAULT_CHOICE, values=(DEFAULT_CHOICE,) + FARM_BACKENDS,
             tooltip="Farm backend for 'submit to farm'; 'default': farm.backend of the studio config."),
    KnobSpec("enum", "read_on_error", "missing frames", "black", values=READ_ON_ERROR,
             tooltip="What collected Reads show for a frame not on disk yet (a farm job still rendering)."),
    KnobSpec("divider", "actions_divider", "Actions", tooltip="Export, generate, submit, collect"),
    _button("refresh_engine", "refresh from engine", "on_refresh_engine",
            "Ask the engine for its model profiles and parameter ranges."),
    _button("export_inputs", "export", "on_export",
            "Render the plate (RGB) and matte (one channel) to EXR in the export folder, unless they already are."),
    _button("generate", "generate", "on_generate",
            "Export, then send the shot to the engine; progress shows in Nuke's progress bar, which cancels it."),
    _button("submit_farm", "submit to farm", "on_submit_farm",
            "Export, then submit the shot to the farm backend; the job id is kept on this node."),
    _button("collect", "collect", "on_collect",
            "Add a Read and a Merge of the subject over it for every finished version not collected yet."),
    _button("copy_snippet", "copy as .nk", "on_copy_snippet",
            "Copy the nodes Collect would create, as .nk text, to the clipboard."),
    KnobSpec("string", "status", "status", "", read_only=True, tooltip="What the last action did."),
    KnobSpec("string", "last_job_id", "engine job", "", read_only=True, tooltip="Id of the last engine job."),
    KnobSpec("string", "farm_job_id", "farm job", "", read_only=True, tooltip="Id of the last farm job."),
    KnobSpec("multiline", "job_history", "job history", "[]", hidden=True,
             tooltip="JSON list of the jobs sent from this node, for Collect."),
]
KNOBS_BY_NAME = {knob.name: knob for knob in KNOBS}


_VALUE_TYPES = {"int": int, "double": float, "bool": bool}
_NOT_VALUES = ("tab", "text", "divider", "button", "multiline")  # job_history (multiline) is parsed apart


def _default(name: str) -> Any:
    return KNOBS_BY_NAME[name].default


@dataclass
class NodeSettings:
    """The node's knob values, typed: one field per value knob of KNOBS (a test holds the two together),
    each defaulting to its knob's default. Empty strings, 0 in steps/guidance and "default" mean "from
    the config"."""

    node_name: str = "ActAnywhere1"
    matte_channel: str = _default("matte_channel")
    condition_source: str = _default("condition_source")
    condition_file: str = _default("condition_file")
    condition_frame: int = _default("condition_frame")
    camera_track: str = _default("camera_track")
    frame_range_mode: str = _default("frame_range_mode")
    frame_range: str = _default("frame_range")
    handles: int = _default("handles")
    model: str = _default("model")
    steps: int = _default("steps")
    guidance: float = _default("guidance")
    scheduler: str = _default("scheduler")
    seed: int = _default("seed")
    variants: int = _default("variants")
    prompt: str = _default("prompt")
    tile_size: int = _default("tile_size")
    refine_strength: float = _default("refine_strength")
    shot: str = _default("shot")
    export_dir: str = _default("export_dir")
    output_template: str = _default("output_template")
    engine_endpoint: str = _default("engine_endpoint")
    farm_backend: str = _default("farm_backend")
    read_on_error: str = _default("read_on_error")
    status: str = _default("status")
    last_job_id: str = _default("last_job_id")
    farm_job_id: str = _default("farm_job_id")
    job_history: List[Dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_knob_values(cls, values: Mapping[str, Any], node_name: str = "ActAnywhere1") -> "NodeSettings":
        """From the {knob name: value} the adapter reads; unknown names are ignored, types coerced."""
        settings = cls(node_name=node_name)
        for knob in KNOBS:
            if knob.kind in _NOT_VALUES or values.get(knob.name) is None:
                continue
            value = values[knob.name]
            kind = _VALUE_TYPES.get(knob.kind, str)
            if kind is bool:
                value = bool(value)
            elif kind is int:
                value = int(float(value))
            elif kind is float:
                value = float(value)
            else:
                value = str(value).strip()
            setattr(settings, knob.name, value)
        settings.job_history = parse_history(values.get("job_history"))
        return settings


def spec_values(settings: Any) -> Dict[str, Dict[str, Any]]:
    """{section: {key: value}} of every knob that names a spec key and holds more than its unset value."""
    sections = {}  # type: Dict[str, Dict[str, Any]]
    for knob in KNOBS:
        if knob.spec_path:
            value = getattr(settings, knob.name)
            if knob.unset is None or value != knob.unset:
                section, key = knob.spec_path.split(".")
                sections.setdefault(section, {})[key] = value
    return sections


def parse_history(text: Any) -> List[Dict[str, Any]]:
    if not text:
        return []
    try:
        data = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return []
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []


def add_to_history(history: List[Dict[str, Any]], entry: Dict[str, Any], keep: int = 50) -> str:
    """The job_history knob's new text: `entry` appended, the oldest dropped past `keep`."""
    entries = [item for item in history if item.get("job_id") != entry.get("job_id")] + [entry]
    return json.dumps(entries[-keep:], sort_keys=True)


def knob_states(settings: NodeSettings) -> Dict[str, bool]:
    """Which knobs are enabled for these settings (the adapter applies it in knobChanged)."""
    return {
        "frame_range": settings.frame_range_mode == "custom",
        "condition_file": settings.condition_source == "file",
    }


def engine_knob_updates(info: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """From the engine's `hello` info: per knob, its new choices (`values`), range and default.

    The model list offers "default" (the engine's default profile) and every profile the engine knows."""
    updates = {}  # type: Dict[str, Dict[str, Any]]
    profiles = sorted((info.get("profiles") or {}).keys())
    updates["model"] = {"values": [DEFAULT_CHOICE] + profiles}
    parameters = info.get("parameters") or {}
    by_path = {knob.spec_path: knob for knob in KNOBS if knob.spec_path}
    for section in ("sampler", "tiling"):
        for name, entry in (parameters.get(section) or {}).items():
            spec = by_path.get("%s.%s" % (section, name))
            if spec is None or not isinstance(entry, Mapping):
                continue
            update = {}  # type: Dict[str, Any]
            for key in ("minimum", "maximum"):
                if entry.get(key) is not None:
                    update[key] = entry[key]
            if entry.get("choices") and spec.kind == "enum":
                update["values"] = list(entry["choices"])
            if update:
                updates[spec.name] = update
    return updates


def clamp(name: str, value: Any, updates: Mapping[str, Mapping[str, Any]]) -> Any:
    """A knob value kept within the engine's range (an out-of-range value from an old script)."""
    update = updates.get(name) or {}
    if "values" in update:
        return value if value in update["values"] else update["values"][0]
    if isinstance(value, (int, float)):
        if update.get("minimum") is not None and value < update["minimum"]:
            return type(value)(update["minimum"])
        if update.get("maximum") is not None and value > update["maximum"]:
            return type(value)(update["maximum"])
    return value


def knob_names() -> Tuple[str, ...]:
    return tuple(knob.name for knob in KNOBS)
