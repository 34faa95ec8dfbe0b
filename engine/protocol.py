"""The engine's wire protocol: message kinds, the JSON header and its limits, error codes.

Every ZeroMQ message is exactly one frame holding one JSON object (UTF-8), never pickle:

    {"v": 1, "kind": "submit", "id": "c81f...", "spec": {...}, "job_id": "sh010-7f3a", "priority": 0}

`v` is PROTOCOL_VERSION, `kind` one of the kinds below, `id` the request id chosen by the client; a
reply carries the request's id in `re`. Events the engine pushes unasked (progress, state, heartbeat)
carry no `re`. Files move by path on shared storage: no pixels ever cross the socket.
See docs/protocol.md for every message with an example. Pure Python (Nuke imports this).
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any, Dict, Optional

from .errors import ActAnywhereError

PROTOCOL_VERSION = 1

# Requests a client sends, and the kind of their reply.
REQUESTS = {
    "hello": "info",
    "ping": "pong",
    "submit": "accepted",
    "status": "status",
    "jobs": "jobs",
    "cancel": "status",
    "result": "result",
}
# Events the engine pushes to the clients watching a job.
EVENTS = ("progress", "state", "heartbeat")
REPLIES = ("info", "pong", "accepted", "status", "jobs", "result", "error")

# Job states; the last three are final.
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)

# Error codes (the `code` of an `error` reply, or of a failed job).
BAD_MESSAGE = "bad_message"  # not JSON, not an object, several frames
UNSUPPORTED_VERSION = "unsupported_version"
TOO_LARGE = "too_large"  # a frame or a field over its limit
BAD_REQUEST = "bad_request"  # unknown kind, missing or wrong field
BAD_SPEC = "bad_spec"  # the shot spec does not validate
PATH_REFUSED = "path_refused"  # a path outside the sandbox roots
UNKNOWN_JOB = "unknown_job"
NOT_FINISHED = "not_finished"
QUEUE_FULL = "queue_full"
SHUTTING_DOWN = "shutting_down"
JOB_FAILED = "job_failed"  # the job's own error (bad input file, model exception)
WORKER_DIED = "worker_died"  # the worker process died under the job (killed, out of memory)
JOB_CANCELLED = "job_cancelled"
WORKER_HUNG = "worker_hung"  # the worker stopped answering (hung, or stopped) and was killed under the job
TIME_LIMIT = "time_limit"  # the job ran past engine.job_time_limit_s and was stopped
JOURNAL_FAILED = "journal_failed"  # the engine could not record the request on disk; nothing was changed
NOT_YOURS = "not_yours"  # the job belongs to another client
JOB_ID_CONFLICT = "job_id_conflict"  # a resend of a job id with another spec (or farm task id)
AUTH_REQUIRED = "auth_required"  # (client side) the engine takes CurveZMQ clients only
AUTH_REFUSED = "auth_refused"  # (client side) the engine refused this client's key

# Limits, checked by `decode` on both sides.
MAX_MESSAGE_BYTES = 256 * 1024  # a shot spec is a few KiB
MAX_STRING = 4096
MAX_LIST = 1000
MAX_KEYS = 200
MAX_DEPTH = 8
MAX_JOBS_PAGE = 200  # jobs listed per `jobs` reply; `next` pages on
TRANSPORT_MAX_BYTES = 4 * 1024 * 1024  # ZMQ_MAXMSGSIZE: bigger frames drop the connection unread
JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProtocolError(ActAnywhereError):
    """A message breaks the protocol; `code` is one of the error codes above."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def new_id() -> str:
    return uuid.uuid4().hex


def check_job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        raise ProtocolError(
            BAD_REQUEST,
            "job_id %r: use 1-64 letters, digits, _ . - starting with a letter or digit" % (job_id,),
        )
    return job_id


def message(kind: str, **fields: Any) -> Dict[str, Any]:
    data = {"v": PROTOCOL_VERSION, "kind": kind}
    data.update({key: value for key, value in fields.items() if value is not None})
    return data


