"""The strip blender on its own: numpy in, numpy out, no model file, no raster file."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import POSITION_PERIOD, card_dict, positions, utm_grid
from s2cloudmask.inference.masking.blending import TileLayout, blend_strips
from s2cloudmask.inference.masking.engine import read_strips
from s2cloudmask.inference.masking.model_card import card_from_dict
from s2cloudmask.inference.reading.sources import ArraySource


def one_hot_position(stack: np.ndarray) -> np.ndarray:
    """A pointwise 'model': one-hot of floor((col + row) / 37) mod 3 from bands 0 and 1."""
    klass = np.floor((stack[:, 0] + stack[:, 1]) / POSITION_PERIOD) % 3
    return np.stack([(klass == k) for k in range(3)], axis=1).astype(np.float32)


def blended(data: np.ndarray, tile: int, overlap: float, tile_rows_per_strip: int, predict, valid=None):
    bands, height, width = data.shape
    card = card_from_dict(card_dict(["column", "row"], tile=tile, overlap=overlap, output="probabilities"), "test")
    source = ArraySource(data, ["column", "row"], utm_grid(width, height), valid)
    layout = TileLayout.for_image(height, width, tile, overlap, tile_rows_per_strip)
    strips = read_strips(source, layout, card, [0, 1], [1])
    return layout, list(blend_strips(strips, predict, layout, 3, batch_size=5))


@pytest.mark.parametrize(("shape", "tile_rows_per_strip"), [((300, 517), 1), ((300, 517), 3), ((40, 90), 2)])
def test_a_pointwise_model_comes_back_exactly_in_rows_that_cover_the_image_once(shape, tile_rows_per_strip):
    height, width = shape
    layout, rows = blended(positions(height, width), 64, 0.25, tile_rows_per_strip, one_hot_position)
    assert [block.row0 for block in rows] == list(np.cumsum([0] + [b.valid.shape[0] for b in rows[:-1]]))
    probabilities = np.concatenate([block.probabilities for block in rows], axis=1)
    assert probabilities.shape == (3, height, width)
    np.testing.assert_array_equal(probabilities, one_hot_position(positions(height, width)[np.newaxis])[0])
    extras = np.concatenate([block.extras for block in rows], axis=1)
    np.testing.assert_array_equal(extras[0], positions(height, width)[1])  # handed on unblended, row for row


def test_two_lanes_blend_the_same_rows_as_one():
    """The answers of calls running side by side are added in the tiles' order, so the sums are the same."""
    height, width = 300, 517
    card = card_from_dict(card_dict(["column", "row"], tile=64, overlap=0.25, output="probabilities"), "test")
    layout = TileLayout.for_image(height, width, 64, 0.25, 2)
    rng = np.random.default_rng(3)
    answers = {}

    def per_tile(stack: np.ndarray) -> np.ndarray:  # a fixed random answer per tile, whichever lane asks
        key = stack[:, :, 0, 0].tobytes()
        answers.setdefault(key, rng.dirichlet(np.ones(3), size=(len(stack), 64, 64)).astype(np.float32))
        return np.moveaxis(answers[key], -1, 1)

    runs = []
    for lanes in (1, 2):
        source = ArraySource(positions(height, width) + 1, ["column", "row"], utm_grid(width, height))
        strips = read_strips(source, layout, card, [0, 1], [1])
        runs.append(np.concatenate([b.probabilities for b in blend_strips(strips, per_tile, layout, 3, lanes=lanes)],
                                   axis=1))
    np.testing.assert_array_equal(runs[0], runs[1])


class Progress:
    def __init__(self) -> None:
        self.reports: list[tuple[float, str]] = []

    def progress(self, percent: float, stage: str) -> None:
        self.reports.append((percent, stage))

    def is_cancelled(self) -> bool:
        return False

    def warn(self, message: str) -> None:
        pass


def test_progress_never_goes_back_while_the_next_strip_is_read_ahead_of_the_model():
    height, width = 600, 200
    card = card_from_dict(card_dict(["column", "row"], tile=64, overlap=0.25, output="probabilities"), "test")
    layout = TileLayout.for_image(height, width, 64, 0.25, 1)
    strips = read_strips(ArraySource(positions(height, width), ["column", "row"], utm_grid(width, height)), layout,
                         card, [0, 1], [])
    feedback = Progress()
    list(blend_strips(strips, one_hot_position, layout, 3, batch_size=1, lanes=2, feedback=feedback, share=95.0))
    percents = [percent for percent, _ in feedback.reports]
    assert percents == sorted(percents) and percents[-1] == pytest.approx(95.0)
    assert {stage.split(" (")[0] for _, stage in feedback.reports} == {"Reading bands", "Running the model"}


def test_rows_are_handed_on_strip_by_strip_not_at_the_end():
    height, width = 600, 200
    data = positions(height, width)
    layout = TileLayout.for_image(height, width, 64, 0.25, 1)
    card = card_from_dict(card_dict(["column", "row"], tile=64, overlap=0.25, output="probabilities"), "test")
    read = []

    def strips():
        for strip in read_strips(ArraySource(data, ["column", "row"], utm_grid(width, height)), layout, card,
                                 [0, 1], []):
            read.append(strip.first)
            yield strip

    reads_before_each_block = [len(read) for _ in blend_strips(strips(), one_hot_position, layout, 3)]
    assert len(reads_before_each_block) >= len(layout.strips) - 1
    assert reads_before_each_block == sorted(set(reads_before_each_block))  # one block per strip read


def test_overlapping_tiles_blend_to_a_distribution_between_their_answers():
    """Each tile answers one distribution of its own; blended rows are weighted means: they sum to 1 and lie
    between the smallest and largest answer of the tiles."""
    rng = np.random.default_rng(5)
    answers = []

    def per_tile(stack: np.ndarray) -> np.ndarray:
        p = rng.dirichlet(np.ones(3), size=len(stack)).astype(np.float32)
        answers.append(p)
        return np.repeat(np.repeat(p[:, :, None, None], stack.shape[2], 2), stack.shape[3], 3)

    _, rows = blended(positions(230, 170) + 1, 48, 0.2, 2, per_tile)
    probabilities = np.concatenate([block.probabilities for block in rows], axis=1)
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-5)
    answered = np.concatenate(answers)
    assert probabilities.min() >= answered.min() - 1e-6 and probabilities.max() <= answered.max() + 1e-6
    assert len(np.unique(probabilities[0])) > 100  # really blended, not one tile's answer


def test_tiles_without_valid_pixels_never_reach_the_model():
    height, width = 200, 300
    valid = np.ones((height, width), bool)
    valid[:, 150:] = False
    seen = []

    def recording(stack: np.ndarray) -> np.ndarray:
        seen.append(stack.shape[0])
        return one_hot_position(stack)

    layout, rows = blended(positions(height, width), 64, 0.25, 1, recording, valid)
    probabilities = np.concatenate([block.probabilities for block in rows], axis=1)
    all_tiles = layout.rows.count * layout.cols.count
    assert 0 < sum(seen) < all_tiles
    np.testing.assert_array_equal(np.concatenate([block.valid for block in rows]), valid)
    # right of the last tile that still touches a valid column, no tile ran: no weight, no probability
    assert probabilities[:, :, 250:].sum() == 0
