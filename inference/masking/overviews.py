"""The mask's overviews, built from its rows as they are written.

Each overview level holds, for every 2 x 2 block of the level above, the
class most of its pixels with data have: no data (code 0) counts only where
all four are no data, and a tie goes to the higher code, so clouds (4) and
semi-transparent clouds (3) stay visible when the map is zoomed out, never
hidden under clear pixels. An odd last row or column pairs with no data.

Building the levels here, in the thread that writes the codes while the model
still runs, leaves the copy to a Cloud-Optimised GeoTIFF only the compression
to do: computed afterwards by GDAL, the overviews of a full tile took about
as long again, on one core, while every other stage had finished.
"""

from __future__ import annotations

import numpy as np

_BITS = 3  # codes 0-7 each fit three bits: a 2 x 2 block is one 12-bit number


def _block_classes() -> np.ndarray:
    """uint8[4096]: the class of a 2 x 2 block, looked up by its four codes packed 3 bits each."""
    packed = np.arange(1 << (4 * _BITS))
    codes = np.stack([(packed >> (_BITS * k)) & 7 for k in range(4)], axis=1)  # (4096, 4)
    classes = np.arange(1, 8)
    counts = (codes[:, :, None] == classes).sum(axis=1)  # (4096, 7): pixels of each code 1-7
    score = np.where(counts > 0, counts * 8 + classes, 0)  # most pixels first, then the higher code
    return (score.max(axis=1) & 7).astype(np.uint8)


_BLOCK_CLASS = _block_classes()


def halve(rows: np.ndarray) -> np.ndarray:
    """uint8 codes 0-7 (rows, cols) -> the next overview level (ceil(rows / 2), ceil(cols / 2))."""
    height, width = rows.shape
    if height % 2 or width % 2:
        rows = np.pad(rows, ((0, height % 2), (0, width % 2)))
    packed = rows[0::2, 0::2].astype(np.uint16)
    packed |= rows[0::2, 1::2].astype(np.uint16) << _BITS
    packed |= rows[1::2, 0::2].astype(np.uint16) << 2 * _BITS
    packed |= rows[1::2, 1::2].astype(np.uint16) << 3 * _BITS
    return _BLOCK_CLASS[packed]


class ModeOverviews:
    """Overview levels (factors 2, 4, 8, ...) of a class raster fed top to bottom in any number of rows at a time.

    Each level keeps one row back when it receives an odd number, to pair it with the next rows; `levels()`
    pairs what is left with no data and returns every level, whole (a full tile's levels take a third of the
    raster's size together).
    """

    def __init__(self, count: int):
        self._parts: list[list[np.ndarray]] = [[] for _ in range(count)]
        self._waiting: list[np.ndarray | None] = [None] * count

    def add(self, rows: np.ndarray) -> None:
        """The next rows of the full-resolution raster: uint8 codes 0-7 (rows, cols)."""
        self._push(0, rows)

    def _push(self, level: int, rows: np.ndarray) -> None:
        while level < len(self._parts):
            waiting = self._waiting[level]
            if waiting is not None:
                rows = np.concatenate([waiting, rows])
            self._waiting[level] = rows[-1:] if rows.shape[0] % 2 else None
            rows = rows[: rows.shape[0] // 2 * 2]
            if not rows.shape[0]:
                return
            rows = halve(rows)
            self._parts[level].append(rows)
            level += 1

    def levels(self) -> list[np.ndarray]:
        """Every level, finest first, once all rows are in."""
        for level, waiting in enumerate(self._waiting):
            if waiting is not None:
                self._waiting[level] = None
                self._push(level, np.concatenate([waiting, np.zeros_like(waiting)]))
        return [np.concatenate(parts) for parts in self._parts]
