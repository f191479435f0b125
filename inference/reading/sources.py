"""Band sources: anything that delivers reflectance, band by band, on the model's grid, window by window.

The engine only knows this protocol, so a product (through the reader), any
GDAL raster with a band mapping, and a numpy array in memory all go through
the same tiling, blending and writing code.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..defaults import DEFAULT_OFFSET, DEFAULT_SCALE
from ..errors import BandError, ParameterError, ProductError
from ..grid import Grid
from .product import check_regular_file
from .reader import BandBlock, ProductReader, read_mask_layer


class BandSource(Protocol):
    grid: Grid  # the grid the source delivers: the model's grid
    band_names: list[str]  # model band names, in the order of BandBlock.data

    def read(self, window: Window) -> BandBlock:
        """The bands on `window` of `grid`, in arrays the caller owns (the engine normalises them in place)."""
        ...


def _check_window(grid: Grid, window: Window) -> tuple[int, int, int, int]:
    row0, col0 = int(window.row_off), int(window.col_off)
    rows, cols = int(window.height), int(window.width)
    if row0 < 0 or col0 < 0 or row0 + rows > grid.height or col0 + cols > grid.width:
        raise ValueError(f"window {window} lies outside the {grid.width}x{grid.height} grid")
    return row0, col0, rows, cols


class ArraySource:
    """Reflectance already in memory, (bands, rows, cols), on a given grid."""

    def __init__(self, data: np.ndarray, band_names: list[str], grid: Grid, valid: np.ndarray | None = None):
        if data.ndim != 3 or data.shape[0] != len(band_names):
            raise BandError(
                f"The band stack has shape {data.shape}; expected ({len(band_names)}, rows, cols) for the bands "
                f"{', '.join(band_names)}."
            )
        if data.shape[1:] != grid.shape:
            raise BandError(f"The band stack is {data.shape[2]}x{data.shape[1]} pixels but its grid is "
                            f"{grid.width}x{grid.height}.")
        self.data = data
        self.band_names = list(band_names)
        self.grid = grid
        self.valid = np.all(np.isfinite(data), axis=0) if valid is None else valid.astype(bool)

    def read(self, window: Window) -> BandBlock:
        row0, col0, rows, cols = _check_window(self.grid, window)
        sl = (slice(row0, row0 + rows), slice(col0, col0 + cols))
        data = self.data[(slice(None), *sl)].astype(np.float32)  # a copy: the caller's to change
        return BandBlock(data, self.valid[sl].copy(), np.zeros((rows, cols), dtype=bool))


def is_metric(crs: CRS | None) -> bool:
    """True for a projected CRS measured in metres, where a model's resolution in metres means something."""
    if crs is None or not crs.is_projected:
        return False
    units = (crs.linear_units or "").lower()
    return units in ("metre", "meter", "m", "metres", "meters")


def raster_grid(dataset: Any) -> Grid:
    crs = dataset.crs.to_wkt() if dataset.crs else ""
    return Grid(crs, dataset.transform, dataset.width, dataset.height)


# reflectance = DN * scale + offset: a scale in (0, 1] covers DN of any bit depth down to data already in
# reflectance (scale 1); an offset beyond one whole reflectance unit is no offset but a mistake.
SCALE_RANGE = (0.0, 1.0)
OFFSET_LIMIT = 1.0


def check_scaling(scale: float, offset: float, path: str) -> None:
    """ParameterError unless reflectance = DN * scale + offset can mean something: scale finite and positive,
    offset finite and small; 0, NaN or a negative scale would give a confident mask of nothing."""
    try:
        scale, offset = float(scale), float(offset)
    except (TypeError, ValueError):
        raise ParameterError(f"SCALE and OFFSET for {path} must be numbers (got {scale!r}, {offset!r}).") from None
    if not (math.isfinite(scale) and SCALE_RANGE[0] < scale <= SCALE_RANGE[1]):
        raise ParameterError(
            f"SCALE {scale!r} for {path} cannot turn digital numbers into reflectance (reflectance = DN x SCALE + "
            f"OFFSET): it must be a finite number above 0 and at most 1. Sentinel-2 products use "
            f"{DEFAULT_SCALE:g}; data already in reflectance uses 1."
        )
    if not (math.isfinite(offset) and abs(offset) <= OFFSET_LIMIT):
        raise ParameterError(
            f"OFFSET {offset!r} for {path} is not a usable reflectance offset: it must be a finite number between "
            f"-{OFFSET_LIMIT:g} and {OFFSET_LIMIT:g}. Sentinel-2 from processing baseline 04.00 on uses "
            f"{DEFAULT_OFFSET:g}, older data 0."
        )


