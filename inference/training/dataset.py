"""Patches -> the arrays the trainer reads: band stacks on the model's grid, normalised as the engine does.

Training must see exactly what the masking engine feeds the model, so the
image bands are resampled onto the model card's resolution by the engine's own
RasterSource (area average to a coarser grid, bilinear to a finer one) and
normalised with the card's clip, mean and std, invalid pixels set to 0. Labels
follow onto the same grid by majority (mode) when coarser, nearest when finer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import Window

from ..classes import NODATA
from ..errors import BandError, TrainingError
from ..feedback import Feedback, check_cancelled
from ..grid import Grid
from ..masking.model_card import ModelCard
from ..reading.sources import RasterSource, raster_grid
from .patch_set import Patch, PatchSet

IGNORE = 255  # class index the loss skips: no label, or no valid image


@dataclass(frozen=True)
class PreparedSplit:
    x: np.ndarray  # float32 (n, bands, rows, cols)
    y: np.ndarray  # uint8 (n, rows, cols): index into the class list, IGNORE where unlabelled
    valid: np.ndarray  # bool (n, rows, cols)


def model_bands(card: ModelCard, patches: PatchSet, with_cirrus: bool = False) -> dict[str, int]:
    """Model band name -> 1-based image band of the patches, through the card's Sentinel-2 ids and fallbacks."""
    chosen: dict[str, int] = {}
    for spec in card.bands:
        number = patches.band_number(spec.sentinel2) or (patches.band_number(spec.fallback) if spec.fallback else None)
        if number is None:
            raise BandError(
                f"The model {card.label} needs {spec.sentinel2} ({spec.name}), which the patches in {patches.folder} "
                f"lack (they hold {', '.join(patches.bands)}); export patches with all bands."
            )
        chosen[spec.name] = number
    if with_cirrus and patches.band_number("B10"):
        chosen.setdefault("red", patches.band_number("B04") or 0)
        chosen["cirrus"] = patches.band_number("B10") or 0
    return chosen


def _label_on(path: Path, grid: Grid, coarser: bool) -> np.ndarray:
    with rasterio.open(path) as src:
        label = src.read(1)
        target = np.zeros((grid.height, grid.width), dtype=np.uint8)
        reproject(label, target, src_transform=src.transform, src_crs=src.crs, dst_transform=grid.transform,
                  dst_crs=src.crs, src_nodata=NODATA, dst_nodata=NODATA,
                  resampling=Resampling.mode if coarser else Resampling.nearest)
    return target


def prepare_patch(patch: Patch, card: ModelCard, bands: dict[str, int],
                  codes: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One patch on the model grid: normalised bands, class indices and validity."""
    with rasterio.open(patch.image) as dataset:
        own = raster_grid(dataset)
    grid = own if math.isclose(own.resolution, card.resolution, rel_tol=0.01) else own.resampled(card.resolution)
    with RasterSource(patch.image, bands, 1.0, 0.0, grid) as source:
        block = source.read(Window(0, 0, grid.width, grid.height))
    reflectance = block.data
    if card.clip is not None:
        reflectance = np.clip(reflectance, *card.clip)
    mean = np.asarray(card.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(card.std, dtype=np.float32)[:, None, None]
    x = np.where(block.valid, (reflectance - mean) / std, 0.0).astype(np.float32)
    label = _label_on(patch.label, grid, grid.resolution > own.resolution)
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for index, code in enumerate(codes):
        lut[code] = index
    y = lut[label]
    y[~block.valid] = IGNORE
    return x, y, block.valid


def prepare_split(patches: list[Patch], card: ModelCard, bands: dict[str, int], codes: list[int],
                  feedback: Feedback, progress: tuple[float, float]) -> PreparedSplit:
    """All patches of a split, cropped to the smallest common size (exported patches share one size)."""
    if not patches:
        return PreparedSplit(np.zeros((0, len(bands), 0, 0), np.float32), np.zeros((0, 0, 0), np.uint8),
                             np.zeros((0, 0, 0), bool))
    xs, ys, valids = [], [], []
    start, end = progress
    for number, patch in enumerate(patches):
        check_cancelled(feedback)
        feedback.progress(start + (end - start) * number / len(patches), "Preparing the patches")
        x, y, valid = prepare_patch(patch, card, bands, codes)
        xs.append(x)
        ys.append(y)
        valids.append(valid)
    rows = min(y.shape[0] for y in ys)
    cols = min(y.shape[1] for y in ys)
    return PreparedSplit(np.stack([x[:, :rows, :cols] for x in xs]), np.stack([y[:rows, :cols] for y in ys]),
                         np.stack([v[:rows, :cols] for v in valids]))


def write_dataset(path: Path, splits: dict[str, PreparedSplit]) -> None:
    """The .npz the trainer loads (uncompressed: it is read once, soon, and deleted)."""
    arrays = {}
    for name, split in splits.items():
        arrays[f"{name}_x"], arrays[f"{name}_y"], arrays[f"{name}_valid"] = split.x, split.y, split.valid
    try:
        np.savez(path, **arrays)
    except OSError as exc:
        raise TrainingError(f"The training data could not be written to {path} ({exc}); free disk space there.") from exc
