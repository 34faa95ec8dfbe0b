"""The only module that imports nuke: turns node plans into nodes, reads knobs and inputs into plain
data, and wires the ActAnywhere node's buttons to the plain-Python modules beside it.

Every function here runs on Nuke's main thread, except what GenerateJob runs on its own thread, which
reaches Nuke only through NukeMainThread.
"""
from __future__ import annotations

import contextlib
import functools
import traceback
from typing import Any, Callable, Dict, Optional, Sequence, cast

import nuke  # noqa: F401  (the one place)

from ..engine import config as config_module
from ..engine.client import EngineClient
from ..engine.errors import ActAnywhereError
from . import collect, export, farm_submit, frames, node_knobs, nk_snippet, shot_from_node, workflow
from .generate_job import GenerateJob, MainThread, ProgressUI
from .messages import describe_error
from .node_plan import Existing, NodePlan

MENU = "ActAnywhere"
_NON_VALUE_KINDS = ("tab", "text", "button", "divider")
_READ_RANGE_KNOBS = ("file", "first", "last", "origfirst", "origlast", "origset", "format")


# -- main thread and progress --------------------------------------------------------------------------
class NukeMainThread(MainThread):
    def call(self, function, *args):
        nuke.executeInMainThread(function, args)

    def call_and_wait(self, function, *args):
        # Nuke prints an exception of the call and returns None: it is carried back and raised here.
        box = {}  # type: Dict[str, Any]

        def run():
            try:
                box["result"] = function(*args)
            except BaseException as error:  # noqa: B902 (raised again in the caller's thread)
                box["error"] = error

        nuke.executeInMainThreadWithResult(run)
        if "error" in box:
            raise box["error"]
        return box.get("result")


class NukeProgress(ProgressUI):
    """nuke.ProgressTask; created and updated on the main thread, its cancel flag read from any."""

    def __init__(self, title: str):
        self._task = nuke.ProgressTask(title)  # type: Optional[nuke.ProgressTask]

    def update(self, percent: int, message: str) -> None:
        if self._task is not None:
            self._task.setProgress(max(0, min(100, int(percent))))
            self._task.setMessage(message)

    def cancelled(self) -> bool:
        return self._task is not None and self._task.isCancelled()

    def close(self) -> None:
        self._task = None  # Nuke removes the bar when the task is released


# -- menus and the node ----------------------------------------------------------------------------------
def install_menu() -> None:
    """Called by menu.py (GUI sessions only)."""
    toolbar = nuke.menu("Nodes").addMenu(MENU)
    toolbar.addCommand("ActAnywhere", "from actanywhere.plugin import nuke_adapter; nuke_adapter.create_node()")
    menu = nuke.menu("Nuke").addMenu(MENU)
    menu.addCommand("Create ActAnywhere node", "from actanywhere.plugin import nuke_adapter; nuke_adapter.create_node()")
    menu.addCommand("Collect selected", "from actanywhere.plugin import nuke_adapter; nuke_adapter.collect_selected()")


def create_node():
    """An ActAnywhere Group (inputs plate, matte, condition; output: the plate) with the user knobs."""
    group = cast("nuke.Group", nuke.createNode("Group", inpanel=False))  # the stubs say Node; Nuke makes a Group
    group.setName("ActAnywhere1", uncollide=True)
    group.begin()
    try:
        inputs = [nuke.nodes.Input(name=name) for name in node_knobs.INPUTS]
        output = nuke.nodes.Output(name="Output1")
        output.setInput(0, inputs[0])  # a pass-through: the node sits in the tree harmlessly
    finally:
        group.end()
    add_knobs(group)
    group["knobChanged"].setValue(
        "from actanywhere.plugin import nuke_adapter; nuke_adapter.on_knob_changed(nuke.thisNode(), nuke.thisKnob())")
    group["tile_color"].setValue(0x3F6E8CFF)
    return group


