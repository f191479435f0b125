"""Validation against a reference: every figure checked against an independent count, on constructed rasters
and on the real T29UNU product (its SCL scored against a reference made from other SCL pixels)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from s2cloudmask.inference.classes import SCL_TO_MASK, code_lut
from s2cloudmask.inference.comparing.metrics import Comparison
from s2cloudmask.inference.comparing.validate import (
    border_pixels,
    detect_mask_type,
    read_pairs,
    validate,
    validate_many,
)
from s2cloudmask.inference.comparing.validation_report import CSV_COLUMNS, write_validation_report
from s2cloudmask.inference.errors import ProductError
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score

from tests.real_product import WINDOW

ORIGIN = Affine(60, 0, 500000, 0, -60, 5800000)


def write(path: Path, data: np.ndarray, transform: Affine = ORIGIN, **tags: str) -> Path:
    profile = {"driver": "GTiff", "dtype": "uint8", "count": 1, "width": data.shape[1], "height": data.shape[0],
               "crs": "EPSG:32629", "transform": transform}
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data.astype(np.uint8), 1)
        dataset.update_tags(**tags)
    return path


@pytest.fixture()
def pair(tmp_path):
    rng = np.random.default_rng(7)
    reference = rng.choice([0, 1, 2, 3, 4], size=(90, 70), p=[0.05, 0.5, 0.1, 0.1, 0.25]).astype(np.uint8)
    mask = np.where(rng.random(reference.shape) < 0.8, reference, rng.integers(0, 5, reference.shape)).astype(np.uint8)
    return (write(tmp_path / "mask.tif", mask, SOFTWARE="s2cloudmask 0.1"), write(tmp_path / "reference.tif", reference),
            mask, reference)


def test_figures_match_an_independent_count(pair):
    mask_path, reference_path, mask, reference = pair
    result = validate(mask_path, reference_path)
    both = (mask > 0) & (reference > 0)
    assert result.mask_type == "plugin"
    assert result.overall_accuracy == pytest.approx(np.mean(mask[both] == reference[both]))
    figures = result.variants()["four_classes"]
    assert figures["pixels"] == both.sum()
    assert figures["kappa"] == pytest.approx(cohen_kappa_score(reference[both], mask[both]))
    assert figures["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(reference[both], mask[both]))
    cloud = figures["per_class"]["cloud"]
    hits = np.sum((mask == 4) & (reference == 4) & both)
    assert cloud["precision"] == pytest.approx(hits / np.sum((mask == 4) & both))
    assert cloud["recall"] == pytest.approx(hits / np.sum((reference == 4) & both))
    assert cloud["iou"] == pytest.approx(hits / np.sum(((mask == 4) | (reference == 4)) & both))


def test_semi_transparent_counted_as_cloud_on_both_sides(pair):
    mask_path, reference_path, mask, reference = pair
    merged = validate(mask_path, reference_path).variants()["semi_transparent_as_cloud"]
    both = (mask > 0) & (reference > 0)
    fold = np.array([0, 1, 2, 4, 4])
    assert merged["overall_accuracy"] == pytest.approx(np.mean(fold[mask[both]] == fold[reference[both]]))
    assert merged["per_class"]["semi_transparent_cloud"]["f1"] is None
    assert merged["per_class"]["cloud"]["reference_pixels"] == np.sum(np.isin(reference[both], (3, 4)))


def test_tolerance_leaves_out_the_pixels_beside_reference_borders(tmp_path):
    reference = np.ones((40, 40), np.uint8)
    reference[:, 20:] = 4
    reference[:, :3] = 0  # no data makes no border
    mask = np.ones_like(reference)
    for tolerance, excluded_columns in ((0, 0), (1, 2), (3, 6)):
        result = validate(write(tmp_path / "m.tif", mask, SOFTWARE="s2cloudmask"), write(tmp_path / "r.tif", reference),
                          tolerance=tolerance)
        assert result.excluded_pixels == 40 * excluded_columns
        assert result.comparison.compared_pixels == 40 * (37 - excluded_columns)
        clear_right = 17 - excluded_columns // 2
        assert result.overall_accuracy == pytest.approx(clear_right / (37 - excluded_columns))


def test_border_pixels_are_a_square_neighbourhood_of_another_class():
    reference = np.ones((7, 7), np.uint8)
    reference[3, 3] = 4
    border = border_pixels(reference, 1)
    assert border.sum() == 9 and border[2:5, 2:5].all()
    assert not border_pixels(reference, 0).any()


@pytest.mark.parametrize(
    ("mask_type", "raw", "expected"),
    [
        ("scl", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [0, 0, 1, 2, 1, 1, 1, 1, 4, 4, 3, 1]),
        ("fmask", [0, 1, 2, 3, 4, 255], [1, 1, 2, 1, 4, 0]),
        ("kappamask", [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 0]),
    ],
)
def test_other_masks_are_read_through_their_mapping(tmp_path, mask_type, raw, expected):
    mask = np.array([raw], np.uint8)
    reference = np.array([[e if e else 1 for e in expected]], np.uint8)
    result = validate(write(tmp_path / "m.tif", mask), write(tmp_path / "r.tif", reference), mask_type=mask_type)
    assert result.comparison.compared_pixels == sum(1 for e in expected if e)
    assert result.overall_accuracy == 1.0


def test_a_value_the_mask_type_lacks_is_named(tmp_path):
    with pytest.raises(ProductError, match="holds the value 7, which Fmask"):
        validate(write(tmp_path / "m.tif", np.array([[7]])), write(tmp_path / "r.tif", np.array([[1]])),
                 mask_type="fmask")


def test_mask_type_is_detected_from_tags_and_names():
    assert detect_mask_type(Path("a.tif"), {"SOFTWARE": "s2cloudmask 0.1"}, "")[0] == "plugin"
    assert detect_mask_type(Path("T29UNU_20221005T115411_SCL_60m.jp2"), {}, "")[0] == "scl"
    assert detect_mask_type(Path("LC08_Fmask4.tif"), {}, "")[0] == "fmask"
    assert detect_mask_type(Path("x.tif"), {"MODEL": "KappaMask L2A"}, "")[0] == "kappamask"
    with pytest.raises(ProductError, match="Choose MASK_TYPE"):
        detect_mask_type(Path("x.tif"), {}, "")


def test_real_scl_against_a_reference_matches_an_independent_pixel_count(real_l2a, tmp_path):
    """The product's own 60 m SCL scored against a reference holding the 20 m SCL's classes (the most frequent
    of each 3 x 3), over a window."""
    scl60 = next((real_l2a / "GRANULE").glob("*/IMG_DATA/R60m/*_SCL_60m.jp2"))
    scl20 = next((real_l2a / "GRANULE").glob("*/IMG_DATA/R20m/*_SCL_20m.jp2"))
    with rasterio.open(scl20) as dataset:
        window = dataset.window(*WINDOW)
        reference = code_lut(SCL_TO_MASK)[dataset.read(1, window=window, out_shape=(128, 128),
                                                           resampling=Resampling.mode)]
        t = dataset.window_transform(window)  # three times the pixel size (affine 3 deprecates `*`, 2.4 lacks `@`)
        transform = Affine(t.a * 3, t.b * 3, t.c, t.d * 3, t.e * 3, t.f)
    reference_path = write(tmp_path / "reference.tif", reference, transform)
    result = validate(scl60, reference_path, tolerance=1)
    with rasterio.open(scl60) as dataset:
        mask = code_lut(SCL_TO_MASK)[dataset.read(1)]
        row0, col0 = map(int, dataset.index(transform.c + 1, transform.f - 1))
    assert result.mask_type == "scl"
    on_mask = np.zeros_like(mask)
    on_mask[row0:row0 + 128, col0:col0 + 128] = reference
    keep = (mask > 0) & (on_mask > 0) & ~border_pixels(on_mask, 1)
    assert result.comparison.compared_pixels == keep.sum()
    assert result.overall_accuracy == pytest.approx(np.mean(mask[keep] == on_mask[keep]))
    assert 0.8 < result.overall_accuracy < 1.0


def test_batch_pools_pixels_and_writes_per_scene_and_pooled_tables(pair, tmp_path):
    mask_path, reference_path, mask, reference = pair
    (tmp_path / "pairs.csv").write_text(f"mask,reference,mask_type\n{mask_path.name},{reference_path.name},plugin\n"
                                        f"{reference_path.name},{reference_path.name},plugin\n")
    batch = validate_many(read_pairs(tmp_path / "pairs.csv"))
    both = (mask > 0) & (reference > 0)
    ref_valid = reference > 0
    agree = np.sum(mask[both] == reference[both]) + ref_valid.sum()
    assert batch.pooled["four_classes"]["overall_accuracy"] == pytest.approx(agree / (both.sum() + ref_valid.sum()))
    report = write_validation_report(batch, tmp_path / "batch.html")
    rows = (tmp_path / "batch.csv").read_text().splitlines()
    assert rows[0].split(",") == CSV_COLUMNS and rows[-1].startswith("pooled,") and len(rows) == 4
    figures = json.loads((tmp_path / "batch.json").read_text())
    assert figures["format"] == "s2cloudmask-validation-batch" and len(figures["scenes"]) == 2
    assert "Pooled" in report.read_text()


def test_single_report_has_both_variants(pair, tmp_path):
    result = validate(pair[0], pair[1], tolerance=1)
    write_validation_report(result, tmp_path / "one.html")
    figures = json.loads((tmp_path / "one.json").read_text())
    assert figures["tolerance_pixels"] == 1 and figures["excluded_pixels"] == result.excluded_pixels
    assert figures["four_classes"]["overall_accuracy"] == result.overall_accuracy
    text = (tmp_path / "one.html").read_text()
    assert "Semi-transparent cloud counted as cloud" in text and "balanced accuracy" in text


def test_comparescl_and_validate_share_one_tally(pair):
    """The pooled figures come from Comparison objects: balanced accuracy is also in comparescl's JSON."""
    comparison = validate(pair[0], pair[1]).comparison
    assert isinstance(comparison, Comparison)
    assert comparison.to_dict()["balanced_accuracy"] == comparison.balanced_accuracy
