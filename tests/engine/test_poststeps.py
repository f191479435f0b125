"""Post-steps: streaming refinements of the codes between the model and the file, with lookahead."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from model_helpers import expected_position_codes, positions, read_mask, utm_grid
from s2cloudmask.inference.classes import CLOUD, MASK_CODES, NODATA
from s2cloudmask.inference.grid import Grid
from s2cloudmask.inference.masking.codes import CodeBlock
from s2cloudmask.inference.masking.engine import run_mask
from s2cloudmask.inference.reading.sources import ArraySource


class CloudReachesUp:
    """Cloud spreads `rows` rows upward: a row is final only once the `rows` rows below it are known."""

    def __init__(self, rows: int):
        self.rows = rows
        self.held_most = 0

    def run(self, blocks: Iterator[CodeBlock], grid: Grid) -> Iterator[CodeBlock]:
        held: CodeBlock | None = None
        for block in blocks:
            if held is None:
                held = block
            else:
                held = CodeBlock(held.row0, np.concatenate([held.codes, block.codes]),
                                 np.concatenate([held.valid, block.valid]))
            self.held_most = max(self.held_most, held.codes.shape[0])
            final = held.codes.shape[0] - self.rows
            if final > 0:
                yield self._spread(held, final)
                held = CodeBlock(held.row0 + final, held.codes[final:], held.valid[final:])
        if held is not None:
            yield self._spread(held, held.codes.shape[0])

    def _spread(self, held: CodeBlock, count: int) -> CodeBlock:
        cloud = held.codes == CLOUD
        out = held.codes[:count].copy()
        for shift in range(1, self.rows + 1):
            below = cloud[shift: shift + count]  # fewer rows at the image's bottom edge
            out[: len(below)][below] = CLOUD
        return CodeBlock(held.row0, out, held.valid[:count])


class LosesRows:
    def run(self, blocks: Iterator[CodeBlock], grid: Grid) -> Iterator[CodeBlock]:
        for number, block in enumerate(blocks):
            if number != 1:
                yield block


def test_a_step_with_lookahead_changes_the_file_and_the_percentages(position, tmp_path):
    card, session = position
    height, width = 700, 150  # several output chunks of 128 rows, so the step really holds rows back
    grid = utm_grid(width, height)
    data = positions(height, width)
    valid = np.ones((height, width), bool)
    valid[:, :7] = False
    step = CloudReachesUp(5)
    result = run_mask(ArraySource(data, ["column", "row"], grid, valid), grid, card, session, tmp_path / "m.tif",
                      post_steps=[step])
    plain = expected_position_codes(height, width)
    expected = plain.copy()
    for shift in range(1, 6):
        expected[:-shift][plain[shift:] == CLOUD] = CLOUD
    expected[~valid] = NODATA
    mask = read_mask(tmp_path / "m.tif")
    np.testing.assert_array_equal(mask, expected)
    assert (mask != np.where(valid, plain, NODATA)).sum() > 1000
    assert step.held_most > 5
    assert result.class_percentages == {
        code: round(100.0 * float((mask == code).sum()) / valid.sum(), 4) for code in MASK_CODES}


def test_a_step_that_loses_rows_fails_and_leaves_no_file(position, tmp_path):
    card, session = position
    grid = utm_grid(60, 400)
    with pytest.raises(RuntimeError, match="post-step LosesRows yielded rows"):
        run_mask(ArraySource(positions(400, 60), ["column", "row"], grid), grid, card, session, tmp_path / "m.tif",
                 post_steps=[LosesRows()])
    assert list(tmp_path.iterdir()) == []
