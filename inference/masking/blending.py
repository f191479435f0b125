"""Tiles -> blended probabilities, one strip of tile rows at a time: pure numpy, no files.

A strip holds the model input for its tile rows (mirrored beyond the image
edges). Its tiles run in batches through `predict`, and their probabilities,
weighted by the Tukey window, are added to a rolling buffer. Rows that no later
tile touches are divided by their summed weights and yielded as
`BlendedRows`; the rest of the buffer is carried into the next strip. Peak
memory therefore depends on the strip width, never on the image height.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass

import numpy as np

from ..feedback import Feedback, SilentFeedback, check_cancelled
from .model_card import Tiling
from .pipeline import StageClock, ordered_map
from .tiling import TileGrid, reflect_indices, strips


@dataclass(frozen=True)
class TileLayout:
    """Where the tiles of one image lie, and how they are grouped into strips."""

    rows: TileGrid
    cols: TileGrid
    strips: list[tuple[int, int]]  # (first, last) tile rows of each strip

    @classmethod
    def for_image(cls, height: int, width: int, tile: int, overlap: float, tile_rows_per_strip: int) -> "TileLayout":
        """CSmask's geometry: square tiles of the model's own size."""
        rows = TileGrid.for_overlap(tile, overlap, height)
        return cls(rows, TileGrid.for_overlap(tile, overlap, width), strips(rows.count, max(1, tile_rows_per_strip)))

    @classmethod
    def fitted(cls, height: int, width: int, tiling: Tiling, tile_rows_per_strip: int) -> "TileLayout":
        """Tiles fitted to the image (TileGrid.fitted), for models whose rows and columns are free."""
        rows = TileGrid.fitted(tiling.max_tile, tiling.margin, height, tiling.multiple)
        cols = TileGrid.fitted(tiling.max_tile, tiling.margin, width, tiling.multiple)
        return cls(rows, cols, strips(rows.count, max(1, tile_rows_per_strip)))

    @property
    def window(self) -> np.ndarray:
        """float32 (tile rows, tile cols): blending weights, the outer product of the Tukey windows."""
        return np.outer(self.rows.window(), self.cols.window())

    @property
    def model_pixels(self) -> int:
        """Pixels the model sees when every tile runs."""
        return self.rows.count * self.rows.size * self.cols.count * self.cols.size

    @property
    def col_index(self) -> np.ndarray:
        """Image column of each strip column (mirrored beyond the edges)."""
        begin, end = self.cols.span(0, self.cols.count - 1)
        return reflect_indices(np.arange(begin, end), self.cols.length)

    @property
    def image_cols(self) -> slice:
        """The strip columns that are image columns 0..width."""
        return slice(self.cols.pad, self.cols.pad + self.cols.length)

    def strip_rows(self, first: int, last: int) -> np.ndarray:
        """Image row of each strip row of tile rows first..last (mirrored beyond the edges)."""
        begin, end = self.rows.span(first, last)
        return reflect_indices(np.arange(begin, end), self.rows.length)


@dataclass
class StripInput:
    """What one strip brings: the model input over its tiles, and the image rows it read."""

    first: int  # first tile row of the strip
    last: int  # last tile row (inclusive)
    tiles: np.ndarray  # float32 (bands, rows, cols): normalised model input, strip layout (layout.strip_rows)
    tiles_valid: np.ndarray  # bool (rows, cols), strip layout
    low: int  # image row of valid[0] and extras[:, 0]
    valid: np.ndarray  # bool (rows, width): image rows low.. as read
    extras: np.ndarray  # float32 (channels, rows, width): channels handed on unblended (the class-3 rule's inputs)


@dataclass
class BlendedRows:
    """Finished model-grid rows: blended probabilities and what travels with them."""

    row0: int  # model-grid row of the first row
    probabilities: np.ndarray  # float32 (classes, rows, width); all 0 where no tile had weight
    extras: np.ndarray  # float32 (channels, rows, width)
    valid: np.ndarray  # bool (rows, width)


Predict = Callable[[np.ndarray], np.ndarray]  # (n, bands, tile, tile) -> float32 probabilities (n, classes, tile, tile)


@dataclass
class _Batch:
    """Up to batch_size tiles of one strip; a strip without a valid tile comes as one batch without tiles."""

    number: int  # 1-based number of the strip
    strip: StripInput
    tiles: list[tuple[int, int]]  # (tile row, tile column)
    stack: np.ndarray | None  # (n, bands, tile rows, tile cols)
    done: int  # tiles of the strip up to and including this batch
    of: int  # tiles of the strip

    @property
    def last(self) -> bool:
        """The strip's last batch."""
        return self.done == self.of


class _Forward:
    """Feedback whose progress never goes back: with lanes, the next strip is read while the last batches of
    the one before are still running, so "Reading bands" can come before their lower percentages."""

    def __init__(self, feedback: Feedback):
        self.feedback = feedback
        self.reached = 0.0

    def progress(self, percent: float, stage: str) -> None:
        if percent >= self.reached:
            self.reached = percent
            self.feedback.progress(percent, stage)

    def is_cancelled(self) -> bool:
        return self.feedback.is_cancelled()

    def warn(self, message: str) -> None:
        self.feedback.warn(message)


