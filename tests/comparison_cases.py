"""A constructed comparison: a mask and an SCL whose every pixel pair is known, and the uint8 rasters it is made of.
Shared by the engine's comparison tests and the QGIS room's report tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

UTM29 = "EPSG:32629"
ORIGIN = Affine(10, 0, 500000, 0, -10, 5800000)

# (mask code, SCL code, count, expected difference code), designed so that every
# difference category and every matrix column but "snow" occurs.
PAIRS = [
    (1, 4, 10, 1),
    (1, 5, 2, 1),
    (1, 8, 2, 6),
    (1, 3, 1, 7),
    (1, 6, 2, 12),
    (2, 3, 4, 3),
    (2, 4, 2, 5),
    (2, 2, 1, 11),
    (3, 10, 3, 2),
    (3, 9, 1, 8),
    (4, 9, 6, 2),
    (4, 5, 2, 4),
    (4, 3, 1, 9),
    (4, 7, 1, 10),
    (0, 4, 1, 0),
    (4, 0, 1, 0),
]


def write_codes(path: Path, data: np.ndarray, transform: Affine = ORIGIN, crs: str = UTM29, **tags: str) -> Path:
    profile = {"driver": "GTiff", "dtype": "uint8", "count": 1, "width": data.shape[1], "height": data.shape[0],
               "crs": crs, "transform": transform}
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data.astype(np.uint8), 1)
        dataset.update_tags(**tags)
    return path


def constructed_case(folder: Path, crs: str = UTM29) -> tuple[Path, Path, np.ndarray]:
    """A 4 x 10 mask and SCL on one grid holding PAIRS; returns the expected difference codes too."""
    mask = np.concatenate([np.full(n, m) for m, _, n, _ in PAIRS]).reshape(4, 10)
    scl = np.concatenate([np.full(n, s) for _, s, n, _ in PAIRS]).reshape(4, 10)
    expected = np.concatenate([np.full(n, d) for _, _, n, d in PAIRS]).reshape(4, 10)
    return (write_codes(folder / "mask.tif", mask, MODEL="test model 1.0"),
            write_codes(folder / "scl.tif", scl, crs=crs), expected)
