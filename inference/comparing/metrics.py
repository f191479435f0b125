"""The figures of one comparison: confusion matrix, agreement, kappa, per-class scores and areas.

Pure numpy over pixel counts, so any comparison (against SCL, a reference
mask, or many scenes pooled) is scored by the same arithmetic. Every JSON key
is documented in docs/report-json.md:

Figures (`Comparison`, and the JSON written by `report.write_report`; every key
is documented in docs/report-json.md):

- ``matrix``: pixel counts, rows = the mask's classes 1-4, columns = the
  reference's classes as compared (clear, cloud shadow, semi-transparent
  cloud, cloud) followed, for an SCL, by the ambiguous SCL codes as their own
  columns (dark area, water, unclassified, snow or ice).
- ``balanced_accuracy``: the mean recall over the classes the reference holds
  (ambiguous SCL codes as clear), so a rare class weighs as much as clear sky.
- ``overall_agreement`` / ``kappa``: with ambiguous SCL codes counted as clear
  (``ambiguous_as_clear``) and with ambiguous pixels left out (``excluding_ambiguous``).
- ``per_class``: precision, recall, F1 and IoU for each class with the
  reference as truth (precision = of what the mask calls the class, the share
  the reference agrees with; recall = of what the reference calls the class,
  the share the mask finds); ambiguous SCL codes count as clear.
- ``difference``: pixels, km2 and percent (of the compared area) per
  difference code; pixel area comes from the grid (per row for a geographic CRS).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from rasterio.crs import CRS

from ..classes import CLASS_NAMES, CLOUD, MASK_CLASS_KEYS, MASK_CODES, NODATA, SEMI_TRANSPARENT
from ..grid import Grid
from .difference import (
    DIFFERENCE_CODES,
    DIFFERENCE_COLOURS,
    LET_THROUGH_CODES,
    RAW_CODES,
    THROWN_AWAY_CODES,
    Column,
    difference_lut,
    difference_names,
)


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _kappa(matrix: np.ndarray) -> float | None:
    total = matrix.sum()
    if not total:
        return None
    observed = np.trace(matrix) / total
    expected = float((matrix.sum(axis=1) * matrix.sum(axis=0)).sum()) / float(total) ** 2
    return None if expected >= 1.0 else float((observed - expected) / (1.0 - expected))


def per_class_scores(folded: np.ndarray) -> dict[str, dict[str, float | int | None]]:
    """Precision, recall, F1 and IoU of each class from a 4 x 4 matrix (rows mask, columns reference)."""
    figures: dict[str, dict[str, float | int | None]] = {}
    for index, code in enumerate(MASK_CODES):
        hits = int(folded[index, index])
        in_mask = int(folded[index].sum())
        in_reference = int(folded[:, index].sum())
        figures[MASK_CLASS_KEYS[code]] = {
            "code": code,
            "name": CLASS_NAMES[code],
            "mask_pixels": in_mask,
            "reference_pixels": in_reference,
            "agreeing_pixels": hits,
            "precision": _ratio(hits, in_mask),
            "recall": _ratio(hits, in_reference),
            "f1": _ratio(2 * hits, in_mask + in_reference),
            "iou": _ratio(hits, in_mask + in_reference - hits),
        }
    return figures


def balanced_accuracy(folded: np.ndarray) -> float | None:
    """Mean recall over the classes present in the reference (columns with any pixel)."""
    present = folded.sum(axis=0) > 0
    if not present.any():
        return None
    return float(np.mean(np.diag(folded)[present] / folded.sum(axis=0)[present]))


def scores(folded: np.ndarray) -> dict[str, Any]:
    """Every accuracy figure of a 4 x 4 matrix: what a scene, a cross-validation or a pooled set reports."""
    return {
        "pixels": int(folded.sum()),
        "overall_accuracy": _ratio(float(np.trace(folded)), float(folded.sum())),
        "balanced_accuracy": balanced_accuracy(folded),
        "kappa": _kappa(folded),
        "per_class": per_class_scores(folded),
        "matrix": folded.tolist(),
    }


class PairCounter:
    """Pixel counts and areas per (mask code, raw reference code), accumulated block by block.

    Both comparisons (against SCL, against a reference mask) stream their
    blocks through one counter, so their figures come from the same tally.
    """

    def __init__(self) -> None:
        self.counts = np.zeros(len(CLASS_NAMES) * RAW_CODES, dtype=np.int64)
        self.areas = np.zeros(len(CLASS_NAMES) * RAW_CODES, dtype=np.float64)

    def add(self, mask_codes: np.ndarray, reference_codes: np.ndarray, row_areas: np.ndarray,
            keep: np.ndarray | None = None) -> np.ndarray:
        """Count one block (mask codes 0-4, reference codes 0-15); `keep` False leaves a pixel out.

        Returns the pair index of every pixel (mask code * 16 + reference code), for a difference raster.
        """
        pairs = mask_codes.astype(np.uint8, copy=False) * np.uint8(RAW_CODES)
        pairs += reference_codes.astype(np.uint8, copy=False)
        counted = pairs if keep is None else np.where(keep, pairs, np.uint8(0))
        block_counts = np.bincount(counted.ravel(), minlength=self.counts.size)
        if keep is not None:
            block_counts[0] -= int((~keep).sum())  # pair 0 is (no data, no data): left-out pixels count nowhere
        self.counts += block_counts
        if np.all(row_areas == row_areas[0]):
            self.areas += block_counts * row_areas[0]
        else:
            weights = np.repeat(row_areas, pairs.shape[1])
            if keep is not None:
                weights = weights * keep.ravel()
            self.areas += np.bincount(counted.ravel(), weights=weights, minlength=self.areas.size)
        return pairs

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(counts, areas in m2), each (5, 16)."""
        return self.counts.reshape(len(CLASS_NAMES), RAW_CODES), self.areas.reshape(len(CLASS_NAMES), RAW_CODES)


