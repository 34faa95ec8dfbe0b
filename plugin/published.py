"""A job's finished versions, from its own version records (engine/outputs.py), never from a glob.

A history entry of the ActAnywhere node (node_knobs.job_history) says how its versions are found:
- a job that ran from this Nuke carries the engine's `results`: the version records themselves;
- an engine job whose result never came back (Nuke was closed) is found by its job id in the records
  of the output folder, one per seed;
- a farm job is found by its task ids (each task publishes one version, however often it ran, on
  whichever engine or host).
Pure Python: Nuke's Python imports this.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping

from ..engine.errors import ActAnywhereError
from ..engine.outputs import OutputError, OutputTemplate, PublishedVersion, published_by


class PublishedError(ActAnywhereError):
    """A job's versions cannot be read: the message names the job and the file."""


def versions_of(entry: Mapping[str, Any]) -> List[PublishedVersion]:
    """The versions one history entry published, by version number; those not published yet are not listed."""
    job_id = str(entry.get("job_id") or "")
    try:
        if entry.get("results"):
            versions = [_from_result(entry, result) for result in entry["results"]]
        else:
            template = OutputTemplate.parse(entry["output_template"], "job %s output template" % (job_id or "-"))
            keys = [(task["task_id"], task.get("seed")) for task in entry.get("tasks") or []]
            if not keys and job_id and not str(entry.get("destination", "")).startswith("farm"):
                keys = [(job_id, seed) for seed in entry.get("seeds") or []]
            versions = [published_by(template, entry["shot"], key, seed) for key, seed in keys]
    except (OutputError, KeyError, TypeError) as error:
        raise PublishedError("job %s: its versions cannot be read (%s); collect again once it has published, "
                             "or remove the entry" % (job_id or "-", error)) from None
    return sorted((version for version in versions if version is not None), key=lambda version: version.version)


def _from_result(entry: Mapping[str, Any], result: Mapping[str, Any]) -> PublishedVersion:
    # Results from before version records carry no shot or frames: the entry's stand in.
    data = dict({"shot": entry.get("shot"), "frames": entry.get("frames"), "job_id": entry.get("job_id", "")},
                **{key: value for key, value in result.items() if value not in (None, "")})
    data["sequences"] = {name: path.replace("\\", "/") for name, path in dict(data.get("sequences") or {}).items()}
    return PublishedVersion.from_data(data, "the result of job %s" % (entry.get("job_id") or "-"))


def history_keys(seeds, tasks: List[Dict[str, Any]]) -> Dict[str, Any]:
    """What a history entry stores so its versions can be found again: the seeds (an engine job) or
    the farm's tasks ({"task_id", "seed"})."""
    return {"seeds": [int(seed) for seed in seeds], "tasks": [dict(task_id=str(task["task_id"]), seed=task.get("seed"))
                                                               for task in tasks]}
