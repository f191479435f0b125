"""Where to mark next: well-spread places where the forest is least sure.

The lowest-confidence pixels cluster along one cloud edge; ten suggestions
there teach the forest one thing ten times. The scene is cut into cells, the
least confident pixel of each cell is a candidate, and candidates are taken
from the least confident up, skipping any closer than a cell to one already
taken. It streams: one block of rows at a time updates the cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Suggestion:
    row: int
    col: int
    confidence: float
    x: float = 0.0  # pixel centre in the grid's CRS
    y: float = 0.0


class LowestPerCell:
    """The least confident pixel of each square cell of a height x width grid, fed block by block."""

    def __init__(self, shape: tuple[int, int], wanted: int):
        height, width = shape
        self.side = max(1, math.ceil(math.sqrt(height * width / max(1, 4 * wanted))))
        self.cells_x = math.ceil(width / self.side)
        cells = math.ceil(height / self.side) * self.cells_x
        self.confidence = np.full(cells, np.inf)
        self.row = np.zeros(cells, np.int64)
        self.col = np.zeros(cells, np.int64)

    def update(self, confidence: np.ndarray, row_off: int) -> None:
        """confidence: float (rows, width) starting at row `row_off`; NaN (no data) is ignored."""
        rows, cols = np.nonzero(np.isfinite(confidence))
        if rows.size == 0:
            return
        values = confidence[rows, cols]
        rows = rows + row_off
        cell = (rows // self.side) * self.cells_x + cols // self.side
        order = np.lexsort((values, cell))  # by cell, least confident first within a cell
        cell, first = np.unique(cell[order], return_index=True)
        pick = order[first]
        better = values[pick] < self.confidence[cell]
        cell, pick = cell[better], pick[better]
        self.confidence[cell] = values[pick]
        self.row[cell] = rows[pick]
        self.col[cell] = cols[pick]

    def candidates(self) -> list[Suggestion]:
        found = np.isfinite(self.confidence)
        return [Suggestion(int(r), int(c), float(v))
                for r, c, v in zip(self.row[found], self.col[found], self.confidence[found])]


def pick_spread(candidates: list[Suggestion], wanted: int, min_distance: float) -> list[Suggestion]:
    """Up to `wanted` candidates, least confident first, none within `min_distance` pixels of another."""
    chosen: list[Suggestion] = []
    for candidate in sorted(candidates, key=lambda s: (s.confidence, s.row, s.col)):
        if len(chosen) >= wanted:
            break
        if all(math.hypot(candidate.row - c.row, candidate.col - c.col) >= min_distance for c in chosen):
            chosen.append(candidate)
    return chosen