def add_knobs(node) -> None:
    makers = {
        "tab": lambda spec: nuke.Tab_Knob(spec.name, spec.label),
        "text": lambda spec: nuke.Text_Knob(spec.name, "", spec.label),
        "divider": lambda spec: nuke.Text_Knob(spec.name, spec.label),
        "string": lambda spec: nuke.String_Knob(spec.name, spec.label),
        "file": lambda spec: nuke.File_Knob(spec.name, spec.label),
        "int": lambda spec: nuke.Int_Knob(spec.name, spec.label),
        "double": lambda spec: nuke.Double_Knob(spec.name, spec.label),
        "enum": lambda spec: nuke.Enumeration_Knob(spec.name, spec.label, list(spec.values)),
        "bool": lambda spec: nuke.Boolean_Knob(spec.name, spec.label),
        # depth 1: one channel (rgba.alpha); without it Nuke shows a layer with a checkbox per channel
        "channel": lambda spec: nuke.Channel_Knob(spec.name, spec.label, 1),
        "button": lambda spec: nuke.PyScript_Knob(spec.name, spec.label, spec.command),
        "multiline": lambda spec: nuke.Multiline_Eval_String_Knob(spec.name, spec.label),
    }
    for spec in node_knobs.KNOBS:
        knob = makers[spec.kind](spec)
        knob.setTooltip(spec.tooltip)
        if spec.minimum is not None and spec.maximum is not None and spec.kind in ("int", "double"):
            knob.setRange(spec.minimum, spec.maximum)  # type: ignore[attr-defined]  # an Int_/Double_Knob here
        if spec.default is not None and spec.kind not in _NON_VALUE_KINDS:
            knob.setValue(spec.default)
        if spec.hidden:
            knob.setFlag(nuke.INVISIBLE)
        if spec.read_only:
            knob.setEnabled(False)
        if spec.kind in ("button",) and not spec.new_line:
            knob.clearFlag(nuke.STARTLINE)
        node.addKnob(knob)


def read_settings(node) -> node_knobs.NodeSettings:
    values = {}
    for spec in node_knobs.KNOBS:
        knob = node.knob(spec.name)
        if knob is not None and spec.kind not in _NON_VALUE_KINDS:
            values[spec.name] = knob.value()
    return node_knobs.NodeSettings.from_knob_values(values, node_name=node.name())


def on_knob_changed(node, knob) -> None:
    states = node_knobs.knob_states(read_settings(node))
    for name, enabled in states.items():
        target = node.knob(name)
        if target is not None:
            target.setEnabled(enabled)


# -- plain data from the script -------------------------------------------------------------------------
def root_info() -> export.RootInfo:
    root = nuke.root()
    name = root["name"].value()
    colour = root["colorManagement"].value() if root.knob("colorManagement") else "Nuke"
    return export.RootInfo(
        name=name, project_directory=_evaluated(root, "project_directory"),
        first=int(root["first_frame"].value()), last=int(root["last_frame"].value()),
        colour_management=colour,
        working_space=root["workingSpaceLUT"].value() if root.knob("workingSpaceLUT") else "linear",
        ocio_config=ocio_config(root, colour))


def _evaluated(node, knob_name: str) -> str:
    """A string or file knob's value with its TCL and variables evaluated ("" when the node lacks it)."""
    knob = node.knob(knob_name)
    if knob is None:
        return ""
    return knob.evaluate() or knob.value()


def ocio_config(root, colour_management: str) -> str:
    """The script's OCIO config (workflow.ocio_config decides, from the root's knobs and $OCIO)."""
    import os

    name = root["OCIO_config"].value() if root.knob("OCIO_config") else ""
    custom = _evaluated(root, "customOCIOConfigPath") if name == "custom" else ""
    return workflow.ocio_config(colour_management, os.environ, name, custom)


def source_info(node) -> export.SourceInfo:
    info = export.SourceInfo(name=node.fullName(), node_class=node.Class())
    info.first, info.last = int(node.firstFrame()), int(node.lastFrame())
    info.channels = list(node.channels())
    info.width, info.height = int(node.width()), int(node.height())
    info.disabled = bool(node.knob("disable") and node["disable"].value())
    if node.Class() == "Read":
        info.file = (nuke.filename(node) or "").replace("\\", "/")
        info.file_type = node["file_type"].value()
        info.colourspace = node["colorspace"].value()
        info.raw = bool(node["raw"].value())
        info.retimed = node["frame_mode"].value() not in ("", "expression") or bool(node["frame"].value())
    return info


def input_node(node, index: int, role: str, required: bool = True):
    upstream = node.input(index)
    if upstream is None and required:
        raise export.ExportError("connect the %s input (input %d) of %s" % (role, index, node.name()))
    return upstream