def _batches(inputs: Iterable[StripInput], layout: TileLayout, batch_size: int, feedback: Feedback,
             share: float) -> Iterator[_Batch]:
    """Every strip's tiles with a valid pixel, in batches, strip after strip."""
    tile_rows, tile_cols = layout.rows.size, layout.cols.size
    row_step, col_step = layout.rows.step, layout.cols.step
    strip_inputs = iter(inputs)
    for number, (first, last) in enumerate(layout.strips, start=1):
        check_cancelled(feedback)
        feedback.progress(share * (number - 1) / len(layout.strips), "Reading bands")
        strip = next(strip_inputs)
        if (strip.first, strip.last) != (first, last):
            raise ValueError(f"strip input for tile rows {strip.first}-{strip.last}, expected {first}-{last}")
        tiles = [
            (i, j)
            for i in range(first, last + 1)
            for j in range(layout.cols.count)
            if strip.tiles_valid[(i - first) * row_step:][:tile_rows, j * col_step:][:, :tile_cols].any()
        ]
        if not tiles:
            yield _Batch(number, strip, [], None, 0, 0)
        for done in range(0, len(tiles), batch_size):
            batch = tiles[done: done + batch_size]
            stack = np.stack([
                strip.tiles[:, (i - first) * row_step:][:, :tile_rows, j * col_step:][:, :, :tile_cols]
                for i, j in batch
            ])
            yield _Batch(number, strip, batch, stack, done + len(batch), len(tiles))


def blend_strips(
    inputs: Iterable[StripInput],
    predict: Predict,
    layout: TileLayout,
    n_classes: int,
    *,
    batch_size: int = 4,
    lanes: int = 1,
    clock: StageClock | None = None,
    feedback: Feedback | None = None,
    share: float = 100.0,
) -> Iterator[BlendedRows]:
    """Run every strip's tiles through `predict` and yield the rows as they settle, top to bottom.

    `inputs` yields one StripInput per strip of `layout.strips`, in order; it is
    asked for the next strip only after "Reading bands" is reported, so a
    reader that works ahead never reports for it. Tiles without a single valid
    pixel are skipped. `lanes` batches run through `predict` at once
    (pipeline.ordered_map; `clock` gets the time spent waiting for them as
    "infer"); their answers are added in the order of the tiles, so the
    result does not depend on `lanes`. Progress runs from 0 to `share` percent.
    """
    feedback = _Forward(feedback or SilentFeedback())
    batches = _batches(inputs, layout, batch_size, feedback, share)
    with closing(ordered_map(lambda batch: None if batch.stack is None else predict(batch.stack), batches, lanes,
                             clock)) as answers:
        yield from _blended(answers, layout, n_classes, feedback, share)


def _blended(answers: Iterator[tuple[_Batch, np.ndarray | None]], layout: TileLayout, n_classes: int,
             feedback: Feedback, share: float) -> Iterator[BlendedRows]:
    """The answers added into the rolling buffer where their tiles lie; after a strip's last batch, the rows
    that no later tile reaches."""
    tile_rows, tile_cols, window = layout.rows.size, layout.cols.size, layout.window
    row_step, col_step = layout.rows.step, layout.cols.step
    count = len(layout.strips)
    accumulated: np.ndarray | None = None  # (classes + 1 weight, rows, cols), rows from acc_first
    acc_first = 0
    emitted = 0
    number = 0
    for batch, probs in answers:
        check_cancelled(feedback)
        strip, first = batch.strip, batch.strip.first
        if batch.number != number:  # the strip's first batch: its rows join the rolling buffer
            number = batch.number
            row_begin, row_end = layout.rows.span(first, strip.last)
            fresh = np.zeros((n_classes + 1, row_end - row_begin, strip.tiles.shape[2]), dtype=np.float32)
            if accumulated is not None:
                carried = accumulated[:, row_begin - acc_first:]
                fresh[:, : carried.shape[1]] = carried
                del carried
            accumulated, acc_first = fresh, row_begin
            del fresh
        for k, (i, j) in enumerate(batch.tiles):
            r, c = (i - first) * row_step, j * col_step
            accumulated[:n_classes, r: r + tile_rows, c: c + tile_cols] += probs[k] * window
            accumulated[n_classes, r: r + tile_rows, c: c + tile_cols] += window
        if batch.tiles:
            feedback.progress(share * (number - 1 + batch.done / batch.of) / count,
                              f"Running the model (strip {number} of {count})")
        if not batch.last:
            continue
        settled = layout.rows.settled_before(strip.last + 1)
        if settled > emitted:
            local = slice(emitted - acc_first, settled - acc_first)
            summed = accumulated[:n_classes, local, layout.image_cols]
            weight = accumulated[n_classes, local, layout.image_cols]
            values = np.divide(summed, weight, out=np.zeros_like(summed), where=weight > 0)
            rows = slice(emitted - strip.low, settled - strip.low)
            yield BlendedRows(emitted, values, strip.extras[:, rows], strip.valid[rows])
            emitted = settled
