"""The engine against ukis-csmask's own CSmask (same model, same input, CSmask's tiles) and against hand labels."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from model_helpers import read_mask, utm_grid, write_raster
from s2cloudmask.inference.classes import CLEAR, CLOUD, CLOUD_SHADOW
from s2cloudmask.inference.masking.engine import mask_product, mask_raster, run_mask
from s2cloudmask.inference.masking.model_card import CSMASK_OVERLAP, ModelCard, builtin_card
from s2cloudmask.inference.masking.session import create_session
from s2cloudmask.tools.sidecar_model import model_with_card

from tests.real_product import LARGE_WINDOW

CSMASK_TO_CODES = np.array([CLEAR, CLOUD, CLOUD_SHADOW], np.uint8)  # CSmask 0 clear, 1 cloud, 2 shadow
SIX = ["blue", "green", "red", "nir", "swir16", "swir22"]


def csmask_codes(image: np.ndarray, band_order: list[str], level: str) -> np.ndarray:
    """CSmask's classes for (rows, cols, bands) reflectance, as mask codes."""
    from ukis_csmask.mask import CSmask

    result = CSmask(image.astype(np.float32).copy(), band_order=band_order, product_level=level, batch_size=4)
    return CSMASK_TO_CODES[result.csm[..., 0]]


def with_csmask_tiles(card: ModelCard) -> ModelCard:
    """The card with CSmask's own tiles (the built-in cards overlap less; docs/speed-levers.md): the engine
    then lays out and blends exactly the tiles CSmask does."""
    return replace(card, overlap=CSMASK_OVERLAP)


def csmask_tiles_model(card: ModelCard, folder: Path) -> Path:
    """The card's model under a side-car card with CSmask's tiles, as a user would give MODEL."""
    return model_with_card(with_csmask_tiles(card), folder, Path(card.model_path).name)


@pytest.fixture(scope="module")
def labelled(test_data: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(test_data / "arrays" / "labelled_6band_patch.npz") as data:
        return data["img"], data["msk"][..., 0]


@pytest.mark.parametrize(("level", "bands"), [("l2a", SIX), ("l1c", SIX), ("l2a", SIX[:4])])
def test_engine_agrees_with_csmask_on_the_labelled_patch(labelled, tmp_path, level, bands):
    image, labels = labelled
    height, width, _ = image.shape
    raster = write_raster(tmp_path / "patch.tif", np.moveaxis(image, -1, 0), utm_grid(width, height))
    started = time.perf_counter()
    model = csmask_tiles_model(builtin_card(level, bands), tmp_path)
    result = mask_raster(raster, tmp_path / "mask.tif", bands={b: SIX.index(b) + 1 for b in bands},
                         scale=1.0, offset=0.0, level=level, device="cpu", model=model)
    seconds = time.perf_counter() - started
    ours = read_mask(tmp_path / "mask.tif")
    started = time.perf_counter()
    reference = csmask_codes(image[..., [SIX.index(b) for b in bands]], bands, level)
    reference_seconds = time.perf_counter() - started
    agreement = float((ours == reference).mean())

    truth = np.where(labels == 0, CLOUD_SHADOW, np.where(labels == 4, CLOUD, CLEAR))
    lines = [f"\n{result.model_used}: agreement with CSmask {agreement:.5f}; engine {seconds:.2f} s, "
             f"CSmask {reference_seconds:.2f} s ({width}x{height})"]
    for code, name in ((CLEAR, "clear"), (CLOUD_SHADOW, "cloud shadow"), (CLOUD, "cloud")):
        tp = int(((ours == code) & (truth == code)).sum())
        fp = int(((ours == code) & (truth != code)).sum())
        fn = int(((ours != code) & (truth == code)).sum())
        lines.append(f"  {name:12s} precision {tp / max(tp + fp, 1):.3f} recall {tp / max(tp + fn, 1):.3f} "
                     f"IoU {tp / max(tp + fp + fn, 1):.3f}")
    lines.append(f"  overall accuracy against the hand labels {(ours == truth).mean():.4f}")
    print("\n".join(lines))
    assert agreement >= 0.99


@pytest.mark.slow
def test_engine_agrees_with_csmask_on_the_real_product(real_l2a, tmp_path):
    from s2cloudmask.inference.reading.product import open_product, product_grid
    from s2cloudmask.inference.reading.reader import ProductReader
    from s2cloudmask.inference.reading.sources import ProductSource

    product = open_product(real_l2a)
    extent = LARGE_WINDOW  # 15 km x 15 km with data everywhere
    started = time.perf_counter()
    # the shadow check (on by default) refines the 10 m mask after the model; this compares the model itself
    result = mask_product(real_l2a, tmp_path / "mask.tif", extent=extent, device="cpu", shadow_check=False)
    seconds = time.perf_counter() - started
    expected_grid = product.grids[10].cropped_to(extent)
    with rasterio.open(tmp_path / "mask.tif") as ds:
        assert ds.transform == expected_grid.transform and ds.shape == expected_grid.shape
        assert ds.crs == rasterio.crs.CRS.from_user_input(product.crs)
        mask10 = ds.read(1)
    assert "NIR from B8A: the product has no B08 at the resolutions present." in result.warnings
    # a 10 m grid from 60 m bands: said once by the product (absent files) and once by the reader (no finer detail)
    assert sum("60 m" in warning for warning in result.warnings) == 2, result.warnings
    assert any("detail finer than that is not in the input" in warning for warning in result.warnings)
    assert result.class3_source.startswith("MSK_CLASSI_B00")
    assert set(result.resolutions_used.values()) == {60}

    # the same model on the same 30 m input array through CSmask
    card = builtin_card("L2A", product.bands)
    bands = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B8A", "swir16": "B11", "swir22": "B12"}
    model_grid = product_grid(product, 10, extent).resampled(30)
    with ProductReader(product, list(bands.values()), model_grid) as reader:
        block = reader.read()
    assert block.valid.mean() > 0.99
    reference = csmask_codes(np.moveaxis(block.data, 0, -1), list(bands), "l2a")
    session, _ = create_session(card.model_path, "cpu")
    for name, tiles in (("mask30.tif", card), ("csmask-tiles30.tif", with_csmask_tiles(card))):
        with ProductSource(product, bands, model_grid) as source:
            run_mask(source, model_grid, tiles, session, tmp_path / name)
    ours30 = read_mask(tmp_path / "mask30.tif")
    agreement = float((read_mask(tmp_path / "csmask-tiles30.tif") == reference).mean())
    # the 10 m mask (bilinear probabilities, plus class 3) against the 30 m classes, nearest neighbour
    nearest = np.repeat(np.repeat(ours30, 3, 0), 3, 1)[: mask10.shape[0], : mask10.shape[1]]
    same_10m = float(((mask10 == nearest) | (mask10 == 3)).mean())
    print(f"\nT29UNU 15 km window: agreement with CSmask {agreement:.5f} (30 m, {ours30.size} px, CSmask's tiles; "
          f"the built-in tiles {float((ours30 == reference).mean()):.5f}); "
          f"10 m mask vs 30 m classes {same_10m:.4f}; mask_product {seconds:.1f} s; "
          f"classes {result.class_percentages}")
    assert agreement >= 0.99
    assert same_10m > 0.95