def build(plan: NodePlan) -> Dict[str, Any]:
    """Create a plan's nodes (at the top level), set their knobs, connect their inputs."""
    created = {}  # type: Dict[str, Any]
    for planned in plan:
        node = getattr(nuke.nodes, planned.node_class)()
        created[planned.key] = node
        knobs = dict(planned.knobs)
        name = knobs.pop("name", None)
        if name:
            node.setName(str(name), uncollide=True)
        if planned.node_class == "Read" and "file" in knobs:
            # file and range together, as the file browser does; format comes from the file
            node["file"].fromUserText("%s %d-%d" % (knobs["file"], knobs["first"], knobs["last"]))
            for key in _READ_RANGE_KNOBS:
                knobs.pop(key, None)
            node["first"].setValue(planned.knobs["first"])
            node["last"].setValue(planned.knobs["last"])
        for key, value in knobs.items():
            if key in ("xpos", "ypos"):
                continue
            node[key].setValue(value)
        if "xpos" in knobs:
            node.setXYpos(int(knobs["xpos"]), int(knobs.get("ypos", 0)))
        for index, source in enumerate(planned.inputs):
            if source is None:
                continue
            if isinstance(source, Existing):
                upstream = nuke.toNode(source.name)
                if upstream is None:
                    raise export.ExportError("node %s is gone from the script" % source.name)
            else:
                upstream = created[source]
            node.setInput(index, upstream)
    return created


def remove(nodes: Dict[str, Any]) -> None:
    for node in reversed(list(nodes.values())):
        try:
            nuke.delete(node)
        except Exception:  # already gone
            pass


# -- export -----------------------------------------------------------------------------------------------
def load_config():
    """The studio config (every layer: $ACTANYWHERE_CONFIG, show, shot), resolved."""
    return config_module.load()


def plan_for_node(node, settings: node_knobs.NodeSettings, root: export.RootInfo,
                  frame_text: Optional[str] = None) -> export.ExportPlan:
    plate = source_info(input_node(node, 0, "plate"))
    matte = source_info(input_node(node, 1, "matte"))
    condition = None
    if settings.condition_source == "input":
        condition = source_info(input_node(node, 2, "condition"))
    if frame_text:
        chosen = frames.choose_frames("custom", frame_text, 0, None, (root.first, root.last))
    else:
        chosen = frames.choose_frames(settings.frame_range_mode, settings.frame_range, settings.handles,
                                      plate.frame_range, (root.first, root.last))
    return export.plan_export(shot_from_node.shot_name(settings), settings.export_dir, chosen, plate, matte,
                              settings.matte_channel, root, condition, settings.condition_frame if condition else None)


def run_export(node, render: bool = True, frame_text: Optional[str] = None) -> export.ExportResult:
    """Export the node's inputs (render=False: only evaluate the paths the export will write)."""
    settings = read_settings(node)
    root = root_info()
    workflow.check_exportable(root, bool(nuke.root().proxy()), len(nuke.views()), _plate_file(node))
    plan = plan_for_node(node, settings, root, frame_text)
    created = build(plan.nodes)
    try:
        evaluated = {}
        for key in plan.writes():
            write = created[key]
            path = export.absolute_path(nuke.filename(write) or "", root.project_directory)
            write["file"].setValue(path)  # what Nuke writes is exactly what the spec says
            evaluated[key] = path
        if render:
            for job in plan.renders:
                for first, last, step in job.ranges:
                    try:
                        nuke.execute(created[job.write], first, last, step)
                    except RuntimeError as error:
                        raise export.ExportError("rendering %s frames %d-%d failed: %s" % (job.write, first, last, error))
    finally:
        remove(created)
    return export.finish_export(plan, evaluated, settings.condition_file, settings.condition_frame,
                                root.project_directory)


def _plate_file(node) -> str:
    plate = node.input(0)
    return (plate["file"].value() or "") if plate is not None and plate.knob("file") is not None else ""


def node_spec(node, exported: export.ExportResult, resolved):
    settings = read_settings(node)
    root = root_info()
    export_dir = export.absolute_path(_evaluated(node, "export_dir"), root.project_directory)
    return shot_from_node.build_spec(settings, exported, resolved, export_dir, root.project_directory, root.ocio_config)




