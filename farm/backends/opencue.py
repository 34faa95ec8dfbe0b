"""OpenCue: a pyoutline outline, serialised to the job spec XML without a Cuebot.

    <out>/job.xml    layers export (one frame per shot) -> generate (one frame per shot variant, chunked)
                     -> publish (one frame per shot), layer-on-layer dependencies

OpenCue frames are the task indices: a generate frame N runs task N of the job folder
(`--index #FRAME_START#-#FRAME_END#`, so a chunk runs several variants in one process that loads the
model once: farm.chunk_size). The generate layer asks for one GPU. Submitted through pycue when
farm.opencue_show is set (Cuebot from farm.opencue_cuebot, else pycue's own config).
pyoutline is an optional extra (`pip install actanywhere[opencue]`): it installs top-level modules.
"""
from __future__ import annotations

import os
import shlex
from typing import List

from ..job import FarmError, FarmJob

JOB_XML = "job.xml"


def _pyoutline():
    try:
        import outline
        import outline.cuerun
        from outline.modules.shell import Shell
    except ImportError as error:
        raise FarmError("opencue: pyoutline is not installed (%s); pip install 'actanywhere[opencue]'" % error) from None
    return outline, Shell


def _command(command: List[str], arguments: List[str]) -> str:
    """A shell command line; the frame tokens stay unquoted so Cuebot can substitute them."""
    return " ".join(part if part.startswith("#") else shlex.quote(part) for part in command + arguments)


def build_outline(job: FarmJob, worker_job_dir: str, farm):
    outline, Shell = _pyoutline()
    command = list(farm.worker_command)
    show = farm.opencue_show or "actanywhere"
    shot = job.shots[0].name if len(job.shots) == 1 else "multi"
    job_outline = outline.Outline(job.job_id, show=show, shot=shot, user=os.environ.get("USER", "actanywhere"),
                                  facility=farm.opencue_facility)
    shots = "1-%d" % len(job.shots)
    tasks = "1-%d" % len(job.tasks)
    task_base = ["farm", "task"]
    export = Shell("export", command=_command(command, task_base + ["export", "--job", worker_job_dir,
                                                                    "--shot-index", "#IFRAME#"]),
                   range=shots, chunk=1, cores=1)
    generate = Shell("generate", command=_command(command, task_base + ["generate", "--job", worker_job_dir,
                                                                        "--index", "#FRAME_START#-#FRAME_END#"]),
                     range=tasks, chunk=farm.chunk_size, cores=2, gpus=1,
                     gpu_memory="%dg" % max(1, farm.gpu_memory_gib), memory="%dg" % max(8, farm.gpu_memory_gib))
    publish = Shell("publish", command=_command(command, task_base + ["publish", "--job", worker_job_dir,
                                                                      "--shot-index", "#IFRAME#"]),
                    range=shots, chunk=1, cores=1)
    generate.depend_all(export)
    publish.depend_all(generate)
    for layer in (export, generate, publish):
        # as Deadline 10's EnvironmentKeyValue0: the task finds its job folder without an argument too
        layer.set_env("ACTANYWHERE_FARM_JOB", worker_job_dir)
        if os.environ.get("ACTANYWHERE_CONFIG"):  # the studio config the job was submitted with
            layer.set_env("ACTANYWHERE_CONFIG", os.environ["ACTANYWHERE_CONFIG"])
        job_outline.add_layer(layer)
    return job_outline


def job_xml(job: FarmJob, worker_job_dir: str, farm) -> str:
    outline, _ = _pyoutline()
    launcher = outline.cuerun.OutlineLauncher(build_outline(job, worker_job_dir, farm), priority=job.priority,
                                              user=os.environ.get("USER", "actanywhere"))
    # use_pycuerun=False: the layers run our commands directly, and nothing is written to the home folder.
    return launcher.serialize(use_pycuerun=False)


def write_job(job: FarmJob, out_dir: str, worker_job_dir: str, farm) -> List[str]:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, JOB_XML)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(job_xml(job, worker_job_dir, farm))
    return [path]


def submit(out_dir: str, farm) -> str:
    if not farm.opencue_show:
        raise FarmError("opencue: farm.opencue_show is not set, so %s was written but not submitted; "
                        "set farm.opencue_show (and farm.opencue_cuebot)" % os.path.join(out_dir, JOB_XML))
    try:
        import opencue
    except ImportError as error:
        raise FarmError("opencue: pycue is not installed (%s); pip install 'actanywhere[opencue]'" % error) from None
    if farm.opencue_cuebot:
        opencue.Cuebot.setHosts([farm.opencue_cuebot])
    with open(os.path.join(out_dir, JOB_XML), "r", encoding="utf-8") as stream:
        spec = stream.read()
    try:
        jobs = opencue.api.launchSpecAndWait(spec)
    except Exception as error:  # pycue raises grpc and its own errors
        raise FarmError("opencue: the Cuebot refused the job (%s: %s)" % (type(error).__name__, error)) from None
    return jobs[0].name() if jobs else ""
