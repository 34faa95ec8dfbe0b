"""Deadline 10: one job per stage, each a job info and a plugin info file for the CommandLine plugin.

    <out>/export.job_info.txt    <out>/export.plugin_info.txt      Frames 1-S: one task per shot
    <out>/generate.job_info.txt  <out>/generate.plugin_info.txt    Frames 1-T: one per shot variant, chunked
    <out>/publish.job_info.txt   <out>/publish.plugin_info.txt     Frames 1-S
    <out>/submit.txt             the order and dependencies, for a TD submitting by hand

Deadline frames are the task indices (`--index <STARTFRAME>-<ENDFRAME>`: a chunk of farm.chunk_size runs in
one process that loads the model once). Submitted with `deadlinecommand` when it is on PATH and
farm.deadline10_pool is set: each job after the first gets `JobDependencies=` the id of the one before.
Each accepted stage's id is kept in <out>/submitted.json until all three are in, so a submission that
failed part-way and is run again submits only the stages Deadline does not have yet (never a second
export job).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Dict, List, Tuple

from ..job import FarmError, FarmJob

STAGES = ("export", "generate", "publish")


def stage_files(job: FarmJob, worker_job_dir: str, farm) -> Dict[str, Tuple[Dict[str, str], Dict[str, str]]]:
    """stage -> (job info, plugin info), as ordered key-value mappings."""
    command = list(farm.worker_command)
    shots = "1-%d" % len(job.shots)
    stages = {
        "export": (shots, 1, ["export", "--shot-index", "<STARTFRAME>"]),
        "generate": ("1-%d" % len(job.tasks), farm.chunk_size, ["generate", "--index", "<STARTFRAME>-<ENDFRAME>"]),
        "publish": (shots, 1, ["publish", "--shot-index", "<STARTFRAME>"]),
    }
    files = {}
    for stage, (frames, chunk, arguments) in stages.items():
        job_info = {
            "Plugin": "CommandLine",
            "Name": "%s %s" % (job.job_id, stage),
            "BatchName": "ActAnywhere %s" % job.job_id,
            "Comment": "ActAnywhere %s stage of %s (%d shots, %d variants)" % (stage, job.name, len(job.shots), len(job.tasks)),
            "Frames": frames,
            "ChunkSize": str(chunk),
            "Priority": str(job.priority),
            "MachineLimit": "0",
            "OnJobComplete": "Nothing",
            # a task running longer is failed (and retried by the repository's rules), as OpenJD's timeouts do
            "TaskTimeoutMinutes": str(max(1, (farm.generate_timeout_s if stage == "generate" else farm.stage_timeout_s) // 60)),
            "OnTaskTimeout": "Error",
            "EnvironmentKeyValue0": "ACTANYWHERE_FARM_JOB=%s" % worker_job_dir,
            "OutputDirectory0": "%s/results" % worker_job_dir,
        }
        if farm.deadline10_pool:
            job_info["Pool"] = farm.deadline10_pool
        if farm.deadline10_group:
            job_info["Group"] = farm.deadline10_group
        plugin_info = {
            "Executable": command[0],
            "Arguments": _join(command[1:] + ["farm", "task", arguments[0], "--job", worker_job_dir] + arguments[1:]),
            "Shell": "default",
            "ShellExecute": "False",
            "SingleFramesOnly": "False",
        }
        files[stage] = (job_info, plugin_info)
    return files


def _join(arguments: List[str]) -> str:
    return " ".join('"%s"' % argument if " " in argument else argument for argument in arguments)


def _text(values: Dict[str, str]) -> str:
    return "".join("%s=%s\n" % (key, value) for key, value in values.items())


def write_job(job: FarmJob, out_dir: str, worker_job_dir: str, farm) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    written = []
    order = []
    for stage, (job_info, plugin_info) in stage_files(job, worker_job_dir, farm).items():
        for kind, values in (("job_info", job_info), ("plugin_info", plugin_info)):
            path = os.path.join(out_dir, "%s.%s.txt" % (stage, kind))
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(_text(values))
            written.append(path)
        order.append("deadlinecommand %s.job_info.txt %s.plugin_info.txt%s" % (
            stage, stage, "" if stage == STAGES[0] else "   # with JobDependencies=<the %s job's id>" % order_stage(stage)))
    path = os.path.join(out_dir, "submit.txt")
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("# submit in this order; each job depends on the one before\n" + "\n".join(order) + "\n")
    written.append(path)
    return written


def order_stage(stage: str) -> str:
    return STAGES[STAGES.index(stage) - 1]


def submit(out_dir: str, farm) -> str:
    """Submit the three jobs in order, each depending on the previous; returns the generate job's id."""
    if not farm.deadline10_pool:
        raise FarmError("deadline10: farm.deadline10_pool is not set, so the job files in %s were written but not "
                        "submitted (see submit.txt there), or set farm.deadline10_pool" % out_dir)
    deadlinecommand = shutil.which("deadlinecommand")
    if not deadlinecommand:
        raise FarmError("deadline10: deadlinecommand is not on PATH; the job files are in %s (see submit.txt)" % out_dir)
    record = os.path.join(out_dir, SUBMITTED)
    ids = _read_ids(record)
    previous = ""
    for stage in STAGES:
        if stage in ids:  # accepted by an earlier try of this submission
            previous = ids[stage]
            continue
        job_info = os.path.join(out_dir, "%s.job_info.txt" % stage)
        if previous:
            _set_dependency(job_info, previous)
        completed = subprocess.run([deadlinecommand, job_info, os.path.join(out_dir, "%s.plugin_info.txt" % stage)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        match = re.search(r"^JobID=(\S+)", completed.stdout, re.MULTILINE)
        if completed.returncode != 0 or not match or re.search(r"^Result=Failure", completed.stdout, re.MULTILINE):
            last = (completed.stdout.strip().splitlines() or ["no output"])[-1]
            raise FarmError("deadline10: deadlinecommand refused the %s job (exit %d): %s; %s" % (
                stage, completed.returncode, last, "submit again: the stages Deadline accepted (%s) are not sent "
                "twice" % ", ".join(ids) if ids else "submit again"))
        previous = ids[stage] = match.group(1)
        _write_ids(record, ids)
    os.remove(record)  # all three accepted: a later submission of this job is a new one
    return ids["generate"]


SUBMITTED = "submitted.json"


def _read_ids(path: str) -> Dict[str, str]:
    try:
        with open(path, "r", encoding="utf-8") as stream:
            return dict(json.load(stream))
    except (OSError, ValueError, TypeError):
        return {}


def _write_ids(path: str, ids: Dict[str, str]) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(ids, stream, indent=1)
    os.replace(temporary, path)


def _set_dependency(job_info: str, job_id: str) -> None:
    """The job info's one JobDependencies line (a retry rewrites it, never adds a second)."""
    with open(job_info, "r", encoding="utf-8") as stream:
        lines = [line for line in stream if not line.startswith("JobDependencies=")]
    with open(job_info, "w", encoding="utf-8") as stream:
        stream.writelines(lines + ["JobDependencies=%s\n" % job_id])
