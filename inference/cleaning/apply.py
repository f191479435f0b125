"""apply_mask: a product's bands (or a band raster's) with the pixels a mask removes set to no data.

The everyday use of a cloud mask: one GeoTIFF of clean bands, ready for a
classifier or an index. Bands are read through the reading layer, so the
reflectance is the engine's own (offsets of baseline 04.00 included); the
"dn" choice keeps the product's digital numbers instead, with each band's
scale and offset in its metadata so GDAL and QGIS still read reflectance.

A mask must belong to the input: one of this plugin's masks carries its
product id, and a mask of another product is refused before any work. A
product given without a mask is masked first (the mask is kept only where
OUTPUT_MASK asks for it). The output is a Cloud-Optimised GeoTIFF written
block by block inside atomic_output, so a failed or cancelled run leaves
nothing that looks finished.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from ..about import software_version
from ..classes import CLASS_NAMES, CLOUD, CLOUD_SHADOW, SEMI_TRANSPARENT
from ..cog import COG_BLOCK, TiledRaster
from ..defaults import (
    CLEAN_BANDS,
    CLEAN_VALUES,
    DEFAULT_BUFFER,
    DEFAULT_CLEAN_RESOLUTION,
    DEFAULT_OFFSET,
    DEFAULT_SCALE,
    RESOLUTIONS,
)
from ..errors import BandError, ParameterError, ProductError
from ..feedback import Feedback, Notices, Share, SilentFeedback, check_cancelled
from ..grid import Grid
from ..masking.engine import mask_product
from ..masking.writer import is_cloud_mask
from ..outputs import atomic_output, check_outputs, check_raster_outputs
from ..reading.metadata import reflectance_scaling
from ..reading.paths import is_product_path, product_container
from ..reading.product import Product, as_product, crs_label, product_on_disk, product_grid
from ..reading.sources import RasterSource, check_scaling, raster_grid
from .bands import ProductBands
from .masks import MaskLayer

DEFAULT_CLASSES = (CLOUD_SHADOW, SEMI_TRANSPARENT, CLOUD)
MASKING_SHARE = 60.0  # percent of the progress bar for masking a product given without a mask
DN_NODATA = 0


@dataclass
class CleanResult:
    output: str
    bands: list[str]
    grid: Grid
    values: str  # "reflectance" or "dn"
    mask: str  # the mask applied (one made without OUTPUT_MASK is gone with the run)
    kept_percent: float  # of the pixels with data, the share the mask left
    removed_percent: float
    mask_made: bool = False
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Input:
    """What is cleaned: the grid, the bands' names, how to read a window, and what the output's tags say of it."""

    label: str
    grid: Grid
    names: list[str]
    read: Any  # (window, reflectance: bool) -> BandBlock
    scaling: list[tuple[float, float]]  # per band: reflectance = DN * scale + offset
    tags: dict[str, str]
    closer: contextlib.ExitStack


def check_values(values: str) -> str:
    if values not in CLEAN_VALUES:
        raise ParameterError(f"VALUES must be one of {', '.join(CLEAN_VALUES)} (got {values!r}).")
    return values


def _product_bands(product: Product, bands: Sequence[str] | None, notices: Notices) -> list[str]:
    if bands:
        wanted = [str(band).strip().upper() for band in bands]
        missing = [band for band in wanted if band not in product.band_files]
        if missing:
            raise BandError(f"{product.product_id} has no band {', '.join(missing)}; bands present: "
                            f"{', '.join(product.bands)}. Choose bands from that list.")
        return wanted
    chosen = [band for band in CLEAN_BANDS if band in product.band_files]
    absent = [band for band in CLEAN_BANDS if band not in product.band_files]
    if not chosen:
        raise BandError(f"{product.product_id} has none of the surface bands {', '.join(CLEAN_BANDS)}.")
    if absent:
        notices.warn(f"{product.product_id} has no {', '.join(absent)} at any resolution; the output holds "
                     f"{', '.join(chosen)}.")
    return chosen


def _open_product(product: Product, bands: Sequence[str] | None, resolution: int, extent, threads: int,
                  notices: Notices) -> _Input:
    if int(resolution) not in RESOLUTIONS:
        raise ParameterError(f"RESOLUTION {resolution} is not offered; choose 10, 20 or 60 (m).")
    chosen = _product_bands(product, bands, notices)
    grid = product_grid(product, int(resolution), extent)
    closer = contextlib.ExitStack()
    reader = closer.enter_context(ProductBands(product, chosen, grid, threads=threads))
    for message in reader.warnings:
        notices.warn(message)
    level = "surface" if product.level == "L2A" else "top-of-atmosphere"
    tags = {"PRODUCT_ID": product.product_id, "LEVEL": product.level,
            "SENSING_TIME": product.sensing_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PROCESSING_BASELINE": product.processing_baseline, "REFLECTANCE": f"{level} reflectance"}
    return _Input(product.product_id, grid, chosen, reader.read, reflectance_scaling(chosen, product), tags, closer)


def _raster_band_numbers(source: str, bands: Sequence[str] | None, count: int, descriptions: list[str]) -> list[int]:
    if not bands:
        return list(range(1, count + 1))
    numbers = []
    for band in bands:
        text = str(band).strip()
        if text.isdigit() and 1 <= int(text) <= count:
            numbers.append(int(text))
        elif text.upper() in (d.upper() for d in descriptions):
            numbers.append([d.upper() for d in descriptions].index(text.upper()) + 1)
        else:
            raise BandError(f"The raster {source} has no band {text!r}: give band numbers 1-{count} or the names of "
                            f"its bands ({', '.join(d for d in descriptions if d) or 'it names none'}).")
    return numbers


def _open_raster(source: str, bands: Sequence[str] | None, extent, scale: float, offset: float,
                 values: str) -> _Input:
    check_scaling(scale, offset, source)
    with rasterio.open(source) as dataset:
        count, descriptions, dtypes = dataset.count, [d or "" for d in dataset.descriptions], dataset.dtypes
        grid = raster_grid(dataset)
        tags = dataset.tags()
    if is_cloud_mask(tags):
        raise BandError(f"The raster {source} is a cloud mask made by this plugin, not bands; give it as MASK and "
                        "the band raster as INPUT.")
    numbers = _raster_band_numbers(source, bands, count, descriptions)
    if values == "dn" and any(not np.issubdtype(np.dtype(dtypes[n - 1]), np.integer) for n in numbers):
        raise ParameterError(f"VALUES=dn keeps digital numbers, but {source} holds {dtypes[0]} values; "
                             "choose VALUES=reflectance.")
    if extent is not None:
        grid = _crop(grid, extent, source)
    names = [descriptions[n - 1] or f"band {n}" for n in numbers]
    closer = contextlib.ExitStack()
    mapping = {f"band{n}": n for n in numbers}
    raw = closer.enter_context(RasterSource(source, mapping, 1.0, 0.0, grid))
    converted = closer.enter_context(RasterSource(source, mapping, scale, offset, grid))

    def read(window, *, reflectance: bool = True):
        return (converted if reflectance else raw).read(window)

    return _Input(Path(source).name, grid, names, read, [(float(scale), float(offset))] * len(numbers),
                  {"SOURCE_RASTER": Path(source).name, "REFLECTANCE": f"DN x {scale:g} + {offset:g}"}, closer)


def _crop(grid: Grid, extent, source: str) -> Grid:
    values = tuple(extent)
    bounds = tuple(float(v) for v in values[:4])
    if len(values) == 5 and values[4] and grid.crs:
        bounds = transform_bounds(CRS.from_user_input(values[4]), CRS.from_user_input(grid.crs), *bounds,
                                  densify_pts=21)
    try:
        return grid.cropped_to(bounds)
    except ValueError:
        raise ProductError(f"The extent does not overlap the raster {source}; choose an extent inside it, or leave "
                           "it empty for the whole raster.") from None


def check_mask_belongs(mask: MaskLayer, grid: Grid, product_id: str | None, input_label: str) -> None:
    """A mask of another product, or one that lies elsewhere, is refused before any work."""
    made_for = mask.tags.get("PRODUCT_ID")
    if product_id is not None and made_for and made_for != product_id:
        raise ProductError(
            f"The mask {mask.path} was made from {made_for}, not from {product_id} ({input_label}). Choose the "
            "mask of this product, or leave MASK empty to mask it first."
        )
    mask_crs, grid_crs = CRS.from_user_input(mask.grid.crs), CRS.from_user_input(grid.crs)
    xmin, ymin, xmax, ymax = mask.grid.bounds if mask_crs == grid_crs else transform_bounds(
        mask_crs, grid_crs, *mask.grid.bounds, densify_pts=21)
    gxmin, gymin, gxmax, gymax = grid.bounds
    if min(xmax, gxmax) <= max(xmin, gxmin) or min(ymax, gymax) <= max(ymin, gymin):
        raise ProductError(
            f"The mask {mask.path} ({crs_label(mask.grid.crs)}) does not overlap {input_label} in the area "
            "cleaned; choose the mask made from this input."
        )


def _stack(path: Path, source: _Input, values: str, tags: dict[str, str]) -> TiledRaster:
    dtype, nodata = (np.float32, np.nan) if values == "reflectance" else (np.uint16, DN_NODATA)
    raster = TiledRaster(path, source.grid, len(source.names), dtype, nodata, tile=COG_BLOCK,
                         descriptions=source.names, tags=tags)
    if values == "dn":
        with raster.checked():
            for index, (scale, offset) in enumerate(source.scaling, start=1):
                raster.band(index).SetScale(scale)
                raster.band(index).SetOffset(offset)
    return raster


def _clean_blocks(source: _Input, mask: MaskLayer, values: str, feedback: Feedback, start: float
                  ) -> Iterator[tuple[np.ndarray, int, int, int, int]]:
    """(block data, row, col, pixels with data, pixels kept) block by block."""
    windows = source.grid.blocks(COG_BLOCK)
    for number, window in enumerate(windows):
        check_cancelled(feedback)
        block = source.read(window, reflectance=values == "reflectance")
        keep = block.valid & ~mask.read(source.grid.window_grid(window)).any
        if values == "reflectance":
            data = np.where(keep, block.data, np.float32(np.nan)).astype(np.float32)
        else:
            data = np.where(keep, np.clip(np.rint(block.data), 1, 65535), DN_NODATA).astype(np.uint16)
        yield data, int(window.row_off), int(window.col_off), int(block.valid.sum()), int(keep.sum())
        feedback.progress(start + (95.0 - start) * (number + 1) / len(windows), "Cleaning the bands")


def apply_mask(
    source: str | Path | Product,
    output: str | Path,
    *,
    mask: str | Path | None = None,
    classes: Sequence[int] = DEFAULT_CLASSES,
    buffer: float = DEFAULT_BUFFER,
    bands: Sequence[str] | None = None,
    resolution: int | None = None,
    extent: tuple | None = None,
    values: str = "reflectance",
    output_mask: str | Path | None = None,
    scale: float = DEFAULT_SCALE,
    offset: float = DEFAULT_OFFSET,
    model: str = "auto",
    device: str = "auto",
    threads: int = 0,
    feedback: Feedback | None = None,
) -> CleanResult:
    """Write `source`'s bands with the pixels `mask` removes as no data, to `output` (a COG).

    source: a product (path or opened Product) or a raster of bands (then `bands` are band numbers or band
    names, reflectance = DN x scale + offset, and the raster keeps its own grid). mask: this plugin's mask of
    the source; None masks a product first (model, device, threads as maskproduct), keeping that mask at
    output_mask when given. classes: mask codes removed (2 cloud shadow, 3 semi-transparent cloud, 4 cloud);
    buffer: metres grown around them. bands: product band ids (default: the surface bands present).
    resolution: 10, 20 or 60 m for a product (default 20). extent: (xmin, ymin, xmax, ymax[, crs]).
    values: "reflectance" (float32, NaN no data) or "dn" (uint16, 0 no data, scale and offset per band).
    """
    started = time.perf_counter()
    feedback = feedback or SilentFeedback()
    notices = Notices(feedback)
    output = Path(output)
    values = check_values(values)
    product_input = isinstance(source, Product) or is_product_path(source)
    source_path = source.source if isinstance(source, Product) else str(source)
    outputs = {"OUTPUT": output, "OUTPUT_MASK": output_mask}
    check_raster_outputs(outputs, {"INPUT": product_container(source_path), "MASK": mask})
    if mask is None and not product_input:
        raise ParameterError(f"{source_path} is a raster of bands: give its MASK (make one with 'Mask clouds in a "
                             "raster of Sentinel-2 bands'); only a product is masked here first.")
    made: Path | None = None
    with contextlib.ExitStack() as stack:
        if product_input:
            product = as_product(source)
            check_outputs(outputs, {"INPUT": product_on_disk(product), "MASK": mask})
            resolution = int(resolution or DEFAULT_CLEAN_RESOLUTION)
            opened = _open_product(product, bands, resolution, extent, threads, notices)
            product_id: str | None = product.product_id
        else:
            opened = _open_raster(source_path, bands, extent, scale, offset, values)
            product_id = None
        stack.enter_context(opened.closer)
        start = 0.0
        if mask is None:
            if output_mask is not None:
                target = Path(output_mask)
            else:  # the mask is only a step: it goes with the run
                scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="s2cloudmask-mask-")))
                target = scratch / f"{product.product_id}_cloudmask.tif"
            mask_product(product, target, model=model, device=device, resolution=resolution, extent=extent,
                         threads=threads, feedback=Share(notices, 0.0, MASKING_SHARE, "Masking: "))
            made = target
            mask, start = made, MASKING_SHARE
        layer = stack.enter_context(MaskLayer(mask, classes, buffer))
        check_mask_belongs(layer, opened.grid, product_id, f"the input {source_path}")
        tags = _tags(opened, layer, values)
        feedback.progress(start, "Cleaning the bands")
        kept = with_data = 0
        with atomic_output(output) as temporary:
            raster = _stack(temporary, opened, values, tags)
            try:
                for data, row, col, valid, keep in _clean_blocks(opened, layer, values, feedback, start):
                    raster.write(data, row, col)
                    with_data, kept = with_data + valid, kept + keep
                with raster.checked():
                    raster.dataset.SetMetadataItem("KEPT_PERCENT", f"{_percent(kept, with_data):.2f}")
                raster.finish("AVERAGE")
            except BaseException:
                raster.abandon()
                raise
    if with_data == 0:
        notices.warn(f"{opened.label} has no data in the area cleaned; the output holds only no data.")
    feedback.progress(100.0, "Done")
    return CleanResult(
        output=str(output), bands=list(opened.names), grid=opened.grid, values=values,
        mask=str(mask),
        kept_percent=_percent(kept, with_data), removed_percent=_percent(with_data - kept, with_data),
        mask_made=made is not None, warnings=list(notices.messages), seconds=round(time.perf_counter() - started, 3),
    )


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _tags(source: _Input, mask: MaskLayer, values: str) -> dict[str, str]:
    removed = ", ".join(CLASS_NAMES[code].lower() for code in mask.classes)
    tags = dict(source.tags)
    tags.update({
        "MASK": Path(mask.path).name,
        "MASK_PRODUCT_ID": mask.tags.get("PRODUCT_ID", ""),
        "CLASSES_REMOVED": removed + " (and wherever the mask has no data)",
        "BUFFER": f"{mask.buffer:g} m" if mask.buffer else "none",
        "VALUES": ("reflectance, no data NaN" if values == "reflectance" else
                   "digital numbers, no data 0; reflectance = DN x band scale + band offset"),
        "SOFTWARE": software_version(),
        "CREATED": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
    })
    return tags
