"""The mask GeoTIFF (and the optional probability GeoTIFF), written row by row as the engine produces them.

Rows are collected into bands of whole 512-pixel blocks before they reach
GDAL, so every compressed block is written once; the finished file is a
Cloud-Optimised GeoTIFF (`inference/cog.py`). The mask's overviews keep real
class codes: built from the rows as they are written (overviews.py); the
probability file's are averages, computed by GDAL after the data. Category names
live in the .aux.xml side-car GDAL writes next to a GeoTIFF; `atomic_output`
moves it into place together with the file.

GDAL reports a full disk only through its error handler, often long after the
write that failed, so every call that writes, flushes, builds overviews or
closes runs under `gdal_write_errors` (in cog.py): any failure stops the run
with an OutputError naming the cause, and no output is left.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from osgeo import gdal
from rasterio.crs import CRS

from ..about import software_version, written_here
from ..classes import CLASS_COLOURS, CLASS_NAMES, MASK_CODES, NODATA
from ..errors import OutputError
from ..grid import Grid
from ..cog import COG_BLOCK, TiledRaster, overview_count
from .overviews import ModeOverviews

BLOCK = COG_BLOCK
MASK_DESCRIPTION = "Sentinel-2 cloud mask (0 no data, 1 clear, 2 cloud shadow, 3 semi-transparent cloud, 4 cloud)"
PROBABILITY_NODATA = 255


def mask_tags(model: str, model_version: str, product_id: str, device: str, class3_source: str) -> dict[str, str]:
    """The metadata tags every mask carries, so a file alone says how it was made."""
    tags = {
        "MODEL": model,
        "MODEL_VERSION": model_version,
        "PRODUCT_ID": product_id,
        "DEVICE": device,
        "CLASS2_SOURCE": "model",  # a post-step that refines shadows (shadows.py) says how
        "CLASS3_SOURCE": class3_source,
        "BUFFER": "none",
        "SOFTWARE": software_version(),
        "CREATED": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
    }
    tags.update({f"CLASS_{code}": CLASS_NAMES[code] for code in MASK_CODES})
    return tags


def is_cloud_mask(tags: dict[str, str]) -> bool:
    """Tags that mask_tags wrote: the raster is one of this plugin's masks, not Sentinel-2 bands."""
    return written_here(tags) and all(f"CLASS_{code}" in tags for code in MASK_CODES)


class _BlockRows:
    """One raster being filled top to bottom, handed on one block row at a time (each tile written once)."""

    def __init__(self, path: Path, grid: Grid, bands: int, nodata: int, overviews: ModeOverviews | None = None):
        self.raster = TiledRaster(path, grid, bands, np.uint8, nodata, tile=BLOCK, compress=bands > 1)
        self.overviews = overviews
        self.target = self.raster.target  # the name the user gave, for messages
        self.grid = grid
        self.pending: list[np.ndarray] = []
        self.pending_rows = 0
        self.written = 0

    @property
    def dataset(self):
        """The GDAL dataset being filled, to set descriptions, names and tags before the first rows."""
        return self.raster.dataset

    def add(self, rows: np.ndarray) -> None:
        """rows: uint8 (bands, n, width)."""
        self.pending.append(rows)
        self.pending_rows += rows.shape[1]
        while self.pending_rows >= BLOCK:
            self._flush(BLOCK)

    def _flush(self, count: int) -> None:
        stacked = np.concatenate(self.pending, axis=1)
        chunk, rest = stacked[:, :count], stacked[:, count:]
        self.raster.write(chunk, self.written)
        if self.overviews is not None:
            self.overviews.add(chunk[0])
        self.written += count
        self.pending = [rest] if rest.shape[1] else []
        self.pending_rows = rest.shape[1]

    def finish(self, resampling: str) -> None:
        """The last rows, then the Cloud-Optimised GeoTIFF with its overviews at the writer's path (`resampling`
        where they were not built from the rows)."""
        if self.pending_rows:
            self._flush(self.pending_rows)
        if self.written != self.grid.height:
            self.abandon()
            raise OutputError(f"{self.target} received {self.written} of {self.grid.height} rows.")
        self.raster.finish(resampling, [level[np.newaxis] for level in self.overviews.levels()]
                           if self.overviews is not None else ())

    def abandon(self) -> None:
        self.raster.abandon()


