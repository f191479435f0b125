"""Per-pixel choices of a composite, pure numpy on one block: the median, and best-available-pixel scores.

Observations arrive as a stack (dates, bands, rows, cols) with `clear`
(dates, rows, cols) saying which the mask leaves.

Median: per band, the median of a pixel's clear observations (the mean of
the two middle ones for an even count), as numpy's nanmedian.

Best available pixel (after FORCE's parametric compositing, reduced to the
two scores that need no extra data): each clear observation scores

    score = DISTANCE_WEIGHT * min(distance to the nearest removed pixel, DISTANCE_FULL) / DISTANCE_FULL
          + DATE_WEIGHT * exp(-0.5 * (days from the target date / DATE_SIGMA_DAYS) ** 2)

and the highest score wins, all bands from that one observation. Distance
dominates: cloud edges and thin fringes next to a mask's clouds are where
masks miss most, so an observation far from any cloud is the safest; the
date breaks ties between equally clear ones. The distance is measured on the
observation's own mask, over a margin of DISTANCE_FULL around the block, so
a block's pixels score as they would in the whole grid.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

DISTANCE_FULL = 300.0  # m from the nearest cloud or shadow at which an observation counts as fully safe
DATE_SIGMA_DAYS = 30.0
DISTANCE_WEIGHT = 1.0
DATE_WEIGHT = 0.5


def distance_margin(resolution: float) -> int:
    """Pixels around a block whose mask the distance score needs."""
    return int(math.ceil(DISTANCE_FULL / resolution))


def clear_median(values: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """values (dates, bands, rows, cols), clear (dates, rows, cols) -> float32 (bands, rows, cols); NaN where
    a pixel has no clear observation. One band at a time, so the working copy is one band's stack."""
    count = clear.sum(axis=0)
    low = np.clip((count - 1) // 2, 0, None)[None]
    high = np.clip(count // 2, 0, None)[None]
    median = np.empty(values.shape[1:], np.float32)
    for band in range(values.shape[1]):
        stacked = np.where(clear, values[:, band], np.float32(np.nan))
        stacked.sort(axis=0)  # NaN sort last
        median[band] = (np.take_along_axis(stacked, low, axis=0)[0]
                        + np.take_along_axis(stacked, high, axis=0)[0]) * np.float32(0.5)
    median[:, count == 0] = np.nan
    return median


def _pick(stack: np.ndarray, index: np.ndarray) -> np.ndarray:
    """stack (dates, bands, rows, cols), index (rows, cols) of a date -> (bands, rows, cols)."""
    return np.take_along_axis(stack, np.broadcast_to(index[None, None], (1, *stack.shape[1:])), axis=0)[0]


def cloud_distance(removed: np.ndarray, margin: int, resolution: float) -> np.ndarray:
    """removed: bool (rows + 2 margin, cols + 2 margin) of one observation -> metres from each inner pixel to the
    nearest removed pixel, at most DISTANCE_FULL."""
    inner = (slice(margin, removed.shape[0] - margin), slice(margin, removed.shape[1] - margin))
    if not removed.any():
        return np.full(removed[inner].shape, DISTANCE_FULL, np.float32)
    distance = ndimage.distance_transform_edt(~removed)[inner] * resolution
    return np.minimum(distance, DISTANCE_FULL).astype(np.float32)


def bap_scores(distance: np.ndarray, days_from_target: np.ndarray) -> np.ndarray:
    """distance (dates, rows, cols) in metres, days_from_target (dates,) -> scores (dates, rows, cols)."""
    date_score = np.exp(-0.5 * (np.asarray(days_from_target, np.float64) / DATE_SIGMA_DAYS) ** 2).astype(np.float32)
    return (DISTANCE_WEIGHT * distance / np.float32(DISTANCE_FULL)
            + DATE_WEIGHT * date_score[:, None, None]).astype(np.float32)


def best_available(values: np.ndarray, clear: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best-scoring clear observation of each pixel: (float32 (bands, rows, cols), NaN where none;
    int (rows, cols) index of the date chosen, -1 where none)."""
    ranked = np.where(clear, scores, -np.inf)
    chosen = np.argmax(ranked, axis=0)
    none = ~clear.any(axis=0)
    picked = _pick(values, chosen).astype(np.float32)
    picked[:, none] = np.nan
    chosen[none] = -1
    return picked, chosen
