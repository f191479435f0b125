"""Every raster the engine writes is a Cloud-Optimised GeoTIFF, as GDAL's own validator judges it.

Masks of maskproduct and maskraster (with their probabilities) and the SCL
difference raster here; the batch runner's masks and reference masks in their
own tests (test_batch.py, test_reference.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from model_helpers import utm_grid, write_raster
from s2cloudmask.inference.comparing.compare import compare_with_scl
from s2cloudmask.inference.masking.engine import mask_product, mask_raster
from s2cloudmask.tools import synthetic_product as sp


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Path:
    return sp.write_product(tmp_path_factory.mktemp("cog"), level="L2A", size=1200, seed=4, extras=False)


@pytest.mark.slow
def test_a_product_mask_its_probabilities_and_its_scl_difference_are_cogs(product, tmp_path, cog_errors):
    mask, probabilities = tmp_path / "mask.tif", tmp_path / "probabilities.tif"
    mask_product(product, mask, resolution=20, probabilities=probabilities, device="cpu")
    difference = tmp_path / "difference.tif"
    compare_with_scl(mask, product, difference)
    for path in (mask, probabilities, difference):
        assert cog_errors(path) == [], path.name
        with rasterio.open(path) as dataset:
            assert dataset.block_shapes[0] == (512, 512) and dataset.overviews(1) == [2]
    with rasterio.open(mask) as dataset:
        assert dataset.tags()["PRODUCT_ID"] == sp.product_name("L2A").removesuffix(".SAFE")
        assert dataset.descriptions[0].startswith("Sentinel-2 cloud mask")
        assert dataset.colormap(1)[4][:3] == (255, 196, 0)  # the palette, from the .aux.xml
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["mask.tif", "mask.tif.aux.xml", "probabilities.tif", "difference.tif", "difference.tif.aux.xml"]
    )  # no staging file is left beside the outputs


def test_a_raster_mask_is_a_cog(tmp_path, cog_errors):
    rng = np.random.default_rng(3)
    grid = utm_grid(700, 300)
    stack = write_raster(tmp_path / "stack.tif", rng.integers(1000, 4000, size=(4, 300, 700)).astype(np.uint16), grid)
    mask_raster(stack, tmp_path / "mask.tif", bands={"blue": 1, "green": 2, "red": 3, "nir": 4}, device="cpu")
    assert cog_errors(tmp_path / "mask.tif") == []
