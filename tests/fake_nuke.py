"""A small, explicit stand-in for Nuke's `nuke` and `nukescripts` modules, for the plugin's tests.

It records nodes, knob values, inputs, renders and dialogs; it knows the real knob names of the node
classes the plugin uses and refuses any other (as Nuke does: `node["bogus"]` raises NameError); and it
raises when a node is created, deleted, rendered or a knob set off the main thread. It is not Nuke: it
renders nothing unless a test installs `state.render_hook`, and it evaluates only the TCL the plugin's
defaults use ([value root.name], [value NODE.KNOB], [file dirname|tail|rootname ...]).

    fake = install()            # puts the fake into sys.modules["nuke"] / ["nukescripts"]
    read = fake.nodes.Read(file="/plates/p.%04d.exr", first=1001, last=1004)
"""
import os
import re
import sys
import threading
import types

COMMON = {"name", "label", "xpos", "ypos", "selected", "tile_color", "gl_color", "note_font", "note_font_size",
          "note_font_color", "hide_input", "cached", "postage_stamp", "icon", "indicators", "dope_sheet",
          "bookmark", "help", "onCreate", "onDestroy", "knobChanged", "updateUI", "autolabel"}
DISABLE = {"disable"}
NODE_KNOBS = {
    "Read": COMMON | DISABLE | {
        "file", "proxy", "format", "proxy_format", "first", "before", "last", "after", "frame_mode", "frame",
        "origfirst", "origlast", "origset", "on_error", "reload", "auto_alpha", "colorspace", "raw",
        "premultiplied", "file_type", "localizationPolicy", "cacheLocal", "checkHashOnRead", "ocioColorspace",
        "edge_pixels", "noprefix", "version"},
    "Write": COMMON | DISABLE | {
        "file", "proxy", "file_type", "channels", "colorspace", "raw", "premultiplied", "views", "create_directories",
        "use_limit", "first", "last", "reading", "checkHashOnRead", "on_error", "render_order", "beforeRender",
        "beforeFrameRender", "afterFrameRender", "afterRender", "renderProgress", "datatype", "compression",
        "heroview", "metadata", "noprefix", "interleave", "autocrop", "write_full_layer",
        "standard_layer_name_format", "dw_compression_level", "truncateChannelNames", "ocioColorspace"},
    "Merge2": COMMON | DISABLE | {
        "inputs", "operation", "Achannels", "Bchannels", "output", "also_merge", "sRGB", "screen_alpha",
        "bbox", "metainput", "rangeinput", "maskChannelMask", "maskChannelInput", "inject", "invert_mask",
        "fringe", "mix", "process_mask"},
    "Roto": COMMON | DISABLE | {
        "output", "premultiply", "cliptype", "replace", "curves", "toolbox", "format", "motionblur",
        "motionblur_shutter", "motionblur_shutter_offset_type", "motionblur_on", "lifetime_type",
        "lifetime_start", "lifetime_end", "view", "mix_luminance"},
    "RotoPaint": COMMON | DISABLE | {
        "output", "premultiply", "cliptype", "replace", "curves", "toolbox", "format", "motionblur",
        "motionblur_shutter", "lifetime_type", "lifetime_start", "lifetime_end", "view", "mix_luminance"},
    "Shuffle2": COMMON | DISABLE | {"fromInput1", "in1", "fromInput2", "in2", "out1", "out2", "mappings"},
    "Copy": COMMON | DISABLE | {
        "from0", "to0", "from1", "to1", "from2", "to2", "from3", "to3", "channels", "maskChannelInput",
        "invert_mask", "mix", "bbox", "metainput"},
    "Group": COMMON | DISABLE,
    "Dot": COMMON,
    "Constant": COMMON | DISABLE | {"channels", "color", "format", "first", "last"},
    "Crop": COMMON | DISABLE | {"box", "softness", "reformat", "intersect", "crop"},
    "Premult": COMMON | DISABLE | {"channels", "alpha", "invert"},
    "Input": COMMON | {"number"},
    "Output": COMMON,
    "Root": {"name", "project_directory", "frame", "first_frame", "last_frame", "lock_range", "format",
             "proxy_type", "proxy_format", "fps", "colorManagement", "OCIO_config", "customOCIOConfigPath",
             "workingSpaceLUT", "monitorLut", "int8Lut", "int16Lut", "logLut", "floatLut", "defaultViewerLUT",
             "onScriptLoad", "onScriptSave", "onScriptClose", "label", "proxy"},
}
DEFAULTS = {
    "Read": {"frame_mode": "expression", "frame": "", "on_error": "error", "colorspace": "default", "raw": False,
             "file_type": "", "first": 1, "last": 1, "origfirst": 1, "origlast": 1, "disable": False},
    "Write": {"file_type": "", "channels": "rgb", "colorspace": "default", "raw": False, "create_directories": False,
              "use_limit": False, "first": 1, "last": 1},
    "Merge2": {"operation": "over"},
    "Roto": {"output": "alpha"},
    "RotoPaint": {"output": "rgba"},
    "Root": {"name": "", "project_directory": "", "first_frame": 1, "last_frame": 100, "format": "2048 1556 0 0 2048 1556 1",
             "colorManagement": "Nuke", "OCIO_config": "nuke-default", "customOCIOConfigPath": "",
             "workingSpaceLUT": "linear"},
}
# The values of built-in enumeration knobs the plugin sets, as Nuke 15 lists them: any other text is an error
# in Nuke (a Write with compression "zip" fails when the script loads).
BUILT_IN_ENUMS = {
    ("Write", "file_type"): ("cin", "dpx", "exr", "hdr", "jpeg", "mov", "null", "pfm", "png", "sgi", "targa", "tiff",
                             "xpm", "yuv"),
    ("Write", "datatype"): ("16 bit half", "32 bit float"),
    ("Write", "compression"): ("none", "Zip (1 scanline)", "Zip (16 scanlines)", "PIZ Wavelet (32 scanlines)", "RLE",
                               "B44", "B44A", "DWAA", "DWAB"),
    ("Write", "channels"): ("none", "rgb", "rgba", "alpha", "all"),
    ("Read", "on_error"): ("error", "black", "checkerboard", "nearest frame"),
    ("Merge2", "operation"): ("over", "under", "plus", "multiply", "screen", "copy", "mask", "stencil", "max", "min"),
}
# A Write's EXR knobs exist only once its file_type is exr (Nuke builds them with the file format).
WRITE_EXR_KNOBS = {"datatype", "compression", "metadata", "interleave", "autocrop", "write_full_layer",
                   "standard_layer_name_format", "dw_compression_level", "truncateChannelNames", "heroview",
                   "noprefix"}

