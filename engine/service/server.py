"""The engine server: the loop that ties the front end, the job table, the workers and the handlers.

One thread runs everything: it polls the ROUTER socket (front.py), each worker's pipe and process
sentinel (supervisor.py), answers requests (requests.py), dispatches queued jobs to idle workers (one
job per device at a time), forwards progress to the clients watching a job (watchers.py), and records
every change of a job's state in the journal (jobs.py, journal.py). A worker that dies or hangs fails
its job only and is restarted; a client that goes away leaves its jobs running and its watches
dropped. An I/O error in the loop is reported and the loop goes on. SIGTERM (see `request_stop`)
stops taking jobs, lets running jobs finish for `drain_s`, then cancels them back into the queue, and
exits; SIGHUP reloads the CurveZMQ allow-list.
"""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import zmq

from .. import __version__, protocol
from ..config import Config
from ..errors import ConfigError, EngineError
from ..protocol import CANCELLED, DONE, FAILED, QUEUED, RUNNING
from ..sequence import MAX_FRAMES
from ..settings import SamplerSettings, TilingSettings
from .clients import AllowList
from .front import FrontEnd
from .jobs import JobTable, summary
from .journal import Journal
from .requests import MAX_QUEUED, Requests
from .sandbox import Sandbox
from .supervisor import Supervisor, WorkerHandle
from .watchers import Watchers
from .worker import worker_main

HOUSEKEEPING_S = 5.0  # history pruning, allow-list change checks
_LOOPBACK = re.compile(r"^(tcp://(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1):\d+|ipc://.+|inproc://.+)$")


def is_loopback(address: str) -> bool:
    return bool(_LOOPBACK.match(address))


