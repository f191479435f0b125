"""Post-steps: streaming refinements of the mask codes between the model and the file.

A post-step sees the finished code rows of the output grid, top to bottom, as
a stream of `CodeBlock`s (row0, codes, valid) and yields a stream of the same
kind. It may change codes (a cloud-shadow geometry check, buffers around
clouds) and may hold rows back until it has seen enough rows below them
(lookahead), as long as it:

* yields blocks in row order, contiguous, starting at row 0 and, once its input
  is exhausted, ending at `grid.height`;
* keeps each block's `valid` as it came, and NODATA (0) wherever it is False;
* keeps its memory bounded by its lookahead, not by the image height.

Steps run in the order given, each on the previous one's output; the class
percentages, the mask file and anything after them see the last step's codes.
The probability file is not affected. `grid` is the output grid (resolution,
transform, size), so a step can convert distances in metres to rows.

The engine's run functions take `post_steps=[...]`; a step is any object with
this `run` method. A step may also have `bands` (model band names whose rows,
on the output grid, it wants in CodeBlock.bands) and `tags` (mask tags saying
what it did, e.g. CLASS2_SOURCE, BUFFER).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ..classes import NODATA
from ..grid import Grid
from .codes import CodeBlock


class PostStep(Protocol):
    def run(self, blocks: Iterator[CodeBlock], grid: Grid) -> Iterator[CodeBlock]:
        """Refine the code rows of `grid`; see the module docstring for the contract."""
        ...


def apply_post_steps(blocks: Iterable[CodeBlock], steps: Sequence[PostStep], grid: Grid) -> Iterator[CodeBlock]:
    """The blocks after every step, in order; each step's output is checked against the contract."""
    stream: Iterator[CodeBlock] = iter(blocks)
    for step in steps:
        stream = _checked(step.run(stream, grid), grid, type(step).__name__)
    return stream


def _checked(blocks: Iterator[CodeBlock], grid: Grid, name: str) -> Iterator[CodeBlock]:
    """Pass blocks on, failing loudly when a step loses, repeats or reorders rows."""
    expected = 0
    for block in blocks:
        if block.row0 != expected or block.codes.shape != block.valid.shape or block.codes.shape[1] != grid.width:
            raise RuntimeError(f"post-step {name} yielded rows {block.row0}.. of shape {block.codes.shape}; "
                               f"expected row {expected} and width {grid.width}")
        block.codes[~block.valid] = NODATA
        expected += block.codes.shape[0]
        yield block
    if expected != grid.height:
        raise RuntimeError(f"post-step {name} yielded {expected} of {grid.height} rows")
