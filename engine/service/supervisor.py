"""Worker supervision: one worker process per device, started, watched and restarted.

A worker's death is seen at once (its process sentinel is polled with the socket). A worker that
stops talking is seen too, in the zguide's Paranoid Pirate manner: every worker sends `alive` from a
thread every heartbeat interval, also while a job or a model load keeps its main thread busy; one
silent for `worker_timeout_s` (hung in a driver, or stopped with SIGSTOP) is killed, and the server
fails its job with `worker_hung`. A worker that dies young is restarted with an exponential backoff.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from typing import Any, Callable, Dict, List, Optional

from .. import protocol
from ..config import Config, config_data as config_data_of
from .worker import receive, worker_main

CANCEL_GRACE_S = 10.0
STOP_GRACE_S = 5.0


class WorkerHandle:
    """The server's view of one worker process."""

    def __init__(self, device: str):
        self.device = device
        self.process = None  # type: Optional[multiprocessing.Process]
        self.connection = None
        self.state = "stopped"  # starting, idle, busy, stopped
        self.pid = None  # type: Optional[int]
        self.job_id = None  # type: Optional[str]
        self.job_started = None  # type: Optional[float]
        self.profiles = {}  # type: Dict[str, Dict[str, Any]]
        self.cancel_sent = None  # type: Optional[float]
        self.killed_for = None  # type: Optional[str]  why the supervisor killed it, for the job's error
        self.heard = 0.0
        self.failures = 0
        self.restart_at = 0.0
        self.started = 0.0

    def summary(self) -> Dict[str, Any]:
        return {"device": self.device, "state": self.state, "pid": self.pid, "job_id": self.job_id,
                "profiles": sorted(self.profiles)}


class Supervisor:
    def __init__(self, config: Config, devices: List[str], preload: bool, worker_timeout_s: float,
                 log: Callable[[str], None], target: Callable = worker_main):
        self.config = config
        self.workers = [WorkerHandle(device) for device in devices]
        self.preload = preload
        self.worker_timeout_s = worker_timeout_s
        self._log = log
        self._target = target  # the worker's entry point; the tests give a scripted one
        self._spawn = multiprocessing.get_context("spawn")

    def start(self, worker: WorkerHandle) -> None:
        ours, theirs = self._spawn.Pipe(duplex=True)
        config_data = config_data_of(self.config)
        cpu_workers = sum(1 for other in self.workers if other.device == "cpu")
        threads = max(1, (os.cpu_count() or 1) // cpu_workers) if worker.device == "cpu" else None
        process = self._spawn.Process(
            target=self._target, args=(worker.device, config_data, theirs, os.getpid(), self.preload, threads),
            name="actanywhere-worker-%s" % worker.device, daemon=True,
        )
        process.start()
        theirs.close()
        worker.process, worker.connection = process, ours
        worker.state, worker.pid, worker.job_id, worker.profiles = "starting", process.pid, None, {}
        worker.cancel_sent, worker.killed_for, worker.job_started = None, None, None
        worker.started = worker.heard = time.monotonic()

    def register(self, poller) -> None:
        for worker in self.workers:
            if worker.process is not None:
                poller.register(worker.connection.fileno(), 1)  # zmq.POLLIN
                poller.register(worker.process.sentinel, 1)

    def messages(self, worker: WorkerHandle) -> List[Dict[str, Any]]:
        """What the worker has sent since the last call (each one counts as a sign of life)."""
        messages = []
        while worker.connection is not None and worker.connection.poll(0):
            try:
                messages.append(receive(worker.connection))
            except (EOFError, OSError, ValueError):
                break
            worker.heard = time.monotonic()
        return messages

    def reap(self, worker: WorkerHandle) -> str:
        """Clean up after a dead worker and schedule its restart; returns how it died, in words."""
        process = worker.process
        process.join(1)
        code = process.exitcode
        how = "exit code %s" % code if code is None or code >= 0 else "signal %s" % _signal_name(-code)
        if worker.state == "starting" or time.monotonic() - worker.started < 10:
            worker.failures += 1
        else:
            worker.failures = 0
        delay = min(30.0, 0.5 * 2 ** max(0, worker.failures - 1)) if worker.failures else 0.0
        self._log("worker %s (pid %s) died with %s; restarting%s" % (worker.device, worker.pid, how,
                                                                    " in %gs" % delay if delay else ""))
        try:
            worker.connection.close()
        except OSError:
            pass
        worker.process, worker.connection = None, None
        worker.state, worker.job_id, worker.pid, worker.cancel_sent = "stopped", None, None, None
        worker.job_started = None
        worker.restart_at = time.monotonic() + delay
        return how

    def tick(self, stopping: bool) -> None:
        """Restarts that are due; cancels ignored past their grace; workers silent past the timeout."""
        now = time.monotonic()
        for worker in self.workers:
            if worker.process is None:
                if not stopping and now >= worker.restart_at:
                    self.start(worker)
                continue
            if worker.cancel_sent is not None and now - worker.cancel_sent > CANCEL_GRACE_S:
                self._kill(worker, "it ignored a cancel for %gs" % CANCEL_GRACE_S)
            elif now - worker.heard > self.worker_timeout_s:
                self._kill(worker, "it sent nothing for %gs (hung, or stopped)" % round(now - worker.heard, 1))

    def run(self, worker: WorkerHandle, job_id: str, spec: Dict[str, Any], task_id: str = "") -> bool:
        try:
            worker.connection.send_bytes(protocol.encode({"kind": "run", "job_id": job_id, "spec": spec,
                                                          "task_id": task_id}))
        except (OSError, ValueError):
            return False
        worker.state, worker.job_id, worker.job_started = "busy", job_id, time.monotonic()
        return True

    def cancel(self, worker: WorkerHandle) -> None:
        worker.cancel_sent = time.monotonic()
        try:
            worker.connection.send_bytes(protocol.encode({"kind": "cancel", "job_id": worker.job_id}))
        except (OSError, ValueError):
            pass

    def running(self, job_id: str) -> Optional[WorkerHandle]:
        return next((worker for worker in self.workers if worker.job_id == job_id), None)

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.is_alive():
                try:
                    worker.connection.send_bytes(b'{"kind": "stop"}')
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in self.workers:
            if worker.process is not None:
                worker.process.join(max(0.0, deadline - time.monotonic()))
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join(5)

    def _kill(self, worker: WorkerHandle, reason: str) -> None:
        if worker.killed_for is None:
            self._log("worker %s (pid %s): %s; killing it" % (worker.device, worker.pid, reason))
            worker.killed_for = reason
            worker.process.kill()  # SIGKILL reaches a stopped process too
        worker.cancel_sent = None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
