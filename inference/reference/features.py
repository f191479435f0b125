"""What the random forest sees at each pixel: reflectances plus the indices that separate cloud, shadow, snow and water.

ALCD (Baetens, Desjardins & Hagolle 2019) classifies on the bands and a few
normalised differences; the indices matter because a forest splits on one
feature at a time and cannot form a ratio itself. NDVI separates vegetation
from bright cloud, NDWI water from shadow, NDSI snow from cloud. Thin cirrus is nearly invisible in the other bands:
on L1C the B10 cirrus band is one of the reflectances, on L2A (which drops
B10) the cirrus layer of MSK_CLASSI_B00 stands in for it, averaged onto the
grid as the share of each pixel flagged; and the B09 / B8A ratio helps too,
because a high cloud lies above most of the water vapour that darkens B09.
A pixel alone cannot tell a thin veil from the edge of a thick cloud, so every
feature is also given as its mean over the pixels with data within
CONTEXT_METRES (measured on the real T29UNU product at 60 m, 150 SCL points a
class: 0.825 of held-out points right with the pixel alone, 0.86 with the
ratio and the context). An optional probability raster (the U-Net's
OUTPUT_PROBABILITIES) adds the model's opinion as features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window
from scipy import ndimage

from ..errors import ProductError
from ..grid import Grid
from ..reading.metadata import BAND_IDS
from ..reading.paths import is_product_path
from ..reading.product import open_product, product_grid
from ..reading.reader import ProductReader, read_mask_layer
from ..reading.sources import RasterSource, is_metric, raster_grid

# index name -> (first band, second band): (a - b) / (a + b); the first band id present in each tuple is used
CIRRUS_LAYER = ("MSK_CLASSI_B00", 2)  # L2A: band 2 of the classification mask is the cirrus flag
CIRRUS_FEATURE = "cirrus (MSK_CLASSI_B00)"
CONTEXT_METRES = 540.0  # side of the square whose mean is the context feature (9 pixels at 60 m)
RATIOS: dict[str, tuple[str, str]] = {"B09/B8A": ("B09", "B8A")}
INDICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "NDVI": (("B08", "B8A"), ("B04",)),
    "NDWI": (("B03",), ("B08", "B8A")),
    "NDSI": (("B03",), ("B11",)),
}


def _first(candidates: tuple[str, ...], names: list[str]) -> int | None:
    return next((names.index(band) for band in candidates if band in names), None)


def ratio_features(data: np.ndarray, band_names: list[str]) -> tuple[list[str], np.ndarray]:
    """Band ratios computable from these bands: (names, float32 (n, rows, cols))."""
    names, layers = [], []
    for name, (top, bottom) in RATIOS.items():
        if top in band_names and bottom in band_names:
            names.append(name)
            layers.append(data[band_names.index(top)] / np.maximum(data[band_names.index(bottom)], 1e-3))
    return names, (np.stack(layers).astype(np.float32) if layers else np.zeros((0, *data.shape[1:]), np.float32))


def context_size(resolution: float) -> int:
    """Odd width in pixels of the context square at this resolution (at least 3)."""
    size = max(3, round(CONTEXT_METRES / resolution))
    return size if size % 2 else size + 1


def context_means(features: np.ndarray, valid: np.ndarray, size: int) -> np.ndarray:
    """Mean of each feature over the valid pixels of the size x size square around each pixel (0 where none)."""
    weight = ndimage.uniform_filter(valid.astype(np.float32), size, mode="constant")
    out = np.empty_like(features)
    for index in range(features.shape[0]):
        total = ndimage.uniform_filter(np.where(valid, features[index], 0.0).astype(np.float32), size, mode="constant")
        out[index] = np.where(weight > 1e-6, total / np.maximum(weight, 1e-6), 0.0)
    return out


def index_features(data: np.ndarray, band_names: list[str]) -> tuple[list[str], np.ndarray]:
    """The normalised differences computable from these bands: (names, float32 (n, rows, cols)); 0 where undefined."""
    names, layers = [], []
    for name, (first, second) in INDICES.items():
        a, b = _first(first, band_names), _first(second, band_names)
        if a is None or b is None:
            continue
        total = data[a] + data[b]
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(np.abs(total) > 1e-6, (data[a] - data[b]) / total, 0.0)
        names.append(name)
        layers.append(np.clip(value, -1.0, 1.0).astype(np.float32))
    if not layers:
        return [], np.zeros((0, *data.shape[1:]), np.float32)
    return names, np.stack(layers)


class FeatureStack:
    """The features of a product (or of any raster) on one grid, read window by window.

    A product is read at `resolution` (10, 20 or 60 m) through the reader, as
    reflectance; a raster is read on its own grid resampled to `resolution`
    (when its CRS is in metres), its values as they are, its bands named by
    their descriptions (indices come only from bands described as B03, B04,
    B08/B8A, B11).
    """

    def __init__(self, source: str | Path, resolution: float, probabilities: str | Path | None = None):
        self.source = str(source)
        self.warnings: list[str] = []
        self.layer_names: list[str] = []
        self._closers: list = []
        self.product = None
        if is_product_path(source):
            self.product = open_product(source)
            self.grid = product_grid(self.product, resolution)
            self.band_names = self.product.bands
            reader = ProductReader(self.product, self.band_names, self.grid)
            self._closers.append(reader)
            self.warnings.extend(reader.warnings)
            self._read_bands = reader.read
            self.label = self.product.product_id
            if "B10" not in self.band_names and CIRRUS_LAYER[0] in self.product.mask_files:
                self.layer_names = [CIRRUS_FEATURE]
        else:
            self.label = Path(self.source).name
            with _open(self.source, "input raster") as dataset:
                native = raster_grid(dataset)
                descriptions = [d or f"band {i}" for i, d in enumerate(dataset.descriptions, start=1)]
                crs = dataset.crs
            self.grid = native.resampled(resolution) if is_metric(crs) and native.resolution != resolution else native
            self.band_names = [d.upper() if d.upper() in BAND_IDS else d for d in descriptions]
            raster = RasterSource(self.source, {name: i for i, name in enumerate(self.band_names, start=1)},
                                  grid=self.grid)
            self._closers.append(raster)
            self._read_bands = raster.read
        empty = np.zeros((len(self.band_names), 1, 1), np.float32)
        self.index_names = index_features(empty, self.band_names)[0] + ratio_features(empty, self.band_names)[0]
        self.context = context_size(self.grid.resolution)
        self.probability_names: list[str] = []
        self._probabilities = None
        if probabilities:
            self._probabilities = self._open_probabilities(Path(probabilities))
        pixel_names = [*self.band_names, *self.index_names, *self.layer_names]
        self.names = [*pixel_names, *(f"{name} (mean {self.context} px)" for name in pixel_names),
                      *self.probability_names]

    def _open_probabilities(self, path: Path) -> RasterSource:
        with _open(str(path), "probability raster") as dataset:
            descriptions = [d or f"probability {i}" for i, d in enumerate(dataset.descriptions, start=1)]
        self.probability_names = descriptions
        source = RasterSource(path, {name: i for i, name in enumerate(descriptions, start=1)}, grid=self.grid)
        self._closers.append(source)
        return source

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """(float32 (features, rows, cols), bool valid (rows, cols)) for a window of `grid`.

        The window is read with a margin of half the context square (clipped to
        the grid), so a block's context features equal those of the whole grid.
        """
        row0, height = int(window.row_off), int(window.height)
        col0, width = int(window.col_off), int(window.width)
        half = self.context // 2
        top, left = max(0, row0 - half), max(0, col0 - half)
        bottom, right = min(self.grid.height, row0 + height + half), min(self.grid.width, col0 + width + half)
        wide = Window(left, top, right - left, bottom - top)
        block = self._read_bands(wide)
        indices = index_features(block.data, self.band_names)[1]
        ratios = ratio_features(block.data, self.band_names)[1]
        layers = [block.data, indices, ratios]
        if self.layer_names:
            key, band = CIRRUS_LAYER
            layers.append(read_mask_layer(self.product, key, self.grid, band, "average", wide)[np.newaxis])
        pixel = np.concatenate(layers).astype(np.float32, copy=False)
        context = context_means(pixel, block.valid, self.context)
        crop = (slice(row0 - top, row0 - top + height), slice(col0 - left, col0 - left + width))
        features = [pixel[:, crop[0], crop[1]], context[:, crop[0], crop[1]]]
        valid = block.valid[crop]
        if self._probabilities is not None:
            extra = self._probabilities.read(window)
            features.append(extra.data)
            valid = valid & extra.valid
        return np.concatenate(features).astype(np.float32, copy=False), valid

    def close(self) -> None:
        for closer in self._closers:
            closer.close()
        self._closers = []

    def __enter__(self) -> "FeatureStack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: str, role: str):
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise ProductError(f"Cannot open the {role} {path} ({exc}); choose a Sentinel-2 product or a raster.") from exc


def input_crs(source: str | Path) -> str:
    """The CRS the samples must be given in: the product's, or the raster's (as WKT)."""
    if is_product_path(source):
        return open_product(source).crs
    with _open(str(source), "input raster") as dataset:
        if dataset.crs is None:
            raise ProductError(f"The input raster {source} has no coordinate reference system; assign one first.")
        return dataset.crs.to_wkt()


def row_blocks(grid: Grid, pixels: int = 1 << 20) -> list[Window]:
    """Whole-width row windows of about `pixels` pixels: features of one block stay small."""
    rows = max(1, pixels // max(1, grid.width))
    return [Window(0, row, grid.width, min(rows, grid.height - row)) for row in range(0, grid.height, rows)]
