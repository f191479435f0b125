"""Settled model-grid rows -> output-grid rows of mask codes: bilinear, pixel-centre aligned, streaming.

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

OUTPUT_CHUNK_ROWS = 32  # small enough that a chunk's rows stay in the CPU cache from upsampling to the writer
# Codes of the model-grid table that output rows are gathered from, beside the card's codes (0-4):
MIXED = 254  # the four model pixels around disagree: the argmax of the interpolated probabilities decides
INVALID = 255  # the model pixel that `valid` samples has no data


@dataclass
class OutputRows:
    """Output-grid rows ready for the class-3 rule and the post-steps."""

    row0: int  # output-grid row of the first row
    codes: np.ndarray  # uint8 (rows, cols): the card's code of the most probable class, NODATA where not valid
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
    and the interpolation runs only along class borders. Whether the four
    agree depends only on which pair of model rows and which pair of model
    columns surround the pixel, so it is decided once per pair on the model
    grid, together with the card's code and no data: an output row is then one
    gather from that table (`_codes`).
    """

    def __init__(self, model: Grid, output: Grid, class_codes: list[int], keep_probabilities: bool,
                 nearest_extras: int = 0):
        """class_codes: the card's mask code of each model class.
        nearest_extras: how many of the last extra channels are sampled by nearest neighbour, not bilinearly
        (the post-steps' bands: a per-pixel spectral test needs the model pixel, not a blend, and it is cheaper)."""
        self.rows: LinearWeights = linear_weights(
            output.height, model.transform.f - output.transform.f, output.resolution, model.resolution, model.height
        )
        self.cols: LinearWeights = linear_weights(
            output.width, output.transform.c - model.transform.c, output.resolution, model.resolution, model.width
        )
        self.lut = np.asarray(class_codes, dtype=np.uint8)
        self.n_classes = len(class_codes)
        self.keep_probabilities = keep_probabilities
        self.nearest_extras = nearest_extras
        self.identity = model == output
        self.model_height = model.height
        # `valid` is sampled by nearest neighbour, always one of the two pixels around: which one (0 lower, 1 upper)
        self.valid_row = _nearest_side(self.rows)
        self.table_cols = 2 * self.cols.lower + _nearest_side(self.cols)  # columns of the (pair, side) table
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
        self.index = _first_max(self.values[: self.n_classes])
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
            values, valid = self.values[:, local], self.valid[local]
            return OutputRows(rows.start, no_data(self.lut[self.index[local]], valid), values[n:],
                              values[:n] if self.keep_probabilities else None, valid)
        lower = self.rows.lower[rows] - self.first
        upper = self.rows.upper[rows] - self.first
        smooth = self.values.shape[0] - self.nearest_extras
        extras = self._bilinear(self.values[n:smooth], lower, upper, rows)
        if self.nearest_extras:
            nearest = self.values[smooth:, self.rows.nearest[rows] - self.first][:, :, self.cols.nearest]
            extras = np.concatenate([extras, nearest.astype(np.float32, copy=False)])
        if self.keep_probabilities:
            probabilities = self._bilinear(self.values[:n], lower, upper, rows)
            valid = self.valid[self.rows.nearest[rows] - self.first][:, self.cols.nearest]
            codes = no_data(self.lut[_first_max(probabilities)], valid)
            return OutputRows(rows.start, codes, extras, probabilities, valid)
        codes, valid = self._codes(lower, upper, rows)
        return OutputRows(rows.start, codes, extras, None, valid)

    def _bilinear(self, channels: np.ndarray, lower: np.ndarray, upper: np.ndarray, rows: slice) -> np.ndarray:
        """Rows, then columns: lower * (1 - w) + upper * w, in place where the gathers already copied."""
        w = self.rows.weight[rows][np.newaxis, :, np.newaxis]
        blended, below = channels[:, lower], channels[:, upper]
        blended *= 1 - w
        below *= w
        blended += below
        del below
        wc = self.cols.weight
        out, right = blended[:, :, self.cols.lower], blended[:, :, self.cols.upper]
        out *= 1 - wc
        right *= wc
        out += right
        return out.astype(np.float32, copy=False)

    def _codes(self, lower: np.ndarray, upper: np.ndarray, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """Codes and valid of the output rows: the argmax of the interpolated probabilities through the card,
        interpolating only where the four neighbours disagree; NODATA where the nearest model pixel has none."""
        assert self.valid is not None and self.index is not None
        first, last = int(lower[0]), int(lower[-1])
        pairs = slice(first, last + 1)  # model row pairs (i, i + 1), the image's last row paired with itself
        below = np.minimum(np.arange(first + 1, last + 2), self.model_height - 1 - self.first)
        top, bottom = self.index[pairs], self.index[below]
        agree = top == bottom
        agree[:, :-1] &= agree[:, 1:] & (top[:, :-1] == top[:, 1:])
        pair_codes = self.lut[top]
        pair_codes[~agree] = MIXED
        # (pair of rows, side of `valid`, pair of columns, side of `valid`): a gather of it gives the output rows
        table = np.empty((last + 1 - first, 2, top.shape[1], 2), dtype=np.uint8)
        for side, valid in enumerate((self.valid[pairs], self.valid[below])):
            table[:, side, :, 0] = _invalid(pair_codes, valid)
            table[:, side, :-1, 1] = _invalid(pair_codes[:, :-1], valid[:, 1:])
            table[:, side, -1, 1] = table[:, side, -1, 0]
        table_rows, row_of = np.unique(2 * (lower - first) + self.valid_row[rows], return_inverse=True)
        wide = np.take(table.reshape(-1, table.shape[2] * 2)[table_rows], self.table_cols, axis=1)
        codes = np.take(wide, row_of, axis=0)
        del wide
        valid = codes != INVALID
        mixed = np.flatnonzero(codes == MIXED)
        if mixed.size:
            codes.flat[mixed] = self.lut[self._interpolated_classes(mixed, lower, upper, rows)]
        return no_data(codes, valid), valid

    def _interpolated_classes(self, pixels: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                              rows: slice) -> np.ndarray:
        """The most probable class of the interpolated probabilities at some output pixels (flat indices)."""
        assert self.values is not None
        r, c = np.divmod(pixels, len(self.cols.lower))
        wr, wc = self.rows.weight[rows][r], self.cols.weight[c]
        lr, ur, lc, uc = lower[r], upper[r], self.cols.lower[c], self.cols.upper[c]
        width = self.values.shape[2]
        v = self.values[: self.n_classes].reshape(self.n_classes, -1)
        # same operations in the same order as _bilinear, so ties resolve identically
        left = np.take(v, lr * width + lc, axis=1) * (1 - wr) + np.take(v, ur * width + lc, axis=1) * wr
        right = np.take(v, lr * width + uc, axis=1) * (1 - wr) + np.take(v, ur * width + uc, axis=1) * wr
        mixed = left * (1 - wc)
        mixed += right * wc
        return _first_max(mixed)


def _first_max(values: np.ndarray) -> np.ndarray:
    """np.argmax(values, axis=0) as uint8, a class at a time (numpy's argmax over the first axis costs 10x more)."""
    index = np.zeros(values.shape[1:], dtype=np.uint8)
    best = values[0].copy()
    for k in range(1, len(values)):
        above = values[k] > best  # strictly: the first of equal maxima wins, as in argmax
        np.maximum(best, values[k], out=best)
        index += above.view(np.uint8) * (np.uint8(k) - index)  # k where above (uint8 arithmetic wraps: exact)
    nan = np.isnan(best)  # maximum carries any NaN into best; argmax takes the first NaN
    if nan.any():
        index[nan] = np.argmax(values[:, nan], axis=0)
    return index


def _nearest_side(weights: LinearWeights) -> np.ndarray:
    """0 where the nearest input pixel is the lower of the two around, 1 where it is the upper."""
    side = weights.nearest != weights.lower
    assert np.array_equal(weights.nearest, np.where(side, weights.upper, weights.lower))
    return side.astype(np.int64)


def _invalid(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """codes, INVALID where not valid (valid - 1 is 0 where valid and 255 elsewhere: no masked assignment)."""
    return codes | (valid.view(np.uint8) - 1)


def no_data(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """codes, NODATA (0) where not valid, in place (a product: far cheaper than a masked assignment)."""
    return np.multiply(codes, valid.view(np.uint8), out=codes)
