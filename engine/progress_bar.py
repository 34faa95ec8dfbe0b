"""The CLI's progress bar: one tqdm bar fed by the shared ProgressEvent callback."""
from __future__ import annotations

import sys

from tqdm import tqdm

from .progress import ProgressEvent


class ProgressBar:
    """A context manager whose `update` is a ProgressCallback. One bar per stage, so a stage's
    fraction and ETA read true; `write` prints a line without tearing the bar."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar = None
        self._stage = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self._close()

    def update(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        if event.stage != self._stage or self._bar is None or self._bar.total != event.total:
            self._close()
            self._stage = event.stage
            self._bar = tqdm(total=event.total, desc=event.stage, unit="it", file=sys.stderr, dynamic_ncols=True)
        self._bar.set_postfix_str(_position(event), refresh=False)
        self._bar.n = event.done
        self._bar.refresh()

    def write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

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
