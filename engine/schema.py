"""A small validator that turns plain data (parsed YAML or JSON) into typed dataclasses.

Why not pydantic: the config and the shot spec are contract modules that Nuke's Python imports, and a
TD installs only pyzmq and PyYAML there. This covers what the contract needs: nested dataclasses,
int/float/str/bool, Optional, List, Dict, allowed choices and numeric bounds, with errors that name the
source file, the key path and what is allowed.

Declare constraints on dataclass fields through `setting(...)`:

    steps: int = setting(25, minimum=1, maximum=1000, help="denoising steps")
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence

from .errors import ConfigError

_MISSING = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    *,
    default_factory: Any = _MISSING,
    choices: Optional[Sequence[Any]] = None,
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    is_path: bool = False,
    check: Optional[Callable[[Any], Optional[str]]] = None,
    help: str = "",
) -> Any:
    """A dataclass field with validation rules. `is_path` marks a value resolved against the
    directory of the file that set it; `check(value)` returns a problem text, or None when fine.
    In a list or mapping field, the rules apply to each item.
    Rules that involve two fields belong in the dataclass's __post_init__: they are checked on the
    merged config, since each layer may set only one of the two."""
    metadata = {
        "choices": choices, "minimum": minimum, "maximum": maximum, "is_path": is_path, "check": check, "help": help
    }
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if default is _MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class Invalid(Exception):
    """A value does not fit its field; carries the key path so the caller can name it."""

    def __init__(self, key_path: str, problem: str):
        super().__init__(problem)
        self.key_path = key_path
        self.problem = problem

    def describe(self) -> str:
        return "%s: %s" % (self.key_path, self.problem) if self.key_path else self.problem


def _type_hints(cls: type) -> Dict[str, Any]:
    module = sys.modules[cls.__module__]
    return typing.get_type_hints(cls, vars(module))


def _describe(expected: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    if expected in names:
        return names[expected]
    if dataclasses.is_dataclass(expected):
        return "a mapping"
    origin = getattr(expected, "__origin__", None)
    if origin in (list, List):
        return "a list of " + _describe(expected.__args__[0]).replace("a ", "", 1) + "s"
    if origin in (dict, Dict):
        return "a mapping"
    return getattr(expected, "__name__", str(expected))


def join_key(path: str, key: Any) -> str:
    return "%s.%s" % (path, key) if path else str(key)


def convert(expected: Any, value: Any, path: str, rules: Optional[dict] = None, context: Optional["Context"] = None) -> Any:
    """Check `value` against the type `expected` and the field `rules`; return the typed value."""
    rules = rules or {}
    context = context or Context()
    origin = getattr(expected, "__origin__", None)
    args = getattr(expected, "__args__", ())
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        inner = [arg for arg in args if arg is not type(None)]
        return convert(inner[0], value, path, rules, context)
    if dataclasses.is_dataclass(expected):
        if not isinstance(value, dict):
            raise Invalid(path, "expected a mapping of %s settings, got %r" % (expected.__name__, value))
        return build(expected, value, path, context)
    if origin in (list, List):
        if not isinstance(value, (list, tuple)):
            raise Invalid(path, "expected %s, got %r" % (_describe(expected), value))
        return [convert(args[0], item, "%s[%d]" % (path, index), rules, context) for index, item in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise Invalid(path, "expected a mapping, got %r" % (value,))
        return {str(key): convert(args[1], item, join_key(path, key), rules, context) for key, item in value.items()}
    if expected is Any:
        return value
    value = _convert_scalar(expected, value, path)
    _check_rules(value, path, rules)
    if rules.get("is_path") and context.base_dir and value and not _is_absolute_or_uri(value):
        value = os.path.normpath(os.path.join(context.base_dir, value)).replace(os.sep, "/")
    return value


def _is_absolute_or_uri(value: str) -> bool:
    return os.path.isabs(value) or "://" in value or value.startswith(("$", "~"))


def _convert_scalar(expected: type, value: Any, path: str) -> Any:
    if expected is bool:
        if isinstance(value, bool):
            return value
    elif expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif expected is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # YAML and JSON read 1e999 as inf: it would pass every bound
                raise Invalid(path, "expected a finite number, got %r" % (value,))
            return float(value)
    elif expected is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # YAML reads `frames: 1001` as an int; a string field takes it as text
    raise Invalid(path, "expected %s, got %r" % (_describe(expected), value))


def _check_rules(value: Any, path: str, rules: dict) -> None:
    choices = rules.get("choices")
    if choices is not None and value not in choices:
        raise Invalid(path, "%r is not allowed; choose one of: %s" % (value, ", ".join(map(str, choices))))
    minimum, maximum = rules.get("minimum"), rules.get("maximum")
    if minimum is not None and value < minimum:
        raise Invalid(path, "%s is below the minimum %s" % (_show(value), _show(minimum)))
    if maximum is not None and value > maximum:
        raise Invalid(path, "%s is above the maximum %s" % (_show(value), _show(maximum)))
    check = rules.get("check")
    problem = check(value) if check else None
    if problem:
        raise Invalid(path, problem)


def _show(number: Any) -> str:
    return "%g" % number if isinstance(number, float) else repr(number)


class Context:
    """How to read a mapping: `base_dir` resolves relative paths (the directory of the file that set
    them); `partial` checks a layer that sets only some keys, without filling defaults."""

    def __init__(self, base_dir: Optional[str] = None, partial: bool = False):
        self.base_dir = base_dir
        self.partial = partial


def build(cls: type, data: dict, path: str = "", context: Optional[Context] = None) -> Any:
    """Build dataclass `cls` from a mapping, refusing unknown keys and filling defaults. In a partial
    context, return the checked mapping instead (only the keys given)."""
    context = context or Context()
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise Invalid(join_key(path, unknown[0]), "unknown key; known keys here: %s" % ", ".join(sorted(fields)))
    hints = _type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name in data:
            values[name] = convert(hints[name], data[name], join_key(path, name), dict(field.metadata), context)
        elif not context.partial and field.default is _MISSING and field.default_factory is _MISSING:
            raise Invalid(join_key(path, name), "is required (%s)" % (field.metadata.get("help") or _describe(hints[name])))
    if context.partial:
        return values
    try:
        return cls(**values)
    except ValueError as error:  # __post_init__ cross-field checks
        raise Invalid(path, str(error))


def to_data(instance: Any) -> Any:
    """The plain-data form of a dataclass tree (for YAML/JSON), in field order."""
    if dataclasses.is_dataclass(instance):
        return {field.name: to_data(getattr(instance, field.name)) for field in dataclasses.fields(instance)}
    if isinstance(instance, (list, tuple)):
        return [to_data(item) for item in instance]
    if isinstance(instance, dict):
        return {key: to_data(item) for key, item in instance.items()}
    return instance


def config_error(error: Invalid, source: str) -> ConfigError:
    """The user-facing error for an `Invalid` found in `source` (a file path or "--set")."""
    return ConfigError("%s: %s" % (source, error.describe()))
