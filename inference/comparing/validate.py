"""Scoring any cloud mask against a reference mask: overall and balanced accuracy, kappa, per-class figures.

The comparison runs through the same core as comparescl (the reference is
resampled onto the mask's grid with nearest neighbour, counts stream through
`metrics.PairCounter`, the figures are `metrics.Comparison`'s), with two
additions ALCD and Baetens et al. (2019) use: the mask's own codes are first
mapped onto the four classes (this plugin's and KappaMask's codes, SCL through
the SCL mapping, Fmask's codes), and pixels within TOLERANCE pixels of a class
border of the reference are left out, since a reference drawn by hand or by a
classifier is least certain there. Every figure is given twice: with the four
classes, and with semi-transparent cloud counted as cloud (many references have
no thin-cloud class).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.crs import CRS
from rasterio.windows import Window
from scipy import ndimage

from ..about import written_here
from ..classes import FMASK_TO_MASK, KAPPAMASK_TO_MASK, MASK_CODES, NODATA, SCL_TO_MASK, code_lut
from ..defaults import MASK_TYPE_NAMES, MASK_TYPES
from ..errors import ProductError
from ..feedback import Feedback, SilentFeedback, check_cancelled
from ..reading.lists import read_path_rows
from .difference import MASK_CODE_TEXT, MASK_COLUMNS
from .metrics import Comparison, PairCounter, scores
from .rasters import (
    blocks,
    check_codes,
    check_overlap,
    mask_grid,
    open_raster,
    raster_on_grid,
    read_block,
    row_areas_m2,
    sensing_year,
)

# mask type -> its codes mapped onto the plugin's (codes it does not name are refused as unknown)
MASK_TYPE_CODES: dict[str, dict[int, int]] = {  # keys: defaults.MASK_TYPE_NAMES, in its order
    "plugin": {code: code for code in (NODATA, *MASK_CODES)},
    "kappamask": KAPPAMASK_TO_MASK,
    "scl": SCL_TO_MASK,
    "fmask": FMASK_TO_MASK,
}
VARIANTS = ("four_classes", "semi_transparent_as_cloud")


def detect_mask_type(path: Path, tags: dict[str, str], description: str) -> tuple[str, str]:
    """(mask type, why) from the file's tags, band description and name; ProductError when nothing tells."""
    text = " ".join([*tags.keys(), *tags.values(), description]).lower()
    name = path.name.lower()
    if "kappamask" in text or "kappamask" in name:
        return "kappamask", "KappaMask named in its tags or file name"
    if written_here(tags):
        return "plugin", "written by this plugin (its SOFTWARE tag)"
    if "fmask" in text or "fmask" in name:
        return "fmask", "Fmask named in its tags or file name"
    if "scl" in name.replace(".", "_").split("_") or "scene classification" in text:
        return "scl", "SCL in its file name"
    raise ProductError(
        f"Cannot tell what kind of mask {path} is: its tags and name name no known producer. Choose MASK_TYPE "
        f"({', '.join(MASK_TYPE_CODES)})."
    )


def border_pixels(reference: np.ndarray, tolerance: int) -> np.ndarray:
    """True where a pixel of another valid class lies within `tolerance` pixels (a square of side 2t+1)."""
    if tolerance <= 0:
        return np.zeros(reference.shape, bool)
    size = 2 * tolerance + 1
    highest = ndimage.maximum_filter(reference, size=size, mode="nearest")
    lowest = ndimage.minimum_filter(np.where(reference == NODATA, np.uint8(255), reference), size=size, mode="nearest")
    return (reference != NODATA) & (highest != lowest) & (lowest != 255)


@dataclass
class Validation:
    """One mask scored against one reference."""

    comparison: Comparison
    mask_type: str
    mask_type_source: str  # "MASK_TYPE" or why it was detected
    tolerance: int
    excluded_pixels: int  # left out as within `tolerance` of a reference class border
    report: str | None = None

    def variants(self) -> dict[str, dict[str, Any]]:
        return {
            "four_classes": scores(self.comparison.folded_matrix),
            "semi_transparent_as_cloud": scores(self.comparison.semi_transparent_as_cloud().folded_matrix),
        }

    @property
    def overall_accuracy(self) -> float | None:
        return self.comparison.overall_agreement

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "format": "s2cloudmask-validation",
            "format_version": 1,
            "mask": {"path": c.mask, "type": self.mask_type, "type_source": self.mask_type_source,
                     "codes": MASK_TYPE_NAMES[self.mask_type], "tags": dict(c.mask_tags)},
            "reference": {"path": c.reference, **c.reference_info},
            "grid": {"crs": CRS.from_user_input(c.grid.crs).to_string(), "resolution": c.grid.resolution,
                     "width": c.grid.width, "height": c.grid.height},
            "tolerance_pixels": self.tolerance,
            "excluded_pixels": self.excluded_pixels,
            **self.variants(),
            "attribution": c.attribution,
            "seconds": c.seconds,
        }


def _mask_codes(block: np.ndarray, mask_type: str, path: Path) -> np.ndarray:
    mapping = MASK_TYPE_CODES[mask_type]
    unknown = ~np.isin(block, list(mapping))
    if unknown.any():
        raise ProductError(
            f"The mask {path} holds the value {int(block[unknown][0])}, which {MASK_TYPE_NAMES[mask_type]} does not "
            "have; choose the MASK_TYPE that wrote it."
        )
    return code_lut(mapping)[block.astype(np.uint8)]


