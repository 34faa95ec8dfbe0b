"""The engine client: what the Nuke panel, farm tasks and `actanywhere submit` use to talk to an engine.

Reliable request-reply in the zguide's Lazy Pirate manner: one DEALER socket; each request waits at
most `timeout_s` for its reply; on silence the socket is closed (LINGER 0), a new one connects, and
the same request is sent again, up to `retries` times; then EngineUnavailableError. Every request is
safe to repeat: a submit carries a job id chosen here, so a resent submit never runs twice. While
waiting for a job, the client re-asks its status every heartbeat interval, which is both its
heartbeat and its way to re-register for events after a reconnection. Nothing here blocks forever.

    with EngineClient("tcp://gpu01:5570", on_event=lambda job_id, event: print(event.fraction)) as engine:
        job_id = engine.submit(spec)
        record = engine.wait(job_id)          # the final job record: state done / failed / cancelled

Pure Python + pyzmq (Nuke imports this).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import zmq

from . import protocol
from .errors import EngineError, EngineUnavailableError
from .progress import ProgressEvent

EventCallback = Callable[[str, ProgressEvent], None]
_AUTH_FAILED = getattr(zmq, "EVENT_HANDSHAKE_FAILED_AUTH", 0)  # the engine refused our key
_PROTOCOL_FAILED = getattr(zmq, "EVENT_HANDSHAKE_FAILED_PROTOCOL", 0)  # e.g. we speak no Curve, it does
_NO_DETAIL_FAILED = getattr(zmq, "EVENT_HANDSHAKE_FAILED_NO_DETAIL", 0)  # e.g. a wrong engine public key
_HANDSHAKE_FAILURES = _AUTH_FAILED | _PROTOCOL_FAILED | _NO_DETAIL_FAILED


class EngineClient:
    def __init__(
        self,
        endpoint: str,
        timeout_s: float = 10.0,
        retries: int = 3,
        heartbeat_s: float = 2.0,
        server_public_key: Optional[str] = None,
        client_secret_key: Optional[str] = None,
        on_event: Optional[EventCallback] = None,
    ):
        """`server_public_key` (the engine's NAME.key) and `client_secret_key` (this client's
        NAME.key_secret) turn on CurveZMQ; give both or neither."""
        if bool(server_public_key) != bool(client_secret_key):
            raise EngineError("CurveZMQ needs both engine.server_public_key and engine.client_secret_key", "bad_keys")
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.retries = retries
        self.heartbeat_s = heartbeat_s
        self.on_event = on_event
        self._curve = None
        if server_public_key:
            from .service.keys import load_key_pair, load_public_key  # pyzmq only

            public, secret = load_key_pair(client_secret_key, "engine.client_secret_key")
            self._curve = (load_public_key(server_public_key, "engine.server_public_key"), public, secret)
        from .service.clients import local_user, secret_key_warning  # pure Python

        self.user = local_user()  # who this client acts as on an engine without CurveZMQ keys
        if client_secret_key and secret_key_warning(client_secret_key):
            import warnings

            warnings.warn(secret_key_warning(client_secret_key))
        self._context = zmq.Context()
        self._socket = None  # type: Optional[zmq.Socket]
        self._monitor = None  # type: Optional[zmq.Socket]
        self._final = {}  # type: Dict[str, Dict[str, Any]]
        self.reconnects = 0

    @classmethod
    def from_settings(cls, engine_settings, endpoint: Optional[str] = None,
                      on_event: Optional[EventCallback] = None) -> "EngineClient":
        """A client configured by the config's `engine` section (settings.EngineSettings)."""
        return cls(
            endpoint or engine_settings.endpoint,
            timeout_s=engine_settings.request_timeout_s,
            retries=engine_settings.retries,
            heartbeat_s=engine_settings.heartbeat_s,
            server_public_key=engine_settings.server_public_key,
            client_secret_key=engine_settings.client_secret_key,
            on_event=on_event,
        )

    # -- requests -------------------------------------------------------------------------------
    def hello(self) -> Dict[str, Any]:
        """The engine's info: version, devices, profiles and parameter ranges, limits."""
        return self.request("hello", client="actanywhere")

    def ping(self) -> float:
        """Seconds for one round trip."""
        started = time.monotonic()
        self.request("ping")
        return time.monotonic() - started

    def submit(self, spec: Union[Mapping[str, Any], Any], job_id: Optional[str] = None, priority: int = 0,
               watch: bool = False, task_id: str = "") -> str:
        """Queue a shot spec (a ShotSpec or its data, with absolute paths); returns the job id.
        Submitting the same job id again returns the same job and runs nothing new (with another spec:
        EngineError job_id_conflict). A farm `task_id` makes the publication exactly-once per task
        across engine jobs: a version that task published is returned instead of rendered again."""
        data = spec.to_data() if hasattr(spec, "to_data") else dict(spec)
        job_id = protocol.check_job_id(job_id or "%s-%s" % (str(data.get("shot", "job"))[:40], protocol.new_id()[:12]))
        reply = self.request("submit", spec=data, job_id=job_id, priority=priority, watch=watch or None,
                             task_id=task_id or None)
        return reply["job_id"]

    def status(self, job_id: str, watch: bool = False) -> Dict[str, Any]:
        """The job's record: state, progress, result or error. `watch` asks for its events."""
        return self.request("status", job_id=job_id, watch=watch or None)["job"]

    def jobs(self, state: Optional[str] = None, everyone: bool = False, limit: int = 1000) -> List[Dict[str, Any]]:
        """This client's jobs (an admin's `everyone`: all clients'), newest first, at most `limit`,
        fetched a page at a time."""
        found = []  # type: List[Dict[str, Any]]
        before = None
        while len(found) < limit:
            reply = self.request("jobs", state=state, all=everyone or None, before=before,
                                 limit=min(protocol.MAX_JOBS_PAGE, limit - len(found)))
            found += reply["jobs"]
            before = reply.get("next")
            if not before:
                break
        return found

    def cancel(self, job_id: str) -> Dict[str, Any]:
        """Cancel a queued or running job; returns its record (a running job may still show
        `running` with `cancel_requested` until its worker stops)."""
        return self.request("cancel", job_id=job_id)["job"]

    def result(self, job_id: str) -> Dict[str, Any]:
        """Output paths, versions and metadata of a finished job; EngineError while it is not done."""
        return self.request("result", job_id=job_id)

    def wait(self, job_id: str, timeout_s: Optional[float] = None,
             on_event: Optional[EventCallback] = None) -> Dict[str, Any]:
        """Wait for the job to end; returns its final record (state done, failed or cancelled).
        Raises EngineError(code="wait_timeout") after `timeout_s`, EngineUnavailableError if the
        engine stops answering."""
        if on_event is not None:
            self.on_event = on_event
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        record = self.status(job_id, watch=True)
        while record["state"] not in protocol.FINAL_STATES:
            if job_id in self._final:
                return self._final.pop(job_id)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise EngineError("job %s still %s after %gs of waiting; it keeps running on the engine"
                                  % (job_id, record["state"], timeout_s), "wait_timeout")
            next_status = now + self.heartbeat_s
            if deadline is not None:
                next_status = min(next_status, deadline)
            while job_id not in self._final and time.monotonic() < next_status:
                self._receive_events(next_status - time.monotonic())
            if job_id not in self._final:
                record = self.status(job_id, watch=True)  # heartbeat, and re-registers after a reconnection
        self._final.pop(job_id, None)
        return record

    def request(self, kind: str, **fields: Any) -> Dict[str, Any]:
        """Send one request and return its reply, retrying on silence (Lazy Pirate)."""
        request = protocol.message(kind, id=protocol.new_id(), user=self.user, **fields)
        raw = protocol.encode(request)
        for attempt in range(self.retries + 1):
            socket = self._connected()
            try:
                socket.send(raw, zmq.NOBLOCK)
            except zmq.Again:
                pass  # no connection yet and the queue is full: counts as silence
            else:
                reply = self._await_reply(request["id"], time.monotonic() + self.timeout_s)
                if reply is not None:
                    if reply["kind"] == "error":
                        raise EngineError(reply.get("message", "engine error"), reply.get("code", "engine_error"))
                    return reply
            self._disconnect()  # Lazy Pirate: a fresh socket, so a late reply cannot be mistaken
            self.reconnects += 1
        raise EngineUnavailableError(
            "no reply from the engine at %s to %r after %d tries of %gs; check that `actanywhere serve` "
            "runs there, that the address and port are right, and whether it requires CurveZMQ keys "
            "(engine.server_public_key, engine.client_secret_key)" % (self.endpoint, kind, self.retries + 1, self.timeout_s)
        )

    def close(self) -> None:
        self._disconnect()
        self._context.term()

    def __enter__(self) -> "EngineClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- socket lifetime ------------------------------------------------------------------------
    def _connected(self) -> zmq.Socket:
        if self._socket is None:
            socket = self._context.socket(zmq.DEALER)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.MAXMSGSIZE, protocol.TRANSPORT_MAX_BYTES)
            if self._curve:
                server_public, public, secret = self._curve
                socket.curve_serverkey = server_public
                socket.curve_publickey = public
                socket.curve_secretkey = secret
            # Handshake failures are the only word an engine with CurveZMQ can give a client it will
            # not talk to; without the monitor they would look like an engine that is down.
            self._monitor = socket.get_monitor_socket(_HANDSHAKE_FAILURES)
            socket.connect(self.endpoint)
            self._socket = socket
        return self._socket

    def _disconnect(self) -> None:
        if self._monitor is not None:
            try:
                self._socket.disable_monitor()
            except zmq.ZMQError:
                pass
            self._monitor.close(linger=0)
            self._monitor = None
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def _await_reply(self, request_id: str, deadline: float) -> Optional[Dict[str, Any]]:
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        if self._monitor is not None:
            poller.register(self._monitor, zmq.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready = dict(poller.poll(remaining * 1000))
            if self._monitor is not None and self._monitor in ready:
                self._check_monitor()
            if self._socket in ready:
                while self._socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    message = self._read()
                    if message is None:
                        continue
                    if message.get("re") == request_id:
                        return message
                    self._dispatch(message)

    def _receive_events(self, seconds: float) -> None:
        if seconds <= 0:
            return
        socket = self._connected()
        if socket.poll(seconds * 1000, zmq.POLLIN):
            while socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                message = self._read()
                if message is not None:
                    self._dispatch(message)

    def _read(self) -> Optional[Dict[str, Any]]:
        frames = self._socket.recv_multipart()
        try:
            return protocol.decode(frames[-1])
        except protocol.ProtocolError:
            return None  # a broken frame from the engine is dropped; the request will be retried

    def _check_monitor(self) -> None:
        from zmq.utils.monitor import recv_monitor_message

        while self._monitor.poll(0):
            event = recv_monitor_message(self._monitor)["event"]
            if event & _AUTH_FAILED or event & _NO_DETAIL_FAILED and self._curve:
                self._disconnect()
                raise EngineUnavailableError(
                    "the engine at %s refused this client's CurveZMQ key; ask its admin to add your public "
                    "key (NAME.key) to its client_keys_dir, and check that engine.server_public_key is that "
                    "engine's key" % self.endpoint, protocol.AUTH_REFUSED)
            if event & _HANDSHAKE_FAILURES and self._curve:
                self._disconnect()
                raise EngineUnavailableError(
                    "the CurveZMQ handshake with %s failed: that engine may run without keys (then clear "
                    "engine.server_public_key and engine.client_secret_key) or not be an actanywhere engine"
                    % self.endpoint, "handshake_failed")
            if event & _HANDSHAKE_FAILURES:
                self._disconnect()
                raise EngineUnavailableError(
                    "the engine at %s takes CurveZMQ clients only; set engine.server_public_key (the engine's "
                    "NAME.key) and engine.client_secret_key (yours, from `actanywhere keys create`), and ask "
                    "its admin to add your NAME.key to its client_keys_dir" % self.endpoint, protocol.AUTH_REQUIRED)

    def _dispatch(self, message: Dict[str, Any]) -> None:
        kind = message.get("kind")
        job_id = message.get("job_id")
        if kind == "progress" and self.on_event is not None and isinstance(message.get("event"), dict):
            try:
                event = ProgressEvent.from_dict(message["event"])
            except TypeError:
                return
            self.on_event(job_id, event)
        elif kind == "state" and isinstance(message.get("job"), dict):
            if message["job"].get("state") in protocol.FINAL_STATES:
                if len(self._final) >= 1000:  # final states of jobs nobody waits for: keep it bounded
                    self._final.pop(next(iter(self._final)))
                self._final[job_id] = message["job"]


class JobEndedError(EngineError):
    """A job that ended failed or cancelled; `record` is its final record, `code` its error code."""

    def __init__(self, record: Dict[str, Any]):
        error = record.get("error") or {}
        code = error.get("code") or ("job_cancelled" if record.get("state") == "cancelled" else "job_failed")
        super().__init__("job %s %s: %s" % (record.get("job_id", "?"), record.get("state", "failed"),
                                            error.get("message", "no message")), code)
        self.record = record


def run_job(client, spec, *, job_id: Optional[str] = None, task_id: str = "", priority: int = 0,
            on_submitted: Optional[Callable[[str], None]] = None, on_event: Optional[EventCallback] = None,
            should_cancel: Optional[Callable[[], bool]] = None, poll_s: float = 0.5,
            timeout_s: Optional[float] = None) -> Dict[str, Any]:
    """Submit a shot and follow it to its end: the one submit-and-wait of the panel, the farm and the CLI.

    Returns {"job_id", "record", "result"} for a done job; a failed or cancelled one raises JobEndedError
    (its message and code are the job's). `should_cancel` is asked every `poll_s` (the artist's cancel
    button). After `timeout_s` the wait stops with EngineError wait_timeout and the job keeps running on
    the engine. When the caller itself is interrupted (a farm's SIGTERM, Ctrl-C), the job is cancelled on
    the engine before the interruption goes on, so it publishes nothing. `client`: an EngineClient (or
    anything with its submit, wait, cancel and result)."""
    options = dict({"priority": priority} if priority else {}, **({"task_id": task_id} if task_id else {}))
    job_id = client.submit(spec, job_id=job_id, **options)
    if on_submitted is not None:
        on_submitted(job_id)
    cancel_sent = False
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while True:
            if not cancel_sent and should_cancel is not None and should_cancel():
                client.cancel(job_id)
                cancel_sent = True
            wait_s = poll_s if should_cancel is not None else None
            if deadline is not None:
                remaining = max(0.0, deadline - time.monotonic())
                wait_s = remaining if wait_s is None else min(wait_s, remaining)
            try:
                record = client.wait(job_id, timeout_s=wait_s, on_event=on_event)
            except EngineError as error:
                if error.code == "wait_timeout" and (deadline is None or time.monotonic() < deadline):
                    continue  # only a poll for the cancel button
                raise
            break
    except EngineError:
        raise  # the engine's own answer (or its silence): nothing to cancel that it would hear
    except BaseException:
        if not cancel_sent:
            try:
                client.cancel(job_id)
            except EngineError:
                pass
        raise
    if record.get("state") != "done":
        raise JobEndedError(record)
    return {"job_id": job_id, "record": record, "result": client.result(job_id)}
