"""The real data in tests/data is what tools/make_test_data.py cuts from ../shared/data, pixel for pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import from_bounds
from s2cloudmask.inference.reading.product import open_product
from s2cloudmask.tools.make_test_data import COLS, ROWS, make_test_data

REAL_L2A_NAME = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"


def test_the_crop_is_the_whole_tiles_window_pixel_for_pixel(whole_tile: Path, test_data: Path):
    crop = test_data / "sentinel2" / REAL_L2A_NAME
    rasters = sorted(crop.rglob("*.jp2"))
    assert len(rasters) >= 40
    for path in rasters:
        with rasterio.open(path) as cut, rasterio.open(whole_tile / path.relative_to(crop)) as whole:
            assert cut.crs == whole.crs and cut.count == whole.count and cut.res == whole.res, path.name
            window = from_bounds(*cut.bounds, transform=whole.transform).round_offsets().round_lengths()
            np.testing.assert_array_equal(cut.read(), whole.read(window=window), err_msg=path.name)
    product, tile = open_product(crop), open_product(whole_tile)
    assert (product.product_id, product.offsets, product.quantification) == (tile.product_id, tile.offsets,
                                                                             tile.quantification)
    assert (product.grids[60].width, product.grids[60].height) == (COLS, ROWS)
    assert product.bands == tile.bands and set(product.mask_files) <= set(tile.mask_files)


@pytest.mark.slow
def test_the_tool_makes_the_same_data_again(shared_data: Path, test_data: Path, tmp_path: Path):
    """Regenerated into a scratch folder: the same files, the same pixels and arrays as those committed."""
    make_test_data(shared_data, tmp_path)
    committed = sorted(p.relative_to(test_data) for p in test_data.rglob("*") if p.is_file()
                       and p.parts[len(test_data.parts)] in ("sentinel2", "arrays"))
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file() and p.name != "README.md")
    assert made == committed
    for relative in made:
        if relative.suffix == ".jp2":
            with rasterio.open(tmp_path / relative) as new, rasterio.open(test_data / relative) as old:
                np.testing.assert_array_equal(new.read(), old.read(), err_msg=str(relative))
        elif relative.suffix == ".npz":
            with np.load(tmp_path / relative) as new, np.load(test_data / relative) as old:
                assert new.files == old.files
                for name in new.files:
                    np.testing.assert_array_equal(new[name], old[name])
        else:
            assert (tmp_path / relative).read_bytes() == (test_data / relative).read_bytes(), relative
    assert (tmp_path / "README.md").read_text() == (test_data / "README.md").read_text()
