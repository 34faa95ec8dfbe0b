"""run_job: the one submit-and-wait (panel, farm, CLI), against a scripted client."""
import pytest

from actanywhere.engine.client import JobEndedError, run_job
from actanywhere.engine.errors import EngineError


class ScriptedClient:
    """submit/wait/cancel/result; `waits` says what each wait does: a final state, "timeout" or an exception."""

    def __init__(self, waits):
        self.waits, self.calls = list(waits), []

    def submit(self, spec, job_id=None, **options):
        self.calls.append(("submit", job_id, options))
        return job_id or "job-1"

    def wait(self, job_id, timeout_s=None, on_event=None):
        self.calls.append(("wait", timeout_s))
        outcome = self.waits.pop(0)
        if outcome == "timeout":
            raise EngineError("still running", "wait_timeout")
        if isinstance(outcome, BaseException):
            raise outcome
        return {"job_id": job_id, "state": outcome, "error": {"code": "worker_died", "message": "killed"}
                if outcome == "failed" else None}

    def cancel(self, job_id):
        self.calls.append(("cancel", job_id))

    def result(self, job_id):
        return {"results": [{"version_name": "v001"}]}


def test_a_done_job_returns_its_record_and_result_and_options_reach_submit():
    client = ScriptedClient(["done"])
    ended = run_job(client, {"shot": "sh010"}, job_id="j1", task_id="t1", priority=5)
    assert ended["job_id"] == "j1" and ended["result"]["results"][0]["version_name"] == "v001"
    assert client.calls[0] == ("submit", "j1", {"priority": 5, "task_id": "t1"})


def test_the_cancel_button_is_polled_and_a_cancelled_or_failed_job_raises_with_its_code():
    presses = iter([False, True, True])
    client = ScriptedClient(["timeout", "cancelled"])
    with pytest.raises(JobEndedError) as raised:
        run_job(client, {}, should_cancel=lambda: next(presses), poll_s=0.01)
    assert raised.value.code == "job_cancelled" and [c for c in client.calls if c[0] == "cancel"] == [("cancel", "job-1")]
    with pytest.raises(JobEndedError, match="job job-1 failed: killed") as raised:
        run_job(ScriptedClient(["failed"]), {})
    assert raised.value.code == "worker_died"


def test_an_interrupted_caller_cancels_the_job_but_an_engine_error_does_not():
    client = ScriptedClient([KeyboardInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        run_job(client, {})
    assert ("cancel", "job-1") in client.calls  # a farm's SIGTERM: the engine stops the work too
    quiet = ScriptedClient([EngineError("no reply", "unavailable")])
    with pytest.raises(EngineError, match="no reply"):
        run_job(quiet, {})
    assert not [c for c in quiet.calls if c[0] == "cancel"]
    waiting = ScriptedClient(["timeout"])
    with pytest.raises(EngineError) as raised:
        run_job(waiting, {}, timeout_s=0.0)
    assert raised.value.code == "wait_timeout" and not [c for c in waiting.calls if c[0] == "cancel"]
