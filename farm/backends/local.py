"""local: the job's tasks on this workstation, for artists without a farm.

The same task commands as on a farm: export and publish per shot, and generate tasks shared out to
farm.local_workers workers. Each worker is a session: it starts one engine (the same `farm engine start`
as an OpenJD worker session), runs its tasks one by one as `actanywhere farm task generate --engine ...`
processes, and stops the engine. With farm.local_sticky_engine false, each task instead loads the model in
its own fresh process (what a farm without sessions does; `benchmarks/farm_bench.py` compares the two).
Task output goes to JOB_DIR/logs/<task>.log.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Callable, Dict, List, Sequence

from ..job import FarmError, FarmJob, Task
from ..publish import run_publish
from ..session_engine import start_engine, stop_engine
from ..tasks import run_export

TASK_COMMAND = [sys.executable, "-m", "actanywhere.engine.cli", "farm", "task"]


def run_job(job: FarmJob, config, config_arguments: Sequence[str] = (), workers: int = 0,
            sticky: bool = None, log: Callable[[str], None] = print) -> Dict[str, object]:
    """Run every stage; returns {"generated": [...], "failed": {task: reason}, "manifests": [...]}."""
    workers = max(1, min(workers or config.farm.local_workers, len(job.tasks)))
    sticky = config.farm.local_sticky_engine if sticky is None else sticky
    silent = lambda text: None  # noqa: E731  (task progress lines: the logs hold them)
    for shot in job.shots:
        run_export(job, shot.name, config, write=silent)
    log("%s: %d generate tasks on %d local worker(s), %s" % (job.job_id, len(job.tasks), workers,
                                                             "one engine per worker" if sticky else "a process per task"))
    failed: Dict[str, str] = {}
    lanes = [job.tasks[number::workers] for number in range(workers)]
    threads = [threading.Thread(target=_worker, args=(job, number, lane, config, list(config_arguments), sticky,
                                                      failed, log), daemon=True)
               for number, lane in enumerate(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failed:
        raise FarmError("%s: %d generate task(s) failed: %s; rerun the job: finished tasks are skipped"
                        % (job.job_id, len(failed), "; ".join("%s: %s" % item for item in sorted(failed.items()))))
    manifests = [run_publish(job, shot.name, write=silent) for shot in job.shots]
    for manifest in manifests:
        log("%s: published %s" % (manifest["shot"], ", ".join(v["version_name"] for v in manifest["versions"])))
    return {"tasks": [task.task_id for task in job.tasks], "failed": failed, "manifests": manifests}


def _worker(job: FarmJob, number: int, tasks: List[Task], config, config_arguments: List[str], sticky: bool,
            failed: Dict[str, str], log: Callable[[str], None]) -> None:
    engine = None
    session_dir = os.path.join(job.job_dir, "local", "worker-%d" % (number + 1))
    try:
        if sticky:
            engine = start_engine(job, session_dir, config.farm.worker_device, config_arguments,
                                  write=lambda text: None)
        for task in tasks:
            command = TASK_COMMAND + ["generate", "--job", job.job_dir, "--task", task.task_id] + config_arguments
            if engine:
                command += ["--engine", engine]
            log_path = os.path.join(job.job_dir, "logs", task.task_id + ".log")
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            with open(log_path, "ab") as output:
                code = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
            if code != 0:
                failed[task.task_id] = _last_line(log_path)
            else:
                log("%s: done (worker %d)" % (task.task_id, number + 1))
    except Exception as error:  # the engine did not start: every task of this worker fails with its reason
        for task in tasks:
            failed.setdefault(task.task_id, str(error))
    finally:
        if engine:
            stop_engine(session_dir, write=lambda text: None)


def _last_line(path: str) -> str:
    with open(path, "r", errors="replace") as stream:
        lines = [line.strip() for line in stream if line.strip()]
    for line in reversed(lines):
        if line.startswith("openjd_fail:"):
            return line.split(":", 1)[1].strip()
    return lines[-1] if lines else "no output (see %s)" % path
