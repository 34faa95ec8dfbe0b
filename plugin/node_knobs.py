"""The ActAnywhere node's knobs, as data: the adapter builds them, the .nk keeps their values, and
`NodeSettings` reads them back as typed settings for the shot spec.

Names are lowercase_with_underscores and every knob has a tooltip. Defaults that come from the studio
config (steps, seed, endpoint, farm backend ...) start empty or at the schema default; an empty knob
means "what the config says", so a show can change its defaults without touching saved scripts.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..engine.settings import CAMERA_TRACK_MODES, SCHEDULERS
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
    KnobSpec("enum", "camera_track", "camera", "auto", values=CAMERA_TRACK_MODES,
             tooltip="auto: track the plate's camera and move the new background with it (docs/camera.md). "
                     "static: a locked-off shot (no tracking; the condition is stretched over every frame)."),
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
    KnobSpec("int", "steps", "steps", 0, minimum=0, maximum=1000,
             tooltip="Denoising steps: more is slower and finer; 0: the model's default."),
    KnobSpec("double", "guidance", "guidance", 0.0, minimum=0.0, maximum=50.0,
             tooltip="How strongly the result follows the condition image (classifier-free guidance); "
                     "0: the model's default; 1: no unconditional pass (faster)."),
    KnobSpec("enum", "scheduler", "scheduler", "ddim", values=SCHEDULERS, tooltip="Diffusion sampler."),
    KnobSpec("int", "seed", "seed", 0, minimum=0, maximum=2 ** 32 - 1,
             tooltip="Seed of the first variant; variant n uses seed + n."),
    KnobSpec("int", "variants", "variants", 1, minimum=1, maximum=64,
             tooltip="How many versions to generate, one per seed; each becomes its own Read."),
    KnobSpec("string", "prompt", "prompt", "",
             tooltip="Text describing the scene, for model profiles that read one (wan-vace); empty: none. "
                     "The others follow the condition image only."),
    KnobSpec("int", "tile_size", "tile size", 0, minimum=0, maximum=4096,
             tooltip="Refinement tile edge in plate pixels; 0: the model profile's default."),
    KnobSpec("double", "refine_strength", "refine strength", 0.4, minimum=0.0, maximum=1.0,
             tooltip="How much the plate-resolution refinement may change the global pass."),
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


@dataclass
class NodeSettings:
    """The node's knob values, typed. Empty strings and "default" mean "from the config"."""

    node_name: str = "ActAnywhere1"
    matte_channel: str = "rgba.alpha"
    condition_source: str = "file"
    condition_file: str = ""
    condition_frame: int = 1001
    camera_track: str = "auto"
    frame_range_mode: str = "input"
    frame_range: str = "1001-1100"
    handles: int = 0
    model: str = DEFAULT_CHOICE
    steps: int = 0  # 0: the model profile's default
    guidance: float = 0.0  # 0: the model profile's default
    scheduler: str = "ddim"
    seed: int = 0
    variants: int = 1
    prompt: str = ""
    tile_size: int = 0
    refine_strength: float = 0.4
    shot: str = ""
    export_dir: str = DEFAULT_EXPORT_DIR
    output_template: str = ""
    engine_endpoint: str = ""
    farm_backend: str = DEFAULT_CHOICE
    read_on_error: str = "black"
    job_history: List[Dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_knob_values(cls, values: Mapping[str, Any], node_name: str = "ActAnywhere1") -> "NodeSettings":
        """From the {knob name: value} the adapter reads; unknown names are ignored, types coerced."""
        settings = cls(node_name=node_name)
        for name in cls.__dataclass_fields__:
            if name in ("node_name", "job_history") or name not in values or values[name] is None:
                continue
            default = getattr(settings, name)
            value = values[name]
            if isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, int):
                value = int(float(value))
            elif isinstance(default, float):
                value = float(value)
            else:
                value = str(value).strip()
            setattr(settings, name, value)
        settings.job_history = parse_history(values.get("job_history"))
        return settings


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
    for section in ("sampler", "tiling"):
        for name, entry in (parameters.get(section) or {}).items():
            spec = KNOBS_BY_NAME.get(name)
            if spec is None or not isinstance(entry, Mapping):
                continue
            update = {}  # type: Dict[str, Any]
            for key in ("minimum", "maximum"):
                if entry.get(key) is not None:
                    update[key] = entry[key]
            if entry.get("choices") and spec.kind == "enum":
                update["values"] = list(entry["choices"])
            if update:
                updates[name] = update
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