# -- buttons ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def in_group_of(node):
    """Nuke runs a Group's button scripts inside that Group: nodes made then (the export's Write, the
    collected Reads) would land in it, and toNode/allNodes would look there. Handlers run in the group
    that holds the node (the root, or the artist's Group), as Foundry's Group-button examples do."""
    parent_name = node.fullName().rpartition(".")[0]
    parent = _node_named(parent_name) if parent_name else None
    with parent if parent is not None else nuke.root():
        yield


def _node_named(full_name: str):
    """The node of a full name (Group1.ActAnywhere1), whatever group is current when a callback runs."""
    with nuke.root():
        return nuke.toNode(full_name)


def _beside(handler: Callable) -> Callable:
    """A button handler run `in_group_of` its node."""
    @functools.wraps(handler)
    def run(node, *args, **kwargs):
        with in_group_of(node):
            return handler(node, *args, **kwargs)
    return run


def _report(node, error: BaseException, endpoint: Optional[str] = None) -> None:
    if not isinstance(error, ActAnywhereError):
        traceback.print_exc()
    message = describe_error(error, endpoint)
    _set_status(node, message.splitlines()[0])
    nuke.message(message)


def _set_status(node, text: str) -> None:
    node["status"].setValue(text[:300])


@_beside
def on_export(node) -> None:
    try:
        exported = run_export(node)
        _set_status(node, "exported %s %s" % (exported.plate, exported.frames))
    except Exception as error:
        _report(node, error)


@_beside
def on_generate(node, client_factory=None, poll_s: Optional[float] = None) -> Optional[GenerateJob]:
    """Export, then send to the engine on a background thread; returns the running job."""
    endpoint = None
    try:
        resolved = load_config()
        config = resolved.config
        settings = read_settings(node)
        endpoint = settings.engine_endpoint or config.engine.endpoint
        exported = run_export(node)
        spec = node_spec(node, exported, resolved)
    except Exception as error:
        _report(node, error, endpoint)
        return None
    node_name = node.fullName()
    spec_data = spec.to_data()
    factory = client_factory or (lambda: EngineClient.from_settings(config.engine, endpoint=endpoint))
    entry = _history_entry(node, spec, exported, "engine")

    def submitted(job_id: str) -> None:
        target = _node_named(node_name)
        if target is not None:
            target["last_job_id"].setValue(job_id)
            _set_status(target, "job %s running on %s" % (job_id, endpoint))
            entry["job_id"] = job_id
            _add_history(target, entry)

    def done(job_id: str, record: Dict[str, Any], result: Dict[str, Any]) -> None:
        target = _node_named(node_name)
        if target is None:
            return
        entry["results"] = result.get("results") or []
        entry["job_id"] = job_id
        _add_history(target, entry)
        with in_group_of(target):  # later, on the main thread, in whatever group is current then
            created = collect_node(target)
        _set_status(target, "job %s done: %d new version(s) collected" % (job_id, created))

    def failed(message: str) -> None:
        target = _node_named(node_name)
        if target is not None:
            _set_status(target, message.splitlines()[0])
        nuke.message(message)

    job = GenerateJob(spec_data, factory, NukeMainThread(), NukeProgress, submitted, done, failed, endpoint=endpoint,
                      poll_s=poll_s or 0.5)
    job.start()
    return job


@_beside
def on_submit_farm(node, submitter=None) -> Optional[str]:
    try:
        resolved = load_config()
        config = resolved.config
        settings = read_settings(node)
        root = root_info()
        workflow.check_exportable(root, bool(nuke.root().proxy()), len(nuke.views()), _plate_file(node), "farm")
        exported = run_export(node, render=False)
        spec = node_spec(node, exported, resolved)
        export_request = workflow.farm_export_request(exported, root.name, node.fullName())
        backend = workflow.farm_backend(settings, config.farm.backend)
        job_id, tasks = farm_submit.submit(spec.to_data(), export_request, backend, submitter)
    except Exception as error:
        _report(node, error)
        return None
    node["farm_job_id"].setValue(job_id)
    _add_history(node, _history_entry(node, spec, exported, "farm:%s" % backend, tasks, job_id))
    _set_status(node, "farm job %s submitted" % job_id)
    return job_id


def _history_entry(node, spec, exported: export.ExportResult, destination: str,
                   tasks: Sequence[Dict[str, Any]] = (), job_id: str = "") -> Dict[str, Any]:
    plate = node.input(0)
    matte = node.input(1)
    plate_info = source_info(plate) if plate is not None else None
    colourspace = workflow.nuke_colourspace(plate_info, exported, root_info().working_space)
    return workflow.history_entry(spec, exported, read_settings(node), destination, plate_info,
                                  matte.fullName() if matte is not None else "", colourspace, tasks, job_id)


