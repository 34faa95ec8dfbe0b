"""ShotTensor: a whole shot's latent-size tensor, read and written by region, in memory or on disk.

The tiled sampler touches a shot one window x tile at a time, so the shot's state (latents, foreground
latents, mask, the blending accumulators) need not be resident: with `directory` set the values live in
a file and each access maps only what it touches, then unmaps it, so the process's resident memory is
bounded by the region and not by the plate or the shot. In memory it is a plain numpy array. Both give
the same values; the layout is (frames, channels, height, width), so a frame is contiguous.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import Optional, Sequence, Union

import numpy as np
import torch

ALL = slice(None)
Frames = Union[slice, Sequence[int]]  # a span of frames, or frames by index (each once) in the order given


class ShotTensor:
    def __init__(self, channels: int, frames: int, height: int, width: int, directory: Optional[str] = None,
                 name: str = "shot", fill: float = 0.0):
        self.shape = (int(frames), int(channels), int(height), int(width))  # storage layout (T, C, h, w)
        self.path = None
        self._array = None
        if directory is None:
            self._array = np.full(self.shape, fill, np.float32)
        else:
            handle, self.path = tempfile.mkstemp(prefix="actanywhere_%s_" % name, suffix=".f32", dir=directory)
            os.close(handle)
            with open(self.path, "r+b") as stream:  # sparse zeros
                stream.truncate(int(np.prod(self.shape)) * 4)
            if fill:
                for frame in range(self.shape[0]):
                    with self._mapped() as array:
                        array[frame] = fill

    # -- shape --------------------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return self.shape[1]

    @property
    def frames(self) -> int:
        return self.shape[0]

    @property
    def size(self):
        """(frames, height, width)."""
        return self.shape[0], self.shape[2], self.shape[3]

    @property
    def on_disk(self) -> bool:
        return self.path is not None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * 4

    @contextmanager
    def _mapped(self):
        if self._array is not None:
            yield self._array
            return
        array = np.memmap(self.path, np.float32, "r+", shape=self.shape)
        try:
            yield array
        finally:
            array.flush()
            del array  # unmaps: the pages leave the process's resident set

    # -- access -------------------------------------------------------------------------------------
    @classmethod
    def from_tensor(cls, tensor: torch.Tensor, directory: Optional[str] = None, name: str = "shot") -> "ShotTensor":
        """From a (1, C, T, h, w) tensor."""
        _, channels, frames, height, width = tensor.shape
        shot = cls(channels, frames, height, width, directory, name)
        shot.write(tensor)
        return shot

    def read(self, frames: Frames = ALL, rows: slice = ALL, cols: slice = ALL) -> torch.Tensor:
        """(1, C, F, h, w) float32 copy of a region (CPU)."""
        with self._mapped() as array:
            part = np.array(array[frames, :, rows, cols], dtype=np.float32, copy=True)
        return torch.from_numpy(part).permute(1, 0, 2, 3).unsqueeze(0).contiguous()

    def write(self, tensor: torch.Tensor, frames: Frames = ALL, rows: slice = ALL, cols: slice = ALL) -> None:
        values = tensor.detach().to("cpu", torch.float32)[0].permute(1, 0, 2, 3).numpy()
        with self._mapped() as array:
            array[frames, :, rows, cols] = values

    def add(self, tensor: torch.Tensor, frames: Frames = ALL, rows: slice = ALL, cols: slice = ALL) -> None:
        values = tensor.detach().to("cpu", torch.float32)[0].permute(1, 0, 2, 3).numpy()
        with self._mapped() as array:
            array[frames, :, rows, cols] += values

    def read_frame(self, frame: int) -> torch.Tensor:
        """(C, h, w) float32 of one frame."""
        with self._mapped() as array:
            return torch.from_numpy(np.array(array[frame], dtype=np.float32, copy=True))

    def write_frame(self, frame: int, values: torch.Tensor) -> None:
        with self._mapped() as array:
            array[frame] = values.detach().to("cpu", torch.float32).numpy()

    def fill_(self, value: float) -> None:
        if self._array is not None:
            self._array.fill(value)
            return
        for frame in range(self.frames):
            with self._mapped() as array:
                array[frame] = value

    def close(self) -> None:
        """Deletes the file of an on-disk tensor."""
        if self.path is not None and os.path.exists(self.path):
            os.remove(self.path)
        self._array = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass
