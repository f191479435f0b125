"""Composites in the engine, over a generated series: the values are the median (or the best-available
pixel) of the clear observations read straight from the products' files; blocks never show; the batch
runner's dask workers make the missing masks and composite the blocks; bad inputs change nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform
from s2cloudmask.inference.classes import CLEAR
from s2cloudmask.inference.cleaning.composite import composite
from s2cloudmask.inference.cleaning.stacking import observation_day
from s2cloudmask.inference.errors import Cancelled, OutputError, ProductError
from s2cloudmask.inference.masking.engine import mask_product
from s2cloudmask.inference.reading.product import open_product
from s2cloudmask.tools import synthetic_product as sp

from tests.sandbox_env import PACKAGE_ROOT, REPO

DATES = 4


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> dict:
    """Four dates of a generated series (2.4 km) and a folder with each date's mask at 20 m."""
    folder = tmp_path_factory.mktemp("composite")
    found = sp.read_series(sp.write_series(folder / "products", dates=DATES, size=240, seed=5))
    found["folder"] = folder / "products"
    found["masks"] = folder / "masks"
    found["masks"].mkdir()
    for entry in found["dates"]:
        entry["mask"] = found["masks"] / f"{entry['product_id']}_cloudmask.tif"
        mask_product(entry["product"], entry["mask"], resolution=20, device="cpu")
    return found


def _observations(series: dict, band: str = "B05") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reflectance, clear, day) per date, from the band's own 20 m file and the mask, without the engine."""
    values, clear, days = [], [], []
    for entry in series["dates"]:
        with rasterio.open(next(Path(entry["product"]).rglob(f"*_{band}_20m.jp2"))) as dataset:
            dn = dataset.read(1).astype(np.float64)
        with rasterio.open(entry["mask"]) as dataset:
            codes = dataset.read(1)
        values.append((dn - 1000.0) / 10000.0)
        clear.append((codes == CLEAR) & (dn > 0))
        days.append(observation_day(open_product(entry["product"]).sensing_time.date()))
    return np.stack(values), np.stack(clear), np.array(days)


def _layers(path: Path) -> tuple[np.ndarray, tuple, dict]:
    with rasterio.open(path) as dataset:
        return dataset.read(), dataset.descriptions, dataset.tags()


