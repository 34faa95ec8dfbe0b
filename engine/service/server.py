"""The engine server: a ZeroMQ ROUTER front end, a priority queue, one worker process per device.

One thread runs everything: it polls the ROUTER socket, each worker's pipe and each worker's process
sentinel (so a worker's death is seen at once), answers requests, dispatches queued jobs to idle
workers (one job per device at a time), forwards progress to the clients watching a job, and records
every change of a job's state in the journal before answering. A worker that dies fails its job only
and is restarted; a client that goes away leaves its jobs running. SIGTERM (see `request_stop`) stops
taking jobs, lets running jobs finish for `drain_s`, then cancels them back into the queue, and exits.
"""
from __future__ import annotations

import heapq
import multiprocessing
import os
import re
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Set

import zmq

from .. import __version__, protocol, schema, shotspec
from ..config import Config
from ..errors import ActAnywhereError, ConfigError, EngineError
from ..protocol import CANCELLED, DONE, FAILED, FINAL_STATES, QUEUED, RUNNING, ProtocolError
from ..settings import SamplerSettings, TilingSettings
from .journal import Journal
from .sandbox import Sandbox, SandboxError
from .worker import receive, worker_main

MAX_QUEUED = 10000
MAX_WATCHERS = 64
MAX_JOBS_LISTED = 200  # the newest; a reply stays well under protocol.MAX_MESSAGE_BYTES
CANCEL_GRACE_S = 10.0
STOP_GRACE_S = 5.0
_LOOPBACK = re.compile(r"^(tcp://(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1):\d+|ipc://.+|inproc://.+)$")


def is_loopback(address: str) -> bool:
    return bool(_LOOPBACK.match(address))