def default_journal_dir(bind: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", bind).strip("_")
    return os.path.join(os.path.expanduser("~"), ".actanywhere", "journal", name)


class EngineServer:
    def __init__(self, config: Config, bind: Optional[str] = None, devices: Optional[List[str]] = None,
                 journal_dir: Optional[str] = None, sandbox_roots: Optional[List[str]] = None,
                 drain_s: float = 30.0, preload: bool = True, log: Callable[[str], None] = None,
                 worker_target: Callable = worker_main):
        settings = config.engine
        self.config = config
        self.bind = bind or settings.bind
        self.heartbeat_s = settings.heartbeat_s
        self.drain_s = drain_s
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.sandbox = Sandbox(sandbox_roots if sandbox_roots is not None else settings.sandbox_roots)
        allow_list = None
        if settings.server_secret_key:
            if not settings.client_keys_dir:
                raise ConfigError("engine.server_secret_key is set but engine.client_keys_dir is not: "
                                  "give the directory of allowed clients' public keys")
            allow_list = AllowList(settings.client_keys_dir, settings.admin_clients, self.log)
            allow_list.load(strict=True)  # a bad key file stops the engine here, named, before it listens
        elif not is_loopback(self.bind) and not settings.allow_insecure_remote:
            raise ConfigError(
                "refusing to bind %s without CurveZMQ keys: anyone on the network could submit jobs; "
                "configure engine.server_secret_key and engine.client_keys_dir (see `actanywhere keys create`), "
                "bind to 127.0.0.1, or set engine.allow_insecure_remote: true" % self.bind
            )
        self.front = FrontEnd(self.bind, self.log, settings.server_secret_key, allow_list)
        self.table = JobTable(Journal(journal_dir or settings.journal_dir or default_journal_dir(self.bind)),
                              self.log, settings.history_max_jobs, settings.history_max_days)
        self.watchers = Watchers()
        self.supervisor = Supervisor(config, list(devices or settings.devices), preload, settings.worker_timeout_s,
                                     self.log, worker_target)
        self.requests = Requests(self)
        self.stopping = False
        self.reload_requested = False
        self._stop_deadline = None  # type: Optional[float]
        self._next_heartbeat = 0.0
        self._next_housekeeping = 0.0
        self._dispatch_after = 0.0
        self._last_loop_error = 0.0

    @property
    def curve(self) -> bool:
        return self.front.curve

    @property
    def workers(self) -> List[WorkerHandle]:
        return self.supervisor.workers

    def log(self, text: str) -> None:
        self._log("%s engine: %s" % (time.strftime("%H:%M:%S"), text))

    # -- life cycle -----------------------------------------------------------------------------
    def request_stop(self, *unused) -> None:
        """Stop taking jobs; running ones get `drain_s` to finish, then are cancelled back into the queue."""
        if not self.stopping:
            self.stopping = True
            self._stop_deadline = time.monotonic() + self.drain_s

    def request_reload(self, *unused) -> None:
        """SIGHUP: read the allow-list again at the next turn of the loop."""
        self.reload_requested = True

    def run(self) -> None:
        self.table.recover()
        self.front.open()
        for worker in self.workers:
            self.supervisor.start(worker)
        self.log("listening on %s (protocol %d, %s), devices %s, journal %s, sandbox %s"
                 % (self.bind, protocol.PROTOCOL_VERSION,
                    "CurveZMQ, %d client keys" % len(self.front.allow_list.names()) if self.curve else "no encryption",
                    ", ".join(worker.device for worker in self.workers), self.table.journal.directory,
                    ", ".join(self.sandbox.roots)))
        try:
            while True:
                try:
                    self._poll_once()
                except (OSError, zmq.ZMQError) as error:  # out of descriptors, a full disk: report, go on
                    now = time.monotonic()
                    if now - self._last_loop_error > 5.0:
                        self.log("error in the loop, still serving: %s: %s" % (type(error).__name__, error))
                    self._last_loop_error = now
                    time.sleep(0.05)
                if self.stopping and self._drained():
                    break
        finally:
            self.supervisor.stop_all()
            self.front.close()
            self.log("stopped")

    def _drained(self) -> bool:
        busy = [worker for worker in self.workers if worker.state == "busy"]
        if busy and time.monotonic() >= self._stop_deadline:
            for worker in busy:
                if worker.cancel_sent is None:
                    self.log("shutting down: cancelling job %s on %s back into the queue" % (worker.job_id, worker.device))
                    self.table.get(worker.job_id)["requeue_on_cancel"] = True
                    self.supervisor.cancel(worker)
        return not busy

    # -- the loop -------------------------------------------------------------------------------
    def _poll_once(self) -> None:
        poller = zmq.Poller()
        poller.register(self.front.socket, zmq.POLLIN)
        self.supervisor.register(poller)
        ready = dict(poller.poll(self._poll_timeout_ms()))
        if self.front.socket in ready:
            for identity, user_id, payload in self.front.requests():
                reply = self.requests.answer(identity, user_id, payload)
                if not self.front.send(identity, reply):
                    self.watchers.drop_client(identity)
        for worker in self.workers:
            if worker.process is None:
                continue
            for message in self.supervisor.messages(worker):
                self._worker_message(worker, message)
            if not worker.process.is_alive():
                self._worker_died(worker)
        self._timers()
        self.dispatch()

    def _poll_timeout_ms(self) -> int:
        return 100 if self.stopping or any(worker.state == "stopped" for worker in self.workers) else 250

    def _timers(self) -> None:
        now = time.monotonic()
        self.supervisor.tick(self.stopping)
        self._enforce_time_limit()
        self.table.flush()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.heartbeat_s
            for job_id in self.watchers.jobs():
                self._notify(job_id, protocol.message("heartbeat", job_id=job_id))
        if now >= self._next_housekeeping or self.reload_requested:
            self._next_housekeeping = now + HOUSEKEEPING_S
            pruned = self.table.prune()
            if pruned:
                self.log("history: pruned %d finished jobs (engine.history_max_jobs, history_max_days)" % pruned)
            if self.curve and (self.reload_requested or self.front.allow_list.changed()):
                self.front.reload_keys()
            self.reload_requested = False

    def _enforce_time_limit(self) -> None:
        limit = self.config.engine.job_time_limit_s
        if not limit:
            return
        now = time.monotonic()
        for worker in self.workers:
            if worker.state == "busy" and worker.job_started and now - worker.job_started > limit \
                    and worker.cancel_sent is None:
                record = self.table.get(worker.job_id)
                if record is not None and not record.get("time_limited"):
                    self.log("job %s ran past engine.job_time_limit_s (%gs): stopping it" % (worker.job_id, limit))
                    record["time_limited"] = True
                    self.supervisor.cancel(worker)

    # -- workers --------------------------------------------------------------------------------
    def _worker_died(self, worker: WorkerHandle) -> None:
        job_id, killed_for, pid = worker.job_id, worker.killed_for, worker.pid
        how = self.supervisor.reap(worker)
        record = self.table.get(job_id or "")
        if record is None or record["state"] != RUNNING:
            return
        if record.get("time_limited") or record.get("cancel_requested") or record.get("requeue_on_cancel"):
            self._cancelled(record)
        elif killed_for:
            self._finish(record, FAILED, error={
                "code": protocol.WORKER_HUNG,
                "message": "the worker on %s (pid %s) was killed because %s; no frames were published; the "
                           "worker was restarted: resubmit the job" % (worker.device, pid, killed_for)})
        else:
            self._finish(record, FAILED, error={
                "code": protocol.WORKER_DIED,
                "message": "the worker on %s (pid %s) died with %s while running this job (killed, or out of "
                           "memory); no frames were published; the worker was restarted: resubmit the job"
                           % (worker.device, pid, how)})

    def _worker_message(self, worker: WorkerHandle, message: Dict[str, Any]) -> None:
        kind = message.get("kind")
        record = self.table.get(message.get("job_id") or "")
        if kind == "ready":
            worker.state = "idle" if worker.job_id is None else worker.state
            worker.pid = message.get("pid")
        elif kind == "loaded":
            worker.profiles[message["profile"]] = {key: message.get(key) for key in ("native_size", "default_steps", "seconds")}
            self.log("worker %s loaded profile %s in %ss" % (worker.device, message["profile"], message.get("seconds")))
        elif kind == "log":
            self.log("[%s] %s" % (worker.device, message.get("text", "")))
        elif kind == "progress" and record is not None and record["state"] == RUNNING:
            record["progress"] = message.get("event")
            self._notify(record["job_id"], protocol.message("progress", job_id=record["job_id"], event=record["progress"]))
        elif kind in ("done", "failed", "cancelled") and record is not None:
            worker.state, worker.job_id, worker.cancel_sent, worker.job_started = "idle", None, None, None
            if record["state"] != RUNNING:
                return
            if kind == "done":
                self._finish(record, DONE, results=message.get("results") or [])
            elif kind == "failed":
                self._finish(record, FAILED, error={"code": message.get("code", protocol.JOB_FAILED),
                                                    "message": message.get("message", "the job failed")})
            else:
                self._cancelled(record)
        # "alive" needs nothing: every message already counted as a sign of life

    # -- jobs -----------------------------------------------------------------------------------
    def dispatch(self) -> None:
        if self.stopping or time.monotonic() < self._dispatch_after:
            return
        for worker in self.workers:
            if worker.state != "idle":
                continue
            record = self.table.next_queued()
            if record is None:
                return
            try:
                self.table.change(record, state=RUNNING, device=worker.device, started=time.time(),
                                  attempts=record.get("attempts", 0) + 1)
            except EngineError:  # the journal cannot be written: leave it queued and try again shortly
                self.table.enqueue(record)
                self._dispatch_after = time.monotonic() + 1.0
                return
            if not self.supervisor.run(worker, record["job_id"], record["spec"], record.get("task_id") or ""):
                self.table.settle(record, state=QUEUED, device=None, started=None)
                self.table.enqueue(record)
                continue
            self.notify_state(record)

    def _finish(self, record: Dict[str, Any], state: str, results=None, error=None) -> None:
        for flag in ("cancel_requested", "time_limited", "requeue_on_cancel"):
            record.pop(flag, None)
        self.table.settle(record, state=state, finished=time.time(), results=results, error=error)
        self.notify_state(record)
        self.watchers.drop_job(record["job_id"])

    def _cancelled(self, record: Dict[str, Any]) -> None:
        if record.get("time_limited"):
            limit = self.config.engine.job_time_limit_s
            self._finish(record, FAILED, error={
                "code": protocol.TIME_LIMIT,
                "message": "the job ran past the engine's time limit of %gs (engine.job_time_limit_s) and was "
                           "stopped; no frames were published; split the shot or ask for a longer limit" % limit})
            return
        if record.pop("requeue_on_cancel", None) and not record.get("cancel_requested"):
            self.table.settle(record, state=QUEUED, device=None, started=None, progress=None,
                              note="requeued: the engine shut down while it ran")
            self.notify_state(record)
            return
        self._finish(record, CANCELLED, error={"code": protocol.JOB_CANCELLED,
                                               "message": "cancelled on request; no frames were published"})

    def notify_state(self, record: Dict[str, Any]) -> None:
        self._notify(record["job_id"], protocol.message("state", job_id=record["job_id"], job=summary(record)))

    def _notify(self, job_id: str, message: Dict[str, Any]) -> None:
        for identity in self.watchers.of(job_id):
            if not self.front.send(identity, message):
                self.watchers.drop_client(identity)  # gone, or not reading: it re-asks when it comes back

    def info(self) -> Dict[str, Any]:
        profiles = {}
        for name, profile in self.config.models.profiles.items():
            loaded = {worker.device: worker.profiles[name] for worker in self.workers if name in worker.profiles}
            native = next((entry.get("native_size") for entry in loaded.values() if entry.get("native_size")), None)
            profiles[name] = {"kind": profile.kind, "loaded_on": sorted(loaded), "native_size": native}
        settings = self.config.engine
        return {
            "engine_version": __version__,
            "protocol": protocol.PROTOCOL_VERSION,
            "devices": [worker.summary() for worker in self.workers],
            "default_profile": self.config.models.default_profile,
            "profiles": profiles,
            "parameters": {"sampler": _ranges(SamplerSettings), "tiling": _ranges(TilingSettings)},
            "limits": {"max_message_bytes": protocol.MAX_MESSAGE_BYTES, "max_string": protocol.MAX_STRING,
                       "max_list": protocol.MAX_LIST, "max_queued": MAX_QUEUED,
                       "max_queued_per_client": settings.max_queued_per_client, "max_frames": MAX_FRAMES,
                       "job_time_limit_s": settings.job_time_limit_s},
            "heartbeat_s": self.heartbeat_s,
            "sandbox_roots": self.sandbox.roots,
            "curve": self.curve,
            "accepting": not self.stopping,
            "queued": self.table.queued(),
        }


def _ranges(cls) -> Dict[str, Any]:
    ranges = {}
    for field in dataclasses.fields(cls):
        entry = {key: field.metadata.get(key) for key in ("minimum", "maximum", "choices") if field.metadata.get(key) is not None}
        if entry.get("choices") is not None:
            entry["choices"] = list(entry["choices"])
        entry["default"] = field.default if field.default is not dataclasses.MISSING else None
        ranges[field.name] = entry
    return ranges


def serve(config: Config, **options: Any) -> None:
    """Run an engine in this process until SIGTERM or SIGINT (the `actanywhere serve` command)."""
    server = EngineServer(config, **options)
    signal.signal(signal.SIGTERM, server.request_stop)
    signal.signal(signal.SIGINT, server.request_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, server.request_reload)
    server.run()
