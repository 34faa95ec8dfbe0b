"""Which clients get a job's events (progress, state, heartbeat), kept small and honest: a watch is
taken only for a job that exists, each job has at most MAX_PER_JOB watchers and each client at most
MAX_PER_CLIENT watches, and all of a client's watches go when the engine finds it gone (its identity
unroutable, or its queue full because it never reads)."""
from __future__ import annotations

from typing import Dict, List, Set

MAX_PER_JOB = 64
MAX_PER_CLIENT = 256


class Watchers:
    def __init__(self, per_job: int = MAX_PER_JOB, per_client: int = MAX_PER_CLIENT):
        self.per_job = per_job
        self.per_client = per_client
        self._by_job = {}  # type: Dict[str, Set[bytes]]
        self._by_client = {}  # type: Dict[bytes, Set[str]]

    def add(self, job_id: str, identity: bytes) -> None:
        """Watch `job_id` from `identity`; the oldest watch of a client over its limit is dropped."""
        watching = self._by_client.setdefault(identity, set())
        if job_id in watching:
            return
        if len(watching) >= self.per_client:
            self._remove(next(iter(watching)), identity)
            watching = self._by_client.setdefault(identity, set())
        identities = self._by_job.setdefault(job_id, set())
        if len(identities) >= self.per_job:
            self._remove(job_id, next(iter(identities)))
            identities = self._by_job.setdefault(job_id, set())
        identities.add(identity)
        watching.add(job_id)

    def of(self, job_id: str) -> List[bytes]:
        return list(self._by_job.get(job_id, ()))

    def jobs(self) -> List[str]:
        return list(self._by_job)

    def drop_job(self, job_id: str) -> None:
        for identity in self._by_job.pop(job_id, set()):
            watching = self._by_client.get(identity)
            if watching is not None:
                watching.discard(job_id)
                if not watching:
                    del self._by_client[identity]

    def drop_client(self, identity: bytes) -> None:
        for job_id in self._by_client.pop(identity, set()):
            identities = self._by_job.get(job_id)
            if identities is not None:
                identities.discard(identity)
                if not identities:
                    del self._by_job[job_id]

    def count(self) -> int:
        return sum(len(identities) for identities in self._by_job.values())

    def _remove(self, job_id: str, identity: bytes) -> None:
        identities = self._by_job.get(job_id)
        if identities is not None:
            identities.discard(identity)
            if not identities:
                del self._by_job[job_id]
        watching = self._by_client.get(identity)
        if watching is not None:
            watching.discard(job_id)
            if not watching:
                del self._by_client[identity]
