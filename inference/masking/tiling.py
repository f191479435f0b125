"""Geometry of the tile grid, the blending window and the resampling weights: pure functions.

The tile grid is anchored to the image, not to whatever block is being read, so
a pixel is always predicted by the same tiles with the same weights whether the
image is processed whole or strip by strip. It reproduces the geometry of
ukis-csmask's CSmask (tiles of `size` pixels every `step` pixels, the first one
starting `pad` pixels before the image, the image mirrored symmetrically
beyond its edges), so both give the same classes for the same input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal.windows import tukey


@dataclass(frozen=True)
class TileGrid:
    """Tiles of `size` pixels every `step` pixels along one axis, the first starting at -pad."""

    size: int
    step: int
    pad: int
    length: int  # image pixels along this axis
    taper: float = 0.4  # Tukey alpha of the blending window along this axis: the tapered share of a tile

    @classmethod
    def for_overlap(cls, size: int, overlap: float, length: int) -> "TileGrid":
        """CSmask's rule: step = int(size - size * overlap), pad = int(size * overlap)."""
        if not 0.0 <= overlap < 0.5:
            raise ValueError("tile overlap must be in [0, 0.5) for smooth blending")
        return cls(size, int(size - size * overlap), int(size * overlap), length, 2 * overlap)

    @classmethod
    def fitted(cls, max_size: int, margin: int, length: int, multiple: int) -> "TileGrid":
        """As few tiles as cover the image with at most `max_size` pixels each, each as small as they can be.

        The same geometry as CSmask's (first tile at -margin, neighbours
        overlapping by `margin`, blended over `margin` pixels at each edge), but
        the tile size is fitted to the image: for n tiles, the smallest multiple
        of `multiple` with n * (size - margin) >= length + margin. So the last
        tile does not reach far beyond the image, and fewer mirrored pixels pass
        through the model.
        """
        if margin < 0 or max_size % multiple or max_size < 2 * margin + multiple:
            raise ValueError("max_size must be a multiple of `multiple` and leave room for two margins")
        count = max(1, math.ceil((length + margin) / (max_size - margin)))
        size = max(multiple * math.ceil(((length + margin) / count + margin) / multiple), 2 * margin)
        return cls(size, size - margin, margin, length, 2 * margin / size)

    def window(self) -> np.ndarray:
        """Tukey weights along this axis: 0 at a tile's edge, 1 in its core."""
        return tukey(self.size, alpha=self.taper).astype(np.float32)

    @property
    def count(self) -> int:
        """Number of tiles that touch the image; together they cover it completely."""
        return math.ceil((self.length + self.pad) / self.step)

    def start(self, index: int) -> int:
        """First image pixel (may be negative) of tile `index`."""
        return index * self.step - self.pad

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Image pixels [begin, end) touched by tiles first..last (inclusive); may reach beyond the image."""
        return self.start(first), self.start(last) + self.size

    def settled_before(self, index: int) -> int:
        """Pixels below this index receive no contribution from tile `index` or any later tile."""
        if index >= self.count:
            return self.length
        return max(0, min(self.length, self.start(index)))


def reflect_indices(indices: np.ndarray, length: int) -> np.ndarray:
    """Map any integer positions onto [0, length) by symmetric mirroring (edge pixel repeated).

    A strip read with these indices holds exactly what padding the whole image
    with numpy.pad(mode="symmetric") gives (numpy 1.24 departs from a mirror
    only when both pads are wider than the image, i.e. for images under 308 px
    with the default models; there this is the true mirror extension).
    """
    period = 2 * length
    folded = np.mod(indices, period)
    return np.where(folded < length, folded, period - 1 - folded)


def strips(tile_rows: int, rows_per_strip: int) -> list[tuple[int, int]]:
    """Consecutive ranges (first, last) of tile rows, `rows_per_strip` at a time."""
    return [(first, min(first + rows_per_strip, tile_rows) - 1) for first in range(0, tile_rows, rows_per_strip)]


@dataclass(frozen=True)
class LinearWeights:
    """For each output pixel: the two input pixels around its centre and the weight of the second."""

    lower: np.ndarray  # int64
    upper: np.ndarray  # int64
    weight: np.ndarray  # float32, weight of `upper`
    nearest: np.ndarray  # int64, the input pixel containing the output pixel's centre


def linear_weights(count: int, out_offset: float, out_step: float, in_step: float, in_count: int) -> LinearWeights:
    """Pixel-centre aligned linear interpolation weights along one axis.

    Output pixel k has its centre at out_offset + (k + 0.5) * out_step, measured
    from the input grid's first edge in the same units; input pixel i has its
    centre at (i + 0.5) * in_step. Beyond the outermost input centres the edge
    value is held.
    """
    centres = out_offset + (np.arange(count, dtype=np.float64) + 0.5) * out_step
    position = np.clip(centres / in_step - 0.5, 0.0, in_count - 1)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, in_count - 1)
    nearest = np.clip(np.floor(centres / in_step).astype(np.int64), 0, in_count - 1)
    return LinearWeights(lower, upper, (position - lower).astype(np.float32), nearest)
