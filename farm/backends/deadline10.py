"""Deadline 10: one job per stage, each a job info and a plugin info file for the CommandLine plugin.

    <out>/export.job_info.txt    <out>/export.plugin_info.txt      Frames 1-S: one task per shot
    <out>/generate.job_info.txt  <out>/generate.plugin_info.txt    Frames 1-T: one per shot variant, chunked
    <out>/publish.job_info.txt   <out>/publish.plugin_info.txt     Frames 1-S
    <out>/submit.txt             the order and dependencies, for a TD submitting by hand

Deadline frames are the task indices (`--index <STARTFRAME>-<ENDFRAME>`: a chunk of farm.chunk_size runs in
one process that loads the model once). Submitted with `deadlinecommand` when it is on PATH and
farm.deadline10_pool is set: each job after the first gets `JobDependencies=` the id of the one before.
"""
from __future__ import annotations

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
    previous = ""
    ids = {}
    for stage in STAGES:
        job_info = os.path.join(out_dir, "%s.job_info.txt" % stage)
        if previous:
            with open(job_info, "a", encoding="utf-8") as stream:
                stream.write("JobDependencies=%s\n" % previous)
        completed = subprocess.run([deadlinecommand, job_info, os.path.join(out_dir, "%s.plugin_info.txt" % stage)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        match = re.search(r"^JobID=(\S+)", completed.stdout, re.MULTILINE)
        if completed.returncode != 0 or not match:
            last = (completed.stdout.strip().splitlines() or ["no output"])[-1]
            raise FarmError("deadline10: deadlinecommand refused the %s job (exit %d): %s" % (stage, completed.returncode, last))
        previous = ids[stage] = match.group(1)
    return ids["generate"]