INPUT_LIMITS = {"Read": 0, "Constant": 0, "Roto": 1, "RotoPaint": 1, "Write": 1, "Crop": 1, "Premult": 1, "Dot": 1,
                "Copy": 2, "Merge2": 3, "Shuffle2": 2, "Group": 3, "Input": 0, "Output": 1}
RGBA = ["rgba.red", "rgba.green", "rgba.blue", "rgba.alpha"]

# knob flags
STARTLINE, ENDLINE, INVISIBLE, DISABLED, READ_ONLY = 0x1000, 0x2000, 0x400, 0x80, 0x10000000
REPLACE = 1
NUKE_VERSION_MAJOR = 15
NUKE_VERSION_STRING = "15.1v1 (fake)"


class NukeState:
    def __init__(self):
        self.nodes = []  # top-level nodes
        self.deleted = []
        self.executions = []  # (node name, first, last, step)
        self.messages = []
        self.main_queue = []
        self.main_thread = threading.current_thread()
        self.render_hook = None  # callable(write_node, frame), e.g. to write real EXRs
        self.lock = threading.Lock()
        # Nuke's current group, as a stack: Group.begin()/end() and `with group:` push and pop it; a
        # PyScript button on a Group runs inside that Group (press()). nuke.nodes.X, createNode, toNode
        # and allNodes act in the current group, as Foundry documents.
        self.context_stack = []
        self.this_node = None
        self.progress_tasks = []
        self.menus = {}
        self.opened_scripts = []
        self.filename_filters = []
        self.views = ["main"]  # nuke.views(): a stereo script has ["left", "right"]


