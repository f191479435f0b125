"""A raster grid (CRS, affine transform, size): the common language of reader, engine and writers."""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds


@dataclass(frozen=True)
class Grid:
    crs: str  # anything rasterio.crs.CRS.from_user_input accepts; WKT or "EPSG:32629"
    transform: Affine
    width: int
    height: int

    @property
    def resolution(self) -> float:
        return abs(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in the grid's CRS."""
        xmin, ymax = self.transform.c, self.transform.f
        return (xmin, ymax - self.height * abs(self.transform.e), xmin + self.width * self.transform.a, ymax)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def map_xy(self, col: float, row: float) -> tuple[float, float]:
        """Map coordinates of a pixel position (col 0.5, row 0.5 is the first pixel's centre).

        Spelled out rather than `transform * (col, row)`, which affine 3 deprecates
        and whose replacement `@` the affine of Debian 12 and Ubuntu 24.04 (2.4) lacks.
        """
        t = self.transform
        return t.c + t.a * col + t.b * row, t.f + t.d * col + t.e * row

    def pixel_xy(self, x: float, y: float) -> tuple[float, float]:
        """The pixel position (col, row, fractional) of map coordinates: map_xy undone."""
        inverse = ~self.transform
        return inverse.c + inverse.a * x + inverse.b * y, inverse.f + inverse.d * x + inverse.e * y

    def window_grid(self, window: Window) -> "Grid":
        """The sub-grid covered by an integer window."""
        x, y = self.map_xy(int(window.col_off), int(window.row_off))
        t = self.transform
        return Grid(self.crs, Affine(t.a, t.b, x, t.d, t.e, y), int(window.width), int(window.height))

    def window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        return window_bounds(window, self.transform)

    def resampled(self, resolution: float) -> "Grid":
        """Same origin and extent (rounded up to whole pixels) at another resolution."""
        xmin, ymin, xmax, ymax = self.bounds
        width = max(1, math.ceil(round((xmax - xmin) / resolution, 6)))
        height = max(1, math.ceil(round((ymax - ymin) / resolution, 6)))
        return Grid(self.crs, Affine(resolution, 0, xmin, 0, -resolution, ymax), width, height)

    def cropped_to(self, bounds: tuple[float, float, float, float]) -> "Grid":
        """The part of this grid inside bounds (same CRS), snapped outward to whole pixels."""
        xmin, ymin, xmax, ymax = bounds
        gxmin, gymin, gxmax, gymax = self.bounds
        xmin, ymin, xmax, ymax = max(xmin, gxmin), max(ymin, gymin), min(xmax, gxmax), min(ymax, gymax)
        if xmin >= xmax or ymin >= ymax:
            raise ValueError("the extent does not overlap the grid")
        res = self.resolution
        col0 = math.floor(round((xmin - gxmin) / res, 6))
        col1 = math.ceil(round((xmax - gxmin) / res, 6))
        row0 = math.floor(round((gymax - ymax) / res, 6))
        row1 = math.ceil(round((gymax - ymin) / res, 6))
        return self.window_grid(Window(col0, row0, col1 - col0, row1 - row0))

    def blocks(self, size: int) -> list[Window]:
        """Square windows of `size` pixels covering the grid row by row (the last ones cut at the edges)."""
        return [Window(col, row, min(size, self.width - col), min(size, self.height - row))
                for row in range(0, self.height, size) for col in range(0, self.width, size)]
