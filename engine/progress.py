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