@dataclass
class Comparison:
    """The figures of one comparison; `to_dict()` is the JSON the report writes."""

    mask: str
    reference: str
    reference_label: str  # "SCL" or "reference mask": what the reference is
    reference_kind: str  # "scl_raster", "l2a_product" or "mask"
    output: str
    grid: Grid
    columns: tuple[Column, ...]
    counts: np.ndarray  # (5, 16) int64: pixels per (mask code, raw reference code) on the mask grid
    areas_m2: np.ndarray  # (5, 16) float64: the same in square metres
    mask_tags: dict[str, str] = field(default_factory=dict)
    reference_info: dict[str, Any] = field(default_factory=dict)
    sensing_year: int | None = None
    seconds: float = 0.0
    report: str | None = None

    @property
    def _valid_counts(self) -> np.ndarray:
        return self.counts[list(MASK_CODES)]

    @property
    def matrix(self) -> np.ndarray:
        """Pixel counts, rows = mask classes 1-4, columns = `columns` (reference classes as compared)."""
        return np.stack([self._valid_counts[:, list(c.codes)].sum(axis=1) for c in self.columns], axis=1)

    def _folded(self, include_ambiguous: bool) -> np.ndarray:
        folded = np.zeros((len(MASK_CODES), len(MASK_CODES)), dtype=np.int64)
        for index, column in enumerate(self.columns):
            if include_ambiguous or not column.ambiguous:
                folded[:, MASK_CODES.index(column.compared_as)] += self.matrix[:, index]
        return folded

    @property
    def folded_matrix(self) -> np.ndarray:
        """4 x 4 counts with ambiguous SCL codes counted as clear (what agreement, kappa and per-class use)."""
        return self._folded(include_ambiguous=True)

    @property
    def compared_pixels(self) -> int:
        return int(self.matrix.sum())

    @property
    def ambiguous_pixels(self) -> int:
        return int(sum(self.matrix[:, i].sum() for i, c in enumerate(self.columns) if c.ambiguous))

    @property
    def overall_agreement(self) -> float | None:
        folded = self.folded_matrix
        return _ratio(float(np.trace(folded)), float(folded.sum()))

    @property
    def agreement_excluding_ambiguous(self) -> float | None:
        folded = self._folded(include_ambiguous=False)
        return _ratio(float(np.trace(folded)), float(folded.sum()))

    @property
    def kappa(self) -> float | None:
        return _kappa(self.folded_matrix)

    @property
    def kappa_excluding_ambiguous(self) -> float | None:
        return _kappa(self._folded(include_ambiguous=False))

    @property
    def balanced_accuracy(self) -> float | None:
        return balanced_accuracy(self.folded_matrix)

    @property
    def per_class(self) -> dict[str, dict[str, float | int | None]]:
        return per_class_scores(self.folded_matrix)

    def semi_transparent_as_cloud(self) -> "Comparison":
        """The same comparison with semi-transparent cloud counted as cloud on both sides."""
        counts, areas = self.counts.copy(), self.areas_m2.copy()
        counts[CLOUD] += counts[SEMI_TRANSPARENT]
        counts[SEMI_TRANSPARENT] = 0
        areas[CLOUD] += areas[SEMI_TRANSPARENT]
        areas[SEMI_TRANSPARENT] = 0
        columns = tuple(
            replace(c, compared_as=CLOUD) if c.compared_as == SEMI_TRANSPARENT else c for c in self.columns
        )
        return replace(self, counts=counts, areas_m2=areas, columns=columns)

    @property
    def difference_pixels(self) -> dict[int, int]:
        lut = difference_lut(self.columns)
        return {code: int(self.counts[lut == code].sum()) for code in DIFFERENCE_CODES}

    @property
    def areas(self) -> dict[int, float]:
        """Difference code -> area in km2."""
        lut = difference_lut(self.columns)
        return {code: float(self.areas_m2[lut == code].sum()) / 1e6 for code in DIFFERENCE_CODES}

    @property
    def compared_area_km2(self) -> float:
        return sum(self.areas.values())

    @property
    def names(self) -> dict[int, str]:
        return difference_names(self.reference_label)

    @property
    def attribution(self) -> str:
        year = f" {self.sensing_year}" if self.sensing_year else ""
        return f"Contains modified Copernicus Sentinel data{year}"

    def to_dict(self) -> dict[str, Any]:
        total = self.grid.width * self.grid.height
        mask_nodata = int(self.counts[NODATA].sum())
        compared_area = self.compared_area_km2
        matrix = self.matrix
        return {
            "format": "s2cloudmask-comparison",
            "format_version": 1,
            "reference": self.reference_label,
            "mask": {"path": self.mask, "tags": dict(self.mask_tags)},
            "reference_source": {"path": self.reference, "kind": self.reference_kind, **self.reference_info},
            "difference_raster": self.output,
            "grid": {
                "crs": CRS.from_user_input(self.grid.crs).to_string(),
                "resolution": self.grid.resolution,
                "width": self.grid.width,
                "height": self.grid.height,
            },
            "pixels": {
                "total": total,
                "compared": self.compared_pixels,
                "mask_no_data": mask_nodata,
                "reference_no_data": total - mask_nodata - self.compared_pixels,
                "ambiguous": self.ambiguous_pixels,
            },
            "compared_area_km2": compared_area,
            "matrix": {
                "rows": "mask",
                "columns": self.reference_label,
                "row_classes": [
                    {"key": MASK_CLASS_KEYS[c], "name": CLASS_NAMES[c], "code": c} for c in MASK_CODES
                ],
                "column_classes": [
                    {
                        "key": c.key,
                        "name": c.name,
                        "reference_codes": list(c.codes),
                        "compared_as": c.compared_as,
                        "ambiguous": c.ambiguous,
                    }
                    for c in self.columns
                ],
                "counts": matrix.tolist(),
            },
            "overall_agreement": {
                "ambiguous_as_clear": self.overall_agreement,
                "excluding_ambiguous": self.agreement_excluding_ambiguous,
            },
            "kappa": {
                "ambiguous_as_clear": self.kappa,
                "excluding_ambiguous": self.kappa_excluding_ambiguous,
            },
            "balanced_accuracy": self.balanced_accuracy,
            "per_class": self.per_class,
            "difference": [
                {
                    "code": code,
                    "name": self.names[code],
                    "colour": "#{:02x}{:02x}{:02x}".format(*DIFFERENCE_COLOURS[code][:3]),
                    "pixels": self.difference_pixels[code],
                    "area_km2": area,
                    "percent": 100.0 * area / compared_area if compared_area else None,
                }
                for code, area in self.areas.items()
            ],
            "let_through_codes": list(LET_THROUGH_CODES),
            "thrown_away_codes": list(THROWN_AWAY_CODES),
            "attribution": self.attribution,
            "seconds": self.seconds,
        }