class RasterSource:
    """Bands of any GDAL raster, mapped to model band names, converted with reflectance = DN * scale + offset.

    A pixel is invalid where any mapped band is masked by GDAL (its nodata
    value, or outside the raster when resampled), not finite, or where every
    mapped band holds 0, Sentinel-2's no-data digital number. With `grid` the
    bands are resampled onto it (averaging to a coarser grid, bilinear to a
    finer one); without it the raster's own grid is used.
    """

    def __init__(self, path: str | Path, bands: dict[str, int], scale: float = 1.0, offset: float = 0.0,
                 grid: Grid | None = None):
        self.path = str(path)
        check_scaling(scale, offset, self.path)
        check_regular_file(self.path, "The raster")
        try:
            self._dataset = rasterio.open(self.path)
        except RasterioIOError as exc:
            raise ProductError(f"The raster {self.path} cannot be opened ({exc}); choose a GDAL-readable raster.") from exc
        count = self._dataset.count
        wrong = {name: number for name, number in bands.items() if not 1 <= int(number) <= count}
        if wrong:
            self._dataset.close()
            listed = ", ".join(f"{name}={number}" for name, number in wrong.items())
            raise BandError(f"The raster {self.path} has {count} bands; these band numbers do not exist: {listed}. "
                            "Band numbers start at 1.")
        self.band_names = list(bands)
        self._indexes = [int(bands[name]) for name in self.band_names]
        self.scale, self.offset = float(scale), float(offset)
        self.tags: dict[str, str] = self._dataset.tags()  # the file's own metadata, e.g. to recognise a mask
        self.native_grid = raster_grid(self._dataset)
        self.grid = grid or self.native_grid
        self._reader = self._dataset
        if grid is not None and grid != self.native_grid:
            coarser = grid.resolution > self.native_grid.resolution
            self._reader = WarpedVRT(
                self._dataset,
                crs=self._dataset.crs,
                transform=grid.transform,
                width=grid.width,
                height=grid.height,
                resampling=Resampling.average if coarser else Resampling.bilinear,
            )

    def read(self, window: Window) -> BandBlock:
        _check_window(self.grid, window)
        try:
            dn = self._reader.read(self._indexes, window=window, out_dtype="float32")
            masks = self._reader.read_masks(self._indexes, window=window)
        except RasterioIOError as exc:
            raise ProductError(f"Reading {self.path} failed ({exc}); the file may be damaged.") from exc
        valid = np.all(masks > 0, axis=0) & np.all(np.isfinite(dn), axis=0) & ~np.all(dn == 0, axis=0)
        data = dn * np.float32(self.scale) + np.float32(self.offset)
        return BandBlock(data.astype(np.float32, copy=False), valid, np.zeros(valid.shape, dtype=bool))

    def close(self) -> None:
        if self._reader is not self._dataset:
            self._reader.close()
        self._dataset.close()

    def __enter__(self) -> "RasterSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProductSource:
    """A product's bands through the reader, under model band names, plus quality-mask layers as extra bands.

    `bands` maps model band names to Sentinel-2 band ids ({"nir": "B8A", ...});
    `layers` maps extra band names to (mask key, band number) read with the
    reader's read_mask_layer, e.g. {"cirrus_flag": ("MSK_CLASSI_B00", 2)}.
    """

    def __init__(self, product: Any, bands: dict[str, str], grid: Grid,
                 layers: dict[str, tuple[str, int]] | None = None, threads: int = 0,
                 reduced_resolution: bool = True):
        self.product = product
        self.grid = grid
        self.layers = dict(layers or {})
        self._reader = ProductReader(product, list(bands.values()), grid, band_names=list(bands), threads=threads,
                                     reduced_resolution=reduced_resolution)
        self.band_names = [*bands, *self.layers]
        self.resolutions_used: dict[str, int] = dict(self._reader.resolutions_used)
        self.warnings: list[str] = list(self._reader.warnings)

    def read(self, window: Window) -> BandBlock:
        block = self._reader.read(window)
        if not self.layers:
            return block
        extra = [read_mask_layer(self.product, key, self.grid, band, "nearest", window).astype(np.float32)
                 for key, band in self.layers.values()]
        return BandBlock(np.concatenate([block.data, np.stack(extra)]), block.valid, block.saturated)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "ProductSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
