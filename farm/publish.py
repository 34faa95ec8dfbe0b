"""Publish: verify a shot's versions and write its results manifest and timeline.

For every generate task of the shot, the version it published is found (by the task id in the
version records, engine/outputs.py), and every expected frame and .otio of every pass must exist and read. One missing version or frame and
publish refuses the shot, naming the task and the frames, so a farm never reports a half-rendered shot
as done. Otherwise it writes, in the job folder:

    results/<shot>.json   the manifest: job, shot, frames, and per variant its version record
                          (outputs.PublishedVersion: task, seed, version, folder, frame sequences,
                          .otio paths, spec hash, model) with its variant and condition (what
                          `farm collect` and Nuke's collect read)
    results/<shot>.otio   one timeline, one track per version, for editorial review of the variants
"""
from __future__ import annotations

import glob
import os
import time
from typing import Any, Callable, Dict, List

from ..engine.sequence import FrameRange, FrameSequence
from .job import FarmError, FarmJob, write_json
from .tasks import find_version, read_json, record_state, say, write_progress

MANIFEST_VERSION = 2  # 2: each version is a version record (outputs.PublishedVersion.to_data)


def manifest_path(job_dir: str, shot: str) -> str:
    return os.path.join(job_dir, "results", shot + ".json")


def run_publish(job: FarmJob, shot_name: str, write: Callable[[str], None] = say) -> Dict[str, Any]:
    shot = job.shot(shot_name)
    name = "publish-" + shot.name
    record_state(job.job_dir, name, "publish", "running")
    try:
        manifest = publish_shot(job, shot_name, write)
    except BaseException as error:
        record_state(job.job_dir, name, "publish", "failed", error=str(error))
        raise
    record_state(job.job_dir, name, "publish", "done", manifest=manifest_path(job.job_dir, shot.name))
    return manifest


def publish_shot(job: FarmJob, shot_name: str, write: Callable[[str], None] = say) -> Dict[str, Any]:
    shot = job.shot(shot_name)
    problems: List[str] = []
    versions = []
    for task in shot.tasks:
        record, incomplete = find_version(task)
        if record is None:
            problems.append("task %s (seed %d) has no published version" % (task.task_id, task.seed))
            continue
        if incomplete:
            problems.append("task %s %s: %s" % (task.task_id, record.version_name, "; ".join(incomplete)))
            continue
        versions.append(dict(record.to_data(), variant=task.variant, condition=task.spec.condition))
        write_progress(write, int(90.0 * len(versions) / len(shot.tasks)))
    if problems:
        raise FarmError("publish %s refused, the shot is incomplete: %s. Rerun the failed generate tasks, "
                        "then publish again" % (shot.name, "; ".join(problems)))
    frames = shot.tasks[0].spec.frames if shot.tasks else shot.spec.frames
    otio_path = os.path.join(job.job_dir, "results", shot.name + ".otio")
    manifest = {"schema_version": MANIFEST_VERSION, "job_id": job.job_id, "job_name": job.name, "shot": shot.name,
                "frames": frames, "published": time.time(), "otio": otio_path.replace(os.sep, "/"),
                "versions": versions}
    os.makedirs(os.path.dirname(otio_path), exist_ok=True)
    _write_shot_timeline(otio_path, shot.name, versions, frames, shot.spec.output.fps or 24.0, job.job_id)
    write_json(manifest_path(job.job_dir, shot.name), manifest)
    write("openjd_status: published %s: %s" % (shot.name, ", ".join(v["version_name"] for v in versions)))
    write_progress(write, 100)
    return manifest


def _write_shot_timeline(path: str, shot: str, versions: List[Dict[str, Any]], frames: str, rate: float,
                         job_id: str) -> None:
    """One track per version (its bg pass), so a review tool shows the variants stacked."""
    import opentimelineio as otio

    frame_range = FrameRange.parse(frames)
    tracks = []
    for version in versions:
        sequence = FrameSequence.parse(version["sequences"]["bg"])
        directory, prefix = os.path.split(sequence.prefix)
        available = otio.opentime.TimeRange(otio.opentime.RationalTime(frame_range.first, rate),
                                            otio.opentime.RationalTime(frame_range.last - frame_range.first + 1, rate))
        reference = otio.schema.ImageSequenceReference(
            target_url_base=os.path.abspath(directory) + "/", name_prefix=prefix, name_suffix=sequence.suffix,
            start_frame=frame_range.first, frame_step=1, rate=rate, frame_zero_padding=sequence.padding,
            available_range=available)
        clip = otio.schema.Clip(name="%s_%s_seed%d" % (shot, version["version_name"], version["seed"]),
                                media_reference=reference, source_range=available)
        clip.metadata["actanywhere"] = {"job_id": job_id, "task_id": version["task_id"], "seed": version["seed"],
                                        "version": version["version_name"], "condition": version["condition"]}
        tracks.append(otio.schema.Track(name=version["version_name"], children=[clip]))
    timeline = otio.schema.Timeline(name="%s %s" % (shot, job_id), tracks=tracks)
    temporary = "%s.tmp-%d" % (path, os.getpid())
    otio.adapters.write_to_file(timeline, temporary, adapter_name="otio_json")
    os.replace(temporary, path)


def read_manifests(job_dir: str) -> List[Dict[str, Any]]:
    """Every published shot's manifest in a job folder (what `farm collect` lists)."""
    manifests = []
    for path in sorted(glob.glob(os.path.join(glob.escape(job_dir), "results", "*.json"))):
        data = read_json(path)
        if data is None or data.get("schema_version") != MANIFEST_VERSION:
            raise FarmError("%s: not a results manifest this version reads; publish the shot again" % path)
        manifests.append(data)
    return manifests
