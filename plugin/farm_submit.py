"""Submit to farm: the same shot spec through the farm package's submitter.

The farm package (actanywhere.farm) is optional and may not be installed next to Nuke. It is looked up
only when the artist presses the button, through one function:

    actanywhere.farm.submit_shot(spec_data, export=None, backend=None)
        -> {"job_id": str, "tasks": [{"task_id": str, "seed": int}, ...]}

`spec_data` is the resolved shot spec as plain data; `export`, when the plate, matte or condition still
have to be rendered from the script, says how: {"script", "node", "frames", "command"}, where `command`
is the `nuke -t` line of the farm's export step (farm_export.py). The tasks are what Collect finds the
job's versions by (each version's record names the farm task that published it); a submitter that
returns only a job id (a plain string) still submits, but Collect then finds nothing of it: use
`actanywhere farm collect`.
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

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
           submitter: Optional[Submitter] = None) -> Tuple[str, List[Dict[str, Any]]]:
    """Submit; returns the farm's job id and its tasks ({"task_id", "seed"})."""
    submitter = submitter or find_submitter()
    try:
        reply = submitter(spec_data, export=export, backend=backend)
    except ActAnywhereError:
        raise
    except Exception as error:  # the farm's own failure: report it, don't crash the panel
        raise FarmUnavailableError("the farm refused the job (%s: %s)" % (type(error).__name__, error)) from None
    if isinstance(reply, str):
        reply = {"job_id": reply, "tasks": []}
    job_id = reply.get("job_id") if isinstance(reply, dict) else None
    tasks = reply.get("tasks") if isinstance(reply, dict) else None
    if not job_id or not isinstance(job_id, str):
        raise FarmUnavailableError("the farm submitter returned no job id (%r)" % (reply,))
    if not isinstance(tasks, list) or not all(isinstance(task, dict) and isinstance(task.get("task_id"), str)
                                              for task in tasks):
        raise FarmUnavailableError("the farm submitter returned tasks that are not a list of {task_id, seed} (%r)"
                                   % (tasks,))
    return job_id, tasks
