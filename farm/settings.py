"""The farm's config section (`farm:` in the studio config), registered through farm/extension.py.

Pure Python (Nuke imports this for the panel's farm button).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from ..engine.schema import setting
from ..engine.settings import check_device
from .backends import BACKENDS


@dataclass
class PathMapping:
    source: str = setting(help="path prefix as the workstation sees it")
    destination: str = setting(help="the same storage as the farm workers see it")


@dataclass
class FarmSettings:
    backend: str = setting("local", choices=BACKENDS, help="where farm jobs go")
    local_workers: int = setting(1, minimum=1, help="worker processes of the local backend")
    path_mapping: List[PathMapping] = setting(default_factory=list, help="workstation -> worker path rules")
    openjd_queue: Optional[str] = setting(None, help="Deadline Cloud queue id; empty: write the bundle only")
    opencue_show: Optional[str] = setting(None, help="OpenCue show; empty: write the job XML only")
    deadline10_pool: Optional[str] = setting(None, help="Deadline 10 pool")
    openjd_farm: Optional[str] = setting(None, help="Deadline Cloud farm id (with openjd_queue)")
    opencue_cuebot: Optional[str] = setting(None, help="Cuebot host; empty: pycue's own config ($CUEBOT_HOSTS)")
    opencue_facility: str = setting("local", help="OpenCue facility of submitted jobs")
    deadline10_group: Optional[str] = setting(None, help="Deadline 10 group")
    jobs_dir: Optional[str] = setting(
        None, is_path=True, help="shared folder for job folders; empty: farm_jobs/ beside the first shot's outputs"
    )
    worker_command: List[str] = setting(
        default_factory=lambda: ["actanywhere"], help="how farm workers run actanywhere, e.g. [/opt/aa/bin/actanywhere]"
    )
    worker_device: str = setting("auto", check=check_device, help="device of the engine a farm worker starts")
    nuke_executable: str = setting("nuke", help="Nuke on the workers, for the export stage (nuke -t)")
    chunk_size: int = setting(1, minimum=1, help="generate tasks per farm task on OpenCue and Deadline 10")
    gpu_memory_gib: int = setting(16, minimum=0, help="GPU memory a generate task asks of its worker (OpenJD, OpenCue)")
    generate_timeout_s: int = setting(14400, minimum=60, help="a generate task running longer is stopped by the farm")
    stage_timeout_s: int = setting(3600, minimum=60, help="the same for export and publish tasks and the engine's start")
    max_retries_per_task: int = setting(2, minimum=0, help="retries of a failed task (Deadline Cloud, Deadline 10)")
    local_sticky_engine: bool = setting(True, help="local backend: one engine per worker (false: a fresh process per task)")