state = NukeState()


def _require_main_thread(what):
    if threading.current_thread() is not state.main_thread:
        raise RuntimeError("fake nuke: %s off the main thread (%s); use nuke.executeInMainThread"
                           % (what, threading.current_thread().name))


# -- knobs -------------------------------------------------------------------------------------------------
class Knob:
    def __init__(self, name, label="", value=None):
        self._name, self._label, self._value = name, label, value
        self._tooltip = ""
        self._enabled = True
        self._flags = STARTLINE
        self._values = []
        self._range = None
        self.node = None

    def name(self):
        return self._name

    def depth(self):  # Channel_Knob
        return getattr(self, "_depth", 0)

    def label(self):
        return self._label

    def value(self):
        return self._value

    getValue = value

    def setValue(self, value):
        _require_main_thread("setting knob %s" % self._name)
        if self._values and value not in self._values:
            raise ValueError("fake nuke: %r is not one of %s's values %s" % (value, self._name, self._values))
        allowed = BUILT_IN_ENUMS.get((self.node.Class(), self._name)) if self.node is not None else None
        if allowed is not None and value not in allowed and not (isinstance(value, int) and 0 <= value < len(allowed)):
            raise ValueError("fake nuke: %s.%s has no value %r; Nuke's are %s" % (
                self.node.Class(), self._name, value, ", ".join(allowed)))
        self._value = value
        return True

    def evaluate(self):
        return evaluate_tcl(str(self._value or ""), self.node)

    def setTooltip(self, text):
        self._tooltip = text

    def tooltip(self):
        return self._tooltip

    def setEnabled(self, enabled):
        _require_main_thread("enabling knob %s" % self._name)
        self._enabled = bool(enabled)

    def enabled(self):
        return self._enabled

    def setFlag(self, flag):
        self._flags |= flag

    def clearFlag(self, flag):
        self._flags &= ~flag

    def getFlag(self, flag):
        return bool(self._flags & flag)

    def setRange(self, minimum, maximum):
        self._range = (minimum, maximum)

    def setValues(self, values):
        _require_main_thread("setting the values of %s" % self._name)
        self._values = list(values)

    def values(self):
        return list(self._values)

    def fromUserText(self, text):
        """File knobs: "path first-last" sets the file and the Read's range together."""
        _require_main_thread("setting knob %s" % self._name)
        match = re.match(r"^(.*\S)\s+(-?\d+)-(-?\d+)$", text)
        path = match.group(1) if match else text
        self._value = path
        if match and self.node is not None and self.node.Class() == "Read":
            first, last = int(match.group(2)), int(match.group(3))
            for name, value in (("first", first), ("last", last), ("origfirst", first), ("origlast", last)):
                self.node._knobs[name]._value = value
            self.node._knobs["origset"]._value = True


def _knob_class(kind):
    def make(name, label="", *extra):
        knob = Knob(name, label)
        knob.kind = kind
        if kind == "Enumeration_Knob" and extra:
            knob._values = list(extra[0])
            knob._value = knob._values[0] if knob._values else ""
        elif kind == "PyScript_Knob" and extra:
            knob.command = extra[0]
        elif kind == "Text_Knob" and extra:
            knob._value = extra[0]
        elif kind == "Channel_Knob":
            # Nuke: Channel_Knob(name, label, depth); without depth 1 it is a layer with a checkbox per channel
            knob._depth = int(extra[0]) if extra else 4
            knob._value = "none"
        elif kind in ("Int_Knob",):
            knob._value = 0
        elif kind == "Double_Knob":
            knob._value = 0.0
        elif kind == "Boolean_Knob":
            knob._value = False
        else:
            knob._value = ""
        return knob

    make.__name__ = kind
    return make