def _add_history(node, entry: Dict[str, Any]) -> None:
    history = node_knobs.parse_history(node["job_history"].value())
    node["job_history"].setValue(node_knobs.add_to_history(history, dict(entry)))


# -- collect ----------------------------------------------------------------------------------------------
def collect_plan(node, standalone: bool = False) -> NodePlan:
    """Nodes for every version of the node's jobs not in the script yet (collect.plan_history)."""
    settings = read_settings(node)
    taken = {existing.name() for existing in nuke.allNodes(recurseGroups=False)}
    reads = [existing["file"].value() for existing in nuke.allNodes("Read", recurseGroups=False)]
    return collect.plan_history(settings.job_history, taken, reads, (node.xpos(), node.ypos()),
                                settings.read_on_error, lambda name: bool(name) and nuke.toNode(name) is not None,
                                standalone)


def collect_node(node) -> int:
    """Collect new versions for an ActAnywhere node; returns how many versions were added."""
    plan = collect_plan(node)
    build(plan)
    return len(plan.of_class("Merge2"))


@_beside
def on_collect(node) -> None:
    try:
        count = collect_node(node)
        _set_status(node, "collected %d new version(s)" % count if count else "nothing new to collect")
    except Exception as error:
        _report(node, error)


def collect_selected() -> None:
    for node in nuke.selectedNodes():
        if node.knob("actanywhere_tab") is not None:
            on_collect(node)


@_beside
def on_copy_snippet(node) -> None:
    try:
        text = nk_snippet.render(collect_plan(node, standalone=True))
        from .qt_shim import copy_to_clipboard

        copy_to_clipboard(text)
        _set_status(node, "copied %d lines of .nk to the clipboard" % len(text.splitlines()))
    except Exception as error:
        _report(node, error)


@_beside
def on_refresh_engine(node) -> None:
    endpoint = None
    try:
        config = load_config().config
        settings = read_settings(node)
        endpoint = settings.engine_endpoint or config.engine.endpoint
        client = EngineClient(endpoint, timeout_s=3.0, retries=0)
        try:
            info = client.hello()
        finally:
            client.close()
        updates = node_knobs.engine_knob_updates(info)
        for name, update in updates.items():
            knob = node.knob(name)
            if knob is None:
                continue
            value = knob.value()
            if "values" in update:
                knob.setValues(list(update["values"]))
            if "minimum" in update and "maximum" in update:
                knob.setRange(update["minimum"], update["maximum"])
            knob.setValue(node_knobs.clamp(name, value, updates))
        _set_status(node, "engine %s: profiles %s" % (endpoint, ", ".join(updates["model"]["values"][1:])))
    except Exception as error:
        _report(node, error, endpoint)


# -- headless (nuke -t) -----------------------------------------------------------------------------------
def headless_export(script: str, node_name: str, frame_text: str,
                    map_path: Optional[Callable[[str], str]] = None) -> Dict[str, Any]:
    """The farm's export step: open `script`, export `node_name`'s inputs for `frame_text`. `map_path`
    (the job's workstation -> worker path mapping) becomes a filename filter: every path the script's
    nodes read and write, and the script's own, as the worker sees them."""
    if map_path is not None:
        nuke.addFilenameFilter(map_path)
        script = map_path(script) if script else script
    if script:
        nuke.scriptOpen(script)
    node = _node_named(node_name)  # the node's full name, e.g. Comp.ActAnywhere1
    if node is None or node.knob("actanywhere_tab") is None:
        raise export.ExportError("%s: no ActAnywhere node named %s" % (script or "the script", node_name))
    with in_group_of(node):
        exported = run_export(node, render=True, frame_text=frame_text)
    return {"plate": exported.plate, "matte": exported.matte, "matte_channel": exported.matte_channel,
            "condition": exported.condition, "condition_frame": exported.condition_frame,
            "frames": str(exported.frames), "reused": exported.reused}



__all__ = ["install_menu", "create_node", "on_export", "on_generate", "on_submit_farm", "on_collect",
           "on_copy_snippet", "on_refresh_engine", "on_knob_changed", "headless_export"]
