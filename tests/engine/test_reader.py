"""Reading bands, SCL and masks of the real T29UNU L2A product (its crop in tests/data) onto target grids.

Expected values come from GDAL itself (rasterio reading the JP2 directly) or from
plain numpy on the DN; corrupt and modified inputs are copies in tmp_path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window
from s2cloudmask.inference.errors import BandError, ProductError
from s2cloudmask.inference.grid import Grid
from s2cloudmask.inference.reading.metadata import to_reflectance
from s2cloudmask.inference.reading.product import Product, open_product, product_grid
from s2cloudmask.inference.reading.reader import BandBlock, ProductReader, read_mask_layer, read_scl

from safe_builders import GRANULE, band_path, granule_dir, make_mini_safe, zip_folder

MODEL_BANDS = ["B02", "B03", "B04", "B8A", "B11", "B12"]
# On the crop's 30 m grid (1344 x 1120): a corner, the middle, the far corner, a single pixel on an odd column.
WINDOWS = [Window(0, 0, 256, 256), Window(1000, 800, 300, 257), Window(1088, 960, 256, 160), Window(673, 7, 1, 1)]


@pytest.fixture(scope="module")
def product(real_l2a: Path) -> Product:
    return open_product(real_l2a)


@pytest.fixture(scope="module")
def whole_30m(product: Product) -> BandBlock:
    with ProductReader(product, ["B02", "B12"], product_grid(product, 30)) as reader:
        return reader.read()


def _raw(path: str) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read(1)


def test_native_grid_reads_the_pixels_themselves(product: Product):
    grid = product_grid(product, 60)
    with ProductReader(product, ["B02", "B8A"], grid) as reader:
        assert reader.resolutions_used == {"B02": 60, "B8A": 60}
        block = reader.read()
    assert block.data.shape == (2, grid.height, grid.width) == (2, 560, 672) and block.data.dtype == np.float32
    raw = np.stack([_raw(product.band_files[b][60]) for b in ("B02", "B8A")])
    valid = (raw != 0).all(axis=0)
    np.testing.assert_array_equal(block.valid, valid)
    expected = to_reflectance(raw, ["B02", "B8A"], product)
    np.testing.assert_array_equal(block.data[:, valid], expected[:, valid])
    assert (block.data[:, ~valid] == 0).all()
    assert 0.05 < 1 - block.valid.mean() < 0.09  # the crop's wedge of the orbit edge's no data


def test_30m_read_matches_gdal_bilinear(product: Product, whole_30m: BandBlock):
    grid = product_grid(product, 30)
    assert whole_30m.data.shape == (2, grid.height, grid.width)
    for i, band in enumerate(["B02", "B12"]):
        path = product.band_files[band][60]
        with rasterio.open(path) as dataset:
            # Georeferencing: the 30 m grid is the file's, at half the pixel size.
            assert dataset.crs == rasterio.crs.CRS.from_user_input(grid.crs)
            assert (dataset.transform.c, dataset.transform.f) == (grid.transform.c, grid.transform.f)
            assert dataset.transform.a == 2 * grid.transform.a and dataset.transform.e == 2 * grid.transform.e
            gdal = dataset.read(1, out_shape=(grid.height, grid.width), resampling=Resampling.bilinear)
        expected = to_reflectance(gdal, [band], product)
        valid = whole_30m.valid
        # GDAL rounds its bilinear result to whole DN: half a DN is 5e-5 in reflectance.
        assert np.abs(whole_30m.data[i][valid] - expected[valid]).max() <= 5.1e-5


def test_nodata_does_not_bleed(product: Product, whole_30m: BandBlock):
    """A 30 m pixel is valid exactly when the (up to) four 60 m pixels of its bilinear kernel have data in both bands."""
    raw_valid = (_raw(product.band_files["B02"][60]) != 0) & (_raw(product.band_files["B12"][60]) != 0)

    def taps(size: int) -> list[np.ndarray]:
        """The two 60 m pixels around each 30 m pixel's centre along one axis."""
        first = np.floor((np.arange(2 * size) + 0.5) / 2 - 0.5).astype(int)
        return [np.clip(first, 0, size - 1), np.clip(first + 1, 0, size - 1)]

    expected = np.ones(whole_30m.valid.shape, bool)
    for ty in taps(raw_valid.shape[0]):
        for tx in taps(raw_valid.shape[1]):
            expected &= raw_valid[np.ix_(ty, tx)]
    np.testing.assert_array_equal(whole_30m.valid, expected)
    assert not whole_30m.saturated.any()