for _kind in ("Tab_Knob", "Text_Knob", "String_Knob", "File_Knob", "Int_Knob", "Double_Knob", "Enumeration_Knob",
              "Boolean_Knob", "Channel_Knob", "PyScript_Knob", "Multiline_Eval_String_Knob"):
    globals()[_kind] = _knob_class(_kind)


# -- nodes -------------------------------------------------------------------------------------------------
class Node:
    def __init__(self, node_class, parent=None):
        if node_class not in NODE_KNOBS:
            raise RuntimeError("fake nuke: unknown node class %s" % node_class)
        self._class = node_class
        self._knobs = {}
        for name in sorted(NODE_KNOBS[node_class]):
            knob = Knob(name, value=DEFAULTS.get(node_class, {}).get(name, ""))
            knob.node = self
            self._knobs[name] = knob
        self._inputs = []
        self._children = []
        self.parent = parent
        self.fake_channels = None  # a test may say which channels a node has
        self.fake_format = None  # (width, height)

    # identity
    def Class(self):
        return self._class

    def proxy(self):
        """Root: whether the script is in proxy mode (Nuke then renders and evaluates at proxy size)."""
        return bool(self._knobs["proxy"]._value) if "proxy" in self._knobs else False

    def name(self):
        return self._knobs["name"]._value

    def fullName(self):
        if self.parent is not None:
            return "%s.%s" % (self.parent.fullName(), self.name())
        return self.name()

    def setName(self, name, uncollide=False):
        _require_main_thread("renaming %s" % self.name())
        siblings = {node.name() for node in _siblings(self) if node is not self}
        if name in siblings:
            if not uncollide:
                raise ValueError("fake nuke: a node named %s exists" % name)
            base = re.sub(r"\d+$", "", name) or name
            index = 1
            while "%s%d" % (base, index) in siblings:
                index += 1
            name = "%s%d" % (base, index)
        self._knobs["name"]._value = name

    # knobs
    def _has_knob(self, name):
        if self._class == "Write" and name in WRITE_EXR_KNOBS and self._knobs["file_type"]._value != "exr":
            return False  # not built yet: set file_type to exr first
        return name in self._knobs

    def knob(self, name):
        return self._knobs.get(name) if self._has_knob(name) else None

    def __getitem__(self, name):
        if not self._has_knob(name):
            raise NameError("fake nuke: %s node %s has no knob named %r%s" % (
                self._class, self.name(), name, " (a Write has it once file_type is exr)"
                if self._class == "Write" and name in WRITE_EXR_KNOBS else ""))
        return self._knobs[name]

    def knobs(self):
        return dict(self._knobs)

    def addKnob(self, knob):
        _require_main_thread("adding knob %s" % knob.name())
        if knob.name() in self._knobs:
            raise ValueError("fake nuke: knob %s exists on %s" % (knob.name(), self.name()))
        knob.node = self
        self._knobs[knob.name()] = knob

    # graph
    def setInput(self, index, node):
        _require_main_thread("connecting %s" % self.name())
        limit = INPUT_LIMITS.get(self._class, 1)
        if index >= limit:
            raise ValueError("fake nuke: %s has %d inputs, not %d" % (self._class, limit, index + 1))
        while len(self._inputs) <= index:
            self._inputs.append(None)
        self._inputs[index] = node
        return True

    def input(self, index):
        return self._inputs[index] if index < len(self._inputs) else None

    def inputs(self):
        return len(self._inputs)

    def dependent(self):
        return [node for node in allNodes() if self in node._inputs]

    def xpos(self):
        return int(self._knobs["xpos"]._value or 0) if "xpos" in self._knobs else 0

    def ypos(self):
        return int(self._knobs["ypos"]._value or 0) if "ypos" in self._knobs else 0

    def setXYpos(self, x, y):
        self._knobs["xpos"]._value, self._knobs["ypos"]._value = int(x), int(y)

    # image
    def firstFrame(self):
        if self._class in ("Read", "Constant"):
            return int(self._knobs["first"]._value)
        upstream = self.input(0)
        return upstream.firstFrame() if upstream is not None else int(root()["first_frame"]._value)

    def lastFrame(self):
        if self._class in ("Read", "Constant"):
            return int(self._knobs["last"]._value)
        upstream = self.input(0)
        return upstream.lastFrame() if upstream is not None else int(root()["last_frame"]._value)

    def channels(self):
        if self.fake_channels is not None:
            return list(self.fake_channels)
        if self._class in ("Roto", "RotoPaint"):
            return ["rgba.alpha"] if self._knobs["output"]._value == "alpha" else list(RGBA)
        upstream = self.input(0)
        return upstream.channels() if upstream is not None else list(RGBA)

    def _format(self):
        if self.fake_format is not None:
            return self.fake_format
        upstream = self.input(0)
        if upstream is not None:
            return upstream._format()
        width, height = root()["format"]._value.split()[:2]
        return int(width), int(height)

    def width(self):
        return self._format()[0]

    def height(self):
        return self._format()[1]

    # groups
    def begin(self):
        if self._class not in ("Group", "Root"):
            raise RuntimeError("fake nuke: begin() on a %s" % self._class)
        state.context_stack.append(self)

    def end(self):
        if not state.context_stack:
            raise RuntimeError("fake nuke: end() without begin()")
        state.context_stack.pop()

    def __enter__(self):
        self.begin()
        return self

    def __exit__(self, *exc_info):
        self.end()

    def nodes(self):
        return list(self._children)

    def __repr__(self):
        return "<fake %s %s>" % (self._class, self.name())


