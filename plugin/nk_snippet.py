"""The .nk text of a node plan: what Nuke's clipboard holds after copying those nodes (paste it with
Ctrl+V or `nuke.nodePaste`), or, with a Root, a whole script that `nuke -x` or File > Open reads.

Nuke's script format is a stack machine: each node pops its inputs and pushes itself; `set VAR [stack 0]`
names the top node and `push $VAR` pushes it again. A node's input 0 is the top of the stack, input 1
the item below it, and so on (a pasted gizmo joins input 0 to the selected node, which the clipboard
pushes last). The writer here pushes every input explicitly, except the common case of a node whose only
input is the node written just before it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

from .node_plan import Existing, NodePlan, PlannedNode

NUKE_VERSION = "13.0 v1"  # the oldest Nuke the plugin supports: later versions read it
_BARE = re.compile(r"^[A-Za-z0-9_./:%+-]+$")
# Node classes whose default input count (when no `inputs` line is written) is 0.
_NO_INPUTS = {"Read", "Constant", "Root", "Input"}


@dataclass
class RootSettings:
    name: str = ""
    first_frame: int = 1001
    last_frame: int = 1100
    format: str = ""  # "W H 0 0 W H 1 name"
    extra: Dict[str, Any] = field(default_factory=dict)


class Animation(dict):
    """An animated knob value, {frame: value}, written as Nuke's `{curve x1001 0.5 x1002 0.7 ...}`."""

    def text(self) -> str:
        keys = " ".join("x%d %s" % (frame, _number(value)) for frame, value in sorted(self.items()))
        return "{curve %s}" % keys


def _number(value: float) -> str:
    return ("%.6f" % float(value)).rstrip("0").rstrip(".") or "0"


def knob_text(value: Any) -> str:
    """One knob value as .nk text."""
    if isinstance(value, Animation):
        return value.text()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    if isinstance(value, (list, tuple)):
        return "{" + " ".join(knob_text(item) for item in value) + "}"
    text = str(value)
    if text and _BARE.match(text):
        return text
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("[", "\\[").replace("$", "\\$")
               .replace("\n", "\\n").replace("\t", "\\t"))
    return '"%s"' % escaped


def render(plan: NodePlan, root: Optional[RootSettings] = None) -> str:
    """The plan as .nk text. Every input must be a node of the plan (a snippet cannot point at nodes
    outside it): build standalone plans for snippets."""
    nodes = list(plan)
    implicit = _implicit_inputs(nodes)
    pushed = set()  # type: Set[str]
    for node in nodes:
        for index, source in enumerate(node.inputs):
            if isinstance(source, Existing):
                raise ValueError("nk snippet: input %d of %s is the script's node %s; a snippet holds only its "
                                 "own nodes (plan it standalone)" % (index, node.key, source.name))
            if source is None:
                raise ValueError("nk snippet: input %d of %s is unconnected; leave trailing inputs out" % (index, node.key))
            if not (index == 0 and node.key in implicit):
                pushed.add(source)

    lines = ["version %s" % NUKE_VERSION]
    if root is not None:
        lines += _node_lines("Root", _root_knobs(root), 0)
    for node in nodes:
        for index in reversed(range(len(node.inputs))):
            if index == 0 and node.key in implicit:
                continue  # already on top of the stack
            lines.append("push $%s" % _variable(node.inputs[index]))
        lines += _node_lines(node.node_class, _node_knobs(node), len(node.inputs))
        if node.key in pushed:
            lines.append("set %s [stack 0]" % _variable(node.key))
    return "\n".join(lines) + "\n"


def _implicit_inputs(nodes: List[PlannedNode]) -> Set[str]:
    """Nodes whose single input is the node written just before them (so it is on top of the stack)."""
    implicit = set()
    for previous, node in zip(nodes, nodes[1:]):
        if len(node.inputs) == 1 and node.inputs[0] == previous.key:
            implicit.add(node.key)
    return implicit


def _variable(key: Any) -> str:
    return "N_" + re.sub(r"[^A-Za-z0-9_]", "_", str(key))


def _node_knobs(node: PlannedNode) -> List[Tuple[str, Any]]:
    knobs = [(name, value) for name, value in node.knobs.items() if name not in ("name", "xpos", "ypos")]
    knobs.append(("name", node.name))
    for name in ("xpos", "ypos"):
        if name in node.knobs:
            knobs.append((name, node.knobs[name]))
    return knobs


def _root_knobs(root: RootSettings) -> List[Tuple[str, Any]]:
    knobs = [("name", root.name or "untitled"), ("frame", root.first_frame),
             ("first_frame", root.first_frame), ("last_frame", root.last_frame)]
    if root.format:
        knobs.append(("format", root.format))
    knobs += list(root.extra.items())
    return knobs


def _node_lines(node_class: str, knobs: List[Tuple[str, Any]], inputs: int) -> List[str]:
    lines = ["%s {" % node_class]
    default_inputs = 0 if node_class in _NO_INPUTS else 1
    if inputs != default_inputs:
        lines.append(" inputs %d" % inputs)
    lines += [" %s %s" % (name, knob_text(value)) for name, value in knobs]
    lines.append("}")
    return lines