@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_window_equals_crop_of_whole(product: Product, whole_30m: BandBlock, window: Window):
    with ProductReader(product, ["B02", "B12"], product_grid(product, 30)) as reader:
        block = reader.read(window)
    rows, cols = window.toslices()
    np.testing.assert_array_equal(block.data, whole_30m.data[:, rows, cols])
    np.testing.assert_array_equal(block.valid, whole_30m.valid[rows, cols])
    np.testing.assert_array_equal(block.saturated, whole_30m.saturated[rows, cols])


def test_blocks_tile_the_whole_read(product: Product, whole_30m: BandBlock):
    """Block by block, as the engine reads, with one reader kept open."""
    grid = product_grid(product, 30)
    with ProductReader(product, ["B02", "B12"], grid) as reader:
        for row in range(0, grid.height, 500):
            for col in range(0, grid.width, 500):
                window = Window(col, row, min(500, grid.width - col), min(500, grid.height - row))
                block = reader.read(window)
                rows, cols = window.toslices()
                assert np.array_equal(block.data, whole_30m.data[:, rows, cols])
                assert np.array_equal(block.valid, whole_30m.valid[rows, cols])


def test_fractional_downsampling_is_an_area_average(product: Product):
    """60 m -> 90 m: each 90 m pixel averages 1.5 x 1.5 source pixels, partial pixels weighted by their area."""
    grid = product_grid(product, 90)
    assert (grid.width, grid.height) == (448, 374)  # 672 x 560 pixels of 60 m, the last row partly outside
    with ProductReader(product, ["B11"], grid) as reader:
        block = reader.read()
        part = reader.read(Window(201, 207, 211, 97))
    np.testing.assert_array_equal(part.data, block.data[:, 207:304, 201:412])
    raw = _raw(product.band_files["B11"][60]).astype(np.float64)[:558]  # 186 whole 180 m rows
    # Four 90 m pixels tile one 180 m pixel, which is exactly 3 x 3 source pixels: their mean is that block's mean.
    box = raw.reshape(186, 3, 224, 3).mean(axis=(1, 3))
    two = block.data[0, :372].reshape(186, 2, 224, 2).mean(axis=(1, 3))
    both_valid = block.valid[:372].reshape(186, 2, 224, 2).all(axis=(1, 3))
    np.testing.assert_allclose(two[both_valid], to_reflectance(box, ["B11"], product)[both_valid], atol=2e-6)
    with rasterio.open(product.band_files["B11"][60]) as dataset:  # the rows the file fills whole: 558 x 60 m
        gdal = dataset.read(1, window=Window(0, 0, 672, 558), out_shape=(372, 448), resampling=Resampling.average)
    close = np.abs(block.data[0, :372] - to_reflectance(gdal, ["B11"], product))[block.valid[:372]]
    assert np.median(close) <= 5.1e-5  # GDAL's average agrees but for its rounding to whole DN


