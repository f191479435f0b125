"""The mask's overviews: each level the majority class of 2 x 2 blocks of the level above, built while writing.

The reference here counts each block's codes one block at a time; the writer's
levels must equal it however the rows arrive, and the finished GeoTIFF must
carry exactly those levels.
"""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import utm_grid
from osgeo import gdal
from s2cloudmask.inference.classes import CLASS_NAMES
from s2cloudmask.inference.cog import overview_count
from s2cloudmask.inference.masking.overviews import ModeOverviews, halve
from s2cloudmask.inference.masking.writer import MaskWriter, mask_tags


def block_class(block: np.ndarray) -> int:
    """Most pixels with data win, a tie goes to the higher code; no data only where all are no data."""
    counts = np.bincount(block[block != 0].ravel(), minlength=8)
    if not counts.any():
        return 0
    return int(np.flatnonzero(counts == counts.max()).max())


def reference_halve(codes: np.ndarray) -> np.ndarray:
    height, width = codes.shape
    out = np.zeros(((height + 1) // 2, (width + 1) // 2), np.uint8)
    for row in range(out.shape[0]):
        for col in range(out.shape[1]):
            out[row, col] = block_class(codes[2 * row: 2 * row + 2, 2 * col: 2 * col + 2])
    return out


def patchy_codes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Codes 0-4 in patches and speckle, as a mask has them: ties and lone pixels both occur."""
    coarse = rng.integers(0, 5, size=(height // 3 + 1, width // 3 + 1), dtype=np.uint8)
    codes = np.repeat(np.repeat(coarse, 3, axis=0), 3, axis=1)[:height, :width]
    speckle = rng.random((height, width)) < 0.3
    codes[speckle] = rng.integers(0, 5, size=int(speckle.sum()), dtype=np.uint8)
    return codes


@pytest.mark.parametrize("shape", [(2, 2), (7, 5), (64, 63), (33, 100)])
def test_a_level_is_the_majority_class_of_each_block_ties_to_the_higher_code(shape):
    codes = patchy_codes(np.random.default_rng(sum(shape)), *shape)
    assert np.array_equal(halve(codes), reference_halve(codes))


def test_every_block_of_four_codes_gets_the_class_the_rule_says():
    """All 625 blocks of codes 0-4, so every kind of tie is met."""
    values = np.array(np.meshgrid(*[np.arange(5)] * 4, indexing="ij")).reshape(4, -1).T.astype(np.uint8)
    blocks = values.reshape(-1, 2, 2)
    row = np.concatenate(list(blocks), axis=1)  # 2 x 1250: the blocks side by side
    assert halve(row)[0].tolist() == [block_class(block) for block in blocks]
    assert halve(np.array([[1, 4], [4, 1]], np.uint8))[0, 0] == 4  # a tie between clear and cloud shows the cloud
    assert halve(np.array([[0, 0], [0, 2]], np.uint8))[0, 0] == 2  # one pixel with data outweighs no data
    assert halve(np.zeros((2, 2), np.uint8))[0, 0] == 0


@pytest.mark.parametrize("chunks", [[37], [1, 1, 5, 30], [3, 8, 2, 24]])
def test_levels_do_not_depend_on_how_the_rows_arrive(chunks):
    codes = patchy_codes(np.random.default_rng(5), sum(chunks), 45)
    expected, level = [], codes
    for _ in range(3):
        level = reference_halve(level)
        expected.append(level)
    overviews, start = ModeOverviews(3), 0
    for count in chunks:
        overviews.add(codes[start: start + count])
        start += count
    levels = overviews.levels()
    assert [level.shape for level in levels] == [(19, 23), (10, 12), (5, 6)]
    assert all(np.array_equal(got, want) for got, want in zip(levels, expected))


def test_the_written_mask_carries_the_levels_built_from_its_rows(tmp_path, cog_errors):
    grid = utm_grid(1300, 1100)
    codes = patchy_codes(np.random.default_rng(9), grid.height, grid.width)
    path = tmp_path / "mask.tif"
    with MaskWriter(path, grid, mask_tags("test", "1", "product", "CPU", "model")) as writer:
        for row in range(0, grid.height, 300):  # rows arrive in chunks that are not whole blocks
            writer.write(codes[row: row + 300])
    assert cog_errors(path) == []
    dataset = gdal.Open(str(path))
    band = dataset.GetRasterBand(1)
    assert np.array_equal(band.ReadAsArray(), codes)
    assert band.GetOverviewCount() == overview_count(grid.width, grid.height) == 2
    level = codes
    for index in range(band.GetOverviewCount()):
        level = reference_halve(level)
        assert np.array_equal(band.GetOverview(index).ReadAsArray(), level), f"overview {index + 1}"
    assert band.GetCategoryNames() == [CLASS_NAMES[code] for code in sorted(CLASS_NAMES)]
    dataset = None
