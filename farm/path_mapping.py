"""Path mapping: the same storage seen from the workstation and from the farm workers.

Rules come from the config (`farm.path_mapping: [{source, destination}]`). The longest matching source
prefix wins; a prefix matches whole path components only (`/shows` maps `/shows/x`, not
`/showsX`), Windows paths match case-insensitively with either slash, and mapped paths use forward
slashes. Mapping happens when a job is written for the farm: the job folder then holds worker paths.

A farm may map paths again on the worker: Deadline Cloud's storage profiles reach a session as OpenJD's
path mapping rules (`pathmapping-1.0`, the file `{{Session.PathMappingRulesFile}}`), which the tasks
apply to every path of the job's specs and export steps with openjd-sessions' own `PathMappingRule`
(SessionRules), so a job submitted from one root runs against another.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, List, Mapping, Optional, Sequence, Tuple

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
        return map_spec_paths(data, self.map)

    def map_arguments(self, arguments: Sequence[str]) -> List[str]:
        """A command line with each argument that is a mapped path replaced."""
        return [self.map(argument) if isinstance(argument, str) else argument for argument in arguments]


def map_spec_paths(data: Mapping[str, Any], map_path: Callable[[str], str]) -> dict:
    """A copy of a shot spec's data with every path field passed through `map_path`."""
    mapped = {key: dict(value) if isinstance(value, Mapping) else value for key, value in data.items()}
    for field_path in SPEC_PATH_FIELDS:
        holder = mapped
        for key in field_path[:-1]:
            holder = holder.get(key) if isinstance(holder.get(key), dict) else None
            if holder is None:
                break
        if holder is not None and isinstance(holder.get(field_path[-1]), str):
            holder[field_path[-1]] = map_path(holder[field_path[-1]])
    return mapped


class SessionRules:
    """A farm session's path mapping rules (OpenJD pathmapping-1.0), applied as openjd-sessions does."""

    VERSION = "pathmapping-1.0"

    def __init__(self, rules: Sequence[Any] = ()):
        self.rules = list(rules)

    @classmethod
    def from_file(cls, path: str) -> "SessionRules":
        import json

        from ..engine.errors import ActAnywhereError

        try:
            with open(path, "r", encoding="utf-8") as stream:
                text = stream.read()
            data = json.loads(text) if text.strip() else {"version": cls.VERSION, "path_mapping_rules": []}
        except (OSError, ValueError) as error:
            raise ActAnywhereError("path mapping rules %s cannot be read (%s); the farm writes them as %s JSON"
                                   % (path, error, cls.VERSION)) from None
        if isinstance(data, dict) and not data.get("path_mapping_rules"):
            return cls()  # a session without rules (OpenJD writes the file anyway)
        if not isinstance(data, dict) or data.get("version") != cls.VERSION:
            raise ActAnywhereError("path mapping rules %s are not %s (version %r)" % (
                path, cls.VERSION, data.get("version") if isinstance(data, dict) else None))
        try:
            from openjd.sessions import PathMappingRule
        except ImportError:
            raise ActAnywhereError("path mapping rules need openjd-sessions on the worker: install actanywhere's "
                                   "farm extra (pip install actanywhere[farm])") from None
        try:
            rules = [PathMappingRule.from_dict(rule) for rule in data.get("path_mapping_rules") or []]
        except (TypeError, ValueError, KeyError) as error:
            raise ActAnywhereError("path mapping rules %s: a rule is malformed (%s)" % (path, error)) from None
        # The longest source wins, as with the config's rules.
        return cls(sorted(rules, key=lambda rule: -len(str(rule.source_path))))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def map(self, path: Optional[str]) -> Optional[str]:
        if not path or "://" in path:
            return path
        for rule in self.rules:
            changed, mapped = rule.apply(path=path)
            if changed:
                return mapped
        return path


def _normal(path: str) -> str:
    path = path.replace("\\", "/")
    return path


def _starts_with(path: str, prefix: str) -> bool:
    if _WINDOWS.match(path) or _WINDOWS.match(prefix):
        path, prefix = path.lower(), prefix.lower()
    if not prefix:  # a rule for the root "/" maps every absolute path
        return path.startswith("/")
    return path == prefix or path.startswith(prefix + "/")
