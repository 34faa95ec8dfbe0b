"""Overlapping windows and tiles, and the smooth fp32 weights that blend what the model says about them.

One rule for both axes of the problem: frames in windows of the model's length, latent pixels in tiles
of one shape. Spans have one size, overlap their neighbours by at least the requested amount, and the
last one is shifted back to the border rather than made shorter, so every U-Net call has the same shape.
Tiles are balanced: as few as the tile size allows, shrunk evenly to fit the side (windows keep the
model's length, which its motion modules were trained on).

The weight of a span is 1 where no neighbour overlaps it and a raised-cosine ramp across each region it
shares with a neighbour: sin^2 rising where the next span begins, cos^2 falling where the previous one
ends. Two neighbours' ramps over the same shared region sum to exactly 1 (sin^2 + cos^2), every weight
is strictly positive, and a span with no neighbour weighs exactly 1, so one window and one tile
covering everything reproduce the plain forward bit for bit. Pure numpy/torch math.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple

import numpy as np
import torch

Span = Tuple[int, int]  # [start, stop)


def spans(length: int, size: int, overlap: int, balanced: bool = False) -> List[Span]:
    """Spans of one size min(size, length) covering [0, length), neighbours sharing at least `overlap`
    (clamped below `size`); the last span ends at `length`.

    `balanced` (tiles): keep the fewest spans of at most `size` and shrink them evenly so they share
    about `overlap`, rather than letting a last span shifted far back double the overlap (a 72-pixel
    side in 64-pixel tiles: two tiles of 44, not two of 64 overlapping by 56)."""
    if length < 1:
        raise ValueError("nothing to cover: length is %d" % length)
    size = max(1, min(int(size), length))
    overlap = max(0, min(int(overlap), size - 1))
    if size == length:
        return [(0, length)]
    if balanced:
        count = math.ceil((length - overlap) / (size - overlap))
        size = min(size, math.ceil((length + (count - 1) * overlap) / count))
        overlap = min(overlap, size - 1)
    stride = size - overlap
    count = math.ceil((length - size) / stride) + 1
    starts = [min(index * stride, length - size) for index in range(count)]
    return [(start, start + size) for start in starts]


def span_weights(all_spans: Sequence[Span]) -> List[np.ndarray]:
    """The 1-D float32 blending weight of each span (see the module docstring)."""
    weights = []
    for index, (start, stop) in enumerate(all_spans):
        weight = np.ones(stop - start, np.float64)
        position = np.arange(stop - start) + 0.5
        if index > 0:  # rising across what the previous span shares with this one
            shared = all_spans[index - 1][1] - start
            if shared > 0:
                weight *= np.where(position < shared, np.sin(np.pi / 2 * position / shared) ** 2, 1.0)
        if index + 1 < len(all_spans):  # falling across what the next span shares with this one
            shared = stop - all_spans[index + 1][0]
            if shared > 0:
                from_end = (stop - start) - position
                weight *= np.where(from_end < shared, np.sin(np.pi / 2 * from_end / shared) ** 2, 1.0)
        weights.append(weight.astype(np.float32))
    return weights


@dataclass(frozen=True)
class Region:
    """One U-Net call's share of the shot: a window of frames x a tile of latent pixels."""

    window: int  # index among the grid's windows
    tile: int  # index among the grid's tiles
    frames: slice
    rows: slice
    cols: slice
    frame_weight: np.ndarray
    row_weight: np.ndarray
    col_weight: np.ndarray

    def weight(self) -> torch.Tensor:
        """(1, 1, F, h, w) float32 blending weight."""
        weight = (self.frame_weight[:, None, None] * self.row_weight[None, :, None] * self.col_weight[None, None, :])
        return torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32))[None, None]


class BlendGrid:
    """Windows x tiles over a (frames, height, width) latent shot."""

    def __init__(self, frames: int, height: int, width: int, window_frames: int, window_overlap: int,
                 tile_size: int, tile_overlap: int):
        self.shape = (frames, height, width)
        self.windows = spans(frames, window_frames, window_overlap)
        self.tile_rows = spans(height, tile_size, tile_overlap, balanced=True)
        self.tile_cols = spans(width, tile_size, tile_overlap, balanced=True)
        self.window_weights = span_weights(self.windows)
        self.row_weights = span_weights(self.tile_rows)
        self.col_weights = span_weights(self.tile_cols)

    @property
    def window_count(self) -> int:
        return len(self.windows)

    @property
    def tile_count(self) -> int:
        return len(self.tile_rows) * len(self.tile_cols)

    @property
    def window_shape(self) -> Tuple[int, int, int]:
        """(frames, rows, cols) of every region: one shape for every U-Net call."""
        return (self.windows[0][1] - self.windows[0][0], self.tile_rows[0][1] - self.tile_rows[0][0],
                self.tile_cols[0][1] - self.tile_cols[0][0])

    @property
    def overlap_factor(self) -> float:
        """Latent pixel-frames the U-Net sees over those of the shot (1.0: no overlap)."""
        frames, rows, cols = self.window_shape
        return (frames * rows * cols * self.window_count * self.tile_count) / float(np.prod(self.shape))

    def tiles(self) -> Iterator[Tuple[int, slice, slice]]:
        for row_index, (top, bottom) in enumerate(self.tile_rows):
            for col_index, (left, right) in enumerate(self.tile_cols):
                yield row_index * len(self.tile_cols) + col_index, slice(top, bottom), slice(left, right)

    def tile_regions(self, window: int) -> List[Region]:
        start, stop = self.windows[window]
        regions = []
        for tile, rows, cols in self.tiles():
            row_index, col_index = divmod(tile, len(self.tile_cols))
            regions.append(Region(window, tile, slice(start, stop), rows, cols, self.window_weights[window],
                                  self.row_weights[row_index], self.col_weights[col_index]))
        return regions

    def regions(self) -> List[Region]:
        """Every (window, tile), windows outermost."""
        return [region for window in range(self.window_count) for region in self.tile_regions(window)]

    def coverage(self) -> np.ndarray:
        """(frames, height, width) float32 sum of the weights: strictly positive where covered."""
        total = np.zeros(self.shape, np.float32)
        for region in self.regions():
            total[region.frames, region.rows, region.cols] += region.weight()[0, 0].numpy()
        return total


def blend_weights_2d(height: int, width: int, tile_size: int, tile_overlap: int, scale: int = 1):
    """Tiles of one (height, width) frame: yields (rows, cols, weight), the slices in the frame's units
    and the float32 weight at `scale` times that size (the decoder's pixels for latent tiles), its ramps
    computed at that size so they stay smooth. What tiled VAE encode and decode use."""
    row_spans = spans(height, tile_size, tile_overlap, balanced=True)
    col_spans = spans(width, tile_size, tile_overlap, balanced=True)
    row_weights = span_weights([(start * scale, stop * scale) for start, stop in row_spans])
    col_weights = span_weights([(start * scale, stop * scale) for start, stop in col_spans])
    for (top, bottom), row_weight in zip(row_spans, row_weights):
        for (left, right), col_weight in zip(col_spans, col_weights):
            yield slice(top, bottom), slice(left, right), np.outer(row_weight, col_weight).astype(np.float32)
