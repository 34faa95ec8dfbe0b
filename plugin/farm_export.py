"""The farm's export step, run headless:

    nuke -t /path/to/actanywhere/plugin/farm_export.py --script comp.nk --node ActAnywhere1 --frames 1001-1100 \
        [--path-mapping RULES.json]

Opens the script, renders the plate, matte (and condition) of the named ActAnywhere node for those
frames exactly as the panel's export does (same paths, so the submitted shot spec finds them), prints
one JSON line with the paths, and exits 0; on a problem prints one line saying what to do and exits 2.
With --path-mapping (the job's workstation -> worker rules, {"rules": [[source, destination], ...]}, written by
the farm's export task), a filename filter maps every path the script's nodes read and write, and the
script's own path, so a script saved on a workstation renders on a worker that mounts the storage elsewhere.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional


def parse_arguments(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nuke -t farm_export.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", default="", help="the .nk to open (default: the script nuke -t was given)")
    parser.add_argument("--node", required=True, help="full name of the ActAnywhere node, e.g. ActAnywhere1")
    parser.add_argument("--frames", required=True, help="frames to export, e.g. 1001-1100 (handles included)")
    parser.add_argument("--path-mapping", metavar="FILE", help="path mapping rules as the farm writes them")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    arguments = parse_arguments(argv)
    _ensure_importable()
    from actanywhere.engine.errors import ActAnywhereError
    from actanywhere.plugin import nuke_adapter

    try:
        map_path = _load_mapper(arguments.path_mapping).map if arguments.path_mapping else None
        result = nuke_adapter.headless_export(arguments.script, arguments.node, arguments.frames, map_path)
    except ActAnywhereError as error:
        sys.stderr.write("actanywhere export: %s\n" % error)
        return 2
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    return 0


def _load_mapper(path: str):
    from actanywhere.engine.errors import ActAnywhereError
    from actanywhere.farm.path_mapping import PathMapper

    try:
        with open(path, "r") as stream:
            rules = json.load(stream)["rules"]
        return PathMapper((str(source), str(destination)) for source, destination in rules)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ActAnywhereError("path mapping rules %s cannot be read (%s)" % (path, error))


def _ensure_importable() -> None:
    """`nuke -t` runs this file by path: make the install it sits in importable, as init.py does."""
    for path in os.environ.get("ACTANYWHERE_PYTHONPATH", "").split(os.pathsep):
        if path and path not in sys.path:
            sys.path.append(path)
    site = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.isdir(os.path.join(site, "actanywhere")) and site not in sys.path:
        sys.path.append(site)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
