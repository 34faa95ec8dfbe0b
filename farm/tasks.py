"""The tasks farm workers run, whatever the backend:

    actanywhere farm task export   --job JOB_DIR --shot SHOT
    actanywhere farm task generate --job JOB_DIR (--task TASK_ID | --index N[-M]) [--engine ADDR]
    actanywhere farm task publish  --job JOB_DIR --shot SHOT

Each prints `openjd_progress: P` / `openjd_status: text` lines (Deadline Cloud shows them; other farms
just log them) and, on failure, one `openjd_fail: reason` line and a non-zero exit.

Exactly once: a generate task first looks for the version it already published, by its task id in
the version records (engine/outputs.py), and skips; a version found is re-validated (every frame and
.otio exists and reads). The task id goes with the work (to the engine, or to generate_shot), so a
task killed after its version was published finds it, and a task killed before published nothing
(a version appears in one rename): its retry reuses the dead claim's version number.

Generate sends the shot to the worker session's engine when one is given (`--engine`, or the
ACTANYWHERE_FARM_ENGINE variable the session's environment sets), else runs the model in this process.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..engine.errors import ActAnywhereError
from ..engine.progress import ProgressEvent, ProgressLog
from ..engine.outputs import OutputError, OutputTemplate, PublishedVersion, process_start_time, published_by, read_otio
from ..engine.sequence import FrameSequence
from ..engine.shotspec import ShotSpec
from .job import FarmError, FarmJob, Task, write_json

ENGINE_VARIABLE = "ACTANYWHERE_FARM_ENGINE"
# Rough share of a generate task's time per stage, for one progress figure.
_STAGE_SPANS = {"read": (0.0, 0.1), "track": (0.0, 0.1), "encode": (0.1, 0.15), "sample": (0.15, 0.6),
                "refine": (0.6, 0.85), "decode": (0.85, 0.88), "interaction": (0.88, 0.9), "write": (0.9, 1.0)}


def write_progress(write: Callable[[str], None], percent: int) -> None:
    """One progress figure in the forms the farms read: `openjd_progress: N` (Deadline Cloud, OpenJD)
    and `Progress: N%` (Deadline 10's CommandLine plugin); OpenCue logs both."""
    write("openjd_progress: %d" % percent)
    write("Progress: %d%%" % percent)


class ProgressLines:
    """ProgressEvents as progress lines (write_progress), one per whole percent and only ever forward
    (stages come round again for every seed, and some run before sampling), and as `openjd_status`
    lines in the CLI's plain format (engine/progress.py `describe`): one per stage, or every `interval_s`."""

    def __init__(self, write: Callable[[str], None], first: float = 0.0, span: float = 100.0,
                 interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.write, self.first, self.span = write, first, span
        self.last = -1
        self.status = ProgressLog(lambda line: write("openjd_status: " + line), interval_s, clock)

    def __call__(self, event: ProgressEvent) -> None:
        self.status(event)
        low, high = _STAGE_SPANS.get(event.stage, (0.0, 1.0))
        percent = int(self.first + self.span * (low + (high - low) * event.fraction))
        if percent > self.last:
            self.last = percent
            write_progress(self.write, percent)


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- state files (what `farm status` reads) --------------------------------------------------------
def state_path(job_dir: str, name: str) -> str:
    return os.path.join(job_dir, "state", name + ".json")


def record_state(job_dir: str, name: str, stage: str, state: str, **details: Any) -> None:
    path = state_path(job_dir, name)
    previous = read_json(path) or {}
    attempts = previous.get("attempts", 0) + (1 if state == "running" else 0)
    data = dict(previous, name=name, stage=stage, state=state, host=socket.gethostname(), pid=os.getpid(),
                started=process_start_time(), updated=time.time(), attempts=attempts, **details)
    if state == "running":
        data.pop("error", None)
    write_json(path, data)


def read_json(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, "r", encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return None


# -- export ----------------------------------------------------------------------------------------
def run_export(job: FarmJob, shot_name: str, config, force: bool = False, write: Callable[[str], None] = say) -> None:
    """Render the shot's inputs from its Nuke script when it has an export step; then check that the
    plate and matte frames exist and read, so a bad shot fails here and not on a GPU."""
    shot = job.shot(shot_name)
    record_state(job.job_dir, "export-" + shot.name, "export", "running")
    try:
        if shot.export is not None and (force or not _inputs_ready(shot.spec)):
            command = shot.export.command or export_command(
                shot.export, config.farm.nuke_executable, _export_mapping(job, shot.name, config))
            write("openjd_status: exporting %s from %s" % (shot.name, shot.export.script))
            completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            sys.stdout.write(completed.stdout)
            if completed.returncode != 0:
                last = (completed.stdout.strip().splitlines() or ["no output"])[-1]
                raise FarmError("export of %s failed (exit %d): %s" % (shot.name, completed.returncode, last))
        elif shot.export is not None:
            write("openjd_status: %s inputs already exported; skipped (--force renders again)" % shot.name)
        check_inputs(shot.spec)
        write_progress(write, 100)
    except BaseException as error:
        record_state(job.job_dir, "export-" + shot.name, "export", "failed", error=str(error))
        raise
    record_state(job.job_dir, "export-" + shot.name, "export", "done")


def _export_mapping(job: FarmJob, shot_name: str, config) -> Optional[str]:
    """The workstation -> worker rules (farm.path_mapping) for the export's filename filter, as a file in the
    job folder; None without rules."""
    if not config.farm.path_mapping:
        return None
    path = os.path.join(job.job_dir, "state", "export-%s.path_mapping.json" % shot_name)
    write_json(path, {"rules": [[rule.source, rule.destination] for rule in config.farm.path_mapping]})
    return path


def export_command(export, nuke_executable: str, path_mapping: Optional[str] = None) -> List[str]:
    """`nuke -t <this install's plugin>/farm_export.py ...`: the worker's own install, not the workstation's."""
    from ..plugin import __file__ as plugin_init

    script = os.path.join(os.path.dirname(os.path.abspath(plugin_init)), "farm_export.py").replace(os.sep, "/")
    command = [nuke_executable, "-t", script, "--script", export.script, "--node", export.node, "--frames", export.frames]
    return command + (["--path-mapping", path_mapping] if path_mapping else [])


def _inputs_ready(spec: ShotSpec) -> bool:
    frames = list(spec.frame_range())
    return not spec.plate_sequence.missing_frames(frames) and not spec.matte_sequence.missing_frames(frames)


def check_inputs(spec: ShotSpec) -> None:
    from ..engine.media.sequence_read import check_sequence

    frames = list(spec.frame_range())
    check_sequence(spec.plate_sequence, frames)
    check_sequence(spec.matte_sequence, frames)
    if not os.path.isfile(FrameSequence.parse(spec.condition).path(spec.condition_frame or 0)):
        raise FarmError("condition image %s does not exist: check the path (and farm.path_mapping)" % spec.condition)


# -- generate --------------------------------------------------------------------------------------
def run_generate(job: FarmJob, tasks: List[Task], config, engine: Optional[str] = None,
                 write: Callable[[str], None] = say) -> List[PublishedVersion]:
    """Run each task unless its version is already published; returns the tasks' versions."""
    engine = engine or os.environ.get(ENGINE_VARIABLE) or None
    records = []
    for number, task in enumerate(tasks):
        record_state(job.job_dir, task.task_id, "generate", "running", engine=engine)
        progress = ProgressLines(write, 100.0 * number / len(tasks), 100.0 / len(tasks))
        try:
            record, problems = find_version(task)
            if problems:
                # A published version is never rewritten: a damaged one needs a person, not a retry.
                raise FarmError("task %s: its version %s is damaged: %s; move that version folder away (it will "
                                "not be overwritten) and retry the task" % (task.task_id, record.version_name,
                                                                            "; ".join(problems)))
            if record is not None:
                write("openjd_status: %s: %s already published; skipped" % (task.task_id, record.version_name))
                state = "skipped"
            else:
                write("openjd_status: %s: shot %s seed %d %s" % (task.task_id, task.shot, task.seed,
                                                                  "on engine " + engine if engine else "in process"))
                record = _generate_on_engine(task, engine, config, progress) if engine else \
                    _generate_here(task, config, progress, write)
                state = "done"
        except BaseException as error:
            record_state(job.job_dir, task.task_id, "generate", "failed", error=str(error))
            raise
        record_state(job.job_dir, task.task_id, "generate", state, version_name=record.version_name,
                     sequences=record.sequences, folder=record.folder)
        write_progress(write, int(100.0 * (number + 1) / len(tasks)))
        records.append(record)
    return records


def _generate_here(task: Task, config, progress, write) -> PublishedVersion:
    from ..engine.generate import generate_shot

    return generate_shot(task.spec, config, progress=progress, log=lambda text: write("openjd_status: " + text),
                         task_id=task.task_id)[0]


def _generate_on_engine(task: Task, endpoint: str, config, progress) -> PublishedVersion:
    from ..engine.client import EngineClient, JobEndedError, run_job
    from ..engine.protocol import new_id

    # The engine's sandbox checks the output's deepest existing folder: make the versions' folder exist.
    os.makedirs(_template(task).version_parent(task.shot, task.seed), exist_ok=True)

    with EngineClient.from_settings(config.engine, endpoint=endpoint) as client:
        # A fresh engine job id per attempt (the engine never reruns a job id it knows, and a retry must
        # run); the task id makes it exactly-once: the engine returns a version this task published. A task
        # interrupted (the farm's SIGTERM) cancels its engine job, which then publishes nothing.
        try:
            ended = run_job(client, task.spec, job_id="%s.%s" % (task.task_id[:50], new_id()[:8]),
                            task_id=task.task_id, on_event=lambda _job, event: progress(event))
        except JobEndedError as error:
            raise FarmError("task %s: %s" % (task.task_id, error)) from None
        return PublishedVersion.from_data(ended["result"]["results"][0], "engine job %s" % ended["job_id"])


# -- finding a finished version --------------------------------------------------------------------
def _template(task: Task) -> OutputTemplate:
    return OutputTemplate.parse(task.spec.output.template)


def find_version(task: Task) -> Tuple[Optional[PublishedVersion], List[str]]:
    """(the version the task published or None, what is wrong with it): by the task id in the version
    records (outputs.py), so it holds however the version was made (engine, in process, a retry)."""
    record = published_by(_template(task), task.shot, task.task_id, task.seed)
    if record is None:
        return None, []
    return record, version_problems(record, task.spec.frames)


def version_problems(record: PublishedVersion, frames: str) -> List[str]:
    """What is wrong with a published version: missing or unreadable frames or .otio, per pass (empty: valid)."""
    from ..engine.media.sequence_read import check_sequence
    from ..engine.sequence import FrameRange

    problems = []
    wanted = list(FrameRange.parse(frames))
    for pass_name, path in sorted(record.sequences.items()):
        sequence = FrameSequence.parse(path)
        missing = sequence.missing_frames(wanted)
        if missing:
            problems.append("%s: frames %s missing in %s" % (pass_name, FrameRange.from_frames(missing), path))
            continue
        try:
            check_sequence(sequence, wanted)
        except ActAnywhereError as error:
            problems.append("%s: %s" % (pass_name, error))
        otio_path = record.otio_paths.get(pass_name)
        try:
            clip = read_otio(otio_path or os.path.join(record.folder, "(no .otio recorded)"))
        except OutputError as error:
            problems.append("%s: %s" % (pass_name, error))
            continue
        if list(clip["frames"]) != wanted or clip["path"] != path:
            problems.append("%s: %s does not describe frames %s of %s" % (pass_name, otio_path, frames, path))
    return problems
