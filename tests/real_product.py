"""Windows, geometry and band files of the real T29UNU product (its crop in tests/data), shared by both test rooms."""

from __future__ import annotations

from pathlib import Path

from osgeo import gdal
from s2cloudmask.tools.make_test_data import COL0, COLS, ROW0, ROWS

TILE_ORIGIN = (499980.0, 5900040.0)  # the upper-left corner of tile 29UNU
CROP_ORIGIN = (TILE_ORIGIN[0] + COL0 * 60, TILE_ORIGIN[1] - ROW0 * 60)  # the crop's, in the tile's 60 m pixels
CROP_SIZE_60M = (COLS, ROWS)  # columns, rows

# A 7.68 km window (128 x 128 px at 60 m) with clear land, cloud, cirrus and shadow; both windows lie in the crop.
WINDOW = (534540.0, 5838600.0, 542220.0, 5846280.0)
WINDOW_EXTENT = f"{WINDOW[0]},{WINDOW[2]},{WINDOW[1]},{WINDOW[3]} [EPSG:32629]"
# 15 km x 15 km with data everywhere, cloud, shadow and clear land.
LARGE_WINDOW = (537480.0, 5855040.0, 552480.0, 5870040.0)
STACK_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")


def granule_band(product: Path, band: str) -> Path:
    return next((product / "GRANULE").glob(f"*/IMG_DATA/R60m/*_{band}_60m.jp2"))


def scl_file(product: Path) -> Path:
    return next((product / "GRANULE").glob("*/IMG_DATA/R20m/*_SCL_20m.jp2"))


def write_band_stack(product: Path, bands: tuple[str, ...], target: Path, window=WINDOW) -> Path:
    """A band stack of a window, as a user would export one from the product's 60 m JP2s (GeoTIFF or VRT by suffix)."""
    options = gdal.BuildVRTOptions(separate=True, outputBounds=window)
    sources = [str(granule_band(product, band)) for band in bands]
    if target.suffix.lower() == ".vrt":
        dataset = gdal.BuildVRT(str(target), sources, options=options)
    else:
        vrt = gdal.BuildVRT(str(target.with_suffix(".vrt")), sources, options=options)
        dataset = gdal.Translate(str(target), vrt, format="GTiff")
        vrt = None
    dataset = None  # noqa: F841 (closing the dataset writes it)
    return target
