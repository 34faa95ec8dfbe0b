"""Submitting: write the job folder and the backend's job files, then hand them to the farm's client.

    submit_job(job, config, backend, dry_run=OUTDIR)   what `actanywhere farm submit` does
    submit_shot(spec_data, export=None, backend=None)  what the Nuke panel's "submit to farm" calls

The job folder (on shared storage) holds the expanded job and each task's spec, with paths mapped for the
workers (farm.path_mapping; not for the local backend, which runs here). The backend's files go in
JOB_DIR/<backend>/ (with --dry-run: the job folder is OUTDIR and nothing is submitted). A farm whose
client is not configured gets its files written and a FarmError saying how to submit them by hand.
"""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..engine import config as config_module, shotspec
from ..engine.config import Config
from . import job as job_module
from .backends import module as backend_module
from .job import ExportStep, FarmError, FarmJob, JobFile, ShotEntry, Variants, write_json
from .path_mapping import PathMapper

SUBMISSION_FILE = "submission.json"


@dataclass
class Submission:
    job_id: str
    backend: str
    job_dir: str
    worker_job_dir: str
    files: List[str] = field(default_factory=list)
    farm_job_id: Optional[str] = None  # the farm's own id, when it was submitted


def prepare(job: FarmJob, config: Config, backend: str, job_dir: Optional[str] = None) -> Submission:
    """Write the job folder and the backend's job files; submit nothing."""
    job_dir = os.path.abspath(job_dir or job.job_dir or job_module.default_job_dir(job, config)).replace(os.sep, "/")
    mapper = PathMapper() if backend == "local" else PathMapper.from_settings(config.farm)
    worker_job_dir = job_module.save(job, job_dir, mapper)
    files = [os.path.join(job_dir, job_module.JOB_FILE)]
    if backend != "local":
        files += backend_module(backend).write_job(job, os.path.join(job_dir, backend), worker_job_dir, config.farm)
    return Submission(job.job_id, backend, job_dir, worker_job_dir, files)


def submit_job(job: FarmJob, config: Config, backend: Optional[str] = None, dry_run: Optional[str] = None,
               config_arguments: Sequence[str] = (), detach_local: bool = False, log=print) -> Submission:
    """Write the job's files and submit them (run them, for the local backend), unless `dry_run`."""
    backend = backend or config.farm.backend
    submission = prepare(job, config, backend, job_dir=dry_run)
    if dry_run:
        return submission
    if backend == "local":
        if detach_local:
            submission.farm_job_id = _start_detached(submission.job_dir, config_arguments, config.farm.worker_command)
        else:
            backend_module("local").run_job(job, config, config_arguments, log=log)
            submission.farm_job_id = job.job_id
    else:
        submission.farm_job_id = backend_module(backend).submit(os.path.join(submission.job_dir, backend), config.farm)
    write_json(os.path.join(submission.job_dir, SUBMISSION_FILE),
               {"job_id": job.job_id, "backend": backend, "farm_job_id": submission.farm_job_id,
                "submitted": time.time(), "files": submission.files})
    return submission


def _start_detached(job_dir: str, config_arguments: Sequence[str], command: Sequence[str]) -> str:
    """The local backend from the Nuke panel: `actanywhere farm run JOB_DIR` in the background, so Nuke
    stays responsive; its output goes to JOB_DIR/logs/local_run.log. The command is farm.worker_command
    (a studio's install of actanywhere), never sys.executable: inside Nuke that is the Nuke binary."""
    os.makedirs(os.path.join(job_dir, "logs"), exist_ok=True)
    with open(os.path.join(job_dir, "logs", "local_run.log"), "ab") as log:
        try:
            process = subprocess.Popen(list(command) + ["farm", "run", job_dir] + list(config_arguments), stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as error:
            raise FarmError("cannot start %s for the local farm run (%s); set farm.worker_command to the "
                            "actanywhere command of this machine, e.g. [/opt/actanywhere/bin/actanywhere]"
                            % (command[0], error.strerror)) from None
    return "local-%d" % process.pid


def job_for_shot(spec_data: Mapping[str, Any], config: Config, export: Optional[Mapping[str, Any]] = None) -> FarmJob:
    """A one-shot job from the panel's resolved spec (its variants are the spec's seeds)."""
    spec = shotspec.from_resolved(spec_data, source="submitted shot")
    shotspec.check_model_configured(spec, config, source="submitted shot")
    entry = ShotEntry(spec)
    if export:
        # The workstation's export command names the workstation's install; the worker builds its own.
        entry.export = ExportStep(script=str(export["script"]), node=str(export["node"]), frames=str(export["frames"]))
    return job_module.expand(JobFile(name=spec.shot, shots=[entry], variants=Variants()), config, source="submitted shot")


def submit_shot(spec_data: Mapping[str, Any], export: Optional[Mapping[str, Any]] = None,
                backend: Optional[str] = None, config: Optional[Config] = None) -> Dict[str, Any]:
    """The Nuke plugin's entry: submit one shot; returns the farm's job id and the tasks that publish
    its versions ({"task_id", "seed"}: what Nuke's Collect finds them by)."""
    config = config or config_module.load().config
    job = job_for_shot(spec_data, config, export)
    submission = submit_job(job, config, backend, detach_local=True)
    return {"job_id": submission.farm_job_id or submission.job_id,
            "tasks": [{"task_id": task.task_id, "seed": task.seed} for shot in job.shots for task in shot.tasks]}
