"""A classification read as "usable or not" on any grid, block by block: this plugin's mask, or an L2A's SCL.

Cleaning asks one question of a mask: which pixels of this block must go.
A pixel goes where the mask holds a class the user removes (grown by the
buffer, in metres on the mask's own grid) or no data (no mask there means no
pixel is known to be clear). On a coarser target grid a pixel goes when any
mask pixel it covers goes: a 20 m pixel with one cloudy 10 m quarter is not
clean. The mask is reprojected when its CRS differs from the target's.

Only the block's window of the mask is read, with a margin as wide as the
buffer, so memory follows the block, never the mask's size.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds
from scipy import ndimage

from ..classes import NODATA, scl_to_mask
from ..comparing.rasters import mask_grid, open_raster
from ..defaults import CLEAN_CLASSES
from ..errors import ParameterError
from ..grid import Grid
from ..masking.buffers import buffer_pixels, check_buffer, disk

READ_MARGIN = 1  # mask pixels around a block's footprint: a reprojected block's corners never fall short


@dataclass
class Unusable:
    """What a mask says of one block: `removed`, the classes the user removes (buffered), and `nodata`."""

    removed: np.ndarray  # bool (rows, cols)
    nodata: np.ndarray  # bool (rows, cols)

    @property
    def any(self) -> np.ndarray:
        return self.removed | self.nodata


def check_classes(classes: Sequence[int]) -> tuple[int, ...]:
    """The mask codes to remove, checked: at least one, each a class that can be removed (2, 3, 4)."""
    chosen = tuple(sorted({int(code) for code in classes}))
    wrong = [code for code in chosen if code not in CLEAN_CLASSES.values()]
    if not chosen or wrong:
        names = ", ".join(CLEAN_CLASSES)
        raise ParameterError(f"CLASSES must name one or more of {names} (got {list(classes)!r}).")
    return chosen


class MaskLayer:
    """A mask file (codes 0-4) or an SCL file (`scl=True`, mapped through classes.SCL_TO_MASK), opened once."""

    def __init__(self, path: str | Path, classes: Sequence[int], buffer: float = 0.0, *, scl: bool = False,
                 role: str = "mask"):
        self.path = str(path)
        self.classes = check_classes(classes)
        self.buffer = check_buffer(float(buffer))
        self.scl = scl
        self._stack = contextlib.ExitStack()
        self.dataset = open_raster(self.path, role, self._stack)
        self.grid = mask_grid(self.dataset)
        self.tags: dict[str, str] = self.dataset.tags()
        self.radius = buffer_pixels(self.buffer, self.grid.resolution) if self.buffer else 0

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "MaskLayer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _window(self, target: Grid) -> Window:
        """The window of the mask covering the target's footprint, with the buffer's reach around it."""
        own = CRS.from_user_input(self.grid.crs)
        wanted = CRS.from_user_input(target.crs)
        bounds = target.bounds if own == wanted else transform_bounds(wanted, own, *target.bounds, densify_pts=21)
        window = from_bounds(*bounds, transform=self.grid.transform)
        margin = self.radius + READ_MARGIN
        col0 = math.floor(round(window.col_off, 6)) - margin
        row0 = math.floor(round(window.row_off, 6)) - margin
        col1 = math.ceil(round(window.col_off + window.width, 6)) + margin
        row1 = math.ceil(round(window.row_off + window.height, 6)) + margin
        return Window(col0, row0, col1 - col0, row1 - row0)

    def _codes(self, window: Window) -> np.ndarray:
        """The mask's codes (0-4) on a window that may reach outside the file (no data there)."""
        height, width = int(window.height), int(window.width)
        out = np.zeros((height, width), np.uint8)
        row0, col0 = int(window.row_off), int(window.col_off)
        r0, c0 = max(row0, 0), max(col0, 0)
        r1, c1 = min(row0 + height, self.grid.height), min(col0 + width, self.grid.width)
        if r1 > r0 and c1 > c0:
            data = self.dataset.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
            codes = scl_to_mask(data) if self.scl else np.where(data <= 4, data, NODATA).astype(np.uint8)
            out[r0 - row0:r1 - row0, c0 - col0:c1 - col0] = codes
        return out

    def read(self, target: Grid) -> Unusable:
        """Which pixels of `target` (any grid, any CRS) the mask removes, and where it has no data."""
        window = self._window(target)
        codes = self._codes(window)
        removed = np.isin(codes, self.classes)
        if self.radius and removed.any():
            removed = ndimage.binary_dilation(removed, structure=disk(self.radius))
        nodata = codes == NODATA
        source = self.grid.window_grid(window)
        return Unusable(_onto(removed, source, target), _onto(nodata, source, target))


def _onto(flags: np.ndarray, source: Grid, target: Grid) -> np.ndarray:
    """Boolean flags onto another grid: a target pixel is flagged when any source pixel it covers is.

    Grids of one CRS whose pixels nest (the tile's 10, 20 and 60 m grids) are handled in numpy, exactly;
    anything else goes through GDAL's warper with its maximum.
    """
    nested = _nesting(source, target)
    if nested is not None:
        row, col, factor = nested
        if factor >= 1:
            k = int(factor)
            part = flags[row:row + target.height * k, col:col + target.width * k]
            return part.reshape(target.height, k, target.width, k).any(axis=(1, 3))
        k = int(round(1 / factor))
        part = flags[row:row + -(-target.height // k) + 1, col:col + -(-target.width // k) + 1]
        return np.repeat(np.repeat(part, k, axis=0), k, axis=1)[:target.height, :target.width]
    out = np.zeros(target.shape, np.uint8)
    reproject(flags.astype(np.uint8), out, src_transform=source.transform, src_crs=CRS.from_user_input(source.crs),
              dst_transform=target.transform, dst_crs=CRS.from_user_input(target.crs), resampling=Resampling.max)
    return out.astype(bool)


def _nesting(source: Grid, target: Grid) -> tuple[int, int, float] | None:
    """(row, col, target pixel / source pixel) where target pixels are whole multiples (or whole fractions)
    of source pixels on one CRS and the target's corner lies on a source pixel's corner; else None."""
    if CRS.from_user_input(source.crs) != CRS.from_user_input(target.crs):
        return None
    s, t = source.transform, target.transform
    if s.b or s.d or t.b or t.d or s.e != -s.a or t.e != -t.a:
        return None
    factor = t.a / s.a
    whole = factor if factor >= 1 else 1 / factor
    col, row = (t.c - s.c) / s.a, (s.f - t.f) / s.a
    if abs(whole - round(whole)) > 1e-9 or abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return int(round(row)), int(round(col)), factor
