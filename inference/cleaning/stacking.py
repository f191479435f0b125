"""One block of a composite: every observation's bands and mask on the block, stacked and reduced.

`composite_block(plan, window)` is what a worker runs (a dask worker
process, or this process): a pure function of the plan and the window but for
the band files and masks it keeps open between blocks (`_opened`, per process
and plan), so a product's files are opened once per worker, not once per
block. Memory per block: dates x bands x block pixels x 4 bytes, plus one
mask window per date: the block size and the number of dates set it, never
the area.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import numpy as np
from rasterio.windows import Window

from ..grid import Grid
from ..reading.product import open_product
from .bands import ProductBands
from .footprints import Bounds, overlaps
from .masks import MaskLayer
from .scoring import best_available, bap_scores, clear_median, cloud_distance, distance_margin

EPOCH = date(1970, 1, 1)
MEDIAN, BEST_AVAILABLE = "median", "bap"


@dataclass(frozen=True)
class Observation:
    """One product of a composite, as a worker needs it: where to read it, its date and its mask."""

    source: str  # what the reading layer opens (a .SAFE folder, a .zip, an MTD xml, a STAC item's product)
    product_id: str
    day: int  # sensing date, days since 1970-01-01
    bounds: Bounds  # footprint in the output CRS
    mask: str | None = None  # this plugin's mask, or the product's SCL (scl=True); None: no mask
    scl: bool = False


@dataclass(frozen=True)
class CompositePlan:
    """Everything a block needs; sent to the workers once per block (small: paths and numbers)."""

    token: str  # names this composite's open files in a worker
    grid: Grid
    bands: tuple[str, ...]
    observations: tuple[Observation, ...]
    method: str  # MEDIAN or BEST_AVAILABLE
    classes: tuple[int, ...]
    buffer: float
    target_day: int  # BEST_AVAILABLE: days since 1970-01-01 of the target date
    block: int  # side of the square blocks, in pixels

    @property
    def layers(self) -> int:
        """Output bands: the composite's bands, the clear-observation count, and the chosen date (BAP)."""
        return len(self.bands) + (2 if self.method == BEST_AVAILABLE else 1)


@dataclass
class _Read:
    """One observation on one block."""

    index: int
    data: np.ndarray | None  # (bands, rows, cols) reflectance; None once stacked
    clear: np.ndarray  # (rows, cols)
    distance: np.ndarray | None  # (rows, cols) metres to its nearest removed pixel (BAP only)


_OPEN: dict[str, dict[int, tuple[ProductBands, MaskLayer | None]]] = {}


def _opened(plan: CompositePlan, index: int) -> tuple[ProductBands, MaskLayer | None]:
    """The band reader and mask of an observation, opened once per process and plan."""
    opened = _OPEN.setdefault(plan.token, {})
    if index not in opened:
        observation = plan.observations[index]
        bands = ProductBands(open_product(observation.source), plan.bands, plan.grid, threads=1)
        try:
            layer = None if observation.mask is None else MaskLayer(observation.mask, plan.classes, plan.buffer,
                                                                     scl=observation.scl)
        except BaseException:
            bands.close()
            raise
        opened[index] = (bands, layer)
    return opened[index]


def release(token: str) -> None:
    """Close the files a composite opened in this process (a worker is told so when the composite ends)."""
    for bands, layer in _OPEN.pop(token, {}).values():
        with contextlib.suppress(Exception):
            bands.close()
        if layer is not None:
            with contextlib.suppress(Exception):
                layer.close()


def _read(plan: CompositePlan, index: int, window: Window, block: Grid, expanded: Grid, margin: int) -> _Read | None:
    bands, layer = _opened(plan, index)
    read = bands.read(window)
    if not read.valid.any():
        return None
    clear, distance = read.valid, None
    if layer is not None:
        unusable = layer.read(expanded)
        inner = (slice(margin, margin + block.height), slice(margin, margin + block.width))
        clear = read.valid & ~unusable.any[inner]
        if plan.method == BEST_AVAILABLE:
            distance = cloud_distance(unusable.removed, margin, block.resolution)
    elif plan.method == BEST_AVAILABLE:
        distance = cloud_distance(np.zeros((block.height + 2 * margin, block.width + 2 * margin), bool), margin,
                                  block.resolution)
    return _Read(index, read.data, clear, distance)


def composite_block(plan: CompositePlan, window: tuple[int, int, int, int],
                    pool: ThreadPoolExecutor | None = None) -> np.ndarray:
    """float32 (plan.layers, rows, cols) for window (col, row, width, height) of the plan's grid.

    pool: threads reading the observations side by side (in this process; dask workers read one at a time).
    """
    win = Window(*window)
    block = plan.grid.window_grid(win)
    margin = distance_margin(block.resolution) if plan.method == BEST_AVAILABLE else 0
    expanded = plan.grid.window_grid(Window(win.col_off - margin, win.row_off - margin,
                                            win.width + 2 * margin, win.height + 2 * margin))
    wanted = [i for i, o in enumerate(plan.observations) if overlaps(o.bounds, block.bounds)]

    def read_one(index: int) -> _Read | None:
        return _read(plan, index, win, block, expanded, margin)

    reads = [r for r in (pool.map(read_one, wanted) if pool is not None else map(read_one, wanted)) if r is not None]
    out = np.full((plan.layers, block.height, block.width), np.nan, np.float32)
    out[len(plan.bands)] = 0.0
    if not reads:
        return out
    values = np.empty((len(reads), *reads[0].data.shape), np.float32)
    for index, read in enumerate(reads):  # each read's data goes as it is copied: one copy of the stack at most
        values[index], read.data = read.data, None
    clear = np.stack([r.clear for r in reads])
    out[len(plan.bands)] = clear.sum(axis=0)
    if plan.method == MEDIAN:
        out[:len(plan.bands)] = clear_median(values, clear)
        return out
    days = np.array([plan.observations[r.index].day for r in reads], np.float64)
    scores = bap_scores(np.stack([r.distance for r in reads]), days - plan.target_day)
    picked, chosen = best_available(values, clear, scores)
    out[:len(plan.bands)] = picked
    out[len(plan.bands) + 1] = np.where(chosen >= 0, days[np.clip(chosen, 0, None)], np.nan)
    return out


def observation_day(moment: date) -> int:
    return (moment - EPOCH).days


def layer_names(bands: Sequence[str], method: str) -> list[str]:
    names = [*bands, "clear observations"]
    if method == BEST_AVAILABLE:
        names.append("date of the chosen observation (days since 1970-01-01)")
    return names
