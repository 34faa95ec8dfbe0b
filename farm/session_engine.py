"""One engine per worker session: started when the session begins, stopped when it ends.

    actanywhere farm engine start --job JOB_DIR --session-dir DIR   (the OpenJD step environment's onEnter)
    actanywhere farm engine stop --session-dir DIR                  (its onExit)

`start` runs `actanywhere serve` in the background on a free loopback port, with a journal in the session
folder and the job's folders as its sandbox, waits until it answers and has loaded its model, then prints
`openjd_env: ACTANYWHERE_FARM_ENGINE=tcp://127.0.0.1:PORT`: OpenJD sets that variable for every later
action of the session, so every task sends its shot to this engine and the model loads once per worker
session. Each start is logged to JOB_DIR/logs/engine_starts.log (host, pid, address): one line per session.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Callable, List, Optional, Sequence

from .job import FarmError, FarmJob, write_json
from .tasks import ENGINE_VARIABLE, read_json, say

STATE_FILE = "engine.json"
LOG_FILE = "engine.log"
STARTS_LOG = os.path.join("logs", "engine_starts.log")


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_engine(job: FarmJob, session_dir: str, device: str = "auto", config_arguments: Sequence[str] = (),
                 timeout_s: float = 900.0, write: Callable[[str], None] = say) -> str:
    """Start the session's engine; returns its address once it is ready."""
    from ..engine.client import EngineClient
    from ..engine.errors import EngineError

    os.makedirs(session_dir, exist_ok=True)
    endpoint = "tcp://127.0.0.1:%d" % free_loopback_port()
    command = [sys.executable, "-m", "actanywhere.engine.cli", "serve", "--bind", endpoint, "--device", device,
               "--journal", os.path.join(session_dir, "journal")]
    for root in job.sandbox_roots or [job.job_dir]:
        command += ["--sandbox", root]
    command += list(config_arguments)
    log_path = os.path.join(session_dir, LOG_FILE)
    with open(log_path, "ab") as log:
        # Its own session: the engine outlives this short `start` action and is stopped by `stop`.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    write_json(os.path.join(session_dir, STATE_FILE), {"endpoint": endpoint, "pid": process.pid,
                                                        "started": time.time(), "job_id": job.job_id,
                                                        "job_dir": job.job_dir})
    write("openjd_status: starting the engine on %s (pid %d)" % (endpoint, process.pid))
    deadline = time.monotonic() + timeout_s
    with EngineClient(endpoint, timeout_s=2.0, retries=0) as client:
        while True:
            if process.poll() is not None:
                raise FarmError("the session's engine exited (code %s) while starting: %s"
                                % (process.returncode, _tail(log_path)))
            if time.monotonic() > deadline:
                _terminate(process.pid, 10.0)
                raise FarmError("the session's engine did not get ready in %gs: %s" % (timeout_s, _tail(log_path)))
            try:
                info = client.hello()
            except EngineError:
                continue
            if all(worker["state"] in ("idle", "busy") and worker["profiles"] for worker in info["devices"]):
                break
            time.sleep(0.2)
    _log_start(job.job_dir, process.pid, endpoint)
    write("openjd_env: %s=%s" % (ENGINE_VARIABLE, endpoint))
    return endpoint


def stop_engine(session_dir: str, timeout_s: float = 60.0, write: Callable[[str], None] = say) -> None:
    """SIGTERM the session's engine (it drains and exits), SIGKILL if it does not within `timeout_s`."""
    state = read_json(os.path.join(session_dir, STATE_FILE))
    if state is None:
        write("openjd_status: no engine was started in %s" % session_dir)
        return
    stopped = _terminate(int(state["pid"]), timeout_s)
    write("openjd_status: engine %s (pid %s) %s" % (state["endpoint"], state["pid"],
                                                    "stopped" if stopped else "killed after %gs" % timeout_s))
    _keep_log(session_dir, state, write)
    os.remove(os.path.join(session_dir, STATE_FILE))


def _keep_log(session_dir: str, state: dict, write: Callable[[str], None]) -> None:
    """The session's working folder goes with the session: its engine log is kept in the job folder
    (JOB_DIR/logs/engine-<host>-<pid>.log) for the wrangler."""
    source = os.path.join(session_dir, LOG_FILE)
    if not state.get("job_dir") or not os.path.isfile(source):
        return
    target = os.path.join(state["job_dir"], "logs", "engine-%s-%s.log" % (socket.gethostname(), state["pid"]))
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)
        write("openjd_status: engine log kept in %s" % target)
    except OSError as error:  # the log is for people: its loss never fails the session
        write("openjd_status: could not keep the engine log in %s: %s" % (target, error.strerror))


def engine_starts(job_dir: str) -> List[dict]:
    """The engine starts recorded for a job (one per worker session)."""
    try:
        with open(os.path.join(job_dir, STARTS_LOG), "r", encoding="utf-8") as stream:
            return [json.loads(line) for line in stream if line.strip()]
    except OSError:
        return []


def _log_start(job_dir: Optional[str], pid: int, endpoint: str) -> None:
    if not job_dir:
        return
    path = os.path.join(job_dir, STARTS_LOG)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    line = json.dumps({"host": socket.gethostname(), "pid": pid, "endpoint": endpoint, "time": time.time()})
    with open(path, "a", encoding="utf-8") as stream:  # one short append per session
        stream.write(line + "\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid, "r") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except (OSError, IndexError):
        return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _terminate(pid: int, timeout_s: float) -> bool:
    """True when the process exited on SIGTERM, False when it had to be killed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    _reap(pid)
    return False


def _tail(path: str, size: int = 1500) -> str:
    try:
        with open(path, "r", errors="replace") as stream:
            return " | ".join(stream.read()[-size:].splitlines())
    except OSError:
        return "(no engine log)"
