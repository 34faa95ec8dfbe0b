"""Packages that add config sections and command groups to the engine without the engine naming them.

A package declares an `Extension` and names it in setup.py's entry point group `actanywhere.extensions`:

    entry_points={"actanywhere.extensions": ["farm = actanywhere.farm.extension:EXTENSION"]}

The config then reads the package's sections (`config.farm`), `actanywhere` gains its commands, and the
engine imports the package only when a config is loaded or a command line parsed. Nuke 13's Python 3.7
has no importlib.metadata: there the plugin registers the extensions it uses itself (`register`).
Pure Python (Nuke imports this).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from .errors import ConfigError

ENTRY_POINT_GROUP = "actanywhere.extensions"


@dataclass(frozen=True)
class Extension:
    """What one package adds. `sections`: top-level config keys and their settings dataclasses.
    `add_commands(subparsers, common)` adds its command groups to `actanywhere`; `run_command(arguments,
    config)` runs one of them (the names in `commands`) and returns the exit code."""

    name: str
    sections: Mapping[str, type] = field(default_factory=dict)
    commands: tuple = ()
    add_commands: Optional[Callable[[Any, argparse.ArgumentParser], None]] = None
    run_command: Optional[Callable[[argparse.Namespace, Any], int]] = None


_registered: Dict[str, Extension] = {}
_discovered = False


def register(extension: Extension) -> None:
    """Add an extension by hand (where entry points cannot be read); registering it again is harmless."""
    _registered[extension.name] = extension


def installed() -> List[Extension]:
    """Every extension: those registered by hand and those the installed distributions declare."""
    global _discovered
    if not _discovered:
        _discovered = True
        for entry_point in _entry_points():
            where = "entry point %s = %s (group %s)" % (entry_point.name, entry_point.value, ENTRY_POINT_GROUP)
            try:
                extension = entry_point.load()
            except Exception as error:  # a broken package must say which, not break with a bare traceback
                raise ConfigError("%s cannot be loaded (%s: %s); reinstall or uninstall the package that "
                                  "declares it" % (where, type(error).__name__, error)) from None
            if not isinstance(extension, Extension):
                raise ConfigError("%s is not an actanywhere.engine.extensions.Extension; fix the package "
                                  "that declares it" % where)
            _registered.setdefault(extension.name, extension)
    return sorted(_registered.values(), key=lambda extension: extension.name)


def config_sections() -> Dict[str, type]:
    """The config sections packages add: top-level key -> settings dataclass."""
    return {name: cls for extension in installed() for name, cls in extension.sections.items()}


def for_command(command: str) -> Optional[Extension]:
    """The extension that runs the command group `command`, if one does."""
    return next((extension for extension in installed() if command in extension.commands), None)


def _entry_points() -> list:
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7 (Nuke 13): the plugin registers what it uses
        return []
    found = metadata.entry_points()
    if hasattr(found, "select"):  # Python 3.10+
        return list(found.select(group=ENTRY_POINT_GROUP))
    return list(found.get(ENTRY_POINT_GROUP, ()))  # Python 3.8 and 3.9: a dict of groups
