"""Where a cloud mask and Sen2Cor's SCL (or another mask) agree, and where they differ.

Users pick a cloud mask by where it beats the one they already have, so the
comparison answers two questions first: where does the reference let bad
pixels through (cloud or shadow it misses), and where does it throw good
pixels away (cloud or shadow only it sees). Everything happens on the MASK's
grid: the reference is resampled onto it with nearest neighbour (reprojected
when the CRS differs), and only pixels where both have data are compared.
The work streams in row blocks, so a full 10980 x 10980 tile needs no more
memory than one block.

The SCL is compared through `classes.SCL_TO_MASK`; its ambiguous codes (dark
area 2, water 6, unclassified 7, snow or ice 11) count as clear for the
overall figures but keep their own matrix columns and difference categories,
so "ambiguous" is never folded silently into agreement.

Difference raster codes (uint8, GDAL nodata 0; "reference" reads "SCL" when
the reference is an SCL):

====  ==============================  ==========================================  =============
code  name                            meaning                                     colour
====  ==============================  ==========================================  =============
0     No data                         either side has no data                     transparent
1     Both clear                      mask clear, reference clear                 light grey
2     Both cloud                      same cloud class on both sides              mid grey
                                      (cloud/cloud or thin/thin)
3     Both cloud shadow               shadow on both sides                        dark grey
4     Cloud missed by SCL             mask cloud or thin cloud, reference clear   red
5     Shadow missed by SCL            mask shadow, reference clear                dark red
6     Cloud only in SCL               reference cloud or thin cloud, mask clear   blue
7     Shadow only in SCL              reference shadow, mask clear                orange
8     Thin cloud against cloud        one semi-transparent, the other opaque      pale yellow
9     Cloud against shadow            one cloud (any), the other shadow           brown
10    SCL ambiguous, mask cloud       SCL 2/6/7/11, mask cloud or thin cloud      dark purple
11    SCL ambiguous, mask shadow      SCL 2/6/7/11, mask shadow                   purple
12    SCL ambiguous, mask clear       SCL 2/6/7/11, mask clear                    light purple
====  ==============================  ==========================================  =============

Codes 4 and 5 are the pixels the reference lets through; 6 and 7 the pixels it
throws away. Codes 10-12 only occur against an SCL. `resources/styles/difference.qml`
carries the same names and colours.

Figures (`Comparison`, and the JSON written by `report.write_report`; every key
is documented in docs/report-json.md):

- ``matrix``: pixel counts, rows = the mask's classes 1-4, columns = the
  reference's classes as compared (clear, cloud shadow, semi-transparent
  cloud, cloud) followed, for an SCL, by the ambiguous SCL codes as their own
  columns (dark area, water, unclassified, snow or ice).
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

import contextlib
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.io
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from .classes import (
    CLASS_NAMES,
    CLEAR,
    CLOUD,
    CLOUD_SHADOW,
    MASK_CODES,
    NODATA,
    SCL_AMBIGUOUS,
    SCL_NAMES,
    SCL_TO_MASK,
    SEMI_TRANSPARENT,
)
from .errors import OutputError, ProductError
from .feedback import Feedback, SilentFeedback, check_cancelled
from .grid import Grid
from .outputs import atomic_output, check_writable
from .report import check_report_path, write_report

BOTH_CLEAR = 1
BOTH_CLOUD = 2
BOTH_SHADOW = 3
CLOUD_MISSED = 4
SHADOW_MISSED = 5
CLOUD_ONLY_IN_REFERENCE = 6
SHADOW_ONLY_IN_REFERENCE = 7
THIN_AGAINST_CLOUD = 8
CLOUD_AGAINST_SHADOW = 9
AMBIGUOUS_MASK_CLOUD = 10
AMBIGUOUS_MASK_SHADOW = 11
AMBIGUOUS_MASK_CLEAR = 12

DIFFERENCE_CODES: tuple[int, ...] = tuple(range(1, 13))

# Pixels the reference lets through / throws away: the two questions users ask.
LET_THROUGH_CODES = (CLOUD_MISSED, SHADOW_MISSED)
THROWN_AWAY_CODES = (CLOUD_ONLY_IN_REFERENCE, SHADOW_ONLY_IN_REFERENCE)


def difference_names(reference: str = "SCL") -> dict[int, str]:
    """Category names of the difference raster; `reference` names the other side ("SCL", "reference mask")."""
    names = {
        NODATA: "No data",
        BOTH_CLEAR: "Both clear",
        BOTH_CLOUD: "Both cloud",
        BOTH_SHADOW: "Both cloud shadow",
        CLOUD_MISSED: f"Cloud missed by {reference}",
        SHADOW_MISSED: f"Shadow missed by {reference}",
        CLOUD_ONLY_IN_REFERENCE: f"Cloud only in {reference}",
        SHADOW_ONLY_IN_REFERENCE: f"Shadow only in {reference}",
        THIN_AGAINST_CLOUD: "Thin cloud against cloud",
        CLOUD_AGAINST_SHADOW: "Cloud against shadow",
        AMBIGUOUS_MASK_CLOUD: f"{reference} ambiguous, mask cloud",
        AMBIGUOUS_MASK_SHADOW: f"{reference} ambiguous, mask shadow",
        AMBIGUOUS_MASK_CLEAR: f"{reference} ambiguous, mask clear",
    }
    return {code: name[0].upper() + name[1:] for code, name in names.items()}


DIFFERENCE_NAMES: dict[int, str] = difference_names("SCL")

# RGBA. Greys: agreement; reds: the reference lets bad pixels through; blue and
# orange: it throws good pixels away; purples: the SCL cannot tell.
DIFFERENCE_COLOURS: dict[int, tuple[int, int, int, int]] = {
    NODATA: (0, 0, 0, 0),
    BOTH_CLEAR: (228, 228, 228, 255),
    BOTH_CLOUD: (168, 168, 168, 255),
    BOTH_SHADOW: (92, 92, 92, 255),
    CLOUD_MISSED: (228, 26, 28, 255),
    SHADOW_MISSED: (140, 10, 40, 255),
    CLOUD_ONLY_IN_REFERENCE: (33, 113, 181, 255),
    SHADOW_ONLY_IN_REFERENCE: (253, 141, 60, 255),
    THIN_AGAINST_CLOUD: (250, 225, 140, 255),
    CLOUD_AGAINST_SHADOW: (150, 95, 40, 255),
    AMBIGUOUS_MASK_CLOUD: (106, 38, 140, 255),
    AMBIGUOUS_MASK_SHADOW: (158, 110, 190, 255),
    AMBIGUOUS_MASK_CLEAR: (212, 190, 232, 255),
}

_MASK_CLASS_KEYS: dict[int, str] = {
    CLEAR: "clear",
    CLOUD_SHADOW: "cloud_shadow",
    SEMI_TRANSPARENT: "semi_transparent_cloud",
    CLOUD: "cloud",
}
_RAW_CODES = 16  # reference codes are counted raw (SCL 0-11, masks 0-4) before any mapping
_BLOCK_PIXELS = 1 << 22
_MASK_CODE_TEXT = "0-4 (no data, clear, cloud shadow, semi-transparent cloud, cloud)"
_EARTH_AUTHALIC_RADIUS_M = 6371007.2


@dataclass(frozen=True)
class Column:
    """One confusion-matrix column: the reference codes it gathers and what they are compared as."""

    key: str
    name: str
    codes: tuple[int, ...]
    compared_as: int
    ambiguous: bool


SCL_COLUMNS: tuple[Column, ...] = tuple(
    Column(key, name, codes, SCL_TO_MASK[codes[0]], codes[0] in SCL_AMBIGUOUS)
    for key, name, codes in (
        ("clear", "Clear", (4, 5)),
        ("cloud_shadow", "Cloud shadow", (3,)),
        ("semi_transparent_cloud", "Semi-transparent cloud", (10,)),
        ("cloud", "Cloud", (8, 9)),
        ("dark_area", SCL_NAMES[2], (2,)),
        ("water", SCL_NAMES[6], (6,)),
        ("unclassified", SCL_NAMES[7], (7,)),
        ("snow_or_ice", SCL_NAMES[11], (11,)),
    )
)
MASK_COLUMNS: tuple[Column, ...] = tuple(
    Column(_MASK_CLASS_KEYS[code], CLASS_NAMES[code], (code,), code, False) for code in MASK_CODES
)


def _difference_code(mask_class: int, reference_class: int, ambiguous: bool) -> int:
    if NODATA in (mask_class, reference_class):
        return NODATA
    mask_cloud = mask_class in (SEMI_TRANSPARENT, CLOUD)
    reference_cloud = reference_class in (SEMI_TRANSPARENT, CLOUD)
    if ambiguous:
        if mask_class == CLEAR:
            return AMBIGUOUS_MASK_CLEAR
        return AMBIGUOUS_MASK_SHADOW if mask_class == CLOUD_SHADOW else AMBIGUOUS_MASK_CLOUD
    if mask_class == reference_class:
        return {CLEAR: BOTH_CLEAR, CLOUD_SHADOW: BOTH_SHADOW}.get(mask_class, BOTH_CLOUD)
    if reference_class == CLEAR:
        return CLOUD_MISSED if mask_cloud else SHADOW_MISSED
    if mask_class == CLEAR:
        return CLOUD_ONLY_IN_REFERENCE if reference_cloud else SHADOW_ONLY_IN_REFERENCE
    if mask_cloud and reference_cloud:
        return THIN_AGAINST_CLOUD
    return CLOUD_AGAINST_SHADOW


def difference_lut(columns: tuple[Column, ...]) -> np.ndarray:
    """(5, 16) uint8 table: difference code for (mask code, raw reference code)."""
    lut = np.zeros((len(CLASS_NAMES), _RAW_CODES), dtype=np.uint8)
    for column in columns:
        for code in column.codes:
            for mask_class in MASK_CODES:
                lut[mask_class, code] = _difference_code(mask_class, column.compared_as, column.ambiguous)
    return lut


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _kappa(matrix: np.ndarray) -> float | None:
    total = matrix.sum()
    if not total:
        return None
    observed = np.trace(matrix) / total
    expected = float((matrix.sum(axis=1) * matrix.sum(axis=0)).sum()) / float(total) ** 2
    return None if expected >= 1.0 else float((observed - expected) / (1.0 - expected))


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
    def per_class(self) -> dict[str, dict[str, float | int | None]]:
        folded = self.folded_matrix
        figures: dict[str, dict[str, float | int | None]] = {}
        for index, code in enumerate(MASK_CODES):
            hits = int(folded[index, index])
            in_mask = int(folded[index].sum())
            in_reference = int(folded[:, index].sum())
            precision = _ratio(hits, in_mask)
            recall = _ratio(hits, in_reference)
            f1 = _ratio(2 * hits, in_mask + in_reference)
            figures[_MASK_CLASS_KEYS[code]] = {
                "code": code,
                "name": CLASS_NAMES[code],
                "mask_pixels": in_mask,
                "reference_pixels": in_reference,
                "agreeing_pixels": hits,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "iou": _ratio(hits, in_mask + in_reference - hits),
            }
        return figures

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
                    {"key": _MASK_CLASS_KEYS[c], "name": CLASS_NAMES[c], "code": c} for c in MASK_CODES
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


# --- reading -----------------------------------------------------------------------------------


def _open_raster(path: str | Path, role: str, stack: contextlib.ExitStack) -> rasterio.DatasetReader:
    try:
        dataset = stack.enter_context(rasterio.open(str(path)))
    except (RasterioError, RasterioIOError) as exc:
        raise ProductError(f"Cannot open the {role} {path}: {exc}. Check that the file exists and is a raster.") from exc
    if dataset.count != 1:
        raise ProductError(f"The {role} {path} has {dataset.count} bands; a {role} has one. Choose a single-band file.")
    if not np.issubdtype(np.dtype(dataset.dtypes[0]), np.integer):
        raise ProductError(f"The {role} {path} holds {dataset.dtypes[0]} values; a {role} holds integer class codes.")
    if dataset.crs is None:
        raise ProductError(f"The {role} {path} has no coordinate reference system; assign one so it can be placed.")
    return dataset


def _mask_grid(dataset: rasterio.DatasetReader) -> Grid:
    return Grid(dataset.crs.to_wkt(), dataset.transform, dataset.width, dataset.height)


def _check_overlap(grid: Grid, bounds: tuple[float, float, float, float], crs: Any, mask: Path, reference: Path) -> None:
    xmin, ymin, xmax, ymax = transform_bounds(crs, CRS.from_user_input(grid.crs), *bounds, densify_pts=21)
    gxmin, gymin, gxmax, gymax = grid.bounds
    if min(xmax, gxmax) <= max(xmin, gxmin) or min(ymax, gymax) <= max(ymin, gymin):
        raise ProductError(
            f"The mask {mask} and {reference} do not overlap; choose the reference that covers the mask's tile."
        )


ReadBlock = Callable[[Window], np.ndarray]


def _raster_on_grid(dataset: rasterio.DatasetReader, grid: Grid, stack: contextlib.ExitStack) -> ReadBlock:
    """The reference resampled (nearest neighbour) onto the mask grid; outside its extent reads 0, no data."""
    same_crs = dataset.crs == CRS.from_user_input(grid.crs)
    if same_crs and dataset.transform.is_rectilinear and grid.transform.is_rectilinear:
        return _pick_on_grid(dataset, grid)
    vrt = stack.enter_context(
        WarpedVRT(
            dataset,
            crs=CRS.from_user_input(grid.crs),
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.nearest,
            nodata=0,
        )
    )
    return lambda window: vrt.read(1, window=window)


def _source_indices(centres: np.ndarray, origin: float, step: float, size: int) -> np.ndarray:
    """Index of the source pixel holding each centre; -1 outside the source."""
    index = np.floor(np.round((centres - origin) / step, 9)).astype(np.int64)
    index[(index < 0) | (index >= size)] = -1
    return index


def _pick_on_grid(dataset: rasterio.DatasetReader, grid: Grid) -> ReadBlock:
    """Nearest neighbour without warping when both share a CRS: the source pixel under each target centre.

    Several times faster than a warped VRT on a full tile, and the same pixels.
    """
    source, target = dataset.transform, grid.transform
    columns = _source_indices(target.c + (np.arange(grid.width) + 0.5) * target.a, source.c, source.a, dataset.width)
    rows = _source_indices(target.f + (np.arange(grid.height) + 0.5) * target.e, source.f, source.e, dataset.height)
    inside_columns = columns >= 0

    def read(window: Window) -> np.ndarray:
        row0, height = int(window.row_off), int(window.height)
        block_rows = rows[row0 : row0 + height]
        inside_rows = block_rows >= 0
        out = np.zeros((height, grid.width), dtype=dataset.dtypes[0])
        if not inside_rows.any() or not inside_columns.any():
            return out
        wanted_rows, wanted_columns = block_rows[inside_rows], columns[inside_columns]
        r0, c0 = int(wanted_rows.min()), int(wanted_columns.min())
        source_window = Window(c0, r0, int(wanted_columns.max()) - c0 + 1, int(wanted_rows.max()) - r0 + 1)
        data = dataset.read(1, window=source_window)
        out[np.ix_(inside_rows, inside_columns)] = data[np.ix_(wanted_rows - r0, wanted_columns - c0)]
        return out

    return read


def _refuse_level(path: Path, level: str) -> None:
    raise ProductError(
        f"{path} is an {level} product. L1C products have no SCL; choose the matching L2A product or an SCL file."
    )


def _product_scl_on_grid(
    path: Path, grid: Grid, mask: Path, info: dict[str, Any], stack: contextlib.ExitStack
) -> tuple[ReadBlock, int]:
    """The product's SCL (20 m, 60 m where that is all) on the mask grid, read once through one open dataset."""
    if "MSIL1C" in path.name.upper():
        _refuse_level(path, "L1C")
    from .product import open_product

    product = open_product(path)
    if product.level != "L2A":
        _refuse_level(path, product.level)
    scl_file = product.mask_files.get("SCL_20m") or product.mask_files.get("SCL_60m")
    if scl_file is None:
        raise ProductError(f"The product {path} has no SCL file (SCL_20m or SCL_60m); choose a complete L2A product.")
    dataset = _open_raster(scl_file, "SCL", stack)
    _check_overlap(grid, tuple(dataset.bounds), dataset.crs, mask, path)
    info.update({"product_id": product.product_id, "tile_id": product.tile_id,
                 "sensing_time": product.sensing_time.isoformat(), "scl_file": str(scl_file),
                 "resolution": dataset.res[0]})
    return _raster_on_grid(dataset, grid, stack), product.sensing_time.year


