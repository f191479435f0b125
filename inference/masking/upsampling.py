"""Settled model-grid rows -> output-grid rows: bilinear, pixel-centre aligned, streaming.

The model runs at its own resolution (30 m for the default models); the mask is
written on the output grid (10 m for a product at full detail). Probabilities,
not labels, are interpolated, so a class border falls between model pixels
where the probabilities cross, not on a model pixel's edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..grid import Grid
from .blending import BlendedRows
from .tiling import LinearWeights, linear_weights

OUTPUT_CHUNK_ROWS = 128


@dataclass
class OutputRows:
    """Output-grid rows ready to become mask codes."""

    row0: int  # output-grid row of the first row
    index: np.ndarray  # uint8 (rows, cols): the model class with the highest blended probability
    extras: np.ndarray  # float32 (channels, rows, cols): the class-3 rule's and the post-steps' bands (may be empty)
    probabilities: np.ndarray | None  # float32 (classes, rows, cols), only when a probability file is asked for
    valid: np.ndarray  # bool (rows, cols)


class Upsampler:
    """Turns settled model-grid rows into output-grid rows (bilinear, pixel-centre aligned).

    Keeps just the model rows the next output row still needs (the one-row
    halo between strips) and emits output rows as soon as their lower
    neighbour row has arrived.

    Probabilities, not labels, are interpolated, but only where it can matter:
    where the four model pixels around an output pixel share their most
    probable class c, every bilinear mix of them still ranks c first (each
    weighted term p_c - p_k is non-negative), so such pixels take c directly
    and the interpolation runs only along class borders.
    """

    def __init__(self, model: Grid, output: Grid, n_classes: int, keep_probabilities: bool, nearest_extras: int = 0):
        """nearest_extras: how many of the last extra channels are sampled by nearest neighbour, not bilinearly
        (the post-steps' bands: a per-pixel spectral test needs the model pixel, not a blend, and it is cheaper)."""
        self.rows: LinearWeights = linear_weights(
            output.height, model.transform.f - output.transform.f, output.resolution, model.resolution, model.height
        )
        self.cols: LinearWeights = linear_weights(
            output.width, output.transform.c - model.transform.c, output.resolution, model.resolution, model.width
        )
        self.n_classes = n_classes
        self.keep_probabilities = keep_probabilities
        self.nearest_extras = nearest_extras
        self.identity = model == output
        self.model_height = model.height
        self.next_row = 0
        self.first = 0  # model row of buffer index 0
        self.values: np.ndarray | None = None  # float32 (channels, rows, model cols)
        self.valid: np.ndarray | None = None
        self.index: np.ndarray | None = None  # most probable class of each buffered model pixel

    def push(self, rows: BlendedRows) -> Iterator[OutputRows]:
        """Take the next model-grid rows; yield every output row they complete, in chunks, top to bottom."""
        values = rows.probabilities if not rows.extras.shape[0] else np.concatenate([rows.probabilities, rows.extras])
        valid = rows.valid
        final = rows.row0 + valid.shape[0] >= self.model_height
        if self.values is None:
            self.values, self.valid = values, valid
        else:
            self.values = np.concatenate([self.values, values], axis=1)
            self.valid = np.concatenate([self.valid, valid], axis=0)
        self.index = np.argmax(self.values[: self.n_classes], axis=0).astype(np.uint8)
        available = self.first + self.values.shape[1]
        total = len(self.rows.lower)
        end = total if final else int(np.searchsorted(self.rows.upper, available, side="left"))
        while self.next_row < end:
            stop = min(end, self.next_row + OUTPUT_CHUNK_ROWS)
            yield self._rows(slice(self.next_row, stop))
            self.next_row = stop
        if self.next_row < total:
            keep = int(self.rows.lower[self.next_row]) - self.first
            self.values, self.valid = self.values[:, keep:], self.valid[keep:]
            self.first += keep

    def _rows(self, rows: slice) -> OutputRows:
        assert self.values is not None and self.valid is not None and self.index is not None
        n = self.n_classes
        if self.identity:
            local = slice(rows.start - self.first, rows.stop - self.first)
            values = self.values[:, local]
            return OutputRows(rows.start, self.index[local], values[n:], values[:n] if self.keep_probabilities else None,
                               self.valid[local])
        lower = self.rows.lower[rows] - self.first
        upper = self.rows.upper[rows] - self.first
        valid = self.valid[self.rows.nearest[rows] - self.first][:, self.cols.nearest]
        smooth = self.values.shape[0] - self.nearest_extras
        extras = self._bilinear(self.values[n:smooth], lower, upper, rows)
        if self.nearest_extras:
            nearest = self.values[smooth:, self.rows.nearest[rows] - self.first][:, :, self.cols.nearest]
            extras = np.concatenate([extras, nearest.astype(np.float32, copy=False)])
        if self.keep_probabilities:
            probabilities = self._bilinear(self.values[:n], lower, upper, rows)
            return OutputRows(rows.start, np.argmax(probabilities, axis=0).astype(np.uint8), extras,
                              probabilities, valid)
        return OutputRows(rows.start, self._classes(lower, upper, rows), extras, None, valid)

    def _bilinear(self, channels: np.ndarray, lower: np.ndarray, upper: np.ndarray, rows: slice) -> np.ndarray:
        w = self.rows.weight[rows][np.newaxis, :, np.newaxis]
        blended = channels[:, lower] * (1 - w) + channels[:, upper] * w
        wc = self.cols.weight[np.newaxis, np.newaxis, :]
        out = blended[:, :, self.cols.lower]
        out *= 1 - wc
        out += blended[:, :, self.cols.upper] * wc
        return out.astype(np.float32, copy=False)

    def _classes(self, lower: np.ndarray, upper: np.ndarray, rows: slice) -> np.ndarray:
        """The argmax of the interpolated probabilities, interpolating only where the four neighbours disagree."""
        assert self.values is not None and self.index is not None
        col_lower, col_upper = self.cols.lower, self.cols.upper
        top, bottom = self.index[lower], self.index[upper]
        result = top[:, col_lower]
        mixed = (result != top[:, col_upper]) | (result != bottom[:, col_lower]) | (result != bottom[:, col_upper])
        if mixed.any():
            r, c = np.nonzero(mixed)
            wr, wc = self.rows.weight[rows][r], self.cols.weight[c]
            v = self.values[: self.n_classes]
            lr, ur, lc, uc = lower[r], upper[r], col_lower[c], col_upper[c]
            # same operations in the same order as _bilinear, so ties resolve identically
            left = v[:, lr, lc] * (1 - wr) + v[:, ur, lc] * wr
            right = v[:, lr, uc] * (1 - wr) + v[:, ur, uc] * wr
            mixed_values = left * (1 - wc)
            mixed_values += right * wc
            result[mixed] = np.argmax(mixed_values, axis=0)
        return result
