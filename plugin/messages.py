"""What the artist reads when something goes wrong: what happened, and what to do about it.

Engine errors carry a protocol code (docs/protocol.md); each code gets the action that fixes it.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..engine.errors import ActAnywhereError, EngineError

_ADVICE = {
    "unavailable": "Check that the engine runs (`actanywhere serve` on the GPU host) and that this node's engine "
                   "knob (or engine.endpoint in the studio config) names its address and port.",
    "auth_refused": "Ask the engine's admin to add your CurveZMQ public key, and check engine.server_public_key "
                    "in the studio config.",
    "bad_keys": "Set both engine.server_public_key and engine.client_secret_key in the studio config, or neither.",
    "bad_spec": "Fix the value named above on the ActAnywhere node and generate again.",
    "path_refused": "The engine may only read and write under its sandbox roots: set export_dir and the output "
                    "template to folders under them (ask your TD which).",
    "queue_full": "The engine's queue is full: try again later, or submit to the farm.",
    "shutting_down": "The engine is restarting: wait a minute and generate again.",
    "job_failed": "Check the plate, matte and condition named above; the job's log is on the engine host.",
    "worker_died": "The engine's worker died (out of memory?): lower tile size or frames, or ask your TD.",
    "job_cancelled": "The job was cancelled; generate again to restart it.",
    "unsupported_version": "The engine and this plugin speak different protocol versions: update the older one.",
    "wait_timeout": "The job is still running on the engine: press collect later.",
}


def describe_error(error: BaseException, endpoint: Optional[str] = None) -> str:
    """One message for a dialog: the error, then the advice for its code."""
    text = str(error) if isinstance(error, ActAnywhereError) else "%s: %s" % (type(error).__name__, error)
    code = getattr(error, "code", None) if isinstance(error, EngineError) else None
    advice = _ADVICE.get(code or "")
    lines = ["ActAnywhere: " + text]
    if endpoint and code in ("unavailable", "auth_refused"):
        lines.append("Engine: %s" % endpoint)
    if advice:
        lines.append(advice)
    elif not isinstance(error, ActAnywhereError):
        lines.append("This is a bug in the plugin: send the Script Editor's traceback to your TD.")
    return "\n".join(lines)


def describe_failed_job(record: Mapping[str, Any]) -> str:
    """For a job that ended failed or cancelled."""
    error = record.get("error") or {}
    code = error.get("code") or ("job_cancelled" if record.get("state") == "cancelled" else "job_failed")
    return describe_error(EngineError("job %s %s: %s" % (record.get("job_id", "?"), record.get("state", "failed"),
                                                         error.get("message", "no message")), code))