def _is_product(path: Path) -> bool:
    name = path.name.upper()
    return (path.is_dir() or name.endswith(".ZIP") or name == "MANIFEST.SAFE"
            or (name.startswith("MTD_MSIL") and name.endswith(".XML")))


_SENSING_YEAR = re.compile(r"(?:^|_)(20\d{2})\d{4}T\d{6}(?:_|$)")


def _sensing_year(*texts: str) -> int | None:
    """The acquisition year from Sentinel-2 names (T29UNU_20221005T115411_SCL_20m, S2A_MSIL2A_20221005T...)."""
    for text in texts:
        for word in re.split(r"[\\/.\s]", text):
            match = _SENSING_YEAR.search(word)
            if match:
                return int(match.group(1))
    return None


def _blocks(grid: Grid) -> Iterator[Window]:
    rows = max(1, _BLOCK_PIXELS // max(1, grid.width))
    for row in range(0, grid.height, rows):
        yield Window(0, row, grid.width, min(rows, grid.height - row))


def _row_areas_m2(grid: Grid, row0: int, rows: int) -> np.ndarray:
    """Area of one pixel in each row: constant for a projected CRS, shrinking towards the poles for degrees."""
    crs = CRS.from_user_input(grid.crs)
    transform = grid.transform
    if crs.is_geographic:
        edges = np.radians(transform.f + transform.e * np.arange(row0, row0 + rows + 1))
        band = np.abs(np.sin(edges[:-1]) - np.sin(edges[1:]))
        return _EARTH_AUTHALIC_RADIUS_M**2 * math.radians(abs(transform.a)) * band
    unit = crs.linear_units_factor[1] if crs.is_projected else 1.0
    return np.full(rows, abs(transform.a * transform.e - transform.b * transform.d) * unit**2)


def _read(read: ReadBlock, window: Window, path: Path, role: str) -> np.ndarray:
    try:
        return read(window)
    except (RasterioError, RasterioIOError) as exc:
        raise ProductError(f"Could not read the {role} {path}: {exc}. The file may be damaged; obtain it again.") from exc


def _check_codes(block: np.ndarray, highest: int, path: Path, role: str, expected: str) -> None:
    outside = block[(block < 0) | (block > highest)]
    if outside.size:
        raise ProductError(
            f"The {role} {path} holds the value {int(outside[0])}, outside the codes {expected}; "
            f"choose a {role} with those codes."
        )


# --- writing -----------------------------------------------------------------------------------


def _difference_profile(grid: Grid) -> dict[str, Any]:
    return {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 1,
        "crs": CRS.from_user_input(grid.crs),
        "transform": grid.transform,
        "width": grid.width,
        "height": grid.height,
        "nodata": 0,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "BIGTIFF": "IF_SAFER",
    }


def _overview_factors(grid: Grid) -> list[int]:
    factors: list[int] = []
    factor = 2
    while max(grid.width, grid.height) // factor >= 256:
        factors.append(factor)
        factor *= 2
    return factors


def _set_category_names(path: Path, names: dict[int, str]) -> None:
    from osgeo import gdal

    dataset = gdal.Open(str(path), gdal.GA_Update)
    if dataset is None:
        raise OutputError(f"Could not reopen {path} to name its categories: {gdal.GetLastErrorMsg()}")
    band = dataset.GetRasterBand(1)
    if band.SetCategoryNames([names.get(code, "") for code in range(max(names) + 1)]) != gdal.CE_None:
        raise OutputError(f"Could not name the categories of {path}: {gdal.GetLastErrorMsg()}")
    band = dataset = None


# --- the comparison ----------------------------------------------------------------------------


def _open_reference(
    reference: Path, grid: Grid, mask: Path, against_scl: bool, stack: contextlib.ExitStack
) -> tuple[ReadBlock, str, dict[str, Any], int | None]:
    """How to read the reference on the mask grid, what kind it is, what identifies it, its year if known."""
    info: dict[str, Any] = {}
    if against_scl and _is_product(reference):
        read, year = _product_scl_on_grid(reference, grid, mask, info, stack)
        return read, "l2a_product", info, year
    dataset = _open_raster(reference, _role(against_scl), stack)
    _check_overlap(grid, tuple(dataset.bounds), dataset.crs, mask, reference)
    info.update({"resolution": dataset.res[0], "crs": dataset.crs.to_string()})
    return _raster_on_grid(dataset, grid, stack), "scl_raster" if against_scl else "mask", info, None


def _role(against_scl: bool) -> str:
    return "SCL" if against_scl else "reference mask"


def _stream(
    mask_dataset: rasterio.DatasetReader,
    read_reference: ReadBlock,
    target: rasterio.io.DatasetWriter,
    paths: tuple[Path, Path],
    against_scl: bool,
    feedback: Feedback,
) -> tuple[np.ndarray, np.ndarray]:
    """Read both sides block by block, write the difference codes; return pixel counts and areas per code pair."""
    mask_path, reference_path = paths
    grid = _mask_grid(mask_dataset)
    role = _role(against_scl)
    highest, expected = (11, "0-11 of Sen2Cor's SCL") if against_scl else (4, _MASK_CODE_TEXT)
    lut = difference_lut(SCL_COLUMNS if against_scl else MASK_COLUMNS).ravel()
    counts = np.zeros(len(CLASS_NAMES) * _RAW_CODES, dtype=np.int64)
    areas = np.zeros(len(CLASS_NAMES) * _RAW_CODES, dtype=np.float64)
    blocks = list(_blocks(grid))
    for number, window in enumerate(blocks):
        check_cancelled(feedback)
        mask_block = _read(lambda w: mask_dataset.read(1, window=w), window, mask_path, "mask")
        _check_codes(mask_block, 4, mask_path, "mask", _MASK_CODE_TEXT)
        reference_block = _read(read_reference, window, reference_path, role)
        _check_codes(reference_block, highest, reference_path, role, expected)
        pairs = mask_block.astype(np.uint8, copy=False) * np.uint8(_RAW_CODES)
        pairs += reference_block.astype(np.uint8, copy=False)
        block_counts = np.bincount(pairs.ravel(), minlength=counts.size)
        counts += block_counts
        row_areas = _row_areas_m2(grid, int(window.row_off), int(window.height))
        if np.all(row_areas == row_areas[0]):
            areas += block_counts * row_areas[0]
        else:
            weights = np.repeat(row_areas, pairs.shape[1])
            areas += np.bincount(pairs.ravel(), weights=weights, minlength=areas.size)
        target.write(lut[pairs], 1, window=window)
        feedback.progress(85.0 * (number + 1) / len(blocks), "Comparing")
    return counts.reshape(len(CLASS_NAMES), _RAW_CODES), areas.reshape(len(CLASS_NAMES), _RAW_CODES)


def _compare(
    mask: str | Path,
    reference: str | Path,
    output: str | Path,
    report: str | Path | None,
    feedback: Feedback | None,
    against_scl: bool,
) -> Comparison:
    started = time.perf_counter()
    feedback = feedback or SilentFeedback()
    mask_path, reference_path, output_path = Path(mask), Path(reference), Path(output)
    check_writable(output_path)
    if report is not None:
        check_report_path(report)
    label = _role(against_scl)
    with contextlib.ExitStack() as stack:
        mask_dataset = _open_raster(mask_path, "mask", stack)
        grid = _mask_grid(mask_dataset)
        read_reference, kind, info, year = _open_reference(reference_path, grid, mask_path, against_scl, stack)
        mask_tags = {key: str(value) for key, value in mask_dataset.tags().items() if key != "AREA_OR_POINT"}
        with atomic_output(output_path) as temporary:
            with rasterio.open(temporary, "w", **_difference_profile(grid)) as target:
                # the colour table is a TIFF tag: it must be set before the first block is written
                target.write_colormap(1, {code: DIFFERENCE_COLOURS[code] for code in (NODATA, *DIFFERENCE_CODES)})
                counts, areas = _stream(
                    mask_dataset, read_reference, target, (mask_path, reference_path), against_scl, feedback
                )
                comparison = Comparison(
                    mask=str(mask_path),
                    reference=str(reference_path),
                    reference_label=label,
                    reference_kind=kind,
                    output=str(output_path),
                    grid=grid,
                    columns=SCL_COLUMNS if against_scl else MASK_COLUMNS,
                    counts=counts,
                    areas_m2=areas,
                    mask_tags=mask_tags,
                    reference_info=info,
                    sensing_year=year or _sensing_year(str(reference_path), str(mask_path), *mask_tags.values()),
                )
                if comparison.compared_pixels == 0:
                    raise ProductError(
                        f"The mask {mask_path} and {reference_path} have no pixel with data on both sides; "
                        "choose a reference that covers the mask's valid area."
                    )
                check_cancelled(feedback)
                feedback.progress(88.0, "Writing the difference raster")
                target.set_band_description(1, f"Difference: {mask_path.name} against {label} {reference_path.name}")
                target.update_tags(**_difference_tags(comparison))
                target.build_overviews(_overview_factors(grid), Resampling.nearest)
            _set_category_names(temporary, comparison.names)
            comparison.seconds = time.perf_counter() - started
            if report is not None:
                check_cancelled(feedback)
                feedback.progress(92.0, "Writing the report")
                write_report(comparison, report, difference_raster=temporary)
                comparison.report = str(report)
    feedback.progress(100.0, "Done")
    return comparison


def _difference_tags(comparison: Comparison) -> dict[str, str]:
    def figure(value: float | None) -> str:
        return "" if value is None else f"{value:.6f}"

    return {
        "MASK": comparison.mask,
        "REFERENCE": comparison.reference,
        "REFERENCE_KIND": comparison.reference_kind,
        "CODES": "; ".join(f"{code}={name}" for code, name in comparison.names.items()),
        "OVERALL_AGREEMENT": figure(comparison.overall_agreement),
        "OVERALL_AGREEMENT_EXCLUDING_AMBIGUOUS": figure(comparison.agreement_excluding_ambiguous),
        "KAPPA": figure(comparison.kappa),
        "SCL_MAPPING": "SCL 4,5=clear; 3=shadow; 10=semi-transparent; 8,9=cloud; 2,6,7,11=ambiguous clear; 0,1=no data",
        "RESAMPLING": "reference resampled onto the mask grid with nearest neighbour",
        "ATTRIBUTION": comparison.attribution,
    }


def compare_with_scl(
    mask: str | Path,
    scl: str | Path,
    output: str | Path,
    report: str | Path | None = None,
    feedback: Feedback | None = None,
) -> Comparison:
    """Compare a mask (this plugin's or KappaMask's, codes 0-4) with Sen2Cor's SCL on the mask's grid.

    `scl` is an SCL raster (SCL_20m.jp2, SCL_60m.jp2, a GeoTIFF) or an L2A
    product (.SAFE folder, .zip, MTD_MSIL2A.xml). `output` receives the
    difference GeoTIFF; `report` (optional, .html) the HTML report, with the
    JSON beside it under the same stem.
    """
    return _compare(mask, scl, output, report, feedback, against_scl=True)


def compare_masks(
    mask: str | Path,
    reference: str | Path,
    output: str | Path,
    report: str | Path | None = None,
    feedback: Feedback | None = None,
) -> Comparison:
    """Compare two masks with the plugin's codes 0-4 (two models, or this plugin against KappaMask).

    `reference` plays the part SCL plays in `compare_with_scl`: it is
    resampled onto the mask's grid and counts as the truth for precision and recall.
    """
    return _compare(mask, reference, output, report, feedback, against_scl=False)