def _siblings(node):
    return node.parent._children if node.parent is not None else state.nodes


def _current_group():
    """The Group nodes are made in now, or None for the root."""
    top = state.context_stack[-1] if state.context_stack else None
    return None if top is None or top.Class() == "Root" else top


def thisGroup():
    return _current_group() or _root


def _create(node_class, knobs):
    _require_main_thread("creating a %s node" % node_class)
    parent = _current_group()
    node = Node(node_class, parent)
    existing = {other.name() for other in (parent._children if parent else state.nodes)}
    prefix = "Merge" if node_class == "Merge2" else node_class
    index = 1
    while "%s%d" % (prefix, index) in existing:
        index += 1
    node._knobs["name"]._value = "%s%d" % (prefix, index)
    (parent._children if parent else state.nodes).append(node)
    for name, value in knobs.items():
        if name == "name":
            node.setName(value)
        else:
            node[name].setValue(value)
    return node


class _NodeFactory:
    def __getattr__(self, node_class):
        if node_class not in NODE_KNOBS or node_class == "Root":
            raise AttributeError("fake nuke: nuke.nodes has no class %s" % node_class)
        return lambda **knobs: _create(node_class, knobs)


nodes = _NodeFactory()
_root = Node("Root")
_root._knobs["name"]._value = ""


def root():
    return _root


def createNode(node_class, knobs="", inpanel=True):
    return _create(node_class, {})


def toNode(name):
    """As Nuke: a name relative to the current group; "root.X.Y" from the root."""
    group = _current_group()
    scope = group._children if group is not None else state.nodes
    parts = name.split(".")
    if parts[0] == "root":
        scope, parts = state.nodes, parts[1:]
        if not parts:
            return _root
    node = None
    for part in parts:
        node = next((candidate for candidate in scope if candidate.name() == part), None)
        if node is None:
            return None
        scope = node._children
    return node


def allNodes(filter=None, group=None, recurseGroups=False):
    found = []

    def walk(scope):
        for node in scope:
            if filter is None or node.Class() == filter:
                found.append(node)
            if recurseGroups and node._children:
                walk(node._children)

    if group is None:
        group = _current_group()  # Nuke: "the current group" when none is given
    walk(group.nodes() if group is not None and group.Class() != "Root" else state.nodes)
    return found


def selectedNodes():
    return [node for node in state.nodes if node._knobs["selected"]._value is True]


