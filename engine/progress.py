"""Progress events: one callback shape shared by the CLI progress bar, the engine's progress messages
and the farm's progress lines.

Pure Python (no torch): the Nuke panel and farm tasks receive these as plain dicts.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional


@dataclass
class ProgressEvent:
    """Where a long job stands. `done`/`total` count the job's units of work (denoising steps times
    windows times tiles, or frames while reading and writing), so `fraction` is meaningful whatever
    stage reports it."""

    stage: str  # "read", "encode", "sample", "decode", "write", ...
    done: int
    total: int
    step: Optional[int] = None
    steps: Optional[int] = None
    window: Optional[int] = None
    windows: Optional[int] = None
    tile: Optional[int] = None
    tiles: Optional[int] = None
    frame: Optional[int] = None
    eta_s: Optional[float] = None
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "ProgressEvent":
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


ProgressCallback = Callable[[ProgressEvent], None]


def ignore_progress(event: ProgressEvent) -> None:
    """The default callback: report nothing."""


@dataclass
class EtaClock:
    """Estimates the time left from the rate of work done so far within one stage."""

    started: float = field(default_factory=time.monotonic)

    def eta(self, done: int, total: int) -> Optional[float]:
        if done <= 0 or total <= 0:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / done * (total - done)


# -- plain lines, for logs that are not a terminal ---------------------------------------------------
def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % divmod(seconds, 60)
    return "%dh%02dm" % divmod(seconds // 60, 60)


def describe(event: ProgressEvent, eta: bool = True) -> str:
    """One plain line for an event: `encode frame 12/48 eta 3s`, `train step 10/150 loss 0.12`,
    `sample 8/24 step 2/6 window 2/2 tile 1/2 eta 1m05s`. The CLI writes these when its output is not
    a terminal, and farm tasks as their `openjd_status:` lines. No rate (a first rate is noise), and
    no axis of one (`window 1/1`)."""
    axes = [(name, getattr(event, name), getattr(event, total)) for name, total in
            (("step", "steps"), ("window", "windows"), ("tile", "tiles"))
            if getattr(event, name) is not None and (getattr(event, total) or 0) > 1]
    parts = [event.stage]
    if len(axes) == 1 and axes[0][1:] == (event.done, event.total):  # the count is that axis
        parts.append("%s %d/%d" % axes.pop())
    elif not axes and event.frame is not None:  # a stage that counts frames
        parts.append("frame %d/%d" % (event.done, event.total))
    else:
        parts.append("%d/%d" % (event.done, event.total))
    parts.extend("%s %d/%d" % axis for axis in axes)
    if event.message:
        parts.append(event.message)
    if eta and event.eta_s is not None and event.done < event.total and event.eta_s >= 0.5:
        parts.append("eta " + format_duration(event.eta_s))
    return " ".join(parts)


@dataclass
class _StageState:
    total: int
    done: int
    ended: bool


class ProgressLog:
    """A ProgressCallback that writes `describe` lines sparingly: for each stage one line when it
    starts (a new stage name or total, or its count going back) and one when it ends; in between, at
    most one line every `interval_s` seconds for all stages together. Stages may interleave (read and
    track, decode and write). A stage's first line has no ETA: one unit of work, warm-up included, says
    little about the rest. `clock` is injectable for tests."""

    def __init__(self, write: Callable[[str], None], interval_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.write, self.interval_s, self.clock = write, interval_s, clock
        self._stages = {}  # stage name -> _StageState
        self._written_at = None

    def __call__(self, event: ProgressEvent) -> None:
        now = self.clock()
        state = self._stages.get(event.stage)
        starts = state is None or state.total != event.total or event.done < state.done
        ends = event.done >= event.total
        if starts:
            due = True
        elif state.ended:
            due = False
        else:
            due = ends or now - self._written_at >= self.interval_s
        if starts:
            state = self._stages[event.stage] = _StageState(event.total, event.done, False)
        state.done = event.done
        if due:
            state.ended = ends
            self._written_at = now
            self.write(describe(event, eta=not starts))
