"""Generate: one shot spec sent to an engine on a background thread, so Nuke stays responsive.

The thread owns its EngineClient (a ZeroMQ socket is used by one thread only). Everything that touches
Nuke (the progress bar, knobs, new nodes, dialogs) is handed to `main`, the main-thread executor the
adapter injects (nuke.executeInMainThread); tests inject their own. The artist's cancel in the progress
bar cancels the engine job.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable, Dict, Optional

from ..engine.client import JobEndedError, run_job
from ..engine.errors import EngineError
from ..engine.progress import ProgressEvent
from .messages import describe_error, describe_failed_job

POLL_S = 0.5  # how often the thread looks at the cancel button between engine events


class MainThread:
    """Runs callables on the UI thread. `call` returns at once; `call_and_wait` returns the result."""

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        raise NotImplementedError

    def call_and_wait(self, function: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError


class ProgressUI:
    """What the job needs of a progress bar (nuke.ProgressTask in Nuke)."""

    def update(self, percent: int, message: str) -> None:
        raise NotImplementedError

    def cancelled(self) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def progress_text(event: ProgressEvent) -> str:
    parts = [event.stage]
    if event.step is not None and event.steps:
        parts.append("step %d/%d" % (event.step, event.steps))
    if event.window is not None and event.windows and event.windows > 1:
        parts.append("window %d/%d" % (event.window, event.windows))
    if event.tile is not None and event.tiles and event.tiles > 1:
        parts.append("tile %d/%d" % (event.tile, event.tiles))
    if event.frame is not None:
        parts.append("frame %d" % event.frame)
    if event.eta_s is not None:
        parts.append("%ds left" % int(event.eta_s))
    return "  ".join(parts)


class GenerateJob:
    """Submit `spec_data`, follow it, and report back on the main thread:

    on_submitted(job_id); on_done(job_id, record, result); on_failed(message). `make_progress(title)`
    is called on the main thread and returns a ProgressUI."""

    def __init__(self, spec_data: Dict[str, Any], client_factory: Callable[[], Any], main: MainThread,
                 make_progress: Callable[[str], ProgressUI], on_submitted: Callable[[str], None],
                 on_done: Callable[[str, Dict[str, Any], Dict[str, Any]], None], on_failed: Callable[[str], None],
                 endpoint: str = "", job_id: Optional[str] = None, poll_s: float = POLL_S):
        self.spec_data = spec_data
        self.client_factory = client_factory
        self.main = main
        self.make_progress = make_progress
        self.on_submitted = on_submitted
        self.on_done = on_done
        self.on_failed = on_failed
        self.endpoint = endpoint
        self.job_id = job_id
        self.poll_s = poll_s
        self.thread = None  # type: Optional[threading.Thread]
        self._progress = None  # type: Optional[ProgressUI]
        self._last_shown = None  # type: Optional[tuple]

    def start(self) -> threading.Thread:
        self.thread = threading.Thread(target=self.run, name="ActAnywhere %s" % self.spec_data.get("shot"), daemon=True)
        self.thread.start()
        return self.thread

    def run(self) -> None:
        """The thread's body; never raises (a failure becomes a message to the artist)."""
        try:
            self._progress = self.main.call_and_wait(self.make_progress, "ActAnywhere %s" % self.spec_data.get("shot"))
            with self.client_factory() as client:
                self._follow(client)
        except EngineError as error:
            self.main.call(self.on_failed, describe_error(error, self.endpoint))
        except Exception as error:  # shown, with the traceback in the Script Editor
            traceback.print_exc()
            self.main.call(self.on_failed, describe_error(error, self.endpoint))
        finally:
            if self._progress is not None:
                self.main.call(self._progress.close)

    def _follow(self, client: Any) -> None:
        def submitted(job_id: str) -> None:
            self.job_id = job_id
            self.main.call(self.on_submitted, job_id)

        try:
            ended = run_job(client, self.spec_data, job_id=self.job_id, on_submitted=submitted, on_event=self._event,
                            should_cancel=self._progress.cancelled, poll_s=self.poll_s)
        except JobEndedError as error:
            self.main.call(self.on_failed, describe_failed_job(error.record))
            return
        self.main.call(self.on_done, ended["job_id"], ended["record"], ended["result"])

    def _event(self, job_id: str, event: ProgressEvent) -> None:
        percent = int(100 * event.fraction)
        shown = (event.stage, percent, event.step, event.frame)
        if shown == self._last_shown:
            return  # don't flood the UI thread with identical updates
        self._last_shown = shown
        self.main.call(self._progress.update, percent, progress_text(event))