def delete(node):
    _require_main_thread("deleting %s" % node.name())
    _siblings(node).remove(node)
    for other in allNodes(recurseGroups=True):
        other._inputs = [None if source is node else source for source in other._inputs]
    state.deleted.append(node.name())


def addFilenameFilter(call, args=(), kwargs=None, nodeClass="*"):
    state.filename_filters.append(call)


def filename(node, flags=0):
    """The evaluated file knob: TCL expanded, frame and view tokens kept (flags=0), the filename filters
    applied (Nuke reads and writes what they return). In proxy mode a node with a proxy file gives that
    file, as Nuke reads and writes it then (the plugin refuses proxy mode before it asks)."""
    source = node["file"]._value
    if root().proxy() and "proxy" in node._knobs and node["proxy"]._value:
        source = node["proxy"]._value
    name = evaluate_tcl(str(source), node)
    for call in state.filename_filters:
        name = call(name)
    return name


def execute(node, first, last, incr=1):
    _require_main_thread("rendering %s" % node.name())
    if node.Class() != "Write":
        raise RuntimeError("fake nuke: execute() of a %s" % node.Class())
    if node.input(0) is None:
        raise RuntimeError("fake nuke: %s has no input" % node.name())
    state.executions.append((node.name(), first, last, incr))
    if state.render_hook is not None:
        for frame in range(first, last + 1, incr):
            state.render_hook(node, frame)


def message(text):
    _require_main_thread("showing a message")
    state.messages.append(text)


def scriptOpen(path):
    state.opened_scripts.append(path)


def executeInMainThread(call, args=(), kwargs=None):
    with state.lock:
        state.main_queue.append((call, tuple(args), dict(kwargs or {}), None))


def executeInMainThreadWithResult(call, args=(), kwargs=None):
    """As Nuke: queued for the main thread (called from the main thread it would wait for itself and hang:
    here an error); an exception in the call is printed, not raised, and the result is then None."""
    if threading.current_thread() is state.main_thread:
        raise RuntimeError("fake nuke: executeInMainThreadWithResult from the main thread hangs Nuke")
    box = {"done": threading.Event()}
    with state.lock:
        state.main_queue.append((call, tuple(args), dict(kwargs or {}), box))
    box["done"].wait(60)
    if "error" in box:
        import traceback

        traceback.print_exception(type(box["error"]), box["error"], box["error"].__traceback__)
        return None
    return box.get("result")


def run_main_queue():
    """Tests call this on the main thread, as Nuke's event loop would."""
    ran = 0
    while True:
        with state.lock:
            if not state.main_queue:
                return ran
            call, args, kwargs, box = state.main_queue.pop(0)
        try:
            result = call(*args, **kwargs)
            if box is not None:
                box["result"] = result
        except Exception as error:
            if box is None:
                raise
            box["error"] = error
        finally:
            if box is not None:
                box["done"].set()
        ran += 1


class ProgressTask:
    def __init__(self, title):
        _require_main_thread("creating a ProgressTask")
        self.title = title
        self.progress = 0
        self.message = ""
        self.history = []
        self._cancelled = False
        state.progress_tasks.append(self)

    def setProgress(self, value):
        _require_main_thread("updating a ProgressTask")
        self.progress = value
        self.history.append(value)

    def setMessage(self, text):
        _require_main_thread("updating a ProgressTask")
        self.message = text

    def isCancelled(self):
        return self._cancelled

    def cancel(self):  # what the artist's click does
        self._cancelled = True


class Menu:
    def __init__(self, name):
        self.name = name
        self.items = {}

    def addMenu(self, name):
        return self.items.setdefault(name, Menu(name))

    def addCommand(self, name, command="", shortcut=""):
        self.items[name] = command


def menu(name):
    return state.menus.setdefault(name, Menu(name))


def thisNode():
    return state.this_node


def views():
    return list(state.views)


