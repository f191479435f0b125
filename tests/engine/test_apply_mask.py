"""applymask in the engine: radiometry, what a mask removes, and the inputs it refuses without losing anything.

Fixtures: small products of the generator's time series (each with its own
clouds over one surface, so one date's mask is "a mask of another product"
for the next), and a window of the real T29UNU product where real radiometry
(baseline 04.00, BOA_ADD_OFFSET -1000) matters.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from s2cloudmask.inference.classes import CLEAR, CLOUD, CLOUD_SHADOW, SEMI_TRANSPARENT
from s2cloudmask.inference.cleaning.apply import apply_mask
from s2cloudmask.inference.errors import Cancelled, OutputError, ParameterError, ProductError
from s2cloudmask.inference.grid import Grid
from s2cloudmask.inference.masking.engine import mask_product
from s2cloudmask.inference.reading.product import open_product, product_grid
from s2cloudmask.tools import synthetic_product as sp

REAL_WINDOW = (534540, 5838600, 546060, 5850120)  # 11.5 km of T29UNU with cloud, shadow and clear land


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> dict:
    """Two dates of a generated series (2.4 km) and the mask of each at 20 m."""
    folder = tmp_path_factory.mktemp("series")
    found = sp.read_series(sp.write_series(folder / "series", dates=2, size=240, seed=3))
    for entry in found["dates"]:
        entry["mask"] = folder / f"{entry['product_id']}_cloudmask.tif"
        mask_product(entry["product"], entry["mask"], resolution=20, device="cpu")
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_stack(path: Path) -> tuple[np.ndarray, dict, rasterio.profiles.Profile]:
    with rasterio.open(path) as dataset:
        return dataset.read(), {"descriptions": dataset.descriptions, "tags": dataset.tags(),
                                "scales": dataset.scales, "offsets": dataset.offsets}, dataset.profile


def test_removed_pixels_are_nan_and_kept_ones_the_products_reflectance(series, tmp_path, cog_errors):
    entry = series["dates"][0]
    result = apply_mask(entry["product"], tmp_path / "clean.tif", mask=entry["mask"])
    data, info, profile = read_stack(tmp_path / "clean.tif")
    assert result.bands == list(sp.SURFACE_BANDS) and info["descriptions"] == tuple(sp.SURFACE_BANDS)
    assert profile["dtype"] == "float32" and np.isnan(profile["nodata"]) and cog_errors(tmp_path / "clean.tif") == []
    with rasterio.open(entry["mask"]) as dataset:
        codes = dataset.read(1)
    assert np.isnan(data[:, codes != CLEAR]).all()
    kept = codes == CLEAR
    with rasterio.open(next(Path(entry["product"]).rglob("*_B05_20m.jp2"))) as dataset:  # B05 is native at 20 m
        dn = dataset.read(1).astype(np.float64)
    expected = (dn - 1000.0) / 10000.0  # processing baseline 04.00: BOA_ADD_OFFSET -1000, quantification 10000
    np.testing.assert_allclose(data[sp.SURFACE_BANDS.index("B05")][kept], expected[kept], atol=1e-6)
    with_data = (dn > 0) & (codes > 0)
    assert result.kept_percent == pytest.approx(100.0 * np.isfinite(data[0]).sum() / with_data.sum(), abs=0.5)
    assert info["tags"]["PRODUCT_ID"] == entry["product_id"] == info["tags"]["MASK_PRODUCT_ID"]


def test_digital_numbers_carry_the_scale_and_offset_that_give_the_same_reflectance(series, tmp_path, cog_errors):
    entry = series["dates"][0]
    apply_mask(entry["product"], tmp_path / "refl.tif", mask=entry["mask"])
    apply_mask(entry["product"], tmp_path / "dn.tif", mask=entry["mask"], values="dn")
    reflectance, _, _ = read_stack(tmp_path / "refl.tif")
    dn, info, profile = read_stack(tmp_path / "dn.tif")
    assert profile["dtype"] == "uint16" and profile["nodata"] == 0 and cog_errors(tmp_path / "dn.tif") == []
    assert info["scales"] == (0.0001,) * len(sp.SURFACE_BANDS) and info["offsets"] == (-0.1,) * len(sp.SURFACE_BANDS)
    kept = dn > 0
    assert (kept == np.isfinite(reflectance)).all()
    # a 10 m band at 20 m is the mean of four DN, rounded to a whole DN: half a DN apart at most
    np.testing.assert_allclose(dn[kept] * 0.0001 - 0.1, reflectance[kept], atol=0.5e-4 + 1e-7)


def test_classes_and_buffer_decide_what_goes(series, tmp_path):
    entry = series["dates"][0]
    with rasterio.open(entry["mask"]) as dataset:
        codes = dataset.read(1)
    apply_mask(entry["product"], tmp_path / "cloud-only.tif", mask=entry["mask"], classes=[CLOUD])
    data, _, _ = read_stack(tmp_path / "cloud-only.tif")
    assert np.isfinite(data[0][codes == CLOUD_SHADOW]).all() and np.isnan(data[0][codes == CLOUD]).all()
    apply_mask(entry["product"], tmp_path / "buffered.tif", mask=entry["mask"], buffer=100.0)
    buffered, _, _ = read_stack(tmp_path / "buffered.tif")
    plain = codes == CLEAR
    assert np.isnan(buffered[0][plain]).sum() > 0  # clear pixels within 100 m of a cloud or shadow went too
    assert np.isnan(buffered[0][~plain]).all()


@pytest.mark.parametrize("mask_resolution", [10, 60])
def test_a_pixel_goes_when_any_mask_pixel_it_covers_goes(series, tmp_path, mask_resolution):
    entry = series["dates"][0]
    mask = tmp_path / "mask.tif"
    mask_product(entry["product"], mask, resolution=mask_resolution, device="cpu")
    apply_mask(entry["product"], tmp_path / "clean.tif", mask=mask)
    data, _, _ = read_stack(tmp_path / "clean.tif")
    with rasterio.open(mask) as dataset:
        codes = dataset.read(1)
    if mask_resolution == 10:  # four 10 m mask pixels under each 20 m pixel
        unusable = (codes != CLEAR).reshape(data.shape[1], 2, data.shape[2], 2).any(axis=(1, 3))
    else:  # one 60 m mask pixel over nine 20 m pixels
        unusable = np.repeat(np.repeat(codes != CLEAR, 3, axis=0), 3, axis=1)
    assert np.isnan(data[0][unusable]).all()
    assert np.isfinite(data[0][~unusable]).mean() > 0.99  # the rest keeps its data (but the swath edge)


def test_a_product_without_a_mask_is_masked_first(series, tmp_path):
    entry = series["dates"][1]
    result = apply_mask(entry["product"], tmp_path / "clean.tif", output_mask=tmp_path / "made.tif", device="cpu")
    assert result.mask_made and Path(result.mask) == tmp_path / "made.tif"
    with rasterio.open(tmp_path / "made.tif") as made, rasterio.open(entry["mask"]) as before:
        assert (made.read(1) == before.read(1)).all()
    apply_mask(entry["product"], tmp_path / "alone.tif", device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".aux.xml")) == [
        "alone.tif", "clean.tif", "made.tif"]  # the mask made without OUTPUT_MASK is gone


def test_a_mask_of_another_product_is_refused_and_nothing_is_written(series, tmp_path):
    first, second = series["dates"]
    existing = tmp_path / "clean.tif"
    existing.write_bytes(b"a result of an earlier run")
    with pytest.raises(ProductError, match=f"made from {first['product_id']}, not from {second['product_id']}"):
        apply_mask(second["product"], existing, mask=first["mask"])
    assert existing.read_bytes() == b"a result of an earlier run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.tif"]


def test_outputs_over_inputs_are_refused(series, tmp_path):
    entry = series["dates"][0]
    before = _digest(Path(entry["mask"]))
    with pytest.raises(OutputError, match="is MASK itself"):
        apply_mask(entry["product"], entry["mask"], mask=entry["mask"])
    with pytest.raises(OutputError, match="lies inside INPUT"):
        apply_mask(entry["product"], Path(entry["product"]) / "clean.tif", mask=entry["mask"])
    assert _digest(Path(entry["mask"])) == before and not (Path(entry["product"]) / "clean.tif").exists()


def test_a_band_raster_needs_its_mask_and_keeps_its_own_grid(series, tmp_path, cog_errors):
    entry = series["dates"][0]
    apply_mask(entry["product"], tmp_path / "stack.tif", mask=entry["mask"], values="dn", classes=[CLOUD],
               bands=["B02", "B03", "B04", "B8A"])  # a uint16 stack with band names, like a user's export
    with pytest.raises(ParameterError, match="give its MASK"):
        apply_mask(tmp_path / "stack.tif", tmp_path / "no-mask.tif")
    result = apply_mask(tmp_path / "stack.tif", tmp_path / "clean.tif", mask=entry["mask"], bands=["B04", "2"])
    data, info, profile = read_stack(tmp_path / "clean.tif")
    stack, _, stack_profile = read_stack(tmp_path / "stack.tif")
    assert result.bands == ["B04", "B03"] and info["descriptions"] == ("B04", "B03")
    assert profile["transform"] == stack_profile["transform"] and cog_errors(tmp_path / "clean.tif") == []
    kept = np.isfinite(data[0])
    np.testing.assert_allclose(data[0][kept], stack[2][kept] * 0.0001 - 0.1, atol=1e-6)
    with rasterio.open(entry["mask"]) as dataset:
        codes = dataset.read(1)
    assert not kept[np.isin(codes, (CLOUD_SHADOW, SEMI_TRANSPARENT, CLOUD))].any()
    with pytest.raises(ParameterError, match="VALUES=dn keeps digital numbers"):
        apply_mask(tmp_path / "clean.tif", tmp_path / "again.tif", mask=entry["mask"], values="dn")


def test_cancel_leaves_nothing(series, tmp_path):
    entry = series["dates"][0]

    class CancelAtOnce:
        def progress(self, percent: float, stage: str) -> None:
            pass

        def is_cancelled(self) -> bool:
            return True

        def warn(self, message: str) -> None:
            pass

    with pytest.raises(Cancelled):
        apply_mask(entry["product"], tmp_path / "clean.tif", mask=entry["mask"], feedback=CancelAtOnce())
    assert list(tmp_path.iterdir()) == []


def test_a_window_of_the_real_product_keeps_its_reflectance(real_l2a, tmp_path, cog_errors):
    """Real baseline 04.00 data: (DN - 1000) / 10000 at 60 m, the product's own B8A, under a mask made from it."""
    extent = (*REAL_WINDOW, "EPSG:32629")
    mask_product(real_l2a, tmp_path / "mask.tif", resolution=60, extent=extent, device="cpu")
    result = apply_mask(real_l2a, tmp_path / "clean.tif", mask=tmp_path / "mask.tif", resolution=60, extent=extent)
    assert "B08" not in result.bands and "B8A" in result.bands  # the cut-down sample has no B08 at 60 m
    assert any("B08" in warning for warning in result.warnings)
    data, _, profile = read_stack(tmp_path / "clean.tif")
    assert cog_errors(tmp_path / "clean.tif") == []
    product = open_product(real_l2a)
    grid = product_grid(product, 60, extent)
    with rasterio.open(product.band_files["B8A"][60]) as dataset:
        band_grid = Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)
        col, row = band_grid.pixel_xy(grid.transform.c, grid.transform.f)
        dn = dataset.read(1, window=Window(round(col), round(row), grid.width, grid.height)).astype(np.float64)
    kept = np.isfinite(data[result.bands.index("B8A")])
    assert 0.05 < kept.mean() < 0.95  # the window holds both clear and masked pixels
    np.testing.assert_allclose(data[result.bands.index("B8A")][kept], (dn[kept] - 1000.0) / 10000.0, atol=1e-6)
