"""The engine's job journal: one JSON file per job, rewritten atomically at every change of state,
so a restarted engine still answers `status` for earlier jobs and runs the ones left queued.

    JOURNAL_DIR/<job_id>.json   {"job_id": ..., "state": "queued", "spec": {...}, ...}

Every write is fsynced, file and folder, so a record the engine has answered with survives a power
loss, not only the engine's death. The journal keeps its folder and a few empty files open ahead
(.spare-*), so a record can still be written when a flood of idle connections has taken every other
file descriptor: ZeroMQ's acceptor would take any descriptor given back at once.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import time
import uuid
from typing import Callable, Dict, Iterable, List, Optional

from ..protocol import CANCELLED, DONE, FAILED, QUEUED, RUNNING

STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
DAMAGED = "damaged_record"
SPARES = 8  # journal files kept open ahead
SPARE_PREFIX = ".spare-"


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
        self._folder = None  # type: Optional[int]  the folder, held open: renames and fsyncs need no new descriptor
        self._spares = []  # type: List[Tuple[str, int]]  empty files, opened ahead, each the next record's body
        for name in os.listdir(self.directory):
            if name.startswith(SPARE_PREFIX):  # left by an engine that died
                _unlink(os.path.join(self.directory, name))
        self._open_folder()
        self._refill()

    def path(self, job_id: str) -> str:
        return os.path.join(self.directory, job_id + ".json")

    def save(self, record: Dict) -> None:
        """Write one job's record into a spare file opened ahead, fsync it, rename it over the old record
        and fsync the folder: a reader (or a restarted engine) sees the old record or the new, never a
        torn one. Raises OSError when the record could not be written; the old record is then untouched."""
        data = json.dumps(record, sort_keys=True).encode("utf-8")
        self._check_folder()
        self._refill()
        if not self._spares:
            raise OSError(errno.EMFILE, "no file descriptor left to write the journal with (%d in reserve, "
                          "all used); the engine holds too many connections" % SPARES)
        name, descriptor = self._spares.pop()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
            os.fsync(descriptor)
            os.replace(name, record["job_id"] + ".json", src_dir_fd=self._folder, dst_dir_fd=self._folder)
        except OSError:
            _unlink(name, self._folder)
            raise
        finally:
            os.close(descriptor)
        os.fsync(self._folder)
        self._refill()  # full again before the next write, whatever happens to descriptors meanwhile

    def remove(self, job_ids: Iterable[str]) -> None:
        """Delete the records of pruned jobs (finished ones only: the caller decides)."""
        self._check_folder()
        for job_id in job_ids:
            _unlink(job_id + ".json", self._folder)
        os.fsync(self._folder)

    def _open_folder(self) -> None:
        if self._folder is not None:
            os.close(self._folder)
            self._folder = None
        for _, descriptor in self._spares:
            os.close(descriptor)
        self._spares = []
        self._folder = os.open(self.directory, os.O_RDONLY)

    def _check_folder(self) -> None:
        """Follow the folder if it was replaced (restored from a backup, re-created by an admin)."""
        try:
            current = os.stat(self.directory)
        except OSError:
            current = None
        held = os.fstat(self._folder) if self._folder is not None else None
        if current is None or not stat.S_ISDIR(current.st_mode):
            raise OSError(errno.ENOTDIR, "the journal folder %s is gone or not a folder" % self.directory)
        if held is None or (held.st_dev, held.st_ino) != (current.st_dev, current.st_ino):
            self._open_folder()

    def _refill(self) -> None:
        """Keep SPARES files open ahead, so that a record can be written when every other descriptor is
        taken (a flood of idle connections): the write then needs no new one."""
        while len(self._spares) < SPARES:
            name = "%s%d-%s" % (SPARE_PREFIX, os.getpid(), uuid.uuid4().hex[:12])
            try:
                descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=self._folder)
            except OSError:
                return  # out of descriptors (or the folder failing): make do with what is in reserve
            self._spares.append((name, descriptor))

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


def _unlink(name: str, folder: Optional[int] = None) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except OSError:
        pass
