"""Node plans: the nodes the plugin means to create, as plain data.

Export (temporary Writes), Collect (Reads and Merges) and the .nk snippet all work on a plan; only the
Nuke adapter turns a plan into nodes. An input is the key of a node earlier in the plan, an `Existing`
node of the artist's script (never rewired or deleted, only read from), or None (left unconnected).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Union


@dataclass
class Existing:
    """A node already in the artist's script, by its full name (only read from, never changed)."""

    name: str


Input = Union[str, Existing, None]


@dataclass
class PlannedNode:
    key: str  # unique in its plan; also the node's name when `name` is empty
    node_class: str
    knobs: Dict[str, Any] = field(default_factory=dict)  # in the order they are set and written
    inputs: List[Input] = field(default_factory=list)  # input 0 first (B of a Merge2, then A)
    temporary: bool = False  # removed again once its work is done (export Writes)

    @property
    def name(self) -> str:
        return str(self.knobs.get("name") or self.key)


class NodePlan:
    """An ordered list of planned nodes; every input names a node earlier in the list."""

    def __init__(self, nodes: Optional[List[PlannedNode]] = None):
        self._nodes = []  # type: List[PlannedNode]
        for node in nodes or []:
            self.add(node)

    def add(self, node: PlannedNode) -> PlannedNode:
        keys = {planned.key for planned in self._nodes}
        if node.key in keys:
            raise ValueError("node plan: key %r is used twice" % node.key)
        for index, source in enumerate(node.inputs):
            if isinstance(source, str) and source not in keys:
                raise ValueError("node plan: input %d of %r names %r, which is not planned before it"
                                 % (index, node.key, source))
        self._nodes.append(node)
        return node

    def node(self, key: str) -> PlannedNode:
        for node in self._nodes:
            if node.key == key:
                return node
        raise KeyError(key)

    def of_class(self, node_class: str) -> List[PlannedNode]:
        return [node for node in self._nodes if node.node_class == node_class]

    def __iter__(self) -> Iterator[PlannedNode]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)
