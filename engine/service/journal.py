"""The engine's job journal: one JSON file per job, rewritten atomically at every change of state,
so a restarted engine still answers `status` for earlier jobs and runs the ones left queued.

    JOURNAL_DIR/<job_id>.json   {"job_id": ..., "state": "queued", "spec": {...}, ...}
"""
from __future__ import annotations

import json
import os
from typing import Callable, Dict, List


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
        """Every job on record, oldest submission first; unreadable files are reported and skipped."""
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
            records.append(record)
        records.sort(key=lambda record: (record.get("submitted") or 0, record["job_id"]))
        return records
