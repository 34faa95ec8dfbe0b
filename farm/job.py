"""The farm job model: shots x variants, in three stages (export, generate, publish).

A JOB.yaml names the shots (each a shot spec, inline or by path, optionally with the Nuke export that
renders its inputs) and the variants (seeds and/or condition images) to run for every shot:

    schema_version: 1
    name: beach_tests
    shots:
      - spec: sh010.yaml                       # a shot spec file (relative to this file)
      - spec: {shot: sh020, plate: ..., matte: ..., condition: ..., frames: 1001-1048}
        export: {script: /shows/demo/comp/sh020.nk, node: ActAnywhere1, frames: 1001-1048}
    variants:
      seeds: [7, 8]                            # empty: the spec's own seeds (seed .. seed+variants-1)
      conditions: [ref/beach.png, ref/dusk.png] # empty: the spec's own condition
    priority: 50

`expand` turns it into a FarmJob: one generate task per shot x seed x condition, each with its own
resolved shot spec (one seed, one condition). A task's id is derived from that spec's hash, so the same
work always has the same id: it is the idempotency key a retried task uses to find its finished version.
The job folder (`save` / `load`) holds the expanded job and every task's spec, in worker paths: every
backend's tasks read it from shared storage.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import yaml

from ..engine import schema, shotspec
from ..engine.config import Config, read_yaml_mapping
from ..engine.errors import ActAnywhereError, ShotSpecError
from ..engine.outputs import OutputTemplate
from ..engine.schema import setting
from ..engine.shotspec import ShotSpec
from .path_mapping import PathMapper

JOB_SCHEMA_VERSION = 1
JOB_FILE = "job.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class FarmError(ActAnywhereError):
    """A farm job, task or submission problem: the message names the job, task or file."""


# -- JOB.yaml --------------------------------------------------------------------------------------
@dataclass
class ExportStep:
    script: str = setting(is_path=True, help="the saved Nuke script")
    node: str = setting(help="full name of the ActAnywhere node, e.g. ActAnywhere1")
    frames: str = setting(help="frames to export, handles included, e.g. 1001-1100")
    command: List[str] = setting(
        default_factory=list,
        help="the export command; empty: farm.nuke_executable -t <worker's plugin>/farm_export.py --script --node --frames",
    )


@dataclass
class ShotEntry:
    spec: Any = setting(help="a shot spec (mapping) or the path of a shot spec file")  # or a resolved ShotSpec
    export: Optional[ExportStep] = setting(None, help="render the inputs from a Nuke script first")


@dataclass
class Variants:
    seeds: List[int] = setting(default_factory=list, minimum=0, maximum=2**32 - 1, help="seeds; empty: the spec's")
    conditions: List[str] = setting(default_factory=list, is_path=True, help="condition images; empty: the spec's")


@dataclass
class JobFile:
    name: str = setting(help="job name: letters, digits, _ . -")
    shots: List[ShotEntry] = setting(help="the shots")
    variants: Variants = field(default_factory=Variants)
    job_dir: Optional[str] = setting(None, is_path=True, help="job folder on shared storage; empty: farm.jobs_dir")
    priority: int = setting(50, minimum=0, maximum=100, help="farm priority")
    schema_version: int = setting(JOB_SCHEMA_VERSION, choices=(JOB_SCHEMA_VERSION,))

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError("name %r may hold only letters, digits, _ . - (no spaces)" % self.name)
        if not self.shots:
            raise ValueError("shots: a job needs at least one shot")


# -- the expanded job ------------------------------------------------------------------------------
@dataclass
class Task:
    """One generate task: one shot, one seed, one condition."""

    task_id: str
    index: int  # 1-based over the whole job: the frame number on OpenCue and Deadline 10
    shot: str
    variant: int  # 1-based within the shot
    spec: ShotSpec

    @property
    def seed(self) -> int:
        return self.spec.sampler.seed

    def summary(self) -> Dict[str, Any]:
        return {"task_id": self.task_id, "index": self.index, "shot": self.shot, "variant": self.variant,
                "seed": self.seed, "condition": self.spec.condition}


@dataclass
class Shot:
    name: str
    index: int  # 1-based
    spec: ShotSpec  # the shot as given (its first seed and condition)
    export: Optional[ExportStep]
    tasks: List[Task] = field(default_factory=list)


@dataclass
class FarmJob:
    name: str
    job_id: str
    shots: List[Shot]
    priority: int = 50
    sandbox_roots: List[str] = field(default_factory=list)
    job_dir: Optional[str] = None  # where it was loaded from or saved to

    @property
    def tasks(self) -> List[Task]:
        return [task for shot in self.shots for task in shot.tasks]

    def shot(self, name: str) -> Shot:
        for shot in self.shots:
            if shot.name == name:
                return shot
        raise FarmError("job %s has no shot %r; its shots: %s" % (self.job_id, name, ", ".join(s.name for s in self.shots)))

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.task_id == task_id:
                return task
        raise FarmError("job %s has no task %r (see %s)" % (self.job_id, task_id, os.path.join(self.job_dir or ".", JOB_FILE)))

    def with_paths_mapped(self, map_path) -> "FarmJob":
        """This job with every path of its specs and export steps passed through `map_path` (a worker
        session's path mapping rules, farm/path_mapping.py); task ids stay as they were."""
        from .path_mapping import map_spec_paths

        def remap(spec: ShotSpec) -> ShotSpec:
            return shotspec.from_resolved(map_spec_paths(spec.to_data(), map_path), source="shot %s after path mapping" % spec.shot)

        shots = []
        for shot in self.shots:
            export = shot.export
            if export is not None:
                export = dataclasses.replace(export, script=map_path(export.script))
            mapped = Shot(shot.name, shot.index, remap(shot.spec), export)
            mapped.tasks = [dataclasses.replace(task, spec=remap(task.spec)) for task in shot.tasks]
            shots.append(mapped)
        return dataclasses.replace(self, shots=shots, sandbox_roots=[map_path(root) for root in self.sandbox_roots])

    def tasks_by_index(self, text: str) -> List[Task]:
        """Tasks by their 1-based index: `3`, `1-4` (a chunk), or `1,3`."""
        wanted = set()
        for part in str(text).split(","):
            first, _, last = part.strip().partition("-")
            try:
                wanted.update(range(int(first), int(last or first) + 1))
            except ValueError:
                raise FarmError("task index %r: expected N, N-M or N,M" % text) from None
        found = [task for task in self.tasks if task.index in wanted]
        unknown = wanted - {task.index for task in found}
        if unknown:
            raise FarmError("job %s has %d tasks; no task %s" % (self.job_id, len(self.tasks), sorted(unknown)[0]))
        return found


def load_job_file(path: str, config: Config) -> FarmJob:
    """Read and check a JOB.yaml, then expand it (shot specs resolved with `config`)."""
    data = read_yaml_mapping(path, "farm job")
    return expand_data(data, config, base_dir=os.path.dirname(os.path.abspath(path)), source=path)


def expand_data(data: Dict[str, Any], config: Config, base_dir: Optional[str] = None, source: str = "farm job") -> FarmJob:
    try:
        job_file = schema.build(JobFile, dict(data), context=schema.Context(base_dir=base_dir))
    except schema.Invalid as error:
        raise FarmError("%s: %s" % (source, error.describe())) from None
    job = expand(job_file, config, base_dir, source)
    if job_file.job_dir:
        job.job_dir = job_file.job_dir
    return job


def expand(job_file: JobFile, config: Config, base_dir: Optional[str] = None, source: str = "farm job") -> FarmJob:
    """One task per shot x seed x condition; deterministic ids."""
    shots: List[Shot] = []
    index = 0
    for shot_number, entry in enumerate(job_file.shots, 1):
        spec = _shot_spec(entry.spec, config, base_dir, "%s: shots[%d]" % (source, shot_number - 1))
        if any(shot.name == spec.shot for shot in shots):
            raise FarmError("%s: shot %s appears twice; give each shot once" % (source, spec.shot))
        if spec.frames is None:
            raise FarmError("%s: shot %s has no frames: give its frame range (the farm cannot look at the "
                            "workstation's disk)" % (source, spec.shot))
        shot = Shot(spec.shot, shot_number, spec, entry.export)
        seeds = job_file.variants.seeds or spec.seeds
        conditions = job_file.variants.conditions or [spec.condition]
        variant = 0
        for condition in conditions:
            for seed in seeds:
                index += 1
                variant += 1
                task_spec = variant_spec(spec, seed, condition)
                shot.tasks.append(Task(task_id_for(task_spec, variant), index, spec.shot, variant, task_spec))
        shots.append(shot)
    digest = hashlib.sha256(" ".join(t.task_id for s in shots for t in s.tasks).encode()).hexdigest()[:8]
    return FarmJob(job_file.name, "%s-%s" % (job_file.name[:48], digest), shots, job_file.priority)


def _shot_spec(value: Any, config: Config, base_dir: Optional[str], where: str) -> ShotSpec:
    """A JOB.yaml entry's spec, resolved here (farm submit is where the request is written); the
    panel's entry is a ShotSpec it resolved already."""
    if isinstance(value, ShotSpec):
        return value
    if isinstance(value, str):
        path = value if os.path.isabs(value) else os.path.join(base_dir or os.getcwd(), value)
        return shotspec.load(path, config)
    if isinstance(value, dict):
        return shotspec.resolve(value, config, base_dir=base_dir, source=where)
    raise FarmError("%s.spec: expected a shot spec mapping or the path of a shot spec file, got %r" % (where, value))


def variant_spec(spec: ShotSpec, seed: int, condition: str) -> ShotSpec:
    """The spec of one variant: one seed, one condition."""
    return dataclasses.replace(shotspec.derive(spec, seed=seed, variants=1), condition=condition)


def task_id_for(spec: ShotSpec, variant: int) -> str:
    """`<shot>-v<NN>-<hash of the variant's spec>`: the same work always gets the same id. It also
    passes as an engine job id (letters, digits, _ . -, at most 64 characters)."""
    return "%s-v%02d-%s" % (spec.shot[:40], variant, spec.spec_hash()[:12])


# -- the job folder --------------------------------------------------------------------------------
def default_job_dir(job: FarmJob, config: Config) -> str:
    """farm.jobs_dir/<job id>, else farm_jobs/<job id> beside the first shot's outputs."""
    if config.farm.jobs_dir:
        return os.path.join(config.farm.jobs_dir, job.job_id).replace(os.sep, "/")
    root = OutputTemplate.parse(job.shots[0].spec.output.template).static_root()
    return os.path.join(os.path.abspath(root or "."), "farm_jobs", job.job_id).replace(os.sep, "/")


def spec_path(job_dir: str, name: str) -> str:
    return os.path.join(job_dir, "specs", name + ".yaml")


def save(job: FarmJob, job_dir: str, mapper: Optional[PathMapper] = None) -> str:
    """Write the job folder: job.yaml and every shot's and task's spec, with paths mapped for the workers.
    Returns the job folder as the workers see it."""
    mapper = mapper or PathMapper()
    os.makedirs(os.path.join(job_dir, "specs"), exist_ok=True)
    worker_dir = mapper.map(os.path.abspath(job_dir).replace(os.sep, "/"))
    roots = {worker_dir}
    shots = []
    for shot in job.shots:
        _write_spec(mapper, shot.spec, spec_path(job_dir, shot.name), roots)
        for task in shot.tasks:
            _write_spec(mapper, task.spec, spec_path(job_dir, task.task_id), roots)
        export = None
        if shot.export is not None:
            export = schema.to_data(shot.export)
            export["script"] = mapper.map(export["script"])
            export["command"] = mapper.map_arguments(export["command"])
        shots.append({"name": shot.name, "index": shot.index, "export": export,
                      "tasks": [task.summary() for task in shot.tasks]})
    job.sandbox_roots = _outermost(roots)
    data = {"schema_version": JOB_SCHEMA_VERSION, "name": job.name, "job_id": job.job_id, "priority": job.priority,
            "sandbox_roots": job.sandbox_roots, "shots": shots}
    _write_text(os.path.join(job_dir, JOB_FILE), yaml.safe_dump(data, sort_keys=False))
    job.job_dir = job_dir
    return worker_dir


def load(job_dir: str) -> FarmJob:
    """The job a task runs: read back from its job folder (no config needed: the specs are resolved)."""
    path = os.path.join(job_dir, JOB_FILE)
    data = read_yaml_mapping(path, "farm job folder")
    if data.get("schema_version") != JOB_SCHEMA_VERSION:
        raise FarmError("%s: schema_version %r is not supported (this version reads %d); resubmit the job"
                        % (path, data.get("schema_version"), JOB_SCHEMA_VERSION))
    shots = []
    for shot_data in data["shots"]:
        spec = shotspec.load_resolved(spec_path(job_dir, shot_data["name"]))
        export = None
        if shot_data.get("export"):
            try:
                export = schema.build(ExportStep, shot_data["export"])
            except schema.Invalid as error:
                raise FarmError("%s: shots.%s.export: %s" % (path, shot_data["name"], error.describe())) from None
        shot = Shot(shot_data["name"], shot_data["index"], spec, export)
        for task_data in shot_data["tasks"]:
            task_spec = shotspec.load_resolved(spec_path(job_dir, task_data["task_id"]))
            shot.tasks.append(Task(task_data["task_id"], task_data["index"], shot.name, task_data["variant"], task_spec))
        shots.append(shot)
    return FarmJob(data["name"], data["job_id"], shots, data.get("priority", 50), list(data.get("sandbox_roots") or []),
                   job_dir=job_dir)


def _write_spec(mapper: PathMapper, spec: ShotSpec, path: str, roots: set) -> None:
    data = mapper.map_spec_data(spec.to_data())
    for key in ("plate", "matte", "condition"):
        roots.add(os.path.dirname(data[key]))
    roots.add(OutputTemplate.parse(data["output"]["template"]).static_root())
    if data["colour"].get("ocio_config") and "://" not in data["colour"]["ocio_config"]:
        roots.add(os.path.dirname(data["colour"]["ocio_config"]))
    try:
        mapped = shotspec.from_resolved(data, source=path)
    except ShotSpecError as error:
        raise FarmError("after path mapping: %s" % error) from None
    mapped.save(path)


def _outermost(paths) -> List[str]:
    """The folders that are not inside another one of the set (the engine's sandbox roots)."""
    cleaned = sorted({path.rstrip("/") or "/" for path in paths if path})
    roots: List[str] = []
    for path in cleaned:
        if not any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots):
            roots.append(path)
    return roots


def _write_text(path: str, text: str) -> None:
    temporary = "%s.tmp-%d" % (path, os.getpid())
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, path)


def write_json(path: str, data: Any) -> None:
    """Atomic JSON write (state files, markers, manifests)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    _write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