def test_the_median_is_that_of_the_clear_observations_and_masks_are_reused(series, tmp_path, cog_errors):
    result = composite(series["folder"], tmp_path / "median.tif", masks=series["masks"], workers=1)
    assert result.masks_reused == DATES and result.masks_made == 0 and result.workers == "this process"
    layers, descriptions, tags = _layers(tmp_path / "median.tif")
    assert descriptions == (*sp.SURFACE_BANDS, "clear observations") and cog_errors(tmp_path / "median.tif") == []
    assert tags["METHOD"] == "median of the clear observations" and len(tags["PRODUCTS"].split(",")) == DATES
    values, clear, _ = _observations(series)
    count = layers[len(sp.SURFACE_BANDS)]
    np.testing.assert_array_equal(count, clear.sum(axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels without a clear observation: NaN, as ours
        expected = np.nanmedian(np.where(clear, values, np.nan), axis=0)
    composite_b05 = layers[sp.SURFACE_BANDS.index("B05")]
    np.testing.assert_array_equal(np.isnan(composite_b05), count == 0)
    np.testing.assert_allclose(composite_b05[count > 0], expected[count > 0], atol=1e-6)
    assert 0 < result.covered_percent < 100 and result.target_date is None


def test_best_available_pixel_takes_every_band_from_one_clear_date_and_names_it(series, tmp_path):
    composite(series["folder"], tmp_path / "bap.tif", masks=series["masks"], method="bap", workers=1)
    layers, descriptions, tags = _layers(tmp_path / "bap.tif")
    assert descriptions[-1].startswith("date of the chosen observation") and "TARGET_DATE" in tags
    values, clear, days = _observations(series)
    chosen = layers[-1]
    has = layers[len(sp.SURFACE_BANDS)] > 0
    assert np.isin(chosen[has], days).all() and np.isnan(chosen[~has]).all()
    index = np.searchsorted(days, np.where(has, chosen, days[0]).astype(int))
    picked = np.take_along_axis(values, index[None], axis=0)[0]
    assert np.take_along_axis(clear, index[None], axis=0)[0][has].all()
    np.testing.assert_allclose(layers[sp.SURFACE_BANDS.index("B05")][has], picked[has], atol=1e-6)


@pytest.mark.parametrize("method", ["median", "bap"])
def test_blocks_do_not_show(series, tmp_path, method):
    small = composite(series["folder"], tmp_path / "64.tif", masks=series["masks"], method=method, block_size=64,
                      workers=1)
    composite(series["folder"], tmp_path / "256.tif", masks=series["masks"], method=method, workers=1)
    assert small.grid.width > 64  # several blocks a row
    np.testing.assert_array_equal(_layers(tmp_path / "64.tif")[0], _layers(tmp_path / "256.tif")[0])


def test_start_and_end_keep_the_dates_between_them(series, tmp_path):
    dates = [entry["date"] for entry in series["dates"]]
    result = composite(series["folder"], tmp_path / "two.tif", masks=series["masks"], start=dates[1], end=dates[2],
                       workers=1)
    assert result.products == [entry["product_id"] for entry in series["dates"][1:3]]


def test_another_crs_is_reprojected_onto_the_grid(series, tmp_path):
    same = composite(series["folder"], tmp_path / "utm32.tif", masks=series["masks"], workers=1)
    other = composite(series["folder"], tmp_path / "utm33.tif", masks=series["masks"], crs="EPSG:32633", workers=1)
    assert other.grid.crs == "EPSG:32633" and other.grid.resolution == 20
    with rasterio.open(tmp_path / "utm33.tif") as dataset, rasterio.open(tmp_path / "utm32.tif") as reference:
        band = dataset.read(sp.SURFACE_BANDS.index("B8A") + 1)
        rows, cols = np.mgrid[10:dataset.height - 10:7, 10:dataset.width - 10:7]
        xs, ys = dataset.xy(rows.ravel(), cols.ravel())
        x32, y32 = transform(dataset.crs, reference.crs, xs, ys)
        there = np.array([v[0] for v in reference.sample(zip(x32, y32), indexes=sp.SURFACE_BANDS.index("B8A") + 1)])
    here = band[rows.ravel(), cols.ravel()]
    both = np.isfinite(here) & np.isfinite(there)
    assert both.sum() > 100 and np.median(np.abs(here[both] - there[both])) < 0.01
    assert same.grid.crs == "EPSG:32632"


@pytest.mark.slow
def test_on_dask_workers_the_missing_masks_are_made_and_the_composite_is_the_same(series, client, tmp_path,
                                                                                 cog_errors):
    masks = tmp_path / "masks"
    masks.mkdir()
    first = series["dates"][0]
    shutil.copy(first["mask"], masks / Path(first["mask"]).name)
    result = composite(series["folder"], tmp_path / "dask.tif", masks=masks, client=client, device="cpu")
    assert result.masks_reused == 1 and result.masks_made == DATES - 1
    assert cog_errors(tmp_path / "dask.tif") == [] and (masks / "summary.csv").is_file()
    composite(series["folder"], tmp_path / "here.tif", masks=series["masks"], workers=1)
    np.testing.assert_array_equal(_layers(tmp_path / "dask.tif")[0], _layers(tmp_path / "here.tif")[0])


def test_levels_never_mix(series, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for entry in series["dates"][:2]:
        (mixed / Path(entry["product"]).name).symlink_to(entry["product"])
    sp.write_product(tmp_path / "l1c", level="L1C", size=120, seed=1, extras=False).rename(mixed / "l1c.SAFE")
    with pytest.raises(ProductError, match="mix levels"):
        composite(mixed, tmp_path / "out.tif", masks=series["masks"], workers=1)
    assert not (tmp_path / "out.tif").exists()


def test_bad_inputs_are_refused_and_nothing_is_written(series, tmp_path):
    before = sorted(p.name for p in series["masks"].iterdir())
    with pytest.raises(ProductError, match="overlaps none of"):
        composite(series["folder"], tmp_path / "out.tif", masks=series["masks"],
                  extent=(0.0, 0.0, 1000.0, 1000.0, "EPSG:32632"), workers=1)
    with pytest.raises(OutputError, match="inside"):
        composite(series["folder"], Path(series["dates"][0]["product"]) / "out.tif", masks=series["masks"], workers=1)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    first, second = series["dates"][:2]
    shutil.copy(first["mask"], wrong / Path(second["mask"]).name)  # the first date's mask under the second's name
    with pytest.raises(ProductError, match=f"made from {first['product_id']}, not from {second['product_id']}"):
        composite(series["folder"], tmp_path / "out.tif", masks=wrong, workers=1)
    assert sorted(p.name for p in series["masks"].iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wrong"]


def test_cancel_leaves_nothing_that_looks_finished(series, tmp_path):
    class CancelAtTheFirstBlock:
        def progress(self, percent: float, stage: str) -> None:
            self.started = self.started or stage.startswith("Compositing: block")

        started = False

        def is_cancelled(self) -> bool:
            return self.started

        def warn(self, message: str) -> None:
            pass

    with pytest.raises(Cancelled):
        composite(series["folder"], tmp_path / "out.tif", masks=series["masks"], block_size=64, workers=1,
                  feedback=CancelAtTheFirstBlock())
    assert list(tmp_path.iterdir()) == []


def test_make_composite_entry_point(series, tmp_path):
    """tools/composite.py as `make composite` calls it, with an extent in another CRS and a date range."""
    out = tmp_path / "make.tif"
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "composite.py"), str(series["folder"]), str(out),
         f"--masks={series['masks']}", "--extent=10.34,47.825,10.36,47.845,EPSG:4326", f"--start={series['dates'][1]['date']}",
         "--method=bap", "--block=128"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert f"{DATES - 1} product(s) -> {out}" in done.stderr and "masks: 3 reused, 0 made" in done.stderr
    with rasterio.open(out) as dataset:
        assert dataset.count == len(sp.SURFACE_BANDS) + 2 and dataset.crs.to_epsg() == 32632
    refused = subprocess.run([sys.executable, str(REPO / "tools" / "composite.py"), str(series["folder"]),
                              str(tmp_path / "no.tif"), f"--masks={series['masks']}", "--start=2030-01-01"],
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "No product to composite between 2030-01-01" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "no.tif").exists()