def write_palette(path: Path) -> None:
    """The class colours as a colour table of exactly the codes 0-4, in the .aux.xml beside the mask.

    A colour table inside a GeoTIFF always has 256 entries, which QGIS lists as
    251 black legend entries for codes that never occur; GDAL keeps a table set
    on a read-only file in the side-car instead, with only the entries given
    (alpha included), and every GDAL reader, QGIS among them, reads it from there.
    """
    dataset = gdal.Open(str(path), gdal.GA_ReadOnly)
    if dataset is None:
        raise OutputError(f"Could not reopen {path} to add its colour table: {gdal.GetLastErrorMsg()}")
    try:
        band = dataset.GetRasterBand(1)
        table = gdal.ColorTable()
        for code in (NODATA, *MASK_CODES):
            table.SetColorEntry(code, CLASS_COLOURS[code])
        if band.SetRasterColorTable(table) != 0 or band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex) != 0:
            raise OutputError(f"Could not add the colour table to {path}: {gdal.GetLastErrorMsg()}")
    finally:
        band = dataset = None  # closed (the side-car written) even when GDAL raised


class MaskWriter:
    """Writes the mask (codes 0-4) and, optionally, per-class probabilities in percent.

    Used as a context manager: leaving the block normally finishes both files,
    leaving it with an exception abandons them (write them inside
    `atomic_output`, which removes what is left).
    """

    def __init__(self, path: Path, grid: Grid, tags: dict[str, str],
                 probabilities: Path | None = None, class_names: list[str] | None = None):
        self._mask = _BlockRows(path, grid, 1, NODATA, ModeOverviews(overview_count(grid.width, grid.height)))
        self._path = path
        band = self._mask.dataset.GetRasterBand(1)
        band.SetCategoryNames([CLASS_NAMES[code] for code in sorted(CLASS_NAMES)])
        band.SetDescription(MASK_DESCRIPTION)
        self._mask.dataset.SetMetadata(tags)
        self._probabilities = None
        if probabilities is not None:
            names = class_names or []
            try:
                self._probabilities = _BlockRows(probabilities, grid, len(names), PROBABILITY_NODATA)
            except BaseException:
                self._mask.abandon()
                raise
            for index, name in enumerate(names, start=1):
                self._probabilities.dataset.GetRasterBand(index).SetDescription(f"Probability of {name} (percent)")
            self._probabilities.dataset.SetMetadata(
                {**tags, "UNITS": "percent", "NODATA_MEANING": f"{PROBABILITY_NODATA} = no valid input"}
            )

    def __enter__(self) -> "MaskWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        """Finish the files (remaining rows, overviews) on success; on any error drop them unfinished."""
        try:
            if exc_type is None:
                self._mask.finish("MODE")
                write_palette(self._path)
                if self._probabilities is not None:
                    self._probabilities.finish("AVERAGE")
        finally:
            self._mask.abandon()
            if self._probabilities is not None:
                self._probabilities.abandon()

    def write(self, codes: np.ndarray) -> None:
        """The next rows of the mask: uint8 codes (n, width)."""
        self._mask.add(codes[np.newaxis])

    def write_probabilities(self, percent: np.ndarray) -> None:
        """The next rows of the probability file: uint8 percent (classes, n, width)."""
        if self._probabilities is None:
            raise ValueError("this writer writes no probability file")
        self._probabilities.add(percent)


def probability_percent(probabilities: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """float32 probabilities (classes, n, width) -> uint8 percent, PROBABILITY_NODATA where not valid."""
    total = probabilities.sum(axis=0, keepdims=True) / np.float32(100)
    scaled = np.divide(probabilities, total, out=np.zeros_like(probabilities), where=total > 0)
    percent = np.rint(scaled, out=scaled).astype(np.uint8)
    del scaled
    percent[:, ~valid] = PROBABILITY_NODATA
    return percent
