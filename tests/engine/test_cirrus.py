"""Semi-transparent cloud from the cirrus band: the rule on its own, and on real L1C data with the real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_helpers import read_mask, utm_grid, write_raster
from s2cloudmask.inference.classes import CLEAR, CLOUD, CLOUD_SHADOW, NODATA, SEMI_TRANSPARENT
from s2cloudmask.inference.masking.cirrus import (
    BRIGHT_RED,
    L1C_RULE,
    L2A_RULE,
    OPAQUE_CIRRUS,
    THIN_CIRRUS,
    l1c_semi_transparent,
    plan_class3,
)
from s2cloudmask.inference.masking.engine import mask_raster

# 1-based positions in B01..B12 incl. B8A and B10
L1C_BANDS = {"blue": 2, "green": 3, "red": 4, "nir": 8, "swir16": 12, "swir22": 13}
B10, B04 = 11, 4


def test_l1c_rule_case_by_case():
    codes = np.array([CLEAR, CLEAR, CLOUD, CLOUD, CLOUD, CLOUD_SHADOW, NODATA], np.uint8)
    b10 = np.array([0.005, 0.02, 0.02, 0.02, 0.05, 0.05, 0.05], np.float32)
    red = np.array([0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1], np.float32)
    out = L1C_RULE.apply(codes, {"cirrus": b10, "red": red})
    assert list(out) == [CLEAR, SEMI_TRANSPARENT, SEMI_TRANSPARENT, CLOUD, CLOUD, CLOUD_SHADOW, NODATA]
    assert (THIN_CIRRUS, OPAQUE_CIRRUS, BRIGHT_RED) == (0.012, 0.035, 0.25)


def test_l2a_rule_uses_the_product_cirrus_flag():
    codes = np.array([CLEAR, CLEAR, CLOUD, CLOUD, CLOUD_SHADOW], np.uint8)
    flag = np.array([0, 1, 1, 1, 1], np.float32)
    red = np.array([0.1, 0.1, 0.1, 0.3, 0.1], np.float32)
    out = L2A_RULE.apply(codes, {"cirrus_flag": flag, "red": red})
    assert list(out) == [CLEAR, SEMI_TRANSPARENT, SEMI_TRANSPARENT, CLOUD, CLOUD_SHADOW]


@pytest.fixture(scope="module")
def l1c_toa(test_data: Path) -> np.ndarray:
    with np.load(test_data / "arrays" / "l1c_13band_toa.npz") as data:
        return np.moveaxis(data["s2_im"][0], -1, 0).astype(np.float32)


@pytest.mark.slow
def test_cirrus_rule_on_real_l1c(l1c_toa, tmp_path):
    bands, height, width = l1c_toa.shape
    raster = write_raster(tmp_path / "l1c.tif", l1c_toa, utm_grid(width, height))
    plain = mask_raster(raster, tmp_path / "plain.tif", bands=L1C_BANDS, scale=1.0, offset=0.0, level="l1c",
                        device="cpu")
    ruled = mask_raster(raster, tmp_path / "ruled.tif", bands={**L1C_BANDS, "cirrus": B10}, scale=1.0, offset=0.0,
                        level="l1c", device="cpu")
    model, mask = read_mask(tmp_path / "plain.tif"), read_mask(tmp_path / "ruled.tif")
    b10, red = l1c_toa[B10 - 1], l1c_toa[B04 - 1]
    expected = l1c_semi_transparent(model, b10, red)
    np.testing.assert_array_equal(mask == SEMI_TRANSPARENT, expected)
    np.testing.assert_array_equal(mask[~expected], model[~expected])
    assert plain.class_percentages[SEMI_TRANSPARENT] == 0.0
    assert ruled.class3_source.startswith("B10 cirrus band") and plain.class3_source.startswith("absent")
    fractions = {code: round(float((mask == code).mean()), 4) for code in (1, 2, 3, 4)}
    model_fractions = {code: round(float((model == code).mean()), 4) for code in (1, 2, 4)}
    print(f"\nL1C 856x512: model {model_fractions}; with the B10 rule {fractions}; "
          f"clear->3 {int(((model == CLEAR) & expected).sum())}, cloud->3 {int(((model == CLOUD) & expected).sum())}")
    assert 0.005 < fractions[SEMI_TRANSPARENT] < 0.6


@pytest.mark.parametrize(
    ("classes", "level", "b10", "layer", "product", "rule", "source", "bands", "layers"),
    [
        ((1, 4, 2, 3), "L1C", True, False, "P", None, "model", {}, {}),
        ((1, 4, 2), "L1C", True, False, "P", L1C_RULE, L1C_RULE.description, {"red": "B04", "cirrus": "B10"}, {}),
        ((1, 4, 2), "l2a", False, True, "P", L2A_RULE, L2A_RULE.description, {"red": "B04"},
         {"cirrus_flag": ("MSK_CLASSI_B00", 2)}),
        ((1, 4, 2), "L1C", False, False, "P", None, "absent: product P has no B10 cirrus band", {}, {}),
        ((1, 4, 2), "L2A", False, False, "P", None,
         "absent: product P has no MSK_CLASSI_B00 cirrus layer (its processing baseline is unknown; products "
         "carry the layer from baseline 04.00 on)", {}, {}),
        ((1, 4, 2), "L1C", False, False, None, None, "absent: no cirrus band mapped (L1C B10 needed)", {}, {}),
        ((1, 4, 2), "L2A", True, False, None, None,
         "absent: a plain L2A raster carries no MSK_CLASSI_B00 cirrus layer", {}, {}),
    ],
)
def test_the_class3_plan_says_what_to_read_and_why(classes, level, b10, layer, product, rule, source, bands, layers):
    plan = plan_class3(classes, level, b10=b10, cirrus_layer=layer, product_id=product)
    assert (plan.rule, plan.source, plan.bands, plan.layers) == (rule, source, bands, layers)
    assert (plan.warning is not None) == source.startswith("absent")
    if plan.warning:
        assert plan.warning.startswith("No cirrus information: class 3 (semi-transparent cloud) is absent")


@pytest.mark.parametrize(("baseline", "cause"), [
    ("02.09", "(baseline 02.09, before 04.00, which introduced the layer)"),
    ("04.00", "(baseline 04.00 products carry it, so this one is incomplete; download it again"),
    ("05.10", "(baseline 05.10 products carry it, so this one is incomplete; download it again"),
])
def test_a_missing_cirrus_layer_is_blamed_on_its_real_cause(baseline, cause):
    """A 04.00 product without MSK_CLASSI_B00 used to be told its baseline was before 04.00."""
    plan = plan_class3((1, 4, 2), "L2A", b10=False, cirrus_layer=False, product_id="P", baseline=baseline)
    assert cause in plan.source and cause in plan.warning
    assert ("before 04.00" in plan.warning) == (baseline < "04.00")
