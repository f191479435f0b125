"""Views of a product shown beside its mask for context: a true-colour image and the SCL.

Both are small VRT files cut to the mask's extent and written beside the mask,
never inside the product: they reference the product's own JP2 files, so they
cost no disk space and the product stays untouched. Styling them is the QGIS
side's work (ui/context_layers.py); building them is the engine's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from osgeo import gdal

from ..errors import OutputError
from ..outputs import atomic_output
from ..defaults import TRUE_COLOUR_BANDS, TRUE_COLOUR_REFLECTANCE
from .paths import is_product_path
from .product import Product, as_product, scl_file



@dataclass(frozen=True)
class ContextView:
    """A true-colour VRT and the digital numbers its contrast stretch runs between."""

    path: str
    minimum: float
    maximum: float
    description: str  # what it was built from, for the layer's tooltip


def _mask_frame(mask_path: str) -> tuple[tuple[float, float, float, float], str]:
    """The mask's bounds (xmin, ymin, xmax, ymax) and CRS as WKT."""
    mask = gdal.OpenEx(mask_path, gdal.OF_RASTER)
    if mask is None:
        raise OutputError(f"Could not read the mask {mask_path}: {gdal.GetLastErrorMsg() or 'GDAL gave no reason'}.")
    try:
        xmin, xres, _, ymax, _, yres = mask.GetGeoTransform()
        return (xmin, ymax + yres * mask.RasterYSize, xmin + xres * mask.RasterXSize, ymax), mask.GetProjection()
    finally:
        mask = None


def _write_vrt(target: str, build: Callable[[str], Any]) -> str:
    """Build a VRT under a temporary name and move it into place; GDAL's own error becomes an OutputError."""
    with atomic_output(target) as temporary:
        gdal.ErrorReset()
        dataset = build(str(temporary))
        if dataset is None:
            raise OutputError(f"Could not write {target}: {gdal.GetLastErrorMsg() or 'GDAL gave no reason'}.")
        try:
            dataset.FlushCache()
        finally:
            dataset = None
    return target


def build_true_colour_view(product: str | Product, mask_path: str, target: str) -> ContextView | None:
    """B04/B03/B02 at the finest resolution they share, cut to the mask; None where the product lacks them."""
    product = as_product(product)
    bounds, crs = _mask_frame(mask_path)
    files = [product.band_files.get(band, {}) for band in TRUE_COLOUR_BANDS]
    shared = set.intersection(*(set(resolutions) for resolutions in files))
    if not shared:
        return None
    resolution = min(shared)
    sources = [resolutions[resolution] for resolutions in files]
    offset = product.offsets.get("B04", 0.0)
    low, high = (reflectance * product.quantification - offset for reflectance in TRUE_COLOUR_REFLECTANCE)
    options = gdal.BuildVRTOptions(separate=True, outputBounds=bounds, srcNodata=0, VRTNodata=0, outputSRS=crs)
    def build(path: str) -> Any:
        dataset = gdal.BuildVRT(path, sources, options=options)
        for number, (band, colour) in enumerate(zip(TRUE_COLOUR_BANDS, ("red", "green", "blue")), start=1):
            if dataset is not None:  # the legend then reads "Band 1: B04 (red)", not a bare band number
                dataset.GetRasterBand(number).SetDescription(f"{band} ({colour})")
        return dataset

    _write_vrt(target, build)
    return ContextView(target, low, high, f"B04, B03, B02 at {resolution} m")


def scl_raster(scl_source: str | Product) -> str:
    """The SCL raster itself: the given file, or the finest SCL inside an L2A product (opened or by path)."""
    if isinstance(scl_source, (str, os.PathLike)) and not is_product_path(scl_source):
        return scl_source
    return scl_file(as_product(scl_source))


def build_scl_view(scl_source: str | Product, mask_path: str, target: str) -> str:
    """The SCL cut to the mask's extent, in the mask's CRS, classes kept intact (nearest neighbour)."""
    source = scl_raster(scl_source)
    bounds, crs = _mask_frame(mask_path)
    options = gdal.WarpOptions(format="VRT", outputBounds=bounds, dstSRS=crs, resampleAlg="near")
    return _write_vrt(target, lambda path: gdal.Warp(path, source, options=options))
