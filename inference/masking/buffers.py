"""Buffers: grow cloud, semi-transparent cloud and cloud shadow by a distance in metres.

Users who composite or fit time series want a margin around what the mask
flags, because cloud edges are soft and shadows blur. Each class grows by the
same distance over the classes below it in the order cloud > semi-transparent
cloud > cloud shadow > clear: a cloud buffer may cover shadow, a shadow buffer
only clear land. No data stays no data and never grows.

`buffer_codes` is the pure function on one window; `BufferStep` is the
engine's post-step (poststeps.py), which holds back as many rows as the
buffer reaches so a cloud near a block's edge buffers the next block.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from scipy import ndimage

from ..classes import CLEAR, CLOUD, CLOUD_SHADOW, SEMI_TRANSPARENT
from ..defaults import MAX_BUFFER
from ..errors import BandError
from ..grid import Grid
from .codes import CodeBlock

GROWING = (CLOUD_SHADOW, SEMI_TRANSPARENT, CLOUD)  # low to high priority: a later class wins where buffers meet


def check_buffer(metres: float) -> float:
    """BUFFER as a number of metres the engine accepts (0 = off); BandError names the bad value."""
    if not (math.isfinite(metres) and 0.0 <= metres <= MAX_BUFFER):
        raise BandError(f"BUFFER {metres!r} m is not usable; give a distance from 0 (no buffer) to {MAX_BUFFER:g} m.")
    return float(metres)


def buffer_pixels(metres: float, resolution: float) -> int:
    """The buffer's radius in whole pixels of a grid (a pixel counts once its centre is within the distance)."""
    return int(math.floor(metres / resolution + 1e-9))


def disk(radius: int) -> np.ndarray:
    """Pixels whose centres lie within `radius` pixels of the centre pixel's centre (bool, 2 radius + 1 square)."""
    y, x = np.ogrid[-radius: radius + 1, -radius: radius + 1]
    return x * x + y * y <= radius * radius


def buffer_codes(codes: np.ndarray, radius: int) -> np.ndarray:
    """Codes with cloud, semi-transparent cloud and shadow grown by `radius` pixels over lower classes; new array."""
    result = codes.copy()
    if radius <= 0:
        return result
    structure = disk(radius)
    for code in GROWING:
        present = codes == code
        if not present.any():
            continue
        grown = ndimage.binary_dilation(present, structure=structure)
        lower = (result == CLEAR) | ((result < code) & (result >= CLOUD_SHADOW))
        result[grown & lower] = code
    return result


class BufferStep:
    """The engine's post-step: buffers on the code rows of the output grid, streaming with `radius` rows of context."""

    bands: tuple[str, ...] = ()

    def __init__(self, metres: float):
        self.metres = check_buffer(metres)

    @property
    def tags(self) -> dict[str, str]:
        return {"BUFFER": f"{self.metres:g} m around cloud, semi-transparent cloud and cloud shadow"}

    def run(self, blocks: Iterator[CodeBlock], grid: Grid) -> Iterator[CodeBlock]:
        radius = buffer_pixels(self.metres, grid.resolution)
        held: list[CodeBlock] = []  # blocks not yet yielded, then context rows above them
        done = 0  # rows yielded
        for block in blocks:
            held.append(block)
            final = block.row0 + len(block.codes) >= grid.height
            first = held[0].row0
            codes = np.concatenate([b.codes for b in held])
            available = first + len(codes)
            ready = grid.height if final else available - radius  # rows whose lower context has arrived
            if ready <= done:
                continue
            grown = buffer_codes(codes, radius)
            valid = np.concatenate([b.valid for b in held])
            out = slice(done - first, ready - first)
            yield CodeBlock(done, grown[out], valid[out])
            done = ready
            keep_from = done - radius  # context rows above the next output rows
            codes_rows, valid_rows = codes[max(0, keep_from - first):], valid[max(0, keep_from - first):]
            held = [CodeBlock(max(first, keep_from), codes_rows, valid_rows)]
