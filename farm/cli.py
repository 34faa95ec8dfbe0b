"""`actanywhere farm ...`: the farm commands (wired into engine/cli.py by add_farm_commands).

    actanywhere farm submit JOB.yaml [--backend openjd|opencue|deadline10|local] [--dry-run OUTDIR]
    actanywhere farm run JOB_DIR [--workers N] [--process-per-task]   run a written job folder locally
    actanywhere farm status JOB_DIR [--json]                           per-task state
    actanywhere farm collect JOB_DIR [--json]                          the published versions
    actanywhere farm task export|generate|publish --job JOB_DIR ...     what farm workers run
    actanywhere farm engine start|stop --session-dir DIR ...           a worker session's engine
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any, Dict, List

from ..engine.errors import ActAnywhereError
from .backends import BACKENDS


def add_farm_commands(commands, common: argparse.ArgumentParser) -> None:
    farm = commands.add_parser("farm", help="render-farm jobs: submit, status, collect (docs/farm.md)")
    farm_commands = farm.add_subparsers(dest="farm_command", metavar="submit|run|status|collect|task|engine")
    farm_commands.required = True

    submit = farm_commands.add_parser("submit", parents=[common], help="write a job's farm files and submit them")
    submit.add_argument("job_file", metavar="JOB.yaml", help="the farm job (docs/farm.md)")
    submit.add_argument("--backend", choices=BACKENDS, help="default: farm.backend")
    submit.add_argument("--dry-run", metavar="OUTDIR", help="write the job folder and files in OUTDIR; submit nothing")

    run = farm_commands.add_parser("run", parents=[common], help="run a written job folder with the local backend")
    run.add_argument("job_dir", metavar="JOB_DIR")
    run.add_argument("--workers", type=int, default=0, help="local workers (default farm.local_workers)")
    run.add_argument("--process-per-task", action="store_true", help="no engine: each task loads the model itself")

    for name, text in (("status", "per-task state of a job"), ("collect", "the versions a job published")):
        parser = farm_commands.add_parser(name, parents=[common], help=text)
        parser.add_argument("job_dir", metavar="JOB_DIR")
        parser.add_argument("--json", action="store_true", help="print JSON")

    task = farm_commands.add_parser("task", help="run one task of a job (what farm workers run)")
    stages = task.add_subparsers(dest="stage", metavar="export|generate|publish")
    stages.required = True
    for stage in ("export", "generate", "publish"):
        parser = stages.add_parser(stage, parents=[common], help="the %s task" % stage)
        parser.add_argument("--job", default=os.environ.get("ACTANYWHERE_FARM_JOB"), help="the job folder")
        parser.add_argument("--path-mapping-rules", metavar="FILE",
                            help="the session's path mapping rules (OpenJD pathmapping-1.0, "
                                 "{{Session.PathMappingRulesFile}}), applied to every path of the job's specs")
        if stage == "generate":
            which = parser.add_mutually_exclusive_group(required=True)
            which.add_argument("--task", action="append", help="task id (repeatable)")
            which.add_argument("--index", help="task index or chunk: N, N-M (OpenCue and Deadline frames)")
            parser.add_argument("--engine", help="engine address (default $ACTANYWHERE_FARM_ENGINE; none: in process)")
        else:
            which = parser.add_mutually_exclusive_group(required=True)
            which.add_argument("--shot", help="shot name")
            which.add_argument("--shot-index", type=int, help="1-based shot number (OpenCue and Deadline frames)")
            if stage == "export":
                parser.add_argument("--force", action="store_true", help="render the inputs even if they exist")

    engine = farm_commands.add_parser("engine", help="a worker session's engine")
    engine_commands = engine.add_subparsers(dest="engine_command", metavar="start|stop")
    engine_commands.required = True
    start = engine_commands.add_parser("start", parents=[common], help="start the engine; prints openjd_env")
    start.add_argument("--job", required=True, help="the job folder (its folders become the sandbox)")
    start.add_argument("--session-dir", required=True, help="the session's working folder")
    start.add_argument("--device", help="default farm.worker_device")
    start.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the model to load")
    start.add_argument("--path-mapping-rules", metavar="FILE", help="the session's path mapping rules (its sandbox follows them)")
    stop = engine_commands.add_parser("stop", parents=[common], help="stop the session's engine")
    stop.add_argument("--session-dir", required=True)


def run_farm_command(arguments: argparse.Namespace, config) -> int:
    if arguments.farm_command in ("task", "engine"):
        return _run_worker_command(arguments, config)
    from . import job as job_module

    if arguments.farm_command == "submit":
        from .submit import submit_job

        job = job_module.load_job_file(arguments.job_file, config)
        submission = submit_job(job, config, arguments.backend, arguments.dry_run, _config_arguments(arguments))
        for path in submission.files:
            print("wrote %s" % path)
        if submission.farm_job_id:
            print("submitted %s to %s: %s" % (submission.job_id, submission.backend, submission.farm_job_id))
        print("job folder: %s" % submission.job_dir)
        return 0
    job = job_module.load(_job_dir(arguments.job_dir))
    if arguments.farm_command == "run":
        from .backends.local import run_job

        run_job(job, config, _config_arguments(arguments), workers=arguments.workers,
                sticky=False if arguments.process_per_task else None)
        return 0
    if arguments.farm_command == "status":
        rows = job_status(job)
        _print(arguments, rows, "\n".join("%-8s %-10s %-44s %s" % (row["stage"], row["state"], row["name"], row["detail"])
                                          for row in rows))
        return 0
    from .publish import read_manifests

    manifests = read_manifests(job.job_dir)
    lines = ["%s %s seed %s: %s" % (m["shot"], v["version_name"], v["seed"], v["sequences"]["bg"])
             for m in manifests for v in m["versions"]]
    missing = [shot.name for shot in job.shots if shot.name not in {m["shot"] for m in manifests}]
    lines += ["%s: not published yet" % name for name in missing]
    _print(arguments, manifests, "\n".join(lines))
    return 0


def job_status(job) -> List[Dict[str, Any]]:
    """One row per task of every stage, from the state files the tasks write on shared storage."""
    from ..engine.outputs import process_alive
    from .tasks import read_json, state_path

    names = [("export", "export-" + shot.name) for shot in job.shots]
    names += [("generate", task.task_id) for task in job.tasks]
    names += [("publish", "publish-" + shot.name) for shot in job.shots]
    rows = []
    for stage, name in names:
        state = read_json(state_path(job.job_dir, name)) or {"state": "waiting"}
        if state["state"] == "running" and state.get("pid") and \
                process_alive(state.get("host"), state["pid"], state.get("started")) is False:
            # killed (SIGKILL, a crash, the out-of-memory killer): its state file still says running
            state = dict(state, state="dead", error="its process (pid %s on %s) is gone; the farm retries it, or "
                                                    "run it again" % (state["pid"], state.get("host")))
        detail = state.get("error") or state.get("version_name") or ""
        if state.get("attempts", 0) > 1:
            detail = ("attempt %d; " % state["attempts"]) + detail
        rows.append({"stage": stage, "name": name, "state": state["state"], "detail": detail,
                     "host": state.get("host"), "attempts": state.get("attempts", 0)})
    return rows


def _run_worker_command(arguments: argparse.Namespace, config) -> int:
    from . import job as job_module

    # SIGTERM (a farm cancelling the task) unwinds like an error: nothing half-written is published.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        if arguments.farm_command == "engine":
            from .session_engine import start_engine, stop_engine

            if arguments.engine_command == "stop":
                stop_engine(arguments.session_dir)
                return 0
            job = _mapped(job_module.load(_job_dir(arguments.job)), arguments)
            start_engine(job, arguments.session_dir, arguments.device or config.farm.worker_device,
                         _config_arguments(arguments), timeout_s=arguments.timeout)
            return 0
        job = _mapped(job_module.load(_job_dir(arguments.job)), arguments)
        if arguments.stage == "generate":
            from .tasks import run_generate

            tasks = [job.task(task_id) for task_id in arguments.task] if arguments.task else job.tasks_by_index(arguments.index)
            run_generate(job, tasks, config, engine=arguments.engine)
            return 0
        shot = arguments.shot or _shot_by_index(job, arguments.shot_index)
        if arguments.stage == "export":
            from .tasks import run_export

            run_export(job, shot, config, force=arguments.force)
        else:
            from .publish import run_publish

            run_publish(job, shot)
        return 0
    except (ActAnywhereError, KeyboardInterrupt, SystemExit) as error:
        reason = str(error) if isinstance(error, ActAnywhereError) else "task interrupted; nothing was published"
        sys.stdout.write("openjd_fail: %s\n" % reason)
        sys.stdout.flush()
        raise


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt()


def _mapped(job, arguments: argparse.Namespace):
    """The job with the session's path mapping rules applied to its specs, when a farm gives them."""
    if not getattr(arguments, "path_mapping_rules", None):
        return job
    from .path_mapping import SessionRules

    rules = SessionRules.from_file(arguments.path_mapping_rules)
    return job.with_paths_mapped(rules.map) if rules else job


def _shot_by_index(job, index: int) -> str:
    if not 1 <= index <= len(job.shots):
        from .job import FarmError

        raise FarmError("job %s has %d shots; no shot %d" % (job.job_id, len(job.shots), index))
    return job.shots[index - 1].name


def _job_dir(path) -> str:
    if not path:
        from .job import FarmError

        raise FarmError("no job folder: give --job JOB_DIR (or set ACTANYWHERE_FARM_JOB)")
    return os.path.abspath(path).replace(os.sep, "/")


def _config_arguments(arguments: argparse.Namespace) -> List[str]:
    """The command's own config layers, passed on to the processes it starts."""
    passed: List[str] = []
    for path in getattr(arguments, "config", []) or []:
        passed += ["--config", os.path.abspath(path)]
    for override in getattr(arguments, "overrides", []) or []:
        passed += ["--set", override]
    return passed


def _print(arguments: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=1, sort_keys=True) if arguments.json else text)
