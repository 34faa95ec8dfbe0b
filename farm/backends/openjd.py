"""Open Job Description (AWS Deadline Cloud): a job bundle, runnable locally with `openjd run`.

    <out>/template.yaml           jobtemplate-2023-09: steps Export -> Generate -> Publish
    <out>/parameter_values.yaml   the bundle's parameter values (the job folder, the priority, retries)
    <out>/asset_references.yaml   what job attachments carry to workers without the shared storage: the
                                  plates, mattes, conditions, OCIO config and export scripts in, the
                                  versions' folders and the job folder's results out

Generate runs in a step environment that starts one engine per worker session (onEnter) and stops it at
the end (onExit); the tasks of the session find it through ACTANYWHERE_FARM_ENGINE, so the model loads
once per worker session, not once per task. Generate asks for a Linux host with a GPU.
The job folder is a PATH parameter, so Deadline Cloud's storage-profile path mapping applies to it too.
Tasks are INT indices (1-based shot and task numbers, the ones `farm task --shot-index / --index`
take), so a job of any size fits: OpenJD lists hold at most 1024 values, ranges any number.
Submission: `deadline bundle submit` when farm.openjd_queue is set.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any, Dict, List, Optional

import yaml

from ..job import FarmError, FarmJob

TEMPLATE = "template.yaml"
PARAMETERS = "parameter_values.yaml"
ASSETS = "asset_references.yaml"
ENGINE_ENVIRONMENT = "ActAnywhereEngine"
CANCEL_NOTIFY_S = 30  # from SIGTERM to SIGKILL: enough to cancel an engine job and remove a staging folder


def job_template(job: FarmJob, worker_job_dir: str, farm) -> Dict[str, Any]:
    command = list(farm.worker_command)
    shots = [shot.name for shot in job.shots]
    template = {
        "specificationVersion": "jobtemplate-2023-09",
        "name": "ActAnywhere %s" % job.job_id,
        "parameterDefinitions": [
            {"name": "JobDir", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "NONE",
             # No default: OpenJD allows only relative defaults inside the bundle. parameter_values.yaml
             # gives it (the workers' path); `openjd run` takes -p JobDir=...
             "description": "the job folder on shared storage (specs, state, results)"},
        ],
        "steps": [
            _with_host(_step("Export", "ShotIndex", len(shots), _action(
                command, ["export", "--shot-index", "{{Task.Param.ShotIndex}}"], farm.stage_timeout_s))),
            generate_step(job, command, farm),
            _with_host(_step("Publish", "ShotIndex", len(shots), _action(
                command, ["publish", "--shot-index", "{{Task.Param.ShotIndex}}"], farm.stage_timeout_s),
                depends_on="Generate")),
        ],
    }
    if farm.chunk_size > 1:
        # Generate's tasks come in chunks "N-M" (`farm task generate --index N-M`): fewer, longer tasks.
        template = {"specificationVersion": template.pop("specificationVersion"), "extensions": ["TASK_CHUNKING"],
                    **template}
    return template


def generate_step(job: FarmJob, command: List[str], farm) -> Dict[str, Any]:
    step = _step("Generate", "Index", len(job.tasks),
                 _action(command, ["generate", "--index", "{{Task.Param.Index}}"], farm.generate_timeout_s),
                 depends_on="Export")
    if farm.chunk_size > 1:
        definition = step["parameterSpace"]["taskParameterDefinitions"][0]
        definition.update(type="CHUNK[INT]", chunks={"defaultTaskCount": int(farm.chunk_size),
                                                     "rangeConstraint": "CONTIGUOUS"})
    step["stepEnvironments"] = [engine_environment(command, farm.worker_device, farm.stage_timeout_s)]
    return _with_host(step, gpu_memory_gib=farm.gpu_memory_gib)


def _with_host(step: Dict[str, Any], gpu_memory_gib: Optional[int] = None) -> Dict[str, Any]:
    """Every step runs on Linux workers (the worker command and the paths are POSIX); Generate also asks
    for a GPU with the memory farm.gpu_memory_gib says (Deadline Cloud counts it in MiB)."""
    requirements: Dict[str, Any] = {"attributes": [{"name": "attr.worker.os.family", "anyOf": ["linux"]}]}
    if gpu_memory_gib is not None:
        requirements["amounts"] = [{"name": "amount.worker.gpu", "min": 1}]
        if gpu_memory_gib:
            requirements["amounts"].append({"name": "amount.worker.gpu.memory", "min": int(gpu_memory_gib) * 1024})
    step["hostRequirements"] = requirements
    return step


def engine_environment(command: List[str], device: str, timeout_s: int) -> Dict[str, Any]:
    """Start the engine when the worker's session enters the step, stop it when the session ends."""
    session = "{{Session.WorkingDirectory}}/actanywhere_engine"
    enter = command[1:] + ["farm", "engine", "start", "--job", "{{Param.JobDir}}", "--session-dir", session,
                           "--device", device, "--path-mapping-rules", "{{Session.PathMappingRulesFile}}"]
    leave = command[1:] + ["farm", "engine", "stop", "--session-dir", session]
    return {"name": ENGINE_ENVIRONMENT,
            "description": "one ActAnywhere engine per worker session; tasks reach it through ACTANYWHERE_FARM_ENGINE",
            "script": {"actions": {"onEnter": _bounded({"command": command[0], "args": enter}, timeout_s),
                                   "onExit": _bounded({"command": command[0], "args": leave}, timeout_s)}}}


