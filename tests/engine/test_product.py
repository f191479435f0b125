"""Opening products: the real T29UNU L2A from its folder, a zip and its MTD xml; layouts; bad input.

Bad and legacy inputs are built in tmp_path from the real product's own files (its
MTD xmls and a few 60 m JP2s); nothing is ever written next to the shared data.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
import rasterio
from s2cloudmask.inference.errors import ProductError
from s2cloudmask.inference.grid import Grid
from s2cloudmask.inference.reading.product import Product, display_path, open_product, product_grid

from safe_builders import GRANULE, band_path, granule_dir, make_mini_safe, zip_folder

from tests.real_product import CROP_ORIGIN, CROP_SIZE_60M

SPECTRAL_60M = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12"]


LEGACY_GRANULE = "S2A_OPER_MSI_L1C_TL_SGS__20170226T171842_A008785_T29UNU_N02.04"
LEGACY_PRODUCT = "S2A_OPER_PRD_MSIL1C_PDMC_20170226T171842_R023_V20170226T115411_20170226T115411"


def make_legacy_safe(test_data: Path, real_l2a: Path, dest: Path, *, tiles=("29UNU",)) -> Path:
    """A single- (or multi-) tile product in the long-name layout of 2015-2016, assembled from real files:
    the radiometry of a real L1C MTD_MSIL1C.xml, the geocoding of the real T29UNU MTD_TL.xml and real
    60 m JP2s (B01, B09: 60 m bands, so their native resolution is the file's)."""
    safe = dest / f"{LEGACY_PRODUCT}.SAFE"
    safe.mkdir(parents=True)
    mtd = (test_data / "sentinel2" / "metadata" / "L1C_N0204_S2A_20170226_T32TNM_MTD_MSIL1C.xml").read_text(encoding="utf-8")
    mtd = re.sub(r"<PRODUCT_URI>.*?</PRODUCT_URI>", f"<PRODUCT_URI>{LEGACY_PRODUCT}</PRODUCT_URI>", mtd)
    mtd = re.sub(r"<PRODUCT_FORMAT>.*?</PRODUCT_FORMAT>", "<PRODUCT_FORMAT>SAFE</PRODUCT_FORMAT>", mtd)
    granules = []
    for tile in tiles:
        gid = LEGACY_GRANULE.replace("T29UNU", f"T{tile}")
        stem = gid[:-7]  # ..._T29UNU
        images = "".join(f"<IMAGE_ID>{stem}_{band}</IMAGE_ID>" for band in ("B01", "B09"))
        granules.append(f'<Granules datastripIdentifier="DS" granuleIdentifier="{gid}" imageFormat="JPEG2000">{images}</Granules>')
        folder = safe / "GRANULE" / gid
        (folder / "IMG_DATA").mkdir(parents=True)
        for band in ("B01", "B09"):
            shutil.copyfile(band_path(real_l2a, band), folder / "IMG_DATA" / f"{stem}_{band}.jp2")
        tl = (granule_dir(real_l2a) / "MTD_TL.xml").read_text(encoding="utf-8")
        tl = tl.replace("Level-2A_Tile_ID", "Level-1C_Tile_ID")
        tl = re.sub(r"(<TILE_ID[^>]*>).*?(</TILE_ID>)", rf"\g<1>{gid}\g<2>", tl)
        (folder / gid.replace("_MSI_", "_MTD_")[:-7]).with_suffix(".xml").write_text(tl, encoding="utf-8")
    mtd = re.sub(r"<Granule_List>.*?</Granule_List>", "<Granule_List>" + "".join(granules) + "</Granule_List>", mtd, flags=re.S)
    (safe / f"{LEGACY_PRODUCT.replace('_PRD_MSIL1C_', '_MTD_SAFL1C_')}.xml").write_text(mtd, encoding="utf-8")
    return safe


# --------------------------------------------------------------------------- the real product


@pytest.fixture(scope="module")
def real_zip(real_l2a: Path, tmp_path_factory) -> Path:
    return zip_folder(real_l2a, tmp_path_factory.mktemp("zip") / f"{real_l2a.stem}.zip")


@pytest.fixture(scope="module")
def real_product(real_l2a: Path) -> Product:
    return open_product(real_l2a)


def _check_real(product: Product, real_l2a: Path) -> None:
    assert product.level == "L2A"
    assert product.product_id == real_l2a.stem
    assert product.satellite == "Sentinel-2A"
    assert product.tile_id == "29UNU"
    assert product.sensing_time.isoformat() == "2022-10-05T11:54:11.024000+00:00"
    assert product.processing_baseline == "04.00"
    assert product.quantification == 10000.0
    assert product.offsets == {band: -1000.0 for band in product.offsets} and len(product.offsets) == 13
    assert (product.nodata_value, product.saturated_value) == (0, 65535)
    assert product.layout == "compact"
    assert product.crs == "EPSG:32629"
    # Spectral bands only in R60m: the 10 m and 20 m files are listed in the MTD but absent.
    assert product.bands == SPECTRAL_60M
    assert all(list(files) == [60] for files in product.band_files.values())
    assert product.resolutions == [60]
    assert any("absent" in warning and "10 m" in warning and "20 m" in warning for warning in product.warnings)
    assert any(path.endswith("_B02_10m.jp2") for path in product.missing_files)
    for key in ("SCL_20m", "SCL_60m", "MSK_CLASSI_B00", "MSK_CLDPRB_20m", "MSK_CLDPRB_60m", "MSK_DETFOO_B02",
                "MSK_DETFOO_B8A", "MSK_QUALIT_B02"):
        assert key in product.mask_files, key
    assert set(product.grids) == {10, 20, 60}
    for res in (10, 20, 60):  # the crop's own geometry, from its MTD_TL.xml
        grid = product.grids[res]
        assert (grid.width, grid.height) == (CROP_SIZE_60M[0] * 60 // res, CROP_SIZE_60M[1] * 60 // res)
        assert tuple(grid.transform)[:6] == (res, 0.0, CROP_ORIGIN[0], 0.0, -res, CROP_ORIGIN[1])


def test_open_real_folder(real_product: Product, real_l2a: Path):
    _check_real(real_product, real_l2a)
    assert not real_product.is_zip
    assert real_product.metadata_file.endswith("MTD_MSIL2A.xml")
    assert real_product.tile_metadata_file.endswith("MTD_TL.xml")
    assert "29UNU" in real_product.describe()


def test_open_real_zip_in_place(real_zip: Path, real_l2a: Path, tmp_path: Path):
    product = open_product(real_zip)
    _check_real(product, real_l2a)
    assert product.is_zip
    assert product.root.startswith("/vsizip/") and product.band_files["B02"][60].startswith("/vsizip/")
    assert display_path(product.band_files["B02"][60]).startswith(str(real_zip) + "!/")
    assert list(real_zip.parent.iterdir()) == [real_zip], "nothing is extracted"


def test_open_zip_with_product_at_its_root(real_l2a: Path, tmp_path: Path):
    mini = make_mini_safe(real_l2a, tmp_path / "mini")
    product = open_product(zip_folder(mini, tmp_path / "flat.zip", at_root=True))
    assert product.bands == ["B02", "B12"] and product.is_zip


@pytest.mark.parametrize("how", ["mtd", "mtd_in_zip", "manifest", "tile_mtd", "parent_folder"])
def test_open_real_by_other_paths(how: str, real_l2a: Path, real_zip: Path):
    path = {
        "mtd": real_l2a / "MTD_MSIL2A.xml",
        "mtd_in_zip": f"/vsizip/{real_zip.as_posix()}/{real_l2a.name}/MTD_MSIL2A.xml",
        "manifest": real_l2a / "manifest.safe",
        "tile_mtd": granule_dir(real_l2a) / "MTD_TL.xml",
        "parent_folder": real_l2a.parent,  # the folder that holds one .SAFE
    }[how]
    product = open_product(path)
    _check_real(product, real_l2a)
    assert product.source == str(path)


def test_grids_match_gdal(real_product: Product):
    """The grids from MTD_TL.xml are the files' own georeferencing, as GDAL reads it."""
    files = {
        60: real_product.band_files["B02"][60],
        20: real_product.mask_files["SCL_20m"],
        10: str(Path(real_product.root) / "GRANULE" / GRANULE / "IMG_DATA" / "R10m" / "T29UNU_20221005T115411_AOT_10m.jp2"),
    }
    for res, path in files.items():
        with rasterio.open(path) as dataset:
            grid = real_product.grids[res]
            assert dataset.transform == grid.transform
            assert dataset.crs == rasterio.crs.CRS.from_user_input(grid.crs)
            assert (dataset.width, dataset.height) == (grid.width, grid.height)


def test_product_grid(real_product: Product):
    for res in (10, 20, 60):
        assert product_grid(real_product, res) == real_product.grids[res]
    g30 = product_grid(real_product, 30)
    assert (g30.width, g30.height) == (2 * CROP_SIZE_60M[0], 2 * CROP_SIZE_60M[1])
    assert g30.bounds == real_product.grids[10].bounds
    assert g30.crs == real_product.crs
    # An extent in the product's CRS, and the same place in WGS 84.
    cropped = product_grid(real_product, 30, (550000, 5840000, 560000, 5850000, "EPSG:32629"))
    assert cropped.bounds == (549990.0, 5839980.0, 560010.0, 5850000.0)  # snapped outward to the 30 m pixels
    assert (cropped.width, cropped.height) == (334, 334)
    four = product_grid(real_product, 60, (550010, 5840010, 559990, 5849990))
    assert four.bounds == (549960.0, 5839980.0, 560040.0, 5850000.0)  # snapped outward to its 60 m pixels
    lonlat = product_grid(real_product, 30, (-8.3, 52.77, -8.2, 52.85, "EPSG:4326"))
    xmin, ymin, xmax, ymax = lonlat.bounds
    assert 545000 < xmin < xmax < 560000 and 5845000 < ymin < ymax < 5860000
    assert (xmin - CROP_ORIGIN[0]) % 30 == 0 and (CROP_ORIGIN[1] - ymax) % 30 == 0
    # Partly outside: clipped to the product.
    edge = product_grid(real_product, 60, (500000, 5850000, CROP_ORIGIN[0] + 120, 5850100, "EPSG:32629"))
    assert edge.bounds[0] == CROP_ORIGIN[0] and edge.width == 2
    with pytest.raises(ProductError, match="does not overlap tile 29UNU"):
        product_grid(real_product, 30, (2.3, 48.8, 2.4, 48.9, "EPSG:4326"))  # Paris
    with pytest.raises(ProductError, match="resolution"):
        product_grid(real_product, -30)
    with pytest.raises(ProductError, match="empty"):
        product_grid(real_product, 30, (560000, 5840000, 550000, 5850000, "EPSG:32629"))


# --------------------------------------------------------------------------- layouts


def test_mini_safe_and_listing_fallback(real_l2a: Path, tmp_path: Path):
    mini = make_mini_safe(real_l2a, tmp_path, bands=("B02", "B12"), extra=[
        f"GRANULE/{GRANULE}/IMG_DATA/R60m/T29UNU_20221005T115411_SCL_60m.jp2",
        f"GRANULE/{GRANULE}/QI_DATA/MSK_CLASSI_B00.jp2",
    ])
    product = open_product(mini)
    assert product.bands == ["B02", "B12"]
    assert set(product.mask_files) == {"SCL_60m", "MSK_CLASSI_B00"}
    # Without IMAGE_FILE entries the files are found by listing the folders.
    mtd = mini / "MTD_MSIL2A.xml"
    mtd.write_text(re.sub(r"<IMAGE_FILE>.*?</IMAGE_FILE>", "", mtd.read_text(encoding="utf-8")), encoding="utf-8")
    listed = open_product(mini)
    assert listed.band_files == product.band_files
    assert listed.mask_files == product.mask_files
    assert listed.missing_files == ()


def test_legacy_long_name_layout(test_data: Path, real_l2a: Path, tmp_path: Path):
    safe = make_legacy_safe(test_data, real_l2a, tmp_path)
    product = open_product(safe)
    assert product.layout == "legacy"
    assert product.level == "L1C"
    assert product.product_id == LEGACY_PRODUCT
    assert product.tile_id == "29UNU"
    assert product.bands == ["B01", "B09"]
    assert product.band_files["B01"][60].endswith("_T29UNU_B01.jp2")
    assert Path(product.tile_metadata_file).name.startswith("S2A_OPER_MTD_L1C_TL_")
    assert product.offsets["B01"] == 0.0  # baseline 02.04
    assert product.grids[60].transform == open_product(real_l2a).grids[60].transform
    # Its MTD xml, opened directly, gives the same product.
    mtd = next(safe.glob("S2A_OPER_MTD_SAFL1C_*.xml"))
    assert open_product(mtd).band_files == product.band_files


def test_multi_tile_products_are_refused(test_data: Path, real_l2a: Path, tmp_path: Path):
    safe = make_legacy_safe(test_data, real_l2a, tmp_path, tiles=("29UNU", "29UNV"))
    with pytest.raises(ProductError) as info:
        open_product(safe)
    message = str(info.value)
    assert "2 tiles" in message and "single-tile" in message and "Copernicus Data Space" in message
    assert str(safe) in message


# --------------------------------------------------------------------------- bad input


def _error(path) -> str:
    with pytest.raises(ProductError) as info:
        open_product(path)
    return str(info.value)


def test_folder_with_junk(tmp_path: Path):
    folder = tmp_path / "holiday photos"
    folder.mkdir()
    (folder / "beach.jpg").write_bytes(b"\xff\xd8\xff junk")
    message = _error(folder)
    assert str(folder) in message and "not a Sentinel-2 product" in message and "MTD_MSIL2A.xml" in message


def test_missing_path(tmp_path: Path):
    message = _error(tmp_path / "nowhere.SAFE")
    assert "does not exist" in message and "nowhere.SAFE" in message


def test_zip_that_is_not_a_product(tmp_path: Path):
    target = tmp_path / "notes.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("readme.txt", "hello")
    message = _error(target)
    assert str(target) in message and "not a Sentinel-2 product" in message


def test_truncated_zip(real_l2a: Path, tmp_path: Path):
    whole = zip_folder(make_mini_safe(real_l2a, tmp_path / "mini"), tmp_path / "whole.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    message = _error(truncated)
    assert str(truncated) in message and "damaged or truncated" in message and "download" in message


def test_file_named_zip_that_is_not_one(tmp_path: Path):
    fake = tmp_path / "S2A_MSIL2A_fake.zip"
    fake.write_text("<html>Too many requests</html>")
    message = _error(fake)
    assert str(fake) in message and "not a zip archive" in message


def test_mtd_with_a_syntax_error(real_l2a: Path, tmp_path: Path):
    mini = make_mini_safe(real_l2a, tmp_path)
    mtd = mini / "MTD_MSIL2A.xml"
    mtd.write_text(mtd.read_text(encoding="utf-8").replace("</Product_Info>", "</Product_Inf>", 1), encoding="utf-8")
    for path in (mini, mtd):
        message = _error(path)
        assert str(mtd) in message and "not valid XML" in message and "download it again" in message


def test_missing_mtd(real_l2a: Path, tmp_path: Path):
    mini = make_mini_safe(real_l2a, tmp_path)
    (mini / "MTD_MSIL2A.xml").unlink()
    message = _error(mini)
    assert "metadata file" in message and "missing" in message and str(mini) in message


def test_sentinel1_product(tmp_path: Path):
    safe = tmp_path / "S1A_IW_GRDH_1SDV_20221005T064237_20221005T064302_045310_056A9E_1C87.SAFE"
    (safe / "measurement").mkdir(parents=True)
    (safe / "manifest.safe").write_text('<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1"/>')
    assert "Sentinel-1" in _error(safe)
    assert "Sentinel-1" in _error(safe / "manifest.safe")


def test_landsat_metadata(tmp_path: Path):
    mtl = tmp_path / "LC08_L1TP_206023_20221005_20221013_02_T1_MTL.xml"
    mtl.write_text("<LANDSAT_METADATA_FILE><PRODUCT_CONTENTS><ORIGIN>USGS</ORIGIN></PRODUCT_CONTENTS></LANDSAT_METADATA_FILE>")
    message = _error(mtl)
    assert "Landsat" in message and str(mtl) in message
    band = tmp_path / "LC08_L1TP_206023_20221005_20221013_02_T1_B4.TIF"
    band.write_bytes(b"II*\x00")
    assert "Landsat" in _error(band)


def test_other_levels(real_l2a: Path, tmp_path: Path):
    l1b = tmp_path / "l1b"
    l1b.mkdir()
    text = (real_l2a / "MTD_MSIL2A.xml").read_text(encoding="utf-8").replace("Level-2A_User_Product", "Level-1B_User_Product")
    (l1b / "MTD_MSIL1B.xml").write_text(text, encoding="utf-8")
    assert "Level-1B" in _error(l1b)
    assert "Level-1B" in _error(l1b / "MTD_MSIL1B.xml")
    l3 = tmp_path / "S2_L3_composite.xml"
    l3.write_text("<Level-3_User_Product/>")
    assert "Level-3" in _error(l3)


def test_two_products_in_one_folder(real_l2a: Path, tmp_path: Path):
    mini = make_mini_safe(real_l2a, tmp_path)
    shutil.copyfile(mini / "MTD_MSIL2A.xml", mini / "MTD_MSIL1C.xml")
    assert "several product metadata files" in _error(mini)


def test_opening_writes_nothing(real_l2a: Path, tmp_path: Path):
    mini = make_mini_safe(real_l2a, tmp_path)
    before = sorted((p, p.stat().st_mtime_ns) for p in mini.rglob("*"))
    product = open_product(mini)
    product_grid(product, 30)
    assert sorted((p, p.stat().st_mtime_ns) for p in mini.rglob("*")) == before


def test_grid_type(real_product: Product):
    assert isinstance(real_product.grids[60], Grid)


# --------------------------------------------------------------------------- extents, archives and pipes


WGS84_WKT = 'GEOGCRS["WGS 84",DATUM["World Geodetic System 1984",ELLIPSOID["WGS 84",6378137,298.257223563]],' \
    'CS[ellipsoidal,2],AXIS["geodetic latitude (Lat)",north],AXIS["geodetic longitude (Lon)",east],' \
    'UNIT["degree",0.0174532925199433],ID["EPSG",4326]]'


@pytest.mark.parametrize("crs", ["EPSG:4326", WGS84_WKT])
def test_a_world_extent_in_degrees_gives_the_whole_tile(real_product: Product, crs: str):
    """(-180, -90, 180, 90) used to give a mask one pixel wide: it is clamped to the tile's footprint first."""
    assert product_grid(real_product, 60, (-180, -90, 180, 90, crs)) == real_product.grids[60]
    assert product_grid(real_product, 10, (-180, -90, 180, 90, crs)) == real_product.grids[10]


def test_an_extent_half_over_the_tile_is_clamped_to_it(real_product: Product):
    grid = product_grid(real_product, 60, (-20, 52.75, -8.2, 80, "EPSG:4326"))
    xmin, ymin, xmax, ymax = grid.bounds
    tile = real_product.grids[60].bounds
    assert xmin == tile[0] and ymax == tile[3] and xmax < tile[2] and ymin > tile[1]


def test_an_extent_without_area_is_refused_in_a_short_message(real_product: Product):
    with pytest.raises(ProductError) as caught:
        product_grid(real_product, 60, (-8.5, 52.6, -8.5, 52.7, WGS84_WKT))
    message = str(caught.value)
    assert "(-8.5, 52.6, -8.5, 52.7) (in EPSG:4326) is empty" in message
    assert "GEOGCRS" not in message and len(message) < 250


def test_an_extent_with_a_corner_that_is_no_number_is_refused(real_product: Product):
    with pytest.raises(ProductError, match="not a finite number"):
        product_grid(real_product, 60, (float("nan"), 52.6, -8.5, 52.7, "EPSG:4326"))


def test_an_empty_zip_is_called_empty(tmp_path: Path):
    empty = tmp_path / "S2A_MSIL2A_empty.zip"
    zipfile.ZipFile(empty, "w").close()
    message = _error(empty)
    assert str(empty) in message and "is empty" in message and "damaged" not in message


def test_a_zip_with_absolute_member_paths_is_named_as_such(tmp_path: Path):
    archive = tmp_path / "S2A_MSIL2A_absolute.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("/etc/S2A.SAFE/MTD_MSIL2A.xml", "<x/>")
        handle.writestr("../../escape.txt", "x")
    message = _error(archive)
    assert "absolute paths or '..'" in message and "damaged" not in message


@pytest.mark.timeout(60)
@pytest.mark.parametrize("which", ["MTD_MSIL2A.xml", "MTD_TL.xml", "band", "zip"])
def test_a_named_pipe_in_place_of_a_file_is_refused_without_blocking(real_l2a: Path, tmp_path: Path, which: str):
    """Opening a FIFO waits for a writer forever; the reader must see what it is first."""
    import os

    safe = make_mini_safe(real_l2a, tmp_path, bands=("B02", "B12"))
    if which == "zip":
        target = tmp_path / "S2A_MSIL2A_pipe.zip"
    elif which == "band":
        target = band_path(safe, "B12")
    elif which == "MTD_TL.xml":
        target = granule_dir(safe) / "MTD_TL.xml"
    else:
        target = safe / which
    if target.exists():
        target.unlink()
    os.mkfifo(target)
    message = _error(target if which == "zip" else safe)
    assert "named pipe (FIFO)" in message and target.name in message
