"""The pure geometry: tile grid, mirroring, blending window, strips and resampling weights."""

from __future__ import annotations

import numpy as np
import pytest
from s2cloudmask.inference.masking.blending import TileLayout
from s2cloudmask.inference.masking.model_card import Tiling
from s2cloudmask.inference.masking.tiling import TileGrid, linear_weights, reflect_indices, strips
from scipy.signal.windows import tukey


@pytest.mark.parametrize(("length", "before", "after"), [
    (308, 51, 308), (512, 51, 308), (3660, 51, 308), (300, 51, 260), (7, 0, 30), (7, 30, 0), (1, 700, 0), (2, 0, 9),
])
def test_reflection_equals_numpy_symmetric_padding(length, before, after):
    """Wherever numpy 1.24 mirrors (one-sided pads, or both pads no wider than the line: CSmask on images of
    308 px or more), the index reflection gives the same values."""
    line = np.arange(length) * 10
    padded = np.pad(line, (before, after), mode="symmetric")
    assert np.array_equal(line[reflect_indices(np.arange(-before, length + after), length)], padded)


def test_reflection_is_a_periodic_mirror_for_any_pad():
    """Pads wider than the line repeat the mirror (period 2 * length), the edge pixel doubled at each turn."""
    assert list(reflect_indices(np.arange(-7, 10), 3)) == [0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2]


def test_tile_grid_is_csmasks_geometry():
    grid = TileGrid.for_overlap(256, 0.2, 1000)
    assert (grid.step, grid.pad) == (204, 51)  # int(256 - 51.2), int(51.2)
    assert [grid.start(i) for i in range(3)] == [-51, 153, 357]
    # the tiles touching the image: every tile of CSmask's padded grid that starts inside the image
    assert grid.count == 6 and grid.start(grid.count - 1) < 1000 <= grid.start(grid.count)
    assert grid.span(1, 2) == (153, 357 + 256)


@pytest.mark.parametrize("length", [1, 100, 256, 513, 1000, 3660])
def test_every_pixel_gets_positive_blending_weight(length):
    grid = TileGrid.for_overlap(256, 0.2, length)
    line = tukey(256, alpha=0.4)
    total = np.zeros(length + 2 * 256)
    for i in range(grid.count):
        total[grid.start(i) + 256: grid.start(i) + 512] += line
    assert total[256: 256 + length].min() > 0.05


def test_rows_settle_once_no_later_tile_touches_them():
    grid = TileGrid.for_overlap(256, 0.2, 1000)
    assert grid.settled_before(0) == 0
    assert grid.settled_before(1) == 153  # tile 1 starts at row 153
    assert grid.settled_before(2) == 357
    assert grid.settled_before(grid.count) == 1000


def test_blend_window_is_the_outer_product_of_tukey():
    window = TileLayout.for_image(1000, 1000, 256, 0.2, 2).window
    line = tukey(256, alpha=0.4)
    assert window.shape == (256, 256) and window.dtype == np.float32
    np.testing.assert_allclose(window, np.outer(line, line), atol=1e-7)
    assert window[0, 0] == 0 and window[128, 128] == pytest.approx(1.0)


def test_strips_cover_all_tile_rows_once():
    assert strips(5, 2) == [(0, 1), (2, 3), (4, 4)]
    assert strips(3, 10) == [(0, 2)]


def test_linear_weights_same_grid_is_identity():
    w = linear_weights(10, 0.0, 30.0, 30.0, 10)
    assert np.array_equal(w.lower, np.arange(10)) and np.all(w.weight == 0) and np.array_equal(w.nearest, np.arange(10))


def test_linear_weights_are_pixel_centre_aligned():
    # 10 m output pixels inside 30 m input pixels: centres at 5, 15, 25 m; input centres at 15, 45 m
    w = linear_weights(6, 0.0, 10.0, 30.0, 2)
    assert list(w.nearest) == [0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(w.lower, [0, 0, 0, 0, 1, 1])
    np.testing.assert_allclose(w.weight, [0, 0, 1 / 3, 2 / 3, 0, 0], atol=1e-6)  # edges held, ramp between centres
    ramp = np.array([0.0, 3.0])
    interpolated = ramp[w.lower] * (1 - w.weight) + ramp[w.upper] * w.weight
    np.testing.assert_allclose(interpolated[1:5], [0, 1, 2, 3], atol=1e-6)


def test_linear_weights_with_offset_output_origin():
    # an output grid starting 30 m (one input pixel) in: its first centre lies at 35 m
    w = linear_weights(3, 30.0, 10.0, 30.0, 4)
    assert list(w.nearest) == [1, 1, 1]
    np.testing.assert_allclose(w.lower + w.weight, [2 / 3, 1, 4 / 3], atol=1e-6)


@pytest.mark.parametrize("length", [1, 40, 512, 563, 1500, 3660, 5490, 10980])
def test_fitted_tiles_cover_the_image_with_fewer_model_pixels(length):
    """Fitted tiles: multiples of 32, at most the maximum, covering the image with every pixel inside a tile's core
    and margin-wide tapers; never more pixels through the model than CSmask's 256 px / 20 %."""
    grid = TileGrid.fitted(768, 51, length, 32)
    csmask = TileGrid.for_overlap(256, 0.2, length)
    assert grid.size % 32 == 0 and 2 * 51 <= grid.size <= 768 and grid.pad == 51 and grid.step == grid.size - 51
    assert grid.start(0) == -51 and grid.start(grid.count - 1) + grid.size >= length + 51
    assert grid.count * grid.size <= csmask.count * csmask.size
    weights = np.zeros(length + 2 * 768)
    for index in range(grid.count):
        weights[768 + grid.start(index): 768 + grid.start(index) + grid.size] += grid.window()
    assert weights[768: 768 + length].min() > 0.95  # the tapers of neighbours add up to about one


def test_fitted_layout_on_a_full_tile_runs_a_fifth_fewer_pixels():
    layout = TileLayout.fitted(3660, 3660, Tiling(768, 51, 32), 2)
    old = TileLayout.for_image(3660, 3660, 256, 0.2, 2)
    assert (layout.rows.size, layout.rows.count) == (672, 6)
    assert layout.model_pixels / 3660 ** 2 < 1.22 < 1.76 < old.model_pixels / 3660 ** 2
    assert layout.window.shape == (672, 672)
