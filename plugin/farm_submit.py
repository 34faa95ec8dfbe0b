"""Submit to farm: the same shot spec through the farm package's submitter.

The farm package (actanywhere.farm) is optional and may not be installed next to Nuke. It is looked up
only when the artist presses the button, through one function:

    actanywhere.farm.submit_shot(spec_data, export=None, backend=None) -> job id (str)

`spec_data` is the resolved shot spec as plain data; `export`, when the plate, matte or condition still
have to be rendered from the script, says how: {"script", "node", "frames", "command"}, where `command`
is the `nuke -t` line of the farm's export step (farm_export.py).
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Callable, Dict, List, Optional

from ..engine.errors import ActAnywhereError

FARM_MODULE = "actanywhere.farm"
SUBMIT_FUNCTION = "submit_shot"
Submitter = Callable[..., str]


class FarmUnavailableError(ActAnywhereError):
    """The farm package or its submitter is not installed."""


def find_submitter(module_name: str = FARM_MODULE) -> Submitter:
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise FarmUnavailableError(
            "the farm backend is not installed (%s: %s); ask your TD to install actanywhere's farm package for "
            "Nuke's Python (docs/nuke.md), or use generate" % (module_name, error)) from None
    submitter = getattr(module, SUBMIT_FUNCTION, None)
    if not callable(submitter):
        raise FarmUnavailableError(
            "the farm backend is not installed: %s has no %s(); ask your TD to update actanywhere's farm package, "
            "or use generate" % (module_name, SUBMIT_FUNCTION))
    return submitter


def export_command(script: str, node: str, frames: str, nuke_executable: str = "nuke") -> List[str]:
    """The farm's export step: `nuke -t farm_export.py --script S --node N --frames F`."""
    here = os.path.dirname(os.path.abspath(__file__)).replace("\\", "/")
    return [nuke_executable, "-t", here + "/farm_export.py", "--script", script, "--node", node, "--frames", frames]


def submit(spec_data: Dict[str, Any], export: Optional[Dict[str, Any]], backend: Optional[str],
           submitter: Optional[Submitter] = None) -> str:
    """Submit; returns the farm's job id."""
    submitter = submitter or find_submitter()
    try:
        job_id = submitter(spec_data, export=export, backend=backend)
    except ActAnywhereError:
        raise
    except Exception as error:  # the farm's own failure: report it, don't crash the panel
        raise FarmUnavailableError("the farm refused the job (%s: %s)" % (type(error).__name__, error)) from None
    if not job_id or not isinstance(job_id, str):
        raise FarmUnavailableError("the farm submitter returned no job id (%r)" % (job_id,))
    return job_id
