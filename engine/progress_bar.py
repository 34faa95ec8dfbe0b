"""The CLI's progress display, fed by the shared ProgressEvent callback: tqdm bars on a terminal, and
plain `describe` lines (one per stage, or every few seconds) when the output is a log or a pipe."""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

from .progress import ProgressEvent, ProgressLog


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class ProgressBar:
    """A context manager whose `update` is a ProgressCallback. On a terminal: one tqdm bar per stage, so a
    stage's fraction and ETA read true. Elsewhere (a farm or CI log): the lines of ProgressLog, not a line
    per update. `write` prints a line without tearing the bar."""

    def __init__(self, enabled: bool = True, stream: Optional[TextIO] = None, interactive: Optional[bool] = None,
                 interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = is_terminal(self.stream) if interactive is None else interactive
        self._log = ProgressLog(self._print, interval_s, clock)
        self._bar = None
        self._stage = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self._close()

    def update(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        if not self.interactive:
            self._log(event)
            return
        from tqdm import tqdm

        if event.stage != self._stage or self._bar is None or self._bar.total != event.total:
            self._close()
            self._stage = event.stage
            self._bar = tqdm(total=event.total, desc=event.stage, unit="it", file=self.stream, dynamic_ncols=True)
        self._bar.set_postfix_str(_position(event), refresh=False)
        self._bar.n = event.done
        self._bar.refresh()

    def write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            self._print(message)

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _position(event: ProgressEvent) -> str:
    parts = []
    for name, total_name in (("step", "steps"), ("window", "windows"), ("tile", "tiles")):
        value, total = getattr(event, name), getattr(event, total_name)
        if value is not None and total:
            parts.append("%s %d/%d" % (name, value, total))
    if event.frame is not None:
        parts.append("frame %d" % event.frame)
    if event.message:
        parts.append(event.message)
    return " ".join(parts)
