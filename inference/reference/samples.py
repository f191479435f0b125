"""Training samples: the analyst's points or polygons, with a class each, turned into pixels of the feature grid.

Samples arrive as GeoJSON-like geometries already in the grid's CRS (the QGIS
side reprojects), each with a class given as a code 1-4 or a name ("cloud",
"cloud shadow", "thin cloud", ...). Everything that would make a reference
silently wrong is refused with a message that says which feature and what to
do: an empty layer, an unknown class, a point outside the product, a class
with too few samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rasterio.features import rasterize
from rasterio.windows import Window

from ..classes import CLASS_ALIASES, CLASS_NAMES, MASK_CODES
from ..defaults import MIN_SAMPLES_PER_CLASS
from ..errors import SampleError, SamplesOutside
from ..grid import Grid

MIN_CLASSES = 2


@dataclass(frozen=True)
class Sample:
    geometry: dict[str, Any]  # GeoJSON-like: {"type": "Point", "coordinates": (x, y)} or a (Multi)Polygon
    label: Any  # a code 1-4 or a class name
    feature_id: Any = None  # what the user calls it in messages (the layer's feature id)


@dataclass
class SamplePixels:
    rows: np.ndarray  # int64
    cols: np.ndarray  # int64
    codes: np.ndarray  # uint8 class codes 1-4
    sample: np.ndarray  # int64 index into the samples list, one per pixel

    def __len__(self) -> int:
        return int(self.rows.size)

    def subset(self, keep: np.ndarray) -> "SamplePixels":
        return SamplePixels(self.rows[keep], self.cols[keep], self.codes[keep], self.sample[keep])


def _normalise(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


ALIASES = {_normalise(name): code for name, code in CLASS_ALIASES.items()}
KNOWN_NAMES = ", ".join(f"{code} {CLASS_NAMES[code].lower()}" for code in MASK_CODES)


def class_code(value: Any, where: str) -> int:
    """A class code 1-4 from a code or a name; SampleError naming `where` otherwise."""
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and float(value).is_integer()):
        code = int(value)
        if code in MASK_CODES:
            return code
        raise SampleError(f"{where} has the class code {code}; use one of {KNOWN_NAMES}.")
    text = "" if value is None else str(value).strip()
    if text.isdigit():
        return class_code(int(text), where)
    code = ALIASES.get(_normalise(text))
    if code is None:
        raise SampleError(f"{where} has the class {text!r}, which is not a class name; use one of {KNOWN_NAMES} "
                          "(names or codes).")
    return code


def _point_pixel(x: float, y: float, grid: Grid) -> tuple[int, int]:
    col, row = grid.pixel_xy(x, y)
    return math.floor(row), math.floor(col)


def _polygon_pixels(geometry: dict[str, Any], grid: Grid) -> tuple[np.ndarray, np.ndarray] | None:
    """Pixels whose centres fall inside a polygon, found in its bounding window only; None outside the grid."""
    xs, ys = _coordinates(geometry)
    r0, c0 = _point_pixel(min(xs), max(ys), grid)
    r1, c1 = _point_pixel(max(xs), min(ys), grid)
    r0, c0 = max(r0, 0), max(c0, 0)
    r1, c1 = min(r1, grid.height - 1), min(c1, grid.width - 1)
    if r0 > r1 or c0 > c1:
        return None
    window = Window(c0, r0, c1 - c0 + 1, r1 - r0 + 1)
    burnt = rasterize([(geometry, 1)], out_shape=(int(window.height), int(window.width)),
                      transform=grid.window_grid(window).transform, fill=0, dtype="uint8")
    rows, cols = np.nonzero(burnt)
    if rows.size == 0:  # smaller than a pixel: the pixel under its first vertex
        row, col = _point_pixel(xs[0], ys[0], grid)
        return np.array([row]), np.array([col])
    return rows + r0, cols + c0


def _coordinates(geometry: dict[str, Any]) -> tuple[list[float], list[float]]:
    flat: list[tuple[float, float]] = []

    def walk(item: Any) -> None:
        if isinstance(item, (list, tuple)) and item and isinstance(item[0], (int, float)):
            flat.append((float(item[0]), float(item[1])))
        elif isinstance(item, (list, tuple)):
            for part in item:
                walk(part)

    walk(geometry.get("coordinates", ()))
    if not flat:
        raise SampleError("A sample has an empty geometry; delete it or draw it again.")
    return [p[0] for p in flat], [p[1] for p in flat]


def sample_pixels(samples: Sequence[Sample], grid: Grid, product: str, layer: str = "the sample layer") -> SamplePixels:
    """Every sample's pixels on `grid`; SampleError for an empty layer, an unknown class or a sample outside."""
    if not samples:
        raise SampleError(f"{layer} has no features; mark points of at least {MIN_CLASSES} classes, "
                          f"{MIN_SAMPLES_PER_CLASS} or more each.")
    rows, cols, codes, owners = [], [], [], []
    outside = []
    for index, sample in enumerate(samples):
        feature = sample.feature_id if sample.feature_id is not None else index + 1
        name = f"Feature {feature} of {layer}"
        code = class_code(sample.label, name)
        kind = sample.geometry.get("type", "")
        if kind == "Point":
            x, y = sample.geometry["coordinates"][:2]
            row, col = _point_pixel(x, y, grid)
            if not (0 <= row < grid.height and 0 <= col < grid.width):
                outside.append((feature, name, x, y))
                continue
            pixel_rows, pixel_cols = np.array([row]), np.array([col])
        elif kind in ("Polygon", "MultiPolygon"):
            found = _polygon_pixels(sample.geometry, grid)
            if found is None:
                xs, ys = _coordinates(sample.geometry)
                outside.append((feature, name, xs[0], ys[0]))
                continue
            pixel_rows, pixel_cols = found
        else:
            raise SampleError(f"{name} is a {kind or 'geometry without a type'}; samples are points or polygons.")
        rows.append(pixel_rows)
        cols.append(pixel_cols)
        codes.append(np.full(pixel_rows.size, code, np.uint8))
        owners.append(np.full(pixel_rows.size, index, np.int64))
    if outside:
        _, first, x, y = outside[0]
        xmin, ymin, xmax, ymax = grid.bounds
        raise SamplesOutside(
            f"{len(outside)} of {len(samples)} samples lie outside {product} ({first} at x={x:.1f}, y={y:.1f}; "
            f"the product covers x {xmin:.0f} to {xmax:.0f}, y {ymin:.0f} to {ymax:.0f} in its CRS). "
            "Delete them or choose the product they were marked on.",
            feature_ids=tuple(dict.fromkeys(feature for feature, *_ in outside)),
        )
    return SamplePixels(np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64),
                        np.concatenate(codes), np.concatenate(owners))


def check_counts(pixels: SamplePixels, layer: str = "the sample layer",
                 minimum: int = MIN_SAMPLES_PER_CLASS) -> dict[int, int]:
    """Samples (features, not pixels: one polygon is one sample) per class on valid pixels; SampleError when
    fewer than two classes, or a class with fewer than `minimum`."""
    counts = {code: int(np.unique(pixels.sample[pixels.codes == code]).size)
              for code in MASK_CODES if (pixels.codes == code).any()}
    if len(counts) < MIN_CLASSES:
        have = ", ".join(CLASS_NAMES[c].lower() for c in counts) or "none"
        raise SampleError(f"{layer} has samples of {len(counts)} class(es) ({have}) on valid pixels; a reference "
                          f"needs at least {MIN_CLASSES} classes. Mark points of the other classes.")
    few = {code: n for code, n in counts.items() if n < minimum}
    if few:
        listed = ", ".join(f"{CLASS_NAMES[c].lower()} {n}" for c, n in few.items())
        raise SampleError(f"{layer} has too few samples in a class ({listed}); mark at least {minimum} per class, "
                          "spread over the scene.")
    return counts
