"""Path mapping: the same storage seen from the workstation and from the farm workers.

Rules come from the config (`farm.path_mapping: [{source, destination}]`). The longest matching source
prefix wins; a prefix matches whole path components only (`/shows` maps `/shows/x`, not
`/showsX`), Windows paths match case-insensitively with either slash, and mapped paths use forward
slashes. Mapping happens once, when a job is written for the farm: the job folder then holds worker paths.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

# Fields of a shot spec's data that hold paths.
SPEC_PATH_FIELDS = (("plate",), ("matte",), ("condition",), ("output", "template"), ("colour", "ocio_config"))
_WINDOWS = re.compile(r"^[A-Za-z]:/|^//")


class PathMapper:
    def __init__(self, rules: Iterable[Tuple[str, str]] = ()):
        cleaned = [(_normal(source).rstrip("/"), _normal(destination).rstrip("/")) for source, destination in rules]
        # Longest source first, so /shows/demo wins over /shows.
        self.rules: List[Tuple[str, str]] = sorted(cleaned, key=lambda rule: -len(rule[0]))

    @classmethod
    def from_settings(cls, farm_settings) -> "PathMapper":
        return cls((rule.source, rule.destination) for rule in farm_settings.path_mapping)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def map(self, path: Optional[str]) -> Optional[str]:
        """`path` as the workers see it (unchanged when no rule matches)."""
        if not path or not self.rules or "://" in path:
            return path
        normal = _normal(path)
        for source, destination in self.rules:
            if _starts_with(normal, source):
                return destination + normal[len(source):]
        return path

    def map_spec_data(self, data: Mapping[str, Any]) -> dict:
        """A copy of a shot spec's data with its path fields mapped."""
        mapped = {key: dict(value) if isinstance(value, Mapping) else value for key, value in data.items()}
        for field_path in SPEC_PATH_FIELDS:
            holder = mapped
            for key in field_path[:-1]:
                holder = holder.get(key) if isinstance(holder.get(key), dict) else None
                if holder is None:
                    break
            if holder is not None and isinstance(holder.get(field_path[-1]), str):
                holder[field_path[-1]] = self.map(holder[field_path[-1]])
        return mapped

    def map_arguments(self, arguments: Sequence[str]) -> List[str]:
        """A command line with each argument that is a mapped path replaced."""
        return [self.map(argument) if isinstance(argument, str) else argument for argument in arguments]


def _normal(path: str) -> str:
    path = path.replace("\\", "/")
    return path


def _starts_with(path: str, prefix: str) -> bool:
    if _WINDOWS.match(path) or _WINDOWS.match(prefix):
        path, prefix = path.lower(), prefix.lower()
    if not prefix:  # a rule for the root "/" maps every absolute path
        return path.startswith("/")
    return path == prefix or path.startswith(prefix + "/")
