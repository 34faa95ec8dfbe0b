# ActAnywhere for Nuke: init.py (runs in every mode: GUI, nuke -t, nuke -x). Paths only, no UI.
#
# Put this folder on NUKE_PATH. The actanywhere package and its two in-Nuke dependencies (pyzmq,
# PyYAML), installed for this Nuke's Python, are found on:
#   1. ACTANYWHERE_PYTHONPATH: folders separated by os.pathsep (":" on Linux/macOS, ";" on Windows),
#      e.g. the --target folder of `python -m pip install --target ... actanywhere` (see docs/nuke.md);
#   2. else the site-packages this folder was installed into (.../site-packages/actanywhere/plugin/nuke_path).
# Paths are appended, so they never shadow Nuke's own modules (PySide, its numpy).
import os
import sys


def _actanywhere_paths():
    paths = [path for path in os.environ.get("ACTANYWHERE_PYTHONPATH", "").split(os.pathsep) if path]
    if not paths:
        here = os.path.dirname(os.path.abspath(__file__))
        site = os.path.dirname(os.path.dirname(os.path.dirname(here)))
        if os.path.isdir(os.path.join(site, "actanywhere")):
            paths.append(site)
    return paths


for _path in _actanywhere_paths():
    if os.path.isdir(_path) and _path not in sys.path:
        sys.path.append(_path)
    elif not os.path.isdir(_path):
        sys.stderr.write("ActAnywhere: ACTANYWHERE_PYTHONPATH names %s, which is not a folder\n" % _path)
