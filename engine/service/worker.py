"""One worker process per device: keeps the model profiles it has loaded and runs one job at a time.

The server starts it with multiprocessing's "spawn" context (never fork: a forked child would
inherit the server's ZeroMQ sockets and threads). The two talk over a multiprocessing Pipe carrying
JSON text only (send_bytes/recv_bytes, never pickled objects):

    server -> worker   {"kind": "run", "job_id": ..., "spec": {...}, "task_id": ...}  |  {"kind": "cancel", "job_id": ...}  |  {"kind": "stop"}
    worker -> server   ready, loaded, progress, done, failed, cancelled, log, alive (every heartbeat)

A cancel is noticed in the progress callback, which raises JobCancelled: the VersionedOutput that
writes the frames then publishes nothing. The worker dies with the server (PR_SET_PDEATHSIG on Linux,
and an end-of-file on the pipe), so an orphan can never publish a job a restarted engine runs again.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any, Dict, Optional

PROGRESS_INTERVAL_S = 0.1  # at most ten progress messages a second, plus every stage's last


class JobCancelled(Exception):
    """Raised inside the job when the server asks to cancel it (or has gone away)."""


_SEND_LOCK = threading.Lock()  # the job's thread and the heartbeat thread share the pipe


def send(connection, kind: str, **fields: Any) -> None:
    data = {"kind": kind}
    data.update(fields)
    raw = json.dumps(data).encode("utf-8")
    with _SEND_LOCK:
        connection.send_bytes(raw)


def start_heartbeat(connection, interval_s: float) -> None:
    """Send `alive` every `interval_s` from a daemon thread, whatever the main thread is doing: the
    server takes a worker silent for engine.worker_timeout_s as hung (stopped, or stuck in a driver)."""

    def beat() -> None:
        while True:
            time.sleep(interval_s)
            try:
                send(connection, "alive")
            except (OSError, ValueError):
                return  # the server has gone; the main thread sees it too

    threading.Thread(target=beat, name="actanywhere-heartbeat", daemon=True).start()


def receive(connection) -> Dict[str, Any]:
    return json.loads(connection.recv_bytes().decode("utf-8"))


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the server died before the line above took effect
        os._exit(1)


def worker_main(device: str, config_data: Dict[str, Any], connection, parent_pid: int, preload: bool = True,
                threads: Optional[int] = None) -> None:
    """The worker process's entry point. `threads`: torch's CPU threads, so that several CPU workers
    share the cores instead of each taking them all."""
    _die_with_parent(parent_pid)
    if threads and not os.environ.get("OMP_NUM_THREADS"):  # an explicit OMP_NUM_THREADS wins
        import torch

        torch.set_num_threads(threads)
    # The server decides when workers stop (it drains on SIGTERM); a terminal's Ctrl-C or a service
    # manager's SIGTERM to the whole group must not kill a job under it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    start_heartbeat(connection, float(config_data.get("engine", {}).get("heartbeat_s", 2.0)))
    worker = Worker(device, config_data, connection)
    try:
        worker.serve(preload)
    except (EOFError, OSError, BrokenPipeError):
        pass  # the server has gone: nothing to report to
    os._exit(0)


class Worker:
    def __init__(self, device: str, config_data: Dict[str, Any], connection):
        from ..config import build_config

        self.device = device
        self.connection = connection
        self.config = build_config(config_data)
        self.config.models.device = device
        self.announced = set()  # profiles whose load the supervisor was told of
        self.stop_after_job = False

    def log(self, text: str) -> None:
        send(self.connection, "log", text=text)

    def serve(self, preload: bool) -> None:
        send(self.connection, "ready", device=self.device, pid=os.getpid())
        if preload:
            try:
                self.pipeline(self.config.models.default_profile)
            except Exception as error:  # the device may still run other profiles
                self.log("could not preload profile %s: %s" % (self.config.models.default_profile, error))
        while not self.stop_after_job:
            message = receive(self.connection)
            if message.get("kind") == "run":
                self.run(message["job_id"], message["spec"], message.get("task_id") or "")
            elif message.get("kind") == "stop":
                return

    def pipeline(self, name: str):
        """The profile's pipeline from generate's one cache; the supervisor hears of its first load."""
        from ..generate import load_pipeline

        started = time.monotonic()
        pipeline = load_pipeline(name, self.config, self.log)
        if name not in self.announced:
            self.announced.add(name)
            profile = pipeline.profile
            send(self.connection, "loaded", profile=name, seconds=round(time.monotonic() - started, 3),
                 native_size=list(getattr(profile, "native_size", ()) or ()),
                 default_steps=getattr(profile, "default_steps", None))
        return pipeline

    def run(self, job_id: str, spec_data: Dict[str, Any], task_id: str = "") -> None:
        from .. import shotspec
        from ..errors import ActAnywhereError
        from ..generate import generate_shot

        last_sent = [0.0]

        def progress(event) -> None:
            self._check_cancel(job_id)
            now = time.monotonic()
            if now - last_sent[0] >= PROGRESS_INTERVAL_S or event.done >= event.total:
                last_sent[0] = now
                send(self.connection, "progress", job_id=job_id, event=event.to_dict())

        try:
            spec = shotspec.from_resolved(spec_data, source="job %s" % job_id)  # resolved by the client
            pipeline = self.pipeline(spec.model)
            self._check_cancel(job_id)
            results = generate_shot(spec, self.config, progress=progress, log=self.log, pipeline=pipeline,
                                   job_id=job_id, task_id=task_id)
        except JobCancelled:
            send(self.connection, "cancelled", job_id=job_id)
        except ActAnywhereError as error:
            send(self.connection, "failed", job_id=job_id, code="job_failed", message=str(error))
        except MemoryError:
            send(self.connection, "failed", job_id=job_id, code="job_failed",
                 message="out of memory on %s; use smaller tiles or windows, or another device" % self.device)
            self.stop_after_job = True  # a fresh process gives the memory back
        except Exception as error:  # a bug or a model error fails this job only
            text = " ".join(str(error).split())[:500]
            out_of_memory = "out of memory" in text.lower()
            self.log("job %s: %s" % (job_id, traceback.format_exc()))
            send(self.connection, "failed", job_id=job_id, code="job_failed",
                 message="%s on %s: %s%s" % (type(error).__name__, self.device, text,
                                             "; use smaller tiles or windows" if out_of_memory else ""))
            self.stop_after_job = out_of_memory
        else:
            send(self.connection, "done", job_id=job_id, results=[result.to_data() for result in results])

    def _check_cancel(self, job_id: str) -> None:
        while self.connection.poll(0):
            try:
                message = receive(self.connection)
            except EOFError:
                raise JobCancelled()  # the server is gone: publish nothing
            if message.get("kind") == "cancel" and message.get("job_id") == job_id:
                raise JobCancelled()
            if message.get("kind") == "stop":
                self.stop_after_job = True
                raise JobCancelled()

