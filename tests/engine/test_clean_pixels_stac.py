"""applymask and composite take STAC items (URLs, as a catalogue serves them on 127.0.0.1) where they take
products: the cleaned bands hold the reflectance of the item's SAFE, and a list of item URLs composites as the
SAFEs themselves do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from s2cloudmask.inference.cleaning.apply import apply_mask
from s2cloudmask.inference.cleaning.composite import composite
from s2cloudmask.inference.errors import ProductError
from s2cloudmask.inference.masking.engine import mask_product
from s2cloudmask.inference.reading.product import open_product
from s2cloudmask.tools import synthetic_product as sp

from stac_helpers import serve_item, served

DATES = 3


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """Three dates of a generated series, as SAFEs and as Earth Search items (offset removed from the COGs), each
    item also at .../items/<id>, where a catalogue serves it."""
    root = tmp_path_factory.mktemp("clean-stac")
    series = sp.read_series(sp.write_series(root / "products", dates=DATES, size=240, seed=4))
    with served(root / "served") as server:
        series["urls"] = [serve_item(server, entry["product"], f"date-{number}")
                          for number, entry in enumerate(series["dates"])]
        (server.root / "items").mkdir()
        series["item_urls"] = []
        for number in range(DATES):
            item = server.root / f"date-{number}" / "item.json"
            item_id = json.loads(item.read_text())["id"]
            shutil.copyfile(item, server.root / "items" / item_id)
            series["item_urls"].append(server.url(f"items/{item_id}"))
        yield series


def _bands(path: Path) -> tuple[np.ndarray, tuple]:
    with rasterio.open(path) as dataset:
        return dataset.read(), dataset.descriptions


def test_applymask_of_an_earth_search_item_gives_its_safes_reflectance(catalogue, tmp_path, cog_errors):
    entry, url = catalogue["dates"][0], catalogue["urls"][0]
    item_id = open_product(url).product_id
    mask_product(url, tmp_path / "item_mask.tif", resolution=20, device="cpu")
    from_item = apply_mask(url, tmp_path / "item.tif", mask=tmp_path / "item_mask.tif")
    mask_product(entry["product"], tmp_path / "safe_mask.tif", resolution=20, device="cpu")
    from_safe = apply_mask(entry["product"], tmp_path / "safe.tif", mask=tmp_path / "safe_mask.tif")
    (item, names), (safe, _) = _bands(tmp_path / "item.tif"), _bands(tmp_path / "safe.tif")
    assert names == tuple(sp.SURFACE_BANDS) and from_item.bands == from_safe.bands
    assert cog_errors(tmp_path / "item.tif") == [] and item.shape == safe.shape
    with rasterio.open(tmp_path / "item.tif") as dataset:
        assert dataset.tags()["PRODUCT_ID"] == item_id
    both = np.isfinite(item) & np.isfinite(safe)
    assert both[0].mean() > 0.3  # most of the scene is kept by both masks
    # bands the item holds at 20 m: the SAFE's own pixels; 10 m bands averaged onto 20 m by either reader
    for index, band in enumerate(sp.SURFACE_BANDS):
        tolerance = 1e-6 if band not in ("B02", "B03", "B04", "B08") else 1e-4
        np.testing.assert_allclose(item[index][both[index]], safe[index][both[index]], atol=tolerance,
                                   err_msg=band)


def test_a_mask_of_the_safe_is_not_taken_for_its_items_mask(catalogue, tmp_path):
    """An item's product id is the item's; a mask names the product it was made from, so the check holds."""
    entry, url = catalogue["dates"][0], catalogue["urls"][0]
    mask_product(entry["product"], tmp_path / "safe_mask.tif", resolution=20, device="cpu")
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ProductError, match=f"made from {entry['product_id']}, not from {open_product(url).product_id}"):
        apply_mask(url, tmp_path / "clean.tif", mask=tmp_path / "safe_mask.tif")
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.slow
def test_a_list_of_item_urls_composites_as_the_safes_do(catalogue, tmp_path, cog_errors):
    listed = tmp_path / "items.txt"
    listed.write_text("\n".join(catalogue["item_urls"]) + "\n")
    from_items = composite(listed, tmp_path / "items.tif", workers=1, device="cpu")
    assert from_items.masks_made == DATES and from_items.masks_reused == 0
    assert from_items.products == [url.rsplit("/", 1)[1] for url in catalogue["item_urls"]]
    assert cog_errors(tmp_path / "items.tif") == []
    again = composite(listed, tmp_path / "again.tif", masks=from_items.masks_folder, workers=1)
    assert again.masks_reused == DATES and again.masks_made == 0  # masks of items are found by the item's id
    from_safes = composite(catalogue["dates"][0]["product"].parent, tmp_path / "safes.tif", workers=1, device="cpu")
    (items, names), (safes, _) = _bands(tmp_path / "items.tif"), _bands(tmp_path / "safes.tif")
    assert names == (*sp.SURFACE_BANDS, "clear observations") and items.shape == safes.shape
    assert from_safes.grid.transform == from_items.grid.transform
    count = len(sp.SURFACE_BANDS)
    assert np.mean(items[count] == safes[count]) > 0.9  # masks of an item and of its SAFE agree closely
    same = (items[count] == safes[count]) & (items[count] > 0)
    b05 = sp.SURFACE_BANDS.index("B05")
    assert np.mean(np.abs(items[b05][same] - safes[b05][same]) < 1e-6) > 0.9