def test_reduced_resolution_levels_for_10m_bands(real_l2a: Path, tmp_path: Path):
    """10 m -> 30 m: the JPEG 2000 20 m level is decoded and averaged 1.5 x 1.5, as GDAL's own average read does.

    The real product has no 10 m spectral file; its real 10 m AOT JPEG 2000 stands in for one (as B02_10m)."""
    mini = make_mini_safe(real_l2a, tmp_path, bands=("B02",))
    aot = granule_dir(real_l2a) / "IMG_DATA" / "R10m" / "T29UNU_20221005T115411_AOT_10m.jp2"
    target = band_path(mini, "B02", 10)
    target.parent.mkdir(parents=True)
    shutil.copyfile(aot, target)
    product = open_product(mini)
    assert product.band_files["B02"].keys() == {10, 60}
    grid = product_grid(product, 30)
    with ProductReader(product, ["B02"], grid) as reader:
        assert reader.resolutions_used == {"B02": 10} and reader.read_resolutions == {"B02": 20.0}
        assert reader.warnings == []
        block = reader.read()
        part = reader.read(Window(699, 501, 333, 444))
    np.testing.assert_array_equal(part.data, block.data[:, 501:945, 699:1032])
    np.testing.assert_array_equal(part.valid, block.valid[501:945, 699:1032])
    with rasterio.open(target) as dataset:
        gdal = dataset.read(1, out_shape=(grid.height, grid.width), resampling=Resampling.average)
        full = dataset.read(1)
    expected = to_reflectance(gdal, ["B02"], product)
    assert np.abs(block.data[0] - expected)[block.valid].max() <= 0.5001 / 10000
    # Every 30 m pixel whose 3 x 3 source block touches no-data is no-data.
    touched = (full == 0).reshape(grid.height, 3, grid.width, 3).any(axis=(1, 3))
    assert not (block.valid & touched).any()
    assert block.valid.sum() > 0.99 * (~touched).sum()
    # Full resolution decoding on request: the exact 3 x 3 mean.
    with ProductReader(product, ["B02"], grid, reduced_resolution=False) as reader:
        exact = reader.read(Window(300, 300, 600, 600))
        assert reader.read_resolutions == {"B02": 10.0}
    box = full[900:2700, 900:2700].astype(np.float64).reshape(600, 3, 600, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(exact.data[0][exact.valid], to_reflectance(box, ["B02"], product)[exact.valid], atol=1e-6)


def test_saturation_and_nodata_from_the_xml(real_l2a: Path, tmp_path: Path):
    """A copy of B12 rewritten losslessly with a saturated patch and a no-data patch."""
    mini = make_mini_safe(real_l2a, tmp_path, bands=("B02", "B12"))
    path = band_path(mini, "B12")
    with rasterio.open(path) as dataset:
        profile = dataset.profile
        data = dataset.read(1)
    data[300:310, 300:310] = 65535
    data[400:410, 400:410] = 0
    profile.update(driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES")
    profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
    with rasterio.open(tmp_path / "b12.jp2", "w", **profile) as out:
        out.write(data, 1)
    shutil.copyfile(tmp_path / "b12.jp2", path)
    product = open_product(mini)
    with ProductReader(product, ["B02", "B12"], product_grid(product, 60)) as reader:
        block = reader.read(Window(250, 250, 200, 200))
    assert block.saturated[50:60, 50:60].all() and block.saturated.sum() == 100
    assert not block.valid[150:160, 150:160].any()
    assert block.valid[50:60, 50:60].all()
    np.testing.assert_allclose(block.data[1, 50:60, 50:60], (65535 - 1000) / 10000)
    with ProductReader(product, ["B12"], product_grid(product, 30)) as reader:
        up = reader.read(Window(500, 500, 400, 400))
    assert up.saturated[100:120, 100:120].all() and not up.saturated[:95].any()


def test_missing_and_absent_bands(product: Product, real_l2a: Path, tmp_path: Path):
    grid = product_grid(product, 30)
    with pytest.raises(BandError) as info:
        ProductReader(product, ["B02", "B08"], grid)
    message = str(info.value)
    assert "B08" in message and product.product_id in message and "B8A" in message
    with pytest.raises(BandError, match=r"B10.*never contain B10"):
        ProductReader(product, ["B10"], grid)
    with pytest.raises(BandError, match="not a Sentinel-2 band"):
        ProductReader(product, ["B13"], grid)
    mini = open_product(make_mini_safe(real_l2a, tmp_path, bands=("B02", "B12")))
    with pytest.raises(BandError) as info:
        ProductReader(mini, ["B02", "B04"], grid)
    message = str(info.value)
    assert "B04" in message and "T29UNU_20221005T115411_B04_60m.jp2" in message and "download it again" in message
    assert "T29UNU_20221005T115411_B04_10m.jp2" in message


@pytest.mark.parametrize("damage", ["garbage", "middle", "truncated"])
@pytest.mark.parametrize("container", ["folder", "zip"])
def test_corrupt_jp2_is_an_error_not_zeros(real_l2a: Path, tmp_path: Path, damage: str, container: str):
    mini = make_mini_safe(real_l2a, tmp_path / "mini", bands=("B02", "B12"))
    path = band_path(mini, "B12")
    data = path.read_bytes()
    size = len(data)
    if damage == "garbage":
        path.write_bytes(os.urandom(size))
    elif damage == "middle":
        path.write_bytes(data[: size // 3] + os.urandom(size // 3) + data[2 * size // 3:])
    else:
        path.write_bytes(data[: size * 3 // 4])
    product = open_product(zip_folder(mini, tmp_path / "p.zip") if container == "zip" else mini)
    grid = product_grid(product, 30)
    with pytest.raises(ProductError) as info:
        with ProductReader(product, ["B02", "B12"], grid) as reader:
            reader.read()
    message = str(info.value)
    assert "T29UNU_20221005T115411_B12_60m.jp2" in message and "download" in message
    if container == "zip":
        assert str(tmp_path / "p.zip") in message


def test_reader_from_zip_equals_folder(real_l2a: Path, tmp_path: Path):
    mini = make_mini_safe(real_l2a, tmp_path / "mini", bands=("B03", "B11"), extra=[
        f"GRANULE/{GRANULE}/IMG_DATA/R60m/T29UNU_20221005T115411_SCL_60m.jp2"])
    folder, archive = open_product(mini), open_product(zip_folder(mini, tmp_path / "p.zip"))
    window = Window(700, 500, 512, 512)
    blocks = []
    for prod in (folder, archive):
        with ProductReader(prod, ["B03", "B11"], product_grid(prod, 30)) as reader:
            blocks.append((reader.read(window), read_scl(prod, product_grid(prod, 30))))
    np.testing.assert_array_equal(blocks[0][0].data, blocks[1][0].data)
    np.testing.assert_array_equal(blocks[0][1], blocks[1][1])


def test_read_scl(product: Product):
    grid = product_grid(product, 30)
    scl = read_scl(product, grid)
    assert scl.dtype == np.uint8 and scl.shape == (grid.height, grid.width)
    with rasterio.open(product.mask_files["SCL_20m"]) as dataset:
        assert dataset.transform == product.grids[20].transform
        gdal = dataset.read(1, out_shape=scl.shape, resampling=Resampling.nearest)
    np.testing.assert_array_equal(scl, gdal)
    assert set(np.unique(scl)) <= set(range(12))
    valid = scl > 0
    cloud = np.isin(scl, (8, 9)).sum() / valid.sum()
    assert 0.2 < cloud < 0.6
    np.testing.assert_array_equal(read_scl(product, grid, Window(100, 700, 640, 320)), scl[700:1020, 100:740])
    at60 = read_scl(product, product_grid(product, 60))  # nearest: the 20 m pixel under each 60 m centre
    np.testing.assert_array_equal(at60, _raw(product.mask_files["SCL_20m"])[1::3, 1::3])


def test_read_scl_falls_back_to_60m(real_l2a: Path, tmp_path: Path):
    mini = open_product(make_mini_safe(real_l2a, tmp_path, extra=[
        f"GRANULE/{GRANULE}/IMG_DATA/R60m/T29UNU_20221005T115411_SCL_60m.jp2"]))
    grid = product_grid(mini, 60)
    np.testing.assert_array_equal(read_scl(mini, grid), _raw(mini.mask_files["SCL_60m"]))
    bare = open_product(make_mini_safe(real_l2a, tmp_path / "bare"))
    with pytest.raises(ProductError, match="no SCL"):
        read_scl(bare, grid)


def test_read_mask_layers(product: Product):
    grid = product_grid(product, 60)
    layers = [read_mask_layer(product, "MSK_CLASSI_B00", grid, band) for band in (1, 2, 3)]
    with rasterio.open(product.mask_files["MSK_CLASSI_B00"]) as dataset:
        assert dataset.count == 3
        np.testing.assert_array_equal(np.stack(layers), dataset.read())
    for layer in layers:
        assert set(np.unique(layer)) <= {0, 1}
    assert layers[0].any() and layers[1].any()  # opaque clouds and cirrus on this cloudy scene
    with pytest.raises(ProductError, match="band 4 does not exist"):
        read_mask_layer(product, "MSK_CLASSI_B00", grid, 4)
    cldprb = read_mask_layer(product, "MSK_CLDPRB", product_grid(product, 30))
    with rasterio.open(product.mask_files["MSK_CLDPRB_20m"]) as dataset:
        gdal = dataset.read(1, out_shape=cldprb.shape, resampling=Resampling.nearest)
    np.testing.assert_array_equal(cldprb, gdal)
    mean = read_mask_layer(product, "MSK_CLDPRB_20m", grid, resampling="average")
    assert mean.dtype == np.float32 and 0 <= mean.min() and mean.max() <= 100.001
    with pytest.raises(ProductError, match="no mask MSK_NOPE"):
        read_mask_layer(product, "MSK_NOPE", grid)
    with pytest.raises(ValueError):
        read_mask_layer(product, "MSK_CLDPRB", grid, resampling="cubic")


def test_reader_contract(product: Product):
    grid = product_grid(product, 30, (550000, 5840000, 560000, 5850000, "EPSG:32629"))
    reader = ProductReader(product, MODEL_BANDS, grid, band_names=["blue", "green", "red", "nir", "swir16", "swir22"])
    assert reader.grid == grid and reader.band_names[0] == "blue"
    assert reader.resolutions_used == {band: 60 for band in MODEL_BANDS}
    assert reader.warnings and "60 m" in reader.warnings[0]
    block = reader.read(Window(0, 0, grid.width, grid.height))
    assert block.data.shape == (6, grid.height, grid.width)
    assert block.valid.dtype == bool and block.saturated.dtype == bool
    assert block.valid.all()  # this extent lies inside the swath
    assert 0.0 < float(block.data.mean()) < 1.0
    reader.close()
    with pytest.raises(ProductError, match="closed"):
        reader.read(Window(0, 0, 10, 10))
    other = Grid("EPSG:32630", grid.transform, grid.width, grid.height)
    with pytest.raises(ProductError, match="does not reproject"):
        ProductReader(product, ["B02"], other)
    with pytest.raises(ValueError, match="whole pixels"):
        with ProductReader(product, ["B02"], grid) as again:
            again.read(Window(0.5, 0, 10, 10))


def test_window_partly_outside_the_tile_is_nodata(product: Product):
    grid = product_grid(product, 60)
    with ProductReader(product, ["B12"], grid) as reader:
        block = reader.read(Window(642, -10, 60, 40))
    assert block.data.shape == (1, 40, 60)
    assert not block.valid[:10].any() and not block.valid[:, 30:].any()
    raw = _raw(product.band_files["B12"][60])[0:30, 642:672]
    np.testing.assert_array_equal(block.valid[10:, :30], raw != 0)


@pytest.mark.parametrize(("mode", "t_step", "s_step", "origin"), [
    ("average", 30.0, 20.0, 0.0),  # 20 m bands onto the model grid: repeats every 2 targets
    ("average", 60.0, 10.0, 0.0),
    ("average", 20.0, 10.0, 10.0),
    ("average", 30.0, 20.0, 10.0),  # the grids shifted by half a source pixel
    ("bilinear", 10.0, 20.0, 0.0),  # edge pixels replicated: no repeat from the first target on
    ("average", 30.0, 7.0, 0.0),  # repeats only after 7 targets: read by index
])
def test_repeating_plans_resample_to_the_bit_as_by_index(mode, t_step, s_step, origin):
    """The strided path for plans that repeat (reader._apply_repeating) against gathering every tap by index."""
    from dataclasses import replace

    from s2cloudmask.inference.reading.reader import _apply, _plan_axis

    rng = np.random.default_rng(4)
    source = rng.integers(0, 20000, size=(5, 700), dtype=np.uint16)
    for start, count in [(0, 100), (7, 61), (33, 1)]:
        plan = _plan_axis(mode, origin, t_step, start, count, 0.0, s_step, source.shape[1])
        if mode == "average" and t_step / s_step in (1.5, 6.0, 2.0) and count > 7:
            assert plan.period > 0
        part = source[:, plan.lo:plan.hi]
        strided = _apply(part, plan, 1)
        by_index = _apply(part, replace(plan, period=0, stride=0), 1)
        assert strided.dtype == by_index.dtype == np.float32
        np.testing.assert_array_equal(strided, by_index)
        rows = _plan_axis(mode, origin, t_step, start, count, 0.0, s_step, 700)
        column = rng.integers(0, 20000, size=(rows.hi - rows.lo, 3)).astype(np.float32)
        np.testing.assert_array_equal(_apply(column, rows, 0), _apply(column, replace(rows, period=0, stride=0), 0))
