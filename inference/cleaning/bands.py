"""A product's bands on the blocks of any output grid, through the reading layer.

Reflectance comes from the reader (`ProductReader`, the one place where digital
numbers become reflectance, offsets of baseline 04.00 included); digital
numbers come from the same reader before that step. Where the output grid is in
the product's CRS the reader resamples onto it directly; where it is not (a
product of another UTM zone in a composite) the reader fills the block's
footprint on the product's own grid at the output's resolution, and that is
warped onto the block: bilinear for the values, a pixel valid only where every
value it draws on is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from ..grid import Grid
from ..reading.product import Product, product_grid
from ..reading.reader import BandBlock, ProductReader

MARGIN = 2  # product-grid pixels around a reprojected block: bilinear taps at its edges


class ProductBands:
    """`bands` of `product` on windows of `grid` (any CRS); a context manager holding the band files open."""

    def __init__(self, product: Product, bands: Sequence[str], grid: Grid, *, threads: int = 0):
        self.product = product
        self.bands = list(bands)
        self.grid = grid
        self.same_crs = CRS.from_user_input(grid.crs) == CRS.from_user_input(product.crs)
        # ProductError when the product misses the grid: callers skip it or say so
        self.native = grid if self.same_crs else product_grid(product, grid.resolution, (*grid.bounds, grid.crs))
        # full-resolution decoding: a 20 m pixel of a 10 m band is the mean of its four pixels, not a JPEG 2000
        # reduced level, whose wavelet filter differs from that mean by up to a few thousandths of reflectance
        self.reader = ProductReader(product, self.bands, self.native, reduced_resolution=False, threads=threads)
        self.warnings = list(self.reader.warnings)

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> "ProductBands":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, window: Window, *, reflectance: bool = True) -> BandBlock:
        """The bands on `window` of the grid: reflectance, or the product's digital numbers (resampled)."""
        if self.same_crs:
            return self.reader.read(window, reflectance=reflectance)
        block = self.grid.window_grid(window)
        source_window = self._native_window(block)
        read = self.reader.read(source_window, reflectance=reflectance)
        source = self.native.window_grid(source_window)
        data = np.where(read.valid, read.data, np.float32(np.nan)).astype(np.float32)
        out = np.full((len(self.bands), *block.shape), np.nan, np.float32)
        reproject(data, out, src_transform=source.transform, src_crs=CRS.from_user_input(source.crs),
                  src_nodata=np.nan, dst_transform=block.transform, dst_crs=CRS.from_user_input(block.crs),
                  dst_nodata=np.nan, resampling=Resampling.bilinear)
        valid = np.all(np.isfinite(out), axis=0)
        saturated = np.zeros(block.shape, np.uint8)
        reproject(read.saturated.astype(np.uint8), saturated, src_transform=source.transform,
                  src_crs=CRS.from_user_input(source.crs), dst_transform=block.transform,
                  dst_crs=CRS.from_user_input(block.crs), resampling=Resampling.max)
        out[:, ~valid] = 0.0
        return BandBlock(out, valid, saturated.astype(bool) & valid)

    def _native_window(self, block: Grid) -> Window:
        """The window of the product-CRS grid covering a block of the output grid, with a margin."""
        bounds = transform_bounds(CRS.from_user_input(block.crs), CRS.from_user_input(self.native.crs),
                                  *block.bounds, densify_pts=21)
        window = from_bounds(*bounds, transform=self.native.transform)
        col0 = math.floor(round(window.col_off, 6)) - MARGIN
        row0 = math.floor(round(window.row_off, 6)) - MARGIN
        col1 = math.ceil(round(window.col_off + window.width, 6)) + MARGIN
        row1 = math.ceil(round(window.row_off + window.height, 6)) + MARGIN
        return Window(col0, row0, col1 - col0, row1 - row0)