def default_journal_dir(bind: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", bind).strip("_")
    return os.path.join(os.path.expanduser("~"), ".actanywhere", "journal", name)


class WorkerHandle:
    """The server's view of one worker process."""

    def __init__(self, device: str):
        self.device = device
        self.process = None  # type: Optional[multiprocessing.Process]
        self.connection = None
        self.state = "stopped"  # starting, idle, busy, stopped
        self.pid = None  # type: Optional[int]
        self.job_id = None  # type: Optional[str]
        self.profiles = {}  # type: Dict[str, Dict[str, Any]]
        self.cancel_sent = None  # type: Optional[float]
        self.failures = 0
        self.restart_at = 0.0
        self.started = 0.0

    def summary(self) -> Dict[str, Any]:
        return {"device": self.device, "state": self.state, "pid": self.pid, "job_id": self.job_id,
                "profiles": sorted(self.profiles)}


class EngineServer:
    def __init__(self, config: Config, bind: Optional[str] = None, devices: Optional[List[str]] = None,
                 journal_dir: Optional[str] = None, sandbox_roots: Optional[List[str]] = None,
                 drain_s: float = 30.0, preload: bool = True, log: Callable[[str], None] = None):
        settings = config.engine
        self.config = config
        self.bind = bind or settings.bind
        self.devices = list(devices or settings.devices)
        self.heartbeat_s = settings.heartbeat_s
        self.drain_s = drain_s
        self.preload = preload
        self._log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.sandbox = Sandbox(sandbox_roots if sandbox_roots is not None else settings.sandbox_roots)
        self.curve = bool(settings.server_secret_key)
        if self.curve and not settings.client_keys_dir:
            raise ConfigError("engine.server_secret_key is set but engine.client_keys_dir is not: "
                              "give the directory of allowed clients' public keys")
        if not self.curve and not is_loopback(self.bind) and not settings.allow_insecure_remote:
            raise ConfigError(
                "refusing to bind %s without CurveZMQ keys: anyone on the network could submit jobs; "
                "configure engine.server_secret_key and engine.client_keys_dir (see `actanywhere keys create`), "
                "bind to 127.0.0.1, or set engine.allow_insecure_remote: true" % self.bind
            )
        self.journal = Journal(journal_dir or settings.journal_dir or default_journal_dir(self.bind))
        self.jobs = {}  # type: Dict[str, Dict[str, Any]]
        self.queue = []  # type: List[Any]
        self.watchers = {}  # type: Dict[str, Set[bytes]]
        self.workers = [WorkerHandle(device) for device in self.devices]
        self._sequence = 0
        self._stopping = False
        self._stop_deadline = None  # type: Optional[float]
        self._spawn = multiprocessing.get_context("spawn")
        self._context = None
        self._socket = None
        self._authenticator = None
        self._next_heartbeat = 0.0

    def log(self, text: str) -> None:
        self._log("%s engine: %s" % (time.strftime("%H:%M:%S"), text))

    # -- life cycle -----------------------------------------------------------------------------
    def request_stop(self, *unused) -> None:
        """Stop taking jobs; running ones get `drain_s` to finish, then are cancelled back into the queue."""
        if not self._stopping:
            self._stopping = True
            self._stop_deadline = time.monotonic() + self.drain_s

    def run(self) -> None:
        self._recover()
        self._open_socket()
        for worker in self.workers:
            self._start_worker(worker)
        self.log("listening on %s (protocol %d, %s), devices %s, journal %s, sandbox %s"
                 % (self.bind, protocol.PROTOCOL_VERSION, "CurveZMQ" if self.curve else "no encryption",
                    ", ".join(self.devices), self.journal.directory, ", ".join(self.sandbox.roots)))
        try:
            while True:
                self._poll_once()
                if self._stopping and self._drained():
                    break
        finally:
            self._shutdown()

    def _open_socket(self) -> None:
        settings = self.config.engine
        self._context = zmq.Context()
        socket = self._context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, protocol.TRANSPORT_MAX_BYTES)
        socket.setsockopt(zmq.SNDHWM, 10000)
        if self.curve:
            from zmq.auth.thread import ThreadAuthenticator

            from .keys import load_key_pair

            public, secret = load_key_pair(settings.server_secret_key, "engine.server_secret_key")
            if not os.path.isdir(settings.client_keys_dir):
                raise ConfigError("engine.client_keys_dir %s is not a directory of client public keys"
                                  % settings.client_keys_dir)
            self._authenticator = ThreadAuthenticator(self._context)
            self._authenticator.start()
            self._authenticator.configure_curve(domain="*", location=settings.client_keys_dir)
            socket.curve_server = True
            socket.curve_publickey = public
            socket.curve_secretkey = secret
        try:
            socket.bind(self.bind)
        except zmq.ZMQError as error:
            socket.close()
            raise EngineError("cannot bind %s: %s; is another engine running there?" % (self.bind, error), "bind")
        self._socket = socket

    def _shutdown(self) -> None:
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
        if self._socket is not None:
            self._socket.close(linger=0)
        if self._authenticator is not None:
            self._authenticator.stop()
        if self._context is not None:
            self._context.term()
        self.log("stopped")

    def _drained(self) -> bool:
        busy = [worker for worker in self.workers if worker.state == "busy"]
        if busy and time.monotonic() >= self._stop_deadline:
            for worker in busy:
                if worker.cancel_sent is None:
                    self.log("shutting down: cancelling job %s on %s back into the queue" % (worker.job_id, worker.device))
                    self.jobs[worker.job_id]["requeue_on_cancel"] = True
                    self._send_cancel(worker)
        return not busy

    def _recover(self) -> None:
        """Load the journal: finished jobs keep answering status; queued and interrupted ones run again."""
        for record in self.journal.load_all(self.log):
            if record.get("state") == RUNNING:
                record.update(state=QUEUED, device=None, started=None, progress=None,
                              note="requeued: the engine stopped while it ran")
                self.journal.save(record)
            self.jobs[record["job_id"]] = record
            if record["state"] == QUEUED:
                self._enqueue(record)
        queued = sum(1 for record in self.jobs.values() if record["state"] == QUEUED)
        if self.jobs:
            self.log("journal: %d jobs on record, %d queued" % (len(self.jobs), queued))

    # -- the loop -------------------------------------------------------------------------------
    def _poll_once(self) -> None:
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        for worker in self.workers:
            if worker.process is not None:
                poller.register(worker.connection.fileno(), zmq.POLLIN)
                poller.register(worker.process.sentinel, zmq.POLLIN)
        ready = dict(poller.poll(self._poll_timeout_ms()))
        if self._socket in ready:
            for _ in range(1000):  # bounded, so workers are never starved by a flood of requests
                try:
                    frames = self._socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._handle_frames(frames)
        for worker in self.workers:
            if worker.process is None:
                continue
            while worker.connection is not None and worker.connection.poll(0):
                try:
                    self._handle_worker_message(worker, receive(worker.connection))
                except (EOFError, OSError, ValueError):
                    break
            if not worker.process.is_alive():
                self._worker_died(worker)
        self._timers()
        self._dispatch()

    def _poll_timeout_ms(self) -> int:
        return 100 if self._stopping or any(worker.state == "stopped" for worker in self.workers) else 250

    def _timers(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.process is None and not self._stopping and now >= worker.restart_at:
                self._start_worker(worker)
            if worker.cancel_sent is not None and now - worker.cancel_sent > CANCEL_GRACE_S:
                self.log("worker %s ignored a cancel for %gs: killing it" % (worker.device, CANCEL_GRACE_S))
                worker.process.kill()
                worker.cancel_sent = None
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.heartbeat_s
            for job_id, identities in list(self.watchers.items()):
                for identity in list(identities):
                    self._send(identity, protocol.message("heartbeat", job_id=job_id))

    # -- workers --------------------------------------------------------------------------------
    def _start_worker(self, worker: WorkerHandle) -> None:
        ours, theirs = self._spawn.Pipe(duplex=True)
        config_data = schema.to_data(self.config)
        cpu_workers = sum(1 for other in self.workers if other.device == "cpu")
        threads = max(1, (os.cpu_count() or 1) // cpu_workers) if worker.device == "cpu" else None
        process = self._spawn.Process(
            target=worker_main, args=(worker.device, config_data, theirs, os.getpid(), self.preload, threads),
            name="actanywhere-worker-%s" % worker.device, daemon=True,
        )
        process.start()
        theirs.close()
        worker.process, worker.connection = process, ours
        worker.state, worker.pid, worker.job_id, worker.profiles = "starting", process.pid, None, {}
        worker.cancel_sent = None
        worker.started = time.monotonic()

    def _worker_died(self, worker: WorkerHandle) -> None:
        process = worker.process
        process.join(1)
        code = process.exitcode
        how = "exit code %s" % code if code is None or code >= 0 else "signal %s" % _signal_name(-code)
        job_id = worker.job_id
        if job_id is not None and self.jobs.get(job_id, {}).get("state") == RUNNING:
            record = self.jobs[job_id]
            if record.get("cancel_requested") or record.get("requeue_on_cancel"):
                self._cancelled(record)
            else:
                self._finish(record, FAILED, error={
                    "code": protocol.WORKER_DIED,
                    "message": "the worker on %s (pid %s) died with %s while running this job (killed, or out of "
                               "memory); no frames were published; the worker was restarted: resubmit the job"
                               % (worker.device, worker.pid, how),
                })
        if worker.state == "starting" or time.monotonic() - worker.started < 10:
            worker.failures += 1
        else:
            worker.failures = 0
        delay = min(30.0, 0.5 * 2 ** max(0, worker.failures - 1)) if worker.failures else 0.0
        self.log("worker %s (pid %s) died with %s; restarting%s" % (worker.device, worker.pid, how,
                                                                   " in %gs" % delay if delay else ""))
        try:
            worker.connection.close()
        except OSError:
            pass
        worker.process, worker.connection = None, None
        worker.state, worker.job_id, worker.pid, worker.cancel_sent = "stopped", None, None, None
        worker.restart_at = time.monotonic() + delay

    def _handle_worker_message(self, worker: WorkerHandle, message: Dict[str, Any]) -> None:
        kind = message.get("kind")
        record = self.jobs.get(message.get("job_id") or "")
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
            worker.state, worker.job_id, worker.cancel_sent = "idle", None, None
            if record["state"] != RUNNING:
                return
            if kind == "done":
                self._finish(record, DONE, results=message.get("results") or [])
            elif kind == "failed":
                self._finish(record, FAILED, error={"code": message.get("code", protocol.JOB_FAILED),
                                                    "message": message.get("message", "the job failed")})
            else:
                self._cancelled(record)

    def _send_cancel(self, worker: WorkerHandle) -> None:
        worker.cancel_sent = time.monotonic()
        try:
            worker.connection.send_bytes(protocol.encode({"kind": "cancel", "job_id": worker.job_id}))
        except (OSError, ValueError):
            pass

    # -- jobs -----------------------------------------------------------------------------------
    def _enqueue(self, record: Dict[str, Any]) -> None:
        self._sequence += 1
        heapq.heappush(self.queue, (-record.get("priority", 0), record.get("submitted") or 0, self._sequence, record["job_id"]))

    def _dispatch(self) -> None:
        if self._stopping:
            return
        for worker in self.workers:
            if worker.state != "idle":
                continue
            while self.queue:
                job_id = heapq.heappop(self.queue)[-1]
                record = self.jobs.get(job_id)
                if record is None or record["state"] != QUEUED:
                    continue
                try:
                    worker.connection.send_bytes(protocol.encode({"kind": "run", "job_id": job_id, "spec": record["spec"]}))
                except (OSError, ValueError):
                    self._enqueue(record)
                    break
                worker.state, worker.job_id = "busy", job_id
                record.update(state=RUNNING, device=worker.device, started=time.time(), attempts=record.get("attempts", 0) + 1)
                self._changed(record)
                break

    def _finish(self, record: Dict[str, Any], state: str, results=None, error=None) -> None:
        record.update(state=state, finished=time.time(), results=results, error=error)
        record.pop("cancel_requested", None)
        self._changed(record)
        self.watchers.pop(record["job_id"], None)

    def _cancelled(self, record: Dict[str, Any]) -> None:
        if record.pop("requeue_on_cancel", None) and not record.get("cancel_requested"):
            record.update(state=QUEUED, device=None, started=None, progress=None,
                          note="requeued: the engine shut down while it ran")
            self._changed(record)
            return
        self._finish(record, CANCELLED, error={"code": protocol.JOB_CANCELLED,
                                               "message": "cancelled on request; no frames were published"})

    def _changed(self, record: Dict[str, Any]) -> None:
        """Journal first, then tell the watchers: what a client is told is always on disk."""
        self.journal.save(record)
        self._notify(record["job_id"], protocol.message("state", job_id=record["job_id"], job=summary(record)))

    def _notify(self, job_id: str, message: Dict[str, Any]) -> None:
        for identity in list(self.watchers.get(job_id, ())):
            self._send(identity, message)

    def _watch(self, job_id: str, identity: bytes) -> None:
        identities = self.watchers.setdefault(job_id, set())
        if len(identities) >= MAX_WATCHERS:
            identities.pop()
        identities.add(identity)

    # -- requests -------------------------------------------------------------------------------
    def _send(self, identity: bytes, message: Dict[str, Any]) -> None:
        try:
            self._socket.send_multipart([identity, protocol.encode(message)], zmq.NOBLOCK)
        except zmq.Again:
            pass  # a client that does not read loses events, never stalls the engine
        except ProtocolError as error:
            self._socket.send_multipart([identity, protocol.encode(protocol.error_message(error.code, str(error),
                                                                                         message.get("re")))], zmq.NOBLOCK)

    def _handle_frames(self, frames: List[bytes]) -> None:
        identity, payload = frames[0], frames[1:]
        request_id = None
        try:
            if len(payload) != 1:
                raise ProtocolError(protocol.BAD_MESSAGE, "a message is one frame of JSON; got %d frames" % len(payload))
            data = protocol.decode(payload[0])
            request_id = data.get("id")
            kind = data["kind"]
            if kind not in protocol.REQUESTS:
                raise ProtocolError(protocol.BAD_REQUEST, "%r is not a request; requests: %s" % (kind, ", ".join(protocol.REQUESTS)))
            reply = getattr(self, "_on_" + kind)(data, identity)
            reply.update(v=protocol.PROTOCOL_VERSION, kind=protocol.REQUESTS[kind], re=request_id)
        except ProtocolError as error:
            reply = protocol.error_message(error.code, str(error), request_id)
        except SandboxError as error:
            reply = protocol.error_message(protocol.PATH_REFUSED, str(error), request_id)
        except EngineError as error:
            reply = protocol.error_message(error.code, str(error), request_id)
        except ActAnywhereError as error:
            reply = protocol.error_message(protocol.BAD_SPEC, str(error), request_id)
        except Exception as error:  # a bug answers this request with an error; the engine keeps serving
            self.log("internal error on a request: %s: %s" % (type(error).__name__, error))
            reply = protocol.error_message("internal", "%s: %s" % (type(error).__name__, error), request_id)
        self._send(identity, reply)

    def _job(self, data: Dict[str, Any]) -> Dict[str, Any]:
        job_id = protocol.require(data, "job_id", str)
        record = self.jobs.get(job_id)
        if record is None:
            raise EngineError("no job %s on this engine; `actanywhere jobs` lists them" % job_id, protocol.UNKNOWN_JOB)
        return record

    def _on_hello(self, data, identity) -> Dict[str, Any]:
        return self.info()

    def _on_ping(self, data, identity) -> Dict[str, Any]:
        return {"time": time.time()}

    def _on_submit(self, data, identity) -> Dict[str, Any]:
        job_id = protocol.check_job_id(protocol.require(data, "job_id", str, "the client chooses it, so a resend is safe"))
        if data.get("watch"):
            self._watch(job_id, identity)
        if job_id in self.jobs:
            return {"job_id": job_id, "duplicate": True, "job": summary(self.jobs[job_id])}
        if self._stopping:
            raise EngineError("the engine is shutting down and takes no new jobs; submit to another engine or retry later",
                              protocol.SHUTTING_DOWN)
        if sum(1 for record in self.jobs.values() if record["state"] == QUEUED) >= MAX_QUEUED:
            raise EngineError("the queue holds %d jobs, its limit; retry later" % MAX_QUEUED, protocol.QUEUE_FULL)
        spec_data = protocol.require(data, "spec", dict, "the shot spec's data")
        priority = data.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool) or not -100 <= priority <= 100:
            raise ProtocolError(protocol.BAD_REQUEST, "submit: priority must be an integer from -100 to 100")
        try:
            spec = shotspec.from_data(spec_data, self.config, base_dir=None, source="submitted spec")
        except (ActAnywhereError, ValueError) as error:
            raise EngineError(str(error), protocol.BAD_SPEC)
        self.sandbox.check_spec(spec)
        record = {
            "job_id": job_id, "shot": spec.shot, "state": QUEUED, "priority": priority,
            "submitted": time.time(), "started": None, "finished": None, "device": None,
            "spec_hash": spec.spec_hash(), "spec": spec.to_data(), "progress": None,
            "results": None, "error": None, "attempts": 0,
        }
        self.jobs[job_id] = record
        self.journal.save(record)
        self._enqueue(record)
        self._dispatch()
        return {"job_id": job_id, "duplicate": False, "job": summary(record)}

    def _on_status(self, data, identity) -> Dict[str, Any]:
        record = self._job(data)
        if data.get("watch") and record["state"] not in FINAL_STATES:
            self._watch(record["job_id"], identity)
        return {"job": summary(record)}

    def _on_jobs(self, data, identity) -> Dict[str, Any]:
        state = data.get("state")
        records = [record for record in self.jobs.values() if state is None or record["state"] == state]
        records.sort(key=lambda record: record.get("submitted") or 0)
        return {"jobs": [summary(record, brief=True) for record in records[-MAX_JOBS_LISTED:]], "total": len(records)}

    def _on_cancel(self, data, identity) -> Dict[str, Any]:
        record = self._job(data)
        if record["state"] == QUEUED:
            self._finish(record, CANCELLED, error={"code": protocol.JOB_CANCELLED, "message": "cancelled before it ran"})
        elif record["state"] == RUNNING and not record.get("cancel_requested"):
            record["cancel_requested"] = True
            for worker in self.workers:
                if worker.job_id == record["job_id"]:
                    self._send_cancel(worker)
        return {"job": summary(record)}

    def _on_result(self, data, identity) -> Dict[str, Any]:
        record = self._job(data)
        if record["state"] == DONE:
            return {"job_id": record["job_id"], "state": DONE, "results": record["results"],
                    "metadata": {"shot": record["shot"], "spec_hash": record["spec_hash"],
                                 "model": record["spec"].get("model"), "engine_version": __version__,
                                 "device": record["device"], "seconds": _seconds(record)}}
        if record["state"] in (FAILED, CANCELLED):
            error = record.get("error") or {}
            raise EngineError("job %s %s: %s" % (record["job_id"], record["state"], error.get("message", "")),
                              error.get("code", protocol.JOB_FAILED))
        raise EngineError("job %s is %s; wait for it (`actanywhere status %s`)" % (record["job_id"], record["state"], record["job_id"]),
                          protocol.NOT_FINISHED)

    def info(self) -> Dict[str, Any]:
        profiles = {}
        for name, profile in self.config.models.profiles.items():
            loaded = {worker.device: worker.profiles[name] for worker in self.workers if name in worker.profiles}
            native = next((entry.get("native_size") for entry in loaded.values() if entry.get("native_size")), None)
            profiles[name] = {"kind": profile.kind, "loaded_on": sorted(loaded), "native_size": native}
        return {
            "engine_version": __version__,
            "protocol": protocol.PROTOCOL_VERSION,
            "devices": [worker.summary() for worker in self.workers],
            "default_profile": self.config.models.default_profile,
            "profiles": profiles,
            "parameters": {"sampler": _ranges(SamplerSettings), "tiling": _ranges(TilingSettings)},
            "limits": {"max_message_bytes": protocol.MAX_MESSAGE_BYTES, "max_string": protocol.MAX_STRING,
                       "max_list": protocol.MAX_LIST, "max_queued": MAX_QUEUED},
            "heartbeat_s": self.heartbeat_s,
            "sandbox_roots": self.sandbox.roots,
            "curve": self.curve,
            "accepting": not self._stopping,
            "queued": sum(1 for record in self.jobs.values() if record["state"] == QUEUED),
        }


def summary(record: Dict[str, Any], brief: bool = False) -> Dict[str, Any]:
    """A job's record as clients see it (without the spec)."""
    data = {key: value for key, value in record.items() if key != "spec"}
    if brief:
        data.pop("results", None)
    return data


def _seconds(record: Dict[str, Any]) -> Optional[float]:
    if record.get("started") and record.get("finished"):
        return round(record["finished"] - record["started"], 3)
    return None


def _ranges(cls) -> Dict[str, Any]:
    import dataclasses

    ranges = {}
    for field in dataclasses.fields(cls):
        entry = {key: field.metadata.get(key) for key in ("minimum", "maximum", "choices") if field.metadata.get(key) is not None}
        if entry.get("choices") is not None:
            entry["choices"] = list(entry["choices"])
        entry["default"] = field.default if field.default is not dataclasses.MISSING else None
        ranges[field.name] = entry
    return ranges


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def serve(config: Config, **options: Any) -> None:
    """Run an engine in this process until SIGTERM or SIGINT (the `actanywhere serve` command)."""
    server = EngineServer(config, **options)
    signal.signal(signal.SIGTERM, server.request_stop)
    signal.signal(signal.SIGINT, server.request_stop)
    server.run()