def error_message(code: str, text: str, reply_to: Optional[str] = None) -> Dict[str, Any]:
    return message("error", code=code, message=" ".join(str(text).split()), re=reply_to)


def encode(data: Dict[str, Any]) -> bytes:
    raw = json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(TOO_LARGE, "message of %d bytes is over the limit of %d" % (len(raw), MAX_MESSAGE_BYTES))
    return raw


def decode(raw: bytes) -> Dict[str, Any]:
    """One frame -> a checked message: JSON object, right version, known kind, within the limits.
    Raises ProtocolError naming what is wrong."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(TOO_LARGE, "message of %d bytes is over the limit of %d; send paths, not data"
                            % (len(raw), MAX_MESSAGE_BYTES))
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise ProtocolError(BAD_MESSAGE, "message is not UTF-8 JSON (%s); every frame is one JSON object" % error)
    except RecursionError:
        raise ProtocolError(TOO_LARGE, "message: nested deeper than %d levels" % MAX_DEPTH) from None
    if not isinstance(data, dict):
        raise ProtocolError(BAD_MESSAGE, "message is JSON %s, not an object" % type(data).__name__)
    _check_limits(data, "message", 0)
    version = data.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            UNSUPPORTED_VERSION,
            "protocol version %r is not spoken here (this side speaks %d); upgrade the older of client and engine"
            % (version, PROTOCOL_VERSION),
        )
    kind = data.get("kind")
    if not isinstance(kind, str):
        raise ProtocolError(BAD_REQUEST, "message: field 'kind' must be a string, got %s; known requests: %s"
                            % (type(kind).__name__, ", ".join(REQUESTS)))
    if kind not in REQUESTS and kind not in EVENTS and kind not in REPLIES:
        raise ProtocolError(BAD_REQUEST, "unknown message kind %r; known requests: %s" % (kind, ", ".join(REQUESTS)))
    request_id = data.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(BAD_REQUEST, "id must be a string")
    return data


def require(data: Dict[str, Any], name: str, kind: type, what: str = "") -> Any:
    """A field of a request, which must be present and of `kind`."""
    value = data.get(name)
    if value is None:
        raise ProtocolError(BAD_REQUEST, "%s: field %r is missing%s" % (data.get("kind"), name, what and " (" + what + ")"))
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ProtocolError(BAD_REQUEST, "%s: field %r must be %s, got %r"
                            % (data.get("kind"), name, getattr(kind, "__name__", kind), type(value).__name__))
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError("%s is not allowed" % name)


def _check_limits(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ProtocolError(TOO_LARGE, "%s: nested deeper than %d levels" % (path, MAX_DEPTH))
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise ProtocolError(TOO_LARGE, "%s: string of %d characters is over the limit of %d"
                                % (path, len(value), MAX_STRING))
        _check_unicode(value, path)
    elif isinstance(value, list):
        if len(value) > MAX_LIST:
            raise ProtocolError(TOO_LARGE, "%s: list of %d items is over the limit of %d" % (path, len(value), MAX_LIST))
        for index, item in enumerate(value):
            _check_limits(item, "%s[%d]" % (path, index), depth + 1)
    elif isinstance(value, dict):
        if len(value) > MAX_KEYS:
            raise ProtocolError(TOO_LARGE, "%s: %d keys is over the limit of %d" % (path, len(value), MAX_KEYS))
        for key, item in value.items():
            if len(key) > 256:
                raise ProtocolError(TOO_LARGE, "%s: a key of %d characters" % (path, len(key)))
            _check_unicode(key, path + " (a key)")
            _check_limits(item, "%s.%s" % (path, key), depth + 1)


def _check_unicode(text: str, path: str) -> None:
    """JSON can carry a lone surrogate (\\ud800) that no file system or UTF-8 encoder takes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolError(BAD_REQUEST, "%s: a string holding a lone surrogate (\\u%04x), which is not "
                            "Unicode text; send the path as UTF-8" % (path, ord(text[_first_surrogate(text)]))) from None


def _first_surrogate(text: str) -> int:
    return next(index for index, character in enumerate(text) if 0xD800 <= ord(character) <= 0xDFFF)