def _action(command: List[str], task_args: List[str], timeout_s: int) -> Dict[str, Any]:
    stage, rest = task_args[0], task_args[1:]
    # The session's path mapping rules (a Deadline Cloud storage profile) reach the paths inside the specs.
    return _bounded({"command": command[0],
                     "args": command[1:] + ["farm", "task", stage, "--job", "{{Param.JobDir}}",
                                            "--path-mapping-rules", "{{Session.PathMappingRulesFile}}"] + rest},
                    timeout_s)


def _bounded(action: Dict[str, Any], timeout_s: int) -> Dict[str, Any]:
    """An action the farm stops after `timeout_s`, and cancels with SIGTERM first: a task unwinds
    without publishing (a generate task cancels its engine job), then the farm may retry it."""
    action["timeout"] = int(timeout_s)
    action["cancelation"] = {"mode": "NOTIFY_THEN_TERMINATE", "notifyPeriodInSeconds": CANCEL_NOTIFY_S}
    return action


def _step(name: str, parameter: str, count: int, action: Dict[str, Any], depends_on: str = "") -> Dict[str, Any]:
    """A step of `count` tasks, numbered 1..count by an INT range."""
    step: Dict[str, Any] = {"name": name}
    if depends_on:
        step["dependencies"] = [{"dependsOn": depends_on}]
    step["parameterSpace"] = {"taskParameterDefinitions": [
        {"name": parameter, "type": "INT", "range": "1-%d" % count if count > 1 else "1"}]}
    step["script"] = {"actions": {"onRun": action}}
    return step


def parameter_values(job: FarmJob, worker_job_dir: str, farm) -> Dict[str, Any]:
    return {"parameterValues": [{"name": "JobDir", "value": worker_job_dir},
                                {"name": "deadline:priority", "value": job.priority},
                                {"name": "deadline:maxRetriesPerTask", "value": int(farm.max_retries_per_task)}]}


def asset_references(job: FarmJob) -> Dict[str, Any]:
    """Deadline Cloud's asset references (deadline-cloud's AssetReferences.to_dict form), in the
    submitting machine's paths: job attachments upload the inputs from there and download the outputs."""
    from ...engine.outputs import OutputTemplate
    from ...engine.sequence import FrameSequence

    directories, filenames, outputs = set(), set(), set()
    for shot in job.shots:
        if shot.export is not None:
            filenames.add(shot.export.script)
        for task in shot.tasks:
            spec = task.spec
            directories.update(os.path.dirname(FrameSequence.parse(path).prefix) for path in (spec.plate, spec.matte))
            condition = FrameSequence.parse(spec.condition)
            if condition.has_frame_token:
                directories.add(os.path.dirname(condition.prefix))
            else:
                filenames.add(spec.condition)
            if spec.colour.ocio_config and "://" not in spec.colour.ocio_config:
                filenames.add(spec.colour.ocio_config)
            outputs.add(OutputTemplate.parse(spec.output.template).version_parent(task.shot, task.seed))
    if job.job_dir:
        directories.add(os.path.join(job.job_dir, "specs"))
        outputs.update(os.path.join(job.job_dir, name) for name in ("results", "state", "logs"))
    return {"assetReferences": {"inputs": {"directories": sorted(directories), "filenames": sorted(filenames)},
                                "outputs": {"directories": sorted(outputs)}, "referencedPaths": []}}


def write_job(job: FarmJob, out_dir: str, worker_job_dir: str, farm) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    files = {TEMPLATE: job_template(job, worker_job_dir, farm), PARAMETERS: parameter_values(job, worker_job_dir, farm),
             ASSETS: asset_references(job)}
    written = []
    for name, data in files.items():
        path = os.path.join(out_dir, name)
        with open(path, "w", encoding="utf-8") as stream:
            yaml.safe_dump(data, stream, sort_keys=False, width=1000)
        written.append(path)
    return written


def submit(out_dir: str, farm) -> str:
    """`deadline bundle submit` (the Deadline Cloud CLI) with the configured farm and queue."""
    if not farm.openjd_queue:
        raise FarmError("openjd: farm.openjd_queue is not set, so the job bundle %s was written but not submitted; "
                        "submit it with `deadline bundle submit %s`, or set farm.openjd_queue" % (out_dir, out_dir))
    deadline = shutil.which("deadline")
    if not deadline:
        raise FarmError("openjd: the `deadline` CLI (pip install deadline) is not on PATH; the bundle is in %s" % out_dir)
    command = [deadline, "bundle", "submit", out_dir, "--yes", "--queue-id", farm.openjd_queue]
    if farm.openjd_farm:
        command += ["--farm-id", farm.openjd_farm]
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    match = re.search(r"\bjob-[0-9a-f]{32}\b", completed.stdout)
    if completed.returncode != 0 or not match:
        last = (completed.stdout.strip().splitlines() or ["no output"])[-1]
        raise FarmError("openjd: `deadline bundle submit` failed (exit %d): %s" % (completed.returncode, last))
    return match.group(0)
