"""The engine's job journal: one JSON file per job, rewritten atomically at every change of state,
so a restarted engine still answers `status` for earlier jobs and runs the ones left queued.

    JOURNAL_DIR/<job_id>.json   {"job_id": ..., "state": "queued", "spec": {...}, ...}

Every write is fsynced, file and folder, so a record the engine has answered with survives a power
loss, not only the engine's death. When the process runs out of file descriptors (a flood of idle
connections holds them all), the journal gives back one descriptor it keeps in reserve, writes, and
takes it again: the classic reserve-descriptor trick, so the record that matters still gets written.
"""
from __future__ import annotations

import errno
import json
import os
import time
from typing import Callable, Dict, Iterable, List

from ..protocol import CANCELLED, DONE, FAILED, QUEUED, RUNNING

STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
DAMAGED = "damaged_record"


def damage(record: Dict) -> str:
    """What is wrong with a parsed job record ('' when nothing): a known state, and a spec for a job
    that may still run."""
    if record.get("state") not in STATES:
        return "state %r is not one of %s" % (record.get("state"), ", ".join(STATES))
    if record["state"] in (QUEUED, RUNNING) and not isinstance(record.get("spec"), dict):
        return "a %s job without a spec" % record["state"]
    return ""


class Journal:
    def __init__(self, directory: str):
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self._reserve = _open_reserve()

    def path(self, job_id: str) -> str:
        return os.path.join(self.directory, job_id + ".json")

    def save(self, record: Dict) -> None:
        """Write one job's record to a temporary file, fsync it, rename it over the old one and fsync
        the folder: a reader (or a restarted engine) sees the old record or the new, never a torn one.
        Raises OSError when the record could not be written; the old record is then untouched."""
        text = json.dumps(record, sort_keys=True)
        try:
            self._write(record["job_id"], text)
        except OSError as error:
            if error.errno not in (errno.EMFILE, errno.ENFILE) or self._reserve is None:
                raise
            os.close(self._reserve)  # out of descriptors: spend the reserve on this write
            self._reserve = None
            try:
                self._write(record["job_id"], text)
            finally:
                self._reserve = _open_reserve()

    def remove(self, job_ids: Iterable[str]) -> None:
        """Delete the records of pruned jobs (finished ones only: the caller decides)."""
        for job_id in job_ids:
            try:
                os.unlink(self.path(job_id))
            except FileNotFoundError:
                pass
        self._sync_folder()

    def _write(self, job_id: str, text: str) -> None:
        path = self.path(job_id)
        temporary = "%s.tmp-%d" % (path, os.getpid())
        try:
            with open(temporary, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except OSError:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        self._sync_folder()

    def _sync_folder(self) -> None:
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def load_all(self, log: Callable[[str], None] = print) -> List[Dict]:
        """Every job on record, oldest submission first; unreadable files are reported and skipped. A
        record that parses but is damaged (damage()) is quarantined: reported, its file left as it is,
        and returned as a failed job under its id, so that id keeps answering status and a resend of it
        cannot run twice."""
        records = []
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(".json"):
                continue
            path = os.path.join(self.directory, name)
            try:
                with open(path, "r", encoding="utf-8") as stream:
                    record = json.load(stream)
                if not isinstance(record, dict) or record.get("job_id") + ".json" != name:
                    raise ValueError("not a job record")
            except (OSError, ValueError, TypeError, RecursionError) as error:
                log("journal: skipping %s: %s" % (path, error))
                continue
            problem = damage(record)
            if problem:
                log("journal: quarantined %s: %s; the file is kept as it was" % (path, problem))
                submitted = record.get("submitted")
                record = {"job_id": record["job_id"], "state": FAILED, "spec": {}, "quarantined": True,
                          "submitted": submitted if isinstance(submitted, (int, float)) else 0,
                          "error": {"code": DAMAGED, "message": "the engine's journal record of this job is "
                                    "damaged (%s); it was not run again" % problem}}
            records.append(record)
        records.sort(key=lambda record: (record.get("submitted") or 0, record["job_id"]))
        return records


def prunable(records: Iterable[Dict], max_jobs: int, max_age_s: float, now: float = None) -> List[str]:
    """Ids of finished jobs past the history limits: older than `max_age_s` (by when they finished),
    and beyond the newest `max_jobs` finished ones. Queued, running and quarantined jobs are kept: a
    quarantined id must keep refusing a resend."""
    now = time.time() if now is None else now
    finished = [record for record in records
                if record["state"] in (DONE, FAILED, CANCELLED) and not record.get("quarantined")]
    finished.sort(key=lambda record: record.get("finished") or record.get("submitted") or 0)
    excess = max(0, len(finished) - max_jobs)
    doomed = [record["job_id"] for record in finished[:excess]]
    for record in finished[excess:]:
        if now - (record.get("finished") or record.get("submitted") or now) > max_age_s:
            doomed.append(record["job_id"])
    return doomed


def _open_reserve():
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None
