"""The engine's job journal: one JSON file per job, rewritten atomically at every change of state,
so a restarted engine still answers `status` for earlier jobs and runs the ones left queued.

    JOURNAL_DIR/<job_id>.json   {"job_id": ..., "state": "queued", "spec": {...}, ...}
"""
from __future__ import annotations

import json
import os
from typing import Callable, Dict, List

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

    def path(self, job_id: str) -> str:
        return os.path.join(self.directory, job_id + ".json")

    def save(self, record: Dict) -> None:
        """Write one job's record to a temporary file, then rename it over the old one: a reader (or a
        restarted engine) sees the old record or the new, never a torn one. No fsync: the journal
        survives the engine's death, not the host's power loss, and the loop stays fast."""
        path = self.path(record["job_id"])
        temporary = "%s.tmp-%d" % (path, os.getpid())
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(record, stream, sort_keys=True)
        os.replace(temporary, path)

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
            except (OSError, ValueError, TypeError) as error:
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
