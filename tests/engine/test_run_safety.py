"""Whole runs that must fail with their cause and lose nothing, or say what they quietly changed.

Each case is one a user met: a full disk under a good mask, an output over its input, a damaged
quantification, an absurd SCALE, a model that answers NaN, a product without B11, an extent over no data.
Runs use windows of the real T29UNU product at 60 m, or small rasters with known models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from disk import fill_disk, listing
from model_helpers import card_dict, conv_model, utm_grid, write_card, write_raster
from safe_builders import band_path, make_mini_safe
from s2cloudmask.inference.comparing.compare import compare_masks, compare_with_scl
from s2cloudmask.inference.errors import ModelError, OutputError, ParameterError, ProductError
from s2cloudmask.inference.feedback import SilentFeedback
from s2cloudmask.inference.masking.engine import mask_product, mask_raster

from tests.real_product import WINDOW

# Far in the tile's north-east, beyond the orbit's swath: every pixel is no data.
NO_DATA_WINDOW = (566460.0, 5836440.0, 570300.0, 5840280.0)  # the orbit edge's no data, inside the crop
SIX_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")


def small_raster(folder: Path, name: str = "stack.tif") -> Path:
    data = np.random.default_rng(0).integers(1, 3000, (4, 40, 40)).astype(np.uint16)
    return write_raster(folder / name, data, utm_grid(40, 40), nodata=0)


def known_model(folder: Path, bias: np.ndarray | None = None) -> Path:
    model = conv_model(folder / "model.onnx", np.eye(3, 4), np.zeros(3) if bias is None else bias)
    return write_card(model, card_dict(["blue", "green", "red", "nir"], tile=32, overlap=0.25))


BANDS = {"blue": 1, "green": 2, "red": 3, "nir": 4}


# --------------------------------------------------------------------------- a full disk


def test_a_full_disk_fails_the_product_run_and_keeps_the_good_mask(real_l2a: Path, tiny_disk: Path):
    """It used to exit 0 with a damaged GeoTIFF in place of the good mask."""
    good = tiny_disk / "mask.tif"
    mask_product(real_l2a, good, resolution=60, extent=(*WINDOW, "EPSG:32629"), device="cpu")
    fill_disk(tiny_disk, 8 * 1024)  # the 10 m window mask takes about 16 KiB
    before = listing(tiny_disk)
    with pytest.raises(OutputError, match=r"mask\.tif: the disk is full"):
        mask_product(real_l2a, good, resolution=10, extent=(*WINDOW, "EPSG:32629"), device="cpu")
    assert listing(tiny_disk) == before


# --------------------------------------------------------------------------- outputs over inputs


def test_mask_raster_refuses_to_write_over_its_input(tmp_path: Path):
    stack = small_raster(tmp_path)
    model = known_model(tmp_path)
    before = listing(tmp_path)
    with pytest.raises(OutputError, match="is INPUT itself; writing it would destroy the input"):
        mask_raster(stack, stack, bands=BANDS, model=model, device="cpu")
    with pytest.raises(OutputError, match="OUTPUT and OUTPUT_PROBABILITIES are the same file"):
        mask_raster(stack, tmp_path / "m.tif", bands=BANDS, probabilities=tmp_path / "m.tif", model=model, device="cpu")
    with pytest.raises(OutputError, match="is MODEL itself"):
        mask_raster(stack, model, bands=BANDS, model=model, device="cpu")
    assert listing(tmp_path) == before


@pytest.mark.parametrize("where", ["band", "mtd", "new file"])
def test_mask_product_refuses_outputs_inside_the_product(real_l2a: Path, tmp_path: Path, where: str):
    safe = make_mini_safe(real_l2a, tmp_path, bands=SIX_BANDS)
    target = {"band": band_path(safe, "B04"), "mtd": safe / "MTD_MSIL2A.xml",
              "new file": safe / "GRANULE" / "mask.tif"}[where]
    before = {p: p.read_bytes() for p in safe.rglob("*") if p.is_file()}
    with pytest.raises(OutputError, match="lies inside the product"):
        mask_product(safe, target, resolution=60, device="cpu")
    with pytest.raises(OutputError, match=r"OUTPUT_PROBABILITIES .*(lies inside|is) the product \(INPUT\)"):
        mask_product(safe / "MTD_MSIL2A.xml", tmp_path / "mask.tif", probabilities=target, resolution=60, device="cpu")
    assert {p: p.read_bytes() for p in safe.rglob("*") if p.is_file()} == before


def test_compare_refuses_to_write_over_its_inputs(tmp_path: Path):
    grid = utm_grid(8, 8)
    mask = write_raster(tmp_path / "m.tif", np.ones((1, 8, 8), np.uint8), grid)
    scl = write_raster(tmp_path / "scl.tif", np.full((1, 8, 8), 4, np.uint8), grid)
    before = listing(tmp_path)
    with pytest.raises(OutputError, match="OUTPUT .* is MASK itself"):
        compare_with_scl(mask, scl, mask)
    with pytest.raises(OutputError, match="OUTPUT .* is the SCL itself"):
        compare_with_scl(mask, scl, scl)
    with pytest.raises(OutputError, match="OUTPUT .* is the reference mask itself"):
        compare_masks(mask, scl, scl)
    assert listing(tmp_path) == before


# --------------------------------------------------------------------------- numbers that enter the radiometry


@pytest.mark.parametrize("value", ["nan", "1e-300", "inf"])
def test_a_damaged_quantification_stops_the_run_instead_of_a_confident_mask(real_l2a: Path, tmp_path: Path, value):
    """BOA_QUANTIFICATION_VALUE nan used to give 0 % cloud where the truth is 53 %."""
    safe = make_mini_safe(real_l2a, tmp_path, bands=SIX_BANDS)
    mtd = safe / "MTD_MSIL2A.xml"
    mtd.write_text(mtd.read_text(encoding="utf-8").replace(
        '<BOA_QUANTIFICATION_VALUE unit="none">10000<', f'<BOA_QUANTIFICATION_VALUE unit="none">{value}<'),
        encoding="utf-8")
    with pytest.raises(ProductError, match=r"MTD_MSIL2A\.xml gives BOA_QUANTIFICATION_VALUE"):
        mask_product(safe, tmp_path / "mask.tif", resolution=60, device="cpu")
    assert not (tmp_path / "mask.tif").exists()


@pytest.mark.parametrize(("scale", "offset", "named"), [
    (0.0, -0.1, "SCALE 0.0"), (float("nan"), -0.1, "SCALE nan"), (-0.0001, -0.1, "SCALE -0.0001"),
    (0.0001, float("inf"), "OFFSET inf"), (0.0001, -1000.0, "OFFSET -1000.0"),
])
def test_mask_raster_refuses_a_scale_or_offset_that_cannot_be_reflectance(tmp_path: Path, scale, offset, named):
    stack = small_raster(tmp_path)
    with pytest.raises(ParameterError, match=named):
        mask_raster(stack, tmp_path / "mask.tif", bands=BANDS, scale=scale, offset=offset, device="cpu")
    assert not (tmp_path / "mask.tif").exists()


def test_a_model_that_answers_nan_is_a_model_error(tmp_path: Path):
    stack = small_raster(tmp_path)
    model = known_model(tmp_path, bias=np.array([np.nan, 0.0, 0.0]))
    with pytest.raises(ModelError, match=r"model\.onnx gave values that are not numbers"):
        mask_raster(stack, tmp_path / "mask.tif", bands=BANDS, scale=0.0001, offset=0.0, model=model, device="cpu")
    assert not (tmp_path / "mask.tif").exists()


# --------------------------------------------------------------------------- what a run must say


def test_a_product_without_b11_says_that_the_model_changed(real_l2a: Path, tmp_path: Path):
    """It used to switch silently to the 4-band model."""
    safe = make_mini_safe(real_l2a, tmp_path, bands=("B02", "B03", "B04", "B8A", "B12"))
    notices = SilentFeedback()
    result = mask_product(safe, tmp_path / "mask.tif", resolution=60, extent=(*WINDOW, "EPSG:32629"),
                          device="cpu", feedback=notices)
    assert "4b" in result.model_used
    changed = [w for w in notices.warnings if "4-band model" in w]
    assert changed and "B11" in changed[0] and "6-band" in changed[0]
    assert changed[0] in result.warnings


def test_a_run_over_no_valid_pixels_warns(real_l2a: Path, tmp_path: Path):
    notices = SilentFeedback()
    result = mask_product(real_l2a, tmp_path / "mask.tif", resolution=60,
                          extent=(*NO_DATA_WINDOW, "EPSG:32629"), device="cpu", feedback=notices)
    assert all(value == 0 for value in result.class_percentages.values())
    assert any("no valid pixel" in w for w in notices.warnings), notices.warnings
    with rasterio.open(tmp_path / "mask.tif") as dataset:
        assert not dataset.read(1).any()


def test_a_run_over_valid_pixels_does_not_warn_of_none(real_l2a: Path, tmp_path: Path):
    notices = SilentFeedback()
    mask_product(real_l2a, tmp_path / "mask.tif", resolution=60, extent=(*WINDOW, "EPSG:32629"), device="cpu",
                 feedback=notices)
    assert not any("no valid pixel" in w for w in notices.warnings)
    assert not any("4-band model" in w for w in notices.warnings)


def test_a_link_to_the_input_is_the_input(tmp_path: Path):
    stack = small_raster(tmp_path)
    link = tmp_path / "link.tif"
    link.symlink_to(stack)
    before = listing(tmp_path)
    with pytest.raises(OutputError, match="is INPUT itself"):
        mask_raster(stack, link, bands=BANDS, model=known_model(tmp_path), device="cpu")
    assert stack.read_bytes() and listing(tmp_path).items() >= before.items()