def _halo_window(window: Window, height: int, halo: int) -> tuple[Window, slice]:
    top = max(0, int(window.row_off) - halo)
    bottom = min(height, int(window.row_off + window.height) + halo)
    inner = slice(int(window.row_off) - top, int(window.row_off) - top + int(window.height))
    return Window(0, top, window.width, bottom - top), inner


def validate(
    mask: str | Path,
    reference: str | Path,
    *,
    mask_type: str = "auto",
    tolerance: int = 0,
    feedback: Feedback | None = None,
) -> Validation:
    """Score `mask` against `reference` (codes 0-4) on the mask's grid; see the module text."""
    started = time.perf_counter()
    feedback = feedback or SilentFeedback()
    mask_path, reference_path = Path(mask), Path(reference)
    if mask_type not in MASK_TYPES:
        raise ProductError(f"MASK_TYPE {mask_type!r} is unknown; choose one of {', '.join(MASK_TYPES)}.")
    if tolerance < 0:
        raise ProductError(f"TOLERANCE is {tolerance}; give 0 or a positive number of pixels.")
    with contextlib.ExitStack() as stack:
        dataset = open_raster(mask_path, "mask", stack)
        tags = {k: str(v) for k, v in dataset.tags().items() if k != "AREA_OR_POINT"}
        source = "MASK_TYPE"
        if mask_type == "auto":
            mask_type, source = detect_mask_type(mask_path, tags, dataset.descriptions[0] or "")
        grid = mask_grid(dataset)
        reference_dataset = open_raster(reference_path, "reference mask", stack)
        check_overlap(grid, tuple(reference_dataset.bounds), reference_dataset.crs, mask_path, reference_path)
        info = {"resolution": reference_dataset.res[0], "crs": reference_dataset.crs.to_string()}
        read_reference = raster_on_grid(reference_dataset, grid, stack)
        counter = PairCounter()
        excluded = 0
        windows = list(blocks(grid))
        for number, window in enumerate(windows):
            check_cancelled(feedback)
            raw = read_block(lambda w: dataset.read(1, window=w), window, mask_path, "mask")
            codes = _mask_codes(raw, mask_type, mask_path)
            wide, inner = _halo_window(window, grid.height, tolerance)
            truth = read_block(read_reference, wide, reference_path, "reference mask")
            check_codes(truth, 4, reference_path, "reference mask", MASK_CODE_TEXT)
            keep = ~border_pixels(truth.astype(np.uint8), tolerance)[inner]
            truth = truth[inner]
            excluded += int((~keep & (codes != NODATA) & (truth != NODATA)).sum())
            counter.add(codes, truth, row_areas_m2(grid, int(window.row_off), int(window.height)),
                        None if tolerance == 0 else keep)
            feedback.progress(95.0 * (number + 1) / len(windows), "Comparing with the reference")
        counts, areas = counter.result()
    comparison = Comparison(
        mask=str(mask_path), reference=str(reference_path), reference_label="reference mask",
        reference_kind="mask", output="", grid=grid, columns=MASK_COLUMNS, counts=counts, areas_m2=areas,
        mask_tags=tags, reference_info=info,
        sensing_year=sensing_year(str(reference_path), str(mask_path), *tags.values()),
    )
    if comparison.compared_pixels == 0:
        raise ProductError(f"The mask {mask_path} and the reference {reference_path} have no pixel with data on "
                           "both sides (outside the tolerance band); choose the reference of the mask's scene.")
    comparison.seconds = time.perf_counter() - started
    feedback.progress(100.0, "Done")
    return Validation(comparison, mask_type, source, tolerance, excluded)


@dataclass
class BatchValidation:
    """Many (mask, reference) pairs: each scored alone, and all pooled (pixel counts summed)."""

    scenes: list[Validation]
    pooled: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": "s2cloudmask-validation-batch", "format_version": 1,
                "scenes": [scene.to_dict() for scene in self.scenes], "pooled": self.pooled}


def read_pairs(path: str | Path) -> list[tuple[str, str, str]]:
    """(mask, reference, mask type) rows of a CSV with columns mask, reference and optionally mask_type.

    Relative paths are read from the CSV's folder.
    """
    rows = read_path_rows(path, ("mask", "reference"), "pairs", extra=("mask_type",))
    return [(row["mask"], row["reference"], row["mask_type"] or "auto") for row in rows]


def pair_inputs(pairs: list[tuple[str, str, str]]) -> dict[str, str]:
    """The masks and references of a list of pairs, by role, for the check that no output replaces one."""
    inputs: dict[str, str] = {}
    for number, (mask, reference, _) in enumerate(pairs, start=1):
        inputs.update({f"the mask of pair {number}": mask, f"the reference of pair {number}": reference})
    return inputs


def validate_many(pairs: list[tuple[str, str, str]], *, tolerance: int = 0,
                  feedback: Feedback | None = None) -> BatchValidation:
    """Score every pair, then pool the pixel counts of all of them (each pixel weighs the same)."""
    feedback = feedback or SilentFeedback()
    scenes = []
    for number, (mask, reference, mask_type) in enumerate(pairs):
        check_cancelled(feedback)
        scenes.append(validate(mask, reference, mask_type=mask_type, tolerance=tolerance))
        feedback.progress(100.0 * (number + 1) / len(pairs), f"Scored {number + 1} of {len(pairs)} pairs")
    first = scenes[0].comparison
    pooled = replace(first, counts=sum(s.comparison.counts for s in scenes),
                     areas_m2=sum(s.comparison.areas_m2 for s in scenes))
    return BatchValidation(scenes, {"pairs": len(scenes),
                                    "four_classes": scores(pooled.folded_matrix),
                                    "semi_transparent_as_cloud": scores(pooled.semi_transparent_as_cloud().folded_matrix)})
