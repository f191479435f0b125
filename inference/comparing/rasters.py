"""Reading both sides of a comparison on the mask's grid, and writing the difference raster.

The reference is resampled onto the mask grid with nearest neighbour
(reprojected when the CRS differs); reading streams in row blocks, so a full
10980 x 10980 tile needs no more memory than one block.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from osgeo import gdal
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from ..classes import NODATA
from ..errors import OutputError, ProductError
from ..grid import Grid
from ..cog import copy_as_cog, remove_with_sidecars
from ..outputs import gdal_write_errors, partial_path
from ..reading.product import Product, as_product, check_regular_file, no_scl_error, scl_file
from .difference import DIFFERENCE_CODES, DIFFERENCE_COLOURS

BLOCK_PIXELS = 1 << 22
EARTH_AUTHALIC_RADIUS_M = 6371007.2


def open_raster(path: str | Path, role: str, stack: contextlib.ExitStack) -> rasterio.DatasetReader:
    check_regular_file(str(path), f"The {role}")
    try:
        dataset = stack.enter_context(rasterio.open(str(path)))
    except (RasterioError, RasterioIOError) as exc:
        raise ProductError(f"Cannot open the {role} {path}: {exc}. Check that the file exists and is a raster.") from exc
    if dataset.count != 1:
        raise ProductError(f"The {role} {path} has {dataset.count} bands; a {role} has one. Choose a single-band file.")
    if not np.issubdtype(np.dtype(dataset.dtypes[0]), np.integer):
        raise ProductError(f"The {role} {path} holds {dataset.dtypes[0]} values; a {role} holds integer class codes.")
    if dataset.crs is None:
        raise ProductError(f"The {role} {path} has no coordinate reference system; assign one so it can be placed.")
    return dataset


def mask_grid(dataset: rasterio.DatasetReader) -> Grid:
    return Grid(dataset.crs.to_wkt(), dataset.transform, dataset.width, dataset.height)


def check_overlap(grid: Grid, bounds: tuple[float, float, float, float], crs: Any, mask: Path, reference: Path) -> None:
    xmin, ymin, xmax, ymax = transform_bounds(crs, CRS.from_user_input(grid.crs), *bounds, densify_pts=21)
    gxmin, gymin, gxmax, gymax = grid.bounds
    if min(xmax, gxmax) <= max(xmin, gxmin) or min(ymax, gymax) <= max(ymin, gymin):
        raise ProductError(
            f"The mask {mask} and {reference} do not overlap; choose the reference that covers the mask's tile."
        )


ReadBlock = Callable[[Window], np.ndarray]


def raster_on_grid(dataset: rasterio.DatasetReader, grid: Grid, stack: contextlib.ExitStack) -> ReadBlock:
    """The reference resampled (nearest neighbour) onto the mask grid; outside its extent reads 0, no data."""
    same_crs = dataset.crs == CRS.from_user_input(grid.crs)
    if same_crs and dataset.transform.is_rectilinear and grid.transform.is_rectilinear:
        return _pick_on_grid(dataset, grid)
    vrt = stack.enter_context(
        WarpedVRT(
            dataset,
            crs=CRS.from_user_input(grid.crs),
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.nearest,
            nodata=0,
        )
    )
    return lambda window: vrt.read(1, window=window)


def _source_indices(centres: np.ndarray, origin: float, step: float, size: int) -> np.ndarray:
    """Index of the source pixel holding each centre; -1 outside the source."""
    index = np.floor(np.round((centres - origin) / step, 9)).astype(np.int64)
    index[(index < 0) | (index >= size)] = -1
    return index


def _pick_on_grid(dataset: rasterio.DatasetReader, grid: Grid) -> ReadBlock:
    """Nearest neighbour without warping when both share a CRS: the source pixel under each target centre.

    Several times faster than a warped VRT on a full tile, and the same pixels.
    """
    source, target = dataset.transform, grid.transform
    columns = _source_indices(target.c + (np.arange(grid.width) + 0.5) * target.a, source.c, source.a, dataset.width)
    rows = _source_indices(target.f + (np.arange(grid.height) + 0.5) * target.e, source.f, source.e, dataset.height)
    inside_columns = columns >= 0

    def read(window: Window) -> np.ndarray:
        row0, height = int(window.row_off), int(window.height)
        block_rows = rows[row0 : row0 + height]
        inside_rows = block_rows >= 0
        out = np.zeros((height, grid.width), dtype=dataset.dtypes[0])
        if not inside_rows.any() or not inside_columns.any():
            return out
        wanted_rows, wanted_columns = block_rows[inside_rows], columns[inside_columns]
        r0, c0 = int(wanted_rows.min()), int(wanted_columns.min())
        source_window = Window(c0, r0, int(wanted_columns.max()) - c0 + 1, int(wanted_rows.max()) - r0 + 1)
        data = dataset.read(1, window=source_window)
        out[np.ix_(inside_rows, inside_columns)] = data[np.ix_(wanted_rows - r0, wanted_columns - c0)]
        return out

    return read


def product_scl_on_grid(
    path: Path, grid: Grid, mask: Path, info: dict[str, Any], stack: contextlib.ExitStack,
    opened: Product | None = None,
) -> tuple[ReadBlock, int]:
    """The product's SCL (20 m, 60 m where that is all) on the mask grid, read once through one open dataset.

    opened: the same product, already opened by the caller, so it is not parsed again.
    """
    if opened is None and "MSIL1C" in path.name.upper():
        raise no_scl_error(path, "L1C")  # before opening: an L1C needs no parsing to be refused
    product = as_product(opened if opened is not None else path)
    scl = scl_file(product)
    dataset = open_raster(scl, "SCL", stack)
    check_overlap(grid, tuple(dataset.bounds), dataset.crs, mask, path)
    info.update({"product_id": product.product_id, "tile_id": product.tile_id,
                 "sensing_time": product.sensing_time.isoformat(), "scl_file": str(scl),
                 "resolution": dataset.res[0]})
    return raster_on_grid(dataset, grid, stack), product.sensing_time.year


_SENSING_YEAR = re.compile(r"(?:^|_)(20\d{2})\d{4}T\d{6}(?:_|$)")


def sensing_year(*texts: str) -> int | None:
    """The acquisition year from Sentinel-2 names (T29UNU_20221005T115411_SCL_20m, S2A_MSIL2A_20221005T...)."""
    for text in texts:
        for word in re.split(r"[\\/.\s]", text):
            match = _SENSING_YEAR.search(word)
            if match:
                return int(match.group(1))
    return None


def blocks(grid: Grid) -> Iterator[Window]:
    rows = max(1, BLOCK_PIXELS // max(1, grid.width))
    for row in range(0, grid.height, rows):
        yield Window(0, row, grid.width, min(rows, grid.height - row))


def row_areas_m2(grid: Grid, row0: int, rows: int) -> np.ndarray:
    """Area of one pixel in each row: constant for a projected CRS, shrinking towards the poles for degrees."""
    crs = CRS.from_user_input(grid.crs)
    transform = grid.transform
    if crs.is_geographic:
        edges = np.radians(transform.f + transform.e * np.arange(row0, row0 + rows + 1))
        band = np.abs(np.sin(edges[:-1]) - np.sin(edges[1:]))
        return EARTH_AUTHALIC_RADIUS_M**2 * math.radians(abs(transform.a)) * band
    unit = crs.linear_units_factor[1] if crs.is_projected else 1.0
    return np.full(rows, abs(transform.a * transform.e - transform.b * transform.d) * unit**2)


def read_block(read: ReadBlock, window: Window, path: Path, role: str) -> np.ndarray:
    try:
        return read(window)
    except (RasterioError, RasterioIOError) as exc:
        raise ProductError(f"Could not read the {role} {path}: {exc}. The file may be damaged; obtain it again.") from exc


def check_codes(block: np.ndarray, highest: int, path: Path, role: str, expected: str) -> None:
    outside = block[(block < 0) | (block > highest)]
    if outside.size:
        raise ProductError(
            f"The {role} {path} holds the value {int(outside[0])}, outside the codes {expected}; "
            f"choose a {role} with those codes."
        )



def difference_profile(grid: Grid) -> dict[str, Any]:
    return {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 1,
        "crs": CRS.from_user_input(grid.crs),
        "transform": grid.transform,
        "width": grid.width,
        "height": grid.height,
        "nodata": 0,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "BIGTIFF": "IF_SAFER",
    }


class DifferenceWriter:
    """The difference raster, written block by block as the comparison streams, like the mask's MaskWriter.

    Used as a context manager inside `atomic_output`: blocks go into a staging
    GeoTIFF beside it; leaving the block normally finishes that file (the
    description, tags and category names given to `describe`) and copies it to
    `path` as a Cloud-Optimised GeoTIFF (cog.py); leaving it with an exception
    drops it. GDAL reports a full disk only to its error handler, so every
    write, flush and close runs under `gdal_write_errors`.
    """

    def __init__(self, path: Path, target: Path, grid: Grid) -> None:
        self.path, self.target, self.grid = path, target, grid  # target: the name the user gave, for messages
        self.staged = partial_path(target)
        with self.checked():
            self.dataset = rasterio.open(self.staged, "w", **difference_profile(grid))
        try:
            with self.checked():  # the colour table is a TIFF tag: set before the first block is written
                colours = {code: DIFFERENCE_COLOURS[code] for code in (NODATA, *DIFFERENCE_CODES)}
                self.dataset.write_colormap(1, colours)
        except BaseException:
            self._drop()
            raise
        self.description, self.tags, self.names = "", {}, {}

    def checked(self) -> contextlib.AbstractContextManager:
        return gdal_write_errors(self.target, self.target.parent)

    def write(self, codes: np.ndarray, window: Window) -> None:
        with self.checked():
            self.dataset.write(codes, 1, window=window)

    def describe(self, description: str, tags: dict[str, str], names: dict[int, str]) -> None:
        """What the finished file says of itself: its band description, metadata tags and category names."""
        self.description, self.tags, self.names = description, tags, names

    def __enter__(self) -> "DifferenceWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is not None:
            self._drop()
            return
        try:
            with self.checked():
                self.dataset.set_band_description(1, self.description)
                self.dataset.update_tags(**self.tags)
            with self.checked():
                self.dataset.close()
            with self.checked():
                set_category_names(self.staged, self.names)
            copy_as_cog(self.staged, self.path, "NEAREST")
        finally:
            self._drop()

    def _drop(self) -> None:
        with contextlib.suppress(Exception):
            self.dataset.close()  # the staged file is removed; its closing errors do not matter
        remove_with_sidecars(self.staged)


def set_category_names(path: Path, names: dict[int, str]) -> None:
    dataset = gdal.Open(str(path), gdal.GA_Update)
    if dataset is None:
        raise OutputError(f"Could not reopen {path} to name its categories: {gdal.GetLastErrorMsg()}")
    try:
        band = dataset.GetRasterBand(1)
        if band.SetCategoryNames([names.get(code, "") for code in range(max(names) + 1)]) != gdal.CE_None:
            raise OutputError(f"Could not name the categories of {path}: {gdal.GetLastErrorMsg()}")
    finally:
        band = dataset = None  # closed (and the names written) even when GDAL raised

