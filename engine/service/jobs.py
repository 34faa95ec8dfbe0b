"""The job table: every job the engine knows, the queue of those waiting, and the journal behind them.

Two kinds of change, two rules:
- A change someone asks for (a submit, a cancel of a queued job, a dispatch) is written to the journal
  first and made in memory only once it is on disk; if the write fails nothing changes and the caller
  gets `journal_failed`, so a client is never told of a job the engine would forget.
- A change that has already happened (a worker finished, failed or died) is made in memory at once;
  if its write fails the record is kept as unsaved and written again every second until it lands.
"""
from __future__ import annotations

import heapq
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import protocol
from ..errors import EngineError
from ..protocol import QUEUED, RUNNING
from .clients import Client
from .journal import Journal, prunable

PAGE_BYTES = protocol.MAX_MESSAGE_BYTES // 2  # a page of `jobs` always fits one reply
MAX_PAGE = protocol.MAX_JOBS_PAGE


class JobTable:
    def __init__(self, journal: Journal, log: Callable[[str], None], history_max_jobs: int,
                 history_max_days: float):
        self.journal = journal
        self.records = {}  # type: Dict[str, Dict[str, Any]]
        self.history_max_jobs = history_max_jobs
        self.history_max_age_s = history_max_days * 86400.0
        self._log = log
        self._queue = []  # type: List[Tuple[int, float, int, str]]
        self._sequence = 0
        self._unsaved = {}  # type: Dict[str, Dict[str, Any]]

    # -- start ----------------------------------------------------------------------------------
    def recover(self) -> None:
        """Load the journal: finished jobs keep answering status; queued and interrupted ones run again."""
        records = self.journal.load_all(self._log)
        for record in records:
            self.records[record["job_id"]] = record
        pruned = self.prune()
        for record in self.records.values():
            if record["state"] == RUNNING:
                self.settle(record, state=QUEUED, device=None, started=None, progress=None,
                            note="requeued: the engine stopped while it ran")
            if record["state"] == QUEUED:
                self.enqueue(record)
        if self.records or pruned:
            self._log("journal: %d jobs on record, %d queued%s" % (
                len(self.records), self.queued(), ", %d finished ones pruned" % pruned if pruned else ""))

    # -- reading --------------------------------------------------------------------------------
    def get(self, job_id: str) -> Optional[Dict[str, Any]]:
        return self.records.get(job_id)

    def queued(self, owner_key: Optional[str] = None) -> int:
        return sum(1 for record in self.records.values() if record["state"] == QUEUED
                   and (owner_key is None or record.get("owner_key") == owner_key))

    def page(self, client: Client, state: Optional[str], limit: int, before: Optional[str],
             everyone: bool) -> Dict[str, Any]:
        """The newest jobs first, `limit` at most and never more than PAGE_BYTES of summaries; `next`
        is the cursor for the page after (the last job id of this one), None at the end."""
        records = [record for record in self.records.values()
                   if (state is None or record["state"] == state)
                   and (client.may_act_on(record) if everyone else record.get("owner_key") == client.key)]
        records.sort(key=lambda record: (record.get("submitted") or 0, record["job_id"]), reverse=True)
        start = 0
        if before is not None:
            start = next((index + 1 for index, record in enumerate(records) if record["job_id"] == before), len(records))
        page, size = [], 0
        for record in records[start:start + limit]:
            brief = summary(record, brief=True)
            size += len(protocol.encode(brief))
            if page and size > PAGE_BYTES:
                break
            page.append(brief)
        more = start + len(page) < len(records)
        return {"jobs": page, "total": len(records), "next": page[-1]["job_id"] if more and page else None}

    # -- changes --------------------------------------------------------------------------------
    def add(self, record: Dict[str, Any]) -> None:
        """A new job: on disk first, then in the table and the queue."""
        self._save_or_refuse(record, "queue the job")
        self.records[record["job_id"]] = record
        self.enqueue(record)

    def change(self, record: Dict[str, Any], **fields: Any) -> None:
        """A requested change: on disk first, then in memory; nothing changes if the write fails."""
        self._save_or_refuse(dict(record, **fields), "record the change")
        record.update(fields)
        self._unsaved.pop(record["job_id"], None)

    def settle(self, record: Dict[str, Any], **fields: Any) -> None:
        """A change that has happened: in memory now, on disk as soon as the journal takes it."""
        record.update(fields)
        try:
            self.journal.save(record)
        except OSError as error:
            if record["job_id"] not in self._unsaved:
                self._log("journal: cannot write job %s (%s); keeping it in memory and retrying"
                          % (record["job_id"], error))
            self._unsaved[record["job_id"]] = record
        else:
            self._unsaved.pop(record["job_id"], None)

    def flush(self) -> None:
        """Write the records a failed write left unsaved."""
        for job_id, record in list(self._unsaved.items()):
            try:
                self.journal.save(record)
            except OSError:
                return  # still failing: try again at the next tick
            del self._unsaved[job_id]
            self._log("journal: job %s written after all" % job_id)

    def prune(self) -> int:
        """Forget finished jobs beyond the history limits (config: engine.history_max_jobs, _days)."""
        doomed = prunable(self.records.values(), self.history_max_jobs, self.history_max_age_s)
        if doomed:
            try:
                self.journal.remove(doomed)
            except OSError as error:
                self._log("journal: cannot prune %d finished jobs: %s" % (len(doomed), error))
                return 0
            for job_id in doomed:
                self.records.pop(job_id, None)
        return len(doomed)

    # -- the queue ------------------------------------------------------------------------------
    def enqueue(self, record: Dict[str, Any]) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (-record.get("priority", 0), record.get("submitted") or 0, self._sequence,
                                     record["job_id"]))

    def next_queued(self) -> Optional[Dict[str, Any]]:
        """The queued job to run next (taken off the queue; `enqueue` puts it back)."""
        while self._queue:
            record = self.records.get(heapq.heappop(self._queue)[-1])
            if record is not None and record["state"] == QUEUED:
                return record
        return None

    def _save_or_refuse(self, record: Dict[str, Any], what: str) -> None:
        try:
            self.journal.save(record)
        except OSError as error:
            self._log("journal: cannot write job %s: %s" % (record["job_id"], error))
            raise EngineError("the engine could not %s: its journal (%s) cannot be written (%s); nothing was "
                              "changed; retry, and tell the engine's admin" % (what, self.journal.directory,
                                                                               error.strerror or error),
                              protocol.JOURNAL_FAILED) from None


def summary(record: Dict[str, Any], brief: bool = False) -> Dict[str, Any]:
    """A job's record as clients see it (without the spec, nor the owner's key)."""
    data = {key: value for key, value in record.items() if key not in ("spec", "owner_key")}
    if brief:
        data.pop("results", None)
    return data


def seconds(record: Dict[str, Any]) -> Optional[float]:
    if record.get("started") and record.get("finished"):
        return round(record["finished"] - record["started"], 3)
    return None