def press(node, knob_name):
    """A click on a PyScript button of `node`, as Nuke runs it: `nuke.thisNode()` is the node and, for a
    Group's own button, the current group is that Group (so nodes the script makes go inside it unless
    it changes context)."""
    import sys

    knob = node[knob_name]
    previous = state.this_node
    state.this_node = node
    inside = node.Class() == "Group"
    if inside:
        node.begin()
    try:
        exec(knob.command, {"nuke": sys.modules[__name__]})
    finally:
        if inside:
            node.end()
        state.this_node = previous


# -- the TCL the plugin's defaults use ---------------------------------------------------------------------
_INNERMOST = re.compile(r"\[([^\[\]]*)\]")


def evaluate_tcl(text, node=None):
    def run(match):
        words = match.group(1).split()
        if words[:1] == ["value"] and len(words) == 2:
            target, _, knob_name = words[1].rpartition(".")
            owner = root() if target == "root" else node if target in ("this", "") else toNode(target)
            if owner is None:
                raise RuntimeError("fake nuke: TCL [value %s]: no such node" % words[1])
            return str(owner[knob_name]._value)
        if words[:1] == ["file"] and len(words) in (2, 3):  # [file dirname ""]: an unsaved script's name
            operation, path = words[1], words[2] if len(words) == 3 else ""
            # Tcl's own answers: [file dirname ""] and [file dirname x.nk] are ".", not "".
            return {"dirname": lambda p: os.path.dirname(p) or ".", "tail": os.path.basename,
                    "rootname": lambda p: os.path.splitext(p)[0]}[operation](path)
        raise RuntimeError("fake nuke: TCL %r is beyond this fake" % match.group(0))

    previous = None
    while previous != text:
        previous, text = text, _INNERMOST.sub(run, text)
    return text


# -- installing ---------------------------------------------------------------------------------------------
def reset():
    global _root
    state.__init__()
    _root = Node("Root")
    _root._knobs["name"]._value = ""


def install():
    """Make `import nuke` and `import nukescripts` give this fake; returns the nuke module."""
    reset()
    module = sys.modules[__name__]
    sys.modules["nuke"] = module
    nukescripts = types.ModuleType("nukescripts")
    nukescripts.PythonPanel = object
    sys.modules["nukescripts"] = nukescripts
    return module


def uninstall():
    for name in ("nuke", "nukescripts"):
        sys.modules.pop(name, None)
    sys.modules.pop("actanywhere.plugin.nuke_adapter", None)


# -- test helpers (fixtures imported by the test modules) -----------------------------------------------------
import importlib  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def nuke():
    module = install()
    yield module
    uninstall()


@pytest.fixture
def adapter(nuke):
    sys.modules.pop("actanywhere.plugin.nuke_adapter", None)
    return importlib.import_module("actanywhere.plugin.nuke_adapter")


def make_comp(nuke_module, adapter_module, plate_file="/shows/demo/sh010/plate/sh010_plate.%04d.exr", first=1001,
              last=1004, width=64, height=36, script="/shows/demo/sh010/comp/sh010_comp_v001.nk"):
    """A plate Read, a Roto for the matte and an ActAnywhere node wired to them."""
    nuke_module.root()["name"].setValue(script)
    nuke_module.root()["first_frame"].setValue(first)
    nuke_module.root()["last_frame"].setValue(last)
    nuke_module.root()["format"].setValue("%d %d 0 0 %d %d 1" % (width, height, width, height))
    plate = nuke_module.nodes.Read(file=plate_file, first=first, last=last, origfirst=first, origlast=last,
                                   colorspace="default (linear)")
    plate.fake_format = (width, height)
    roto = nuke_module.nodes.Roto()
    roto.setInput(0, plate)
    node = adapter_module.create_node()
    node.setInput(0, plate)
    node.setInput(1, roto)
    node["condition_file"].setValue("/shows/demo/ref/beach.png")
    return plate, roto, node


def snapshot(nodes_to_keep):
    """Every knob value and input of the nodes, to prove nothing changed them."""
    return {node.name(): ({name: knob.value() for name, knob in node.knobs().items()},
                          [source.name() if source is not None else None
                           for source in (node.input(i) for i in range(node.inputs()))])
            for node in nodes_to_keep}
