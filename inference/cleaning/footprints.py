"""The composite's output grid: the user's extent, CRS and resolution, or the union of the products' footprints.

A product's footprint is its tile's bounds, carried into the output CRS (a
tile of another UTM zone lands as a slightly rotated square, whose bounding
box is taken). The grid's corners are snapped outward to whole multiples of
the resolution, so a grid in a tile's own CRS at 10, 20 or 60 m lies exactly
on the tile's pixels (tile corners are multiples of 60 m) and no band is
resampled by a fraction of a pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from ..errors import ParameterError, ProductError
from ..grid import Grid
from ..reading.product import Product, crs_label

Bounds = tuple[float, float, float, float]
MIN_RESOLUTION, MAX_RESOLUTION = 10.0, 1000.0  # m: finer than the bands' finest, or coarser than a useful mosaic
MAX_SIDE = 250_000  # px: a mosaic of some 20 x 20 tiles at 10 m; more is an extent typed in the wrong units


def footprint(product: Product, crs: CRS) -> Bounds:
    """The product's tile bounds in `crs`."""
    bounds = product.grids[min(product.grids)].bounds
    own = CRS.from_user_input(product.crs)
    return bounds if own == crs else tuple(transform_bounds(own, crs, *bounds, densify_pts=21))  # type: ignore


def overlaps(a: Bounds, b: Bounds) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def output_crs(products: Sequence[Product], crs=None) -> CRS:
    """The CRS asked for (any form rasterio reads: 'EPSG:32632', WKT), else the first product's."""
    if crs in (None, ""):
        return CRS.from_user_input(products[0].crs)
    try:
        parsed = CRS.from_user_input(crs)
    except Exception as exc:
        raise ParameterError(f"CRS {crs!r} is not a coordinate reference system GDAL knows ({exc}); give one such "
                             "as EPSG:32632.") from None
    if not parsed.is_projected:
        raise ParameterError(f"CRS {crs_label(parsed)} is not projected; a composite's resolution is in metres, so "
                             "give a projected CRS such as the products' UTM zone (EPSG:326xx).")
    return parsed


def check_resolution(resolution: float) -> float:
    try:
        value = float(resolution)
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and MIN_RESOLUTION <= value <= MAX_RESOLUTION):
        raise ParameterError(f"RESOLUTION {resolution!r} is not usable; give a pixel size from {MIN_RESOLUTION:g} to "
                             f"{MAX_RESOLUTION:g} m (20 by default).")
    return value


def extent_bounds(extent, crs: CRS) -> Bounds:
    """(xmin, ymin, xmax, ymax[, crs]) as bounds in `crs` (an extent without its own CRS is in `crs`)."""
    values = tuple(extent)
    if len(values) not in (4, 5):
        raise ParameterError(f"EXTENT must be xmin, ymin, xmax, ymax with an optional CRS; got {len(values)} values.")
    try:
        bounds = tuple(float(v) for v in values[:4])
    except (TypeError, ValueError):
        raise ParameterError(f"EXTENT {values[:4]!r} has a corner that is not a number.") from None
    if not all(math.isfinite(v) for v in bounds) or not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
        raise ParameterError(f"EXTENT {bounds} is empty or not finite: it needs xmin < xmax and ymin < ymax.")
    if len(values) == 5 and values[4] not in (None, ""):
        own = CRS.from_user_input(values[4])
        if own != crs:
            bounds = tuple(transform_bounds(own, crs, *bounds, densify_pts=21))
    return bounds  # type: ignore[return-value]


def snapped_grid(bounds: Bounds, crs: CRS, resolution: float) -> Grid:
    """A north-up grid covering `bounds`, its corners on whole multiples of the resolution."""
    xmin = math.floor(round(bounds[0] / resolution, 6)) * resolution
    ymin = math.floor(round(bounds[1] / resolution, 6)) * resolution
    xmax = math.ceil(round(bounds[2] / resolution, 6)) * resolution
    ymax = math.ceil(round(bounds[3] / resolution, 6)) * resolution
    width, height = round((xmax - xmin) / resolution), round((ymax - ymin) / resolution)
    return Grid(crs.to_string() if crs.to_epsg() else crs.to_wkt(), Affine(resolution, 0, xmin, 0, -resolution, ymax),
                max(1, width), max(1, height))


def output_grid(products: Sequence[Product], *, extent=None, crs=None, resolution: float = 20.0) -> Grid:
    """The grid a composite of `products` is written on; ProductError when no product overlaps the extent."""
    target = output_crs(products, crs)
    resolution = check_resolution(resolution)
    prints = [footprint(product, target) for product in products]
    if extent is None:
        bounds: Bounds = (min(p[0] for p in prints), min(p[1] for p in prints),
                          max(p[2] for p in prints), max(p[3] for p in prints))
    else:
        bounds = extent_bounds(extent, target)
        if not any(overlaps(bounds, p) for p in prints):
            raise ProductError(
                f"The extent ({', '.join(f'{v:.0f}' for v in bounds)}) in {crs_label(target)} overlaps none of the "
                f"{len(products)} product(s) (tiles {', '.join(sorted({p.tile_id for p in products}))}); choose an "
                "extent over the products, or leave it empty for all of them."
            )
    grid = snapped_grid(bounds, target, resolution)
    if max(grid.width, grid.height) > MAX_SIDE:
        raise ParameterError(
            f"The output grid would be {grid.width} x {grid.height} pixels at {resolution:g} m in {crs_label(target)}; "
            f"more than {MAX_SIDE} a side is an extent or a CRS in other units than meant. Check EXTENT and CRS."
        )
    return grid
