"""The composite part of `make accuracy`: composites of a generated series with this plugin's masks, with
the SCL's cloud classes and with no mask, against the series' true surface and each date's truth.

The generator (tools/synthetic_product.py, write_series) draws one surface
and, per date, its own clouds, cirrus and shadows, and writes the truth of each
date and the true surface reflectance. Figures, on the composite's 20 m grid
(a 20 m pixel is truth-clear when all four 10 m truth pixels are clear, and
cloud or shadow when any is):

- contamination: of the composite's pixels, the share built from an
  observation the truth calls cloud, semi-transparent cloud or shadow (the
  median: any of the observations it took; best-available pixel: the one chosen);
- RMSE against the true surface reflectance, per band;
- clear pixels lost: truth-clear observations the mask removed, of all truth-clear ones;
- let through: truth cloud or shadow the mask kept, of all such observations;
- TSI, the temporal smoothness index of the masked series at sample pixels
  (Vermote et al. 2009, as Huang et al. 2025 rank cloud masks by it): the root
  mean square of each kept observation's distance from the line through its
  kept neighbours in time, averaged over pixels with three or more kept
  observations and over bands. The true surface does not change, so 0 is perfect.

The generator's truth used as the mask gives the floor every mask is measured
against: what the reading and resampling alone leave.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window
from s2cloudmask.inference.classes import CLEAR, CLOUD, CLOUD_SHADOW, SEMI_TRANSPARENT
from s2cloudmask.inference.cleaning.bands import ProductBands
from s2cloudmask.inference.cleaning.composite import composite
from s2cloudmask.inference.cleaning.masks import MaskLayer
from s2cloudmask.inference.cleaning.stacking import observation_day
from s2cloudmask.inference.reading.product import open_product, scl_file
from s2cloudmask.tools.synthetic_product import read_series, write_series

SERIES = {"dates": 8, "size": 1200, "seed": 7}  # 8 dates, 12 km x 12 km
SOURCES = (("this plugin's masks", "plugin"), ("SCL cloud classes", "scl"), ("no mask", "none"),
           ("generator's truth (floor)", "truth"))
MASK_SOURCE = {"plugin": "plugin", "scl": "scl", "none": "none", "truth": "plugin"}  # the truth, as masks
METHODS = (("median", "median"), ("best-available pixel", "bap"))
REMOVED = (CLOUD_SHADOW, SEMI_TRANSPARENT, CLOUD)
TSI_PIXELS = 2000


def truth_at_20m(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(clear, bad) of a date's 10 m truth on the 20 m grid: all four clear; any cloud or shadow."""
    with rasterio.open(path) as dataset:
        codes = dataset.read(1)
    quads = codes.reshape(codes.shape[0] // 2, 2, codes.shape[1] // 2, 2)
    return (quads == CLEAR).all(axis=(1, 3)), np.isin(quads, REMOVED).any(axis=(1, 3))


def temporal_smoothness(series: np.ndarray, kept: np.ndarray, days: np.ndarray) -> float:
    """series (dates, pixels), kept (dates, pixels), days (dates,) -> mean TSI over pixels with >= 3 kept dates."""
    values = []
    for pixel in range(series.shape[1]):
        index = np.flatnonzero(kept[:, pixel])
        if index.size < 3:
            continue
        t, y = days[index].astype(np.float64), series[index, pixel].astype(np.float64)
        between = y[:-2] + (y[2:] - y[:-2]) * (t[1:-1] - t[:-2]) / (t[2:] - t[:-2])
        values.append(np.sqrt(np.mean((y[1:-1] - between) ** 2)))
    return float(np.mean(values)) if values else float("nan")


def _kept(observations: list[dict], source: str, masks: Path, grid, bands) -> tuple[np.ndarray, ...]:
    """(valid, kept, values) per date: where it has data, which pixels the source's mask keeps, and the
    reflectance the composite reads (the engine's own reader and mask reader, so the same pixels)."""
    valid, kept, values = [], [], []
    for entry in observations:
        product = open_product(entry["product"])
        with ProductBands(product, bands, grid) as reader:
            block = reader.read(Window(0, 0, grid.width, grid.height))
        usable = block.valid.copy()
        path = {"plugin": masks / f"{product.product_id}_cloudmask.tif", "truth": entry["truth"],
                "scl": scl_file(product)}.get(source)
        if path is not None:
            with MaskLayer(path, REMOVED, scl=source == "scl") as layer:
                usable &= ~layer.read(grid).any
        valid.append(block.valid)
        kept.append(usable)
        values.append(block.data)
    return np.stack(valid), np.stack(kept), np.stack(values)


def score_composites(work: Path) -> list[str]:
    folder = write_series(work / "series", **SERIES)
    series = read_series(folder)
    observations = series["dates"]
    with rasterio.open(series["surface"]) as dataset:
        surface = dataset.read()
        bands = list(dataset.descriptions)
    truths = [truth_at_20m(entry["truth"]) for entry in observations]
    clear_truth = np.stack([clear for clear, _ in truths])
    bad_truth = np.stack([bad for _, bad in truths])
    days = np.array([observation_day(open_product(e["product"]).sensing_time.date()) for e in observations])
    truth_masks = work / "truth-masks"
    truth_masks.mkdir()
    for entry in observations:  # the truth in a masks folder, under the names a batch run gives masks
        shutil.copy(entry["truth"], truth_masks / f"{entry['product_id']}_cloudmask.tif")
    masks = work / "masks"
    rng = np.random.default_rng(0)
    summary = ["| masks | method | contamination | RMSE (mean of bands) | clear pixels lost | cloud and shadow let "
               "through | TSI (mean of bands) | pixels with a clear observation |", "|---|---|---|---|---|---|---|---|"]
    per_band = ["| masks | method | " + " | ".join(bands) + " |", "|---|---|" + "---|" * len(bands)]
    sample = None
    for label, source in SOURCES:
        valid = kept = values = None
        for method_label, method in METHODS:
            output = work / f"composite-{source}-{method}.tif"
            result = composite(folder, output, method=method, mask_source=MASK_SOURCE[source],
                               masks=truth_masks if source == "truth" else masks, device="cpu")
            with rasterio.open(output) as dataset:
                layers = dataset.read()
            if kept is None:
                valid, kept, values = _kept(observations, source, masks, result.grid, bands)
                if sample is None:
                    rows, cols = np.nonzero(np.isfinite(surface[0]))
                    sample = rng.choice(rows.size, size=min(TSI_PIXELS, rows.size), replace=False)
                    sample = (rows[sample], cols[sample])
                lost = (clear_truth & ~kept & valid).sum() / max(1, (clear_truth & valid).sum())
                through = (bad_truth & kept).sum() / max(1, (bad_truth & valid).sum())  # kept implies valid
                tsi = np.mean([temporal_smoothness(values[:, b][:, sample[0], sample[1]],
                                                   kept[:, sample[0], sample[1]], days) for b in range(len(bands))])
            composite_bands = layers[:len(bands)]
            count = layers[len(bands)]
            has = count > 0
            if method == "median":
                dirty = (bad_truth & kept).any(axis=0) & has
            else:
                chosen = np.where(has, layers[len(bands) + 1], np.nan)
                index = np.searchsorted(days, np.nan_to_num(chosen, nan=days[0]).astype(int))
                dirty = np.take_along_axis(bad_truth, index[None], axis=0)[0] & has
            both = np.isfinite(composite_bands[0]) & np.isfinite(surface[0])
            rmse = np.sqrt(np.mean((composite_bands[:, both] - surface[:, both]) ** 2, axis=1))
            summary.append(f"| {label} | {method_label} | {dirty.sum() / max(1, has.sum()):.4f} | {rmse.mean():.4f} | "
                           f"{lost:.3f} | {through:.3f} | {tsi:.4f} | {100.0 * has.mean():.1f} % |")
            per_band.append(f"| {label} | {method_label} | " + " | ".join(f"{v:.4f}" for v in rmse) + " |")
    covers = ", ".join(f"{100 * e['cloud_cover']:.0f} %" for e in observations)
    return [
        f"Series: {SERIES['dates']} dates of one 12 km x 12 km Level-2A tile, every 5 days from "
        f"{observations[0]['date']}, thick-cloud cover {covers} (seed {SERIES['seed']}); composites on the "
        f"20 m grid of all {len(bands)} surface bands; masks remove cloud, semi-transparent cloud and cloud "
        "shadow, no buffer; this plugin's masks at 20 m, shadow check on.",
        "",
        *summary,
        "",
        "RMSE against the true surface reflectance, per band:",
        "",
        *per_band,
    ]
