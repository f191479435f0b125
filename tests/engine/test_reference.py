"""Reference masks by active learning: on the real T29UNU product at 60 m (SCL as the analyst), on generated
products (their truth.tif as the analyst), and the pure parts alone.

The Done-when criterion of the feature: 150 points per class drawn from the
product's SCL train a reference that reproduces SCL on 150 other points per
class at 0.85 or better overall.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window
from s2cloudmask.inference.classes import CLASS_COLOURS, CLASS_NAMES, MASK_CODES, scl_to_mask
from s2cloudmask.inference.errors import SampleError, SamplesOutside
from s2cloudmask.inference.reading.product import open_product, product_grid
from s2cloudmask.inference.reading.reader import read_scl
from s2cloudmask.inference.reference import classifier, features, samples, suggestions
from s2cloudmask.inference.reference.build import CONFIDENCE_NODATA, build_reference
from s2cloudmask.inference.reference.samples import Sample
from s2cloudmask.tools import synthetic_product as sp
from s2cloudmask.tools.reference_check import draw_points

POINTS = 150  # per class, for training and again for checking


def point(grid, row: int, col: int, label) -> Sample:
    x, y = grid.map_xy(col + 0.5, row + 0.5)
    return Sample({"type": "Point", "coordinates": (x, y)}, label, f"{row},{col}")


@pytest.fixture(scope="module")
def scl_reference(real_l2a, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    product = open_product(real_l2a)
    grid = product_grid(product, 60)
    truth = scl_to_mask(read_scl(product, grid))
    train, check = draw_points(truth, POINTS, seed=14)
    result = build_reference(real_l2a, [point(grid, r, c, code) for r, c, code in train], folder / "reference.tif",
                             resolution=60, confidence=folder / "confidence.tif", suggestions=20)
    with rasterio.open(result.output) as dataset:
        mask = dataset.read(1)
        tags = dataset.tags()
        colours = dataset.colormap(1)
    with rasterio.open(result.confidence) as dataset:
        confidence = dataset.read(1)
    return {"result": result, "truth": truth, "check": check, "mask": mask, "tags": tags, "colours": colours,
            "confidence": confidence, "grid": grid}


def test_150_scl_points_per_class_train_a_reference_that_reproduces_scl_on_150_others(scl_reference):
    mask, check = scl_reference["mask"], scl_reference["check"]
    right = np.array([mask[r, c] == code for r, c, code in check])
    assert right.size == 4 * POINTS
    assert right.mean() >= 0.85
    per_class = {code: right[[k for k, (_, _, c) in enumerate(check) if c == code]].mean() for code in MASK_CODES}
    assert min(per_class.values()) > 0.6, per_class


def test_the_reference_and_its_confidence_are_cogs(scl_reference, cog_errors):
    result = scl_reference["result"]
    assert cog_errors(result.output) == [] and cog_errors(result.confidence) == []


def test_cross_validation_holds_out_whole_blocks_and_scores_every_class(scl_reference):
    result = scl_reference["result"]
    cv = result.cross_validation
    assert cv["folds"] == classifier.FOLDS
    assert cv["pixels"] == 4 * POINTS
    assert 0.7 < cv["overall_accuracy"] <= 1.0 and 0.6 < cv["kappa"] <= 1.0
    assert set(cv["per_class"]) == {"clear", "cloud_shadow", "semi_transparent_cloud", "cloud"}
    assert result.samples_per_class == {code: POINTS for code in MASK_CODES}
    assert result.overall_accuracy == cv["overall_accuracy"]


def test_reference_mask_is_a_plugin_mask_with_its_features_named(scl_reference):
    result, tags = scl_reference["result"], scl_reference["tags"]
    assert tags["REFERENCE"] == "yes" and tags["SOFTWARE"].startswith("s2cloudmask")
    assert "scikit-learn" in tags["MODEL_VERSION"]
    assert tags["FEATURES"].split(",") == result.features
    assert {"B8A", "NDVI", "NDWI", "NDSI", "B09/B8A", features.CIRRUS_FEATURE} <= set(result.features)
    assert any(name.endswith("(mean 9 px)") for name in result.features)
    assert scl_reference["colours"][4][:3] == CLASS_COLOURS[4][:3]
    mask = scl_reference["mask"]
    assert set(np.unique(mask)) <= {0, 1, 2, 3, 4}
    assert math.isclose(sum(result.class_percentages.values()), 100.0, rel_tol=1e-6)


def test_confidence_is_percent_where_the_mask_has_data_and_no_data_elsewhere(scl_reference):
    mask, confidence = scl_reference["mask"], scl_reference["confidence"]
    assert np.all((confidence == CONFIDENCE_NODATA) == (mask == 0))
    valid = confidence[mask > 0]
    assert valid.min() >= 25 and valid.max() == 100  # four classes: the winner has at least a quarter of the votes


def test_suggestions_are_the_least_confident_places_and_spread_out(scl_reference):
    result, confidence = scl_reference["result"], scl_reference["confidence"]
    chosen = result.suggestions
    assert len(chosen) == 20
    assert [s.confidence for s in chosen] == sorted(s.confidence for s in chosen)
    grid = scl_reference["grid"]
    for s in chosen:
        assert confidence[s.row, s.col] == round(s.confidence * 100)
        assert (s.x, s.y) == grid.map_xy(s.col + 0.5, s.row + 0.5)
    side = math.ceil(math.sqrt(grid.width * grid.height / (4 * 20)))
    for i, a in enumerate(chosen):
        for b in chosen[i + 1:]:
            assert math.hypot(a.row - b.row, a.col - b.col) >= side
    median = np.median(confidence[confidence != CONFIDENCE_NODATA])
    assert max(s.confidence for s in chosen) * 100 < median


@pytest.fixture(scope="module")
def generated(generated_product):
    """A generated L1C product (600 px at 10 m) and its truth at 20 m."""
    product = generated_product("L1C", seed=5)
    with rasterio.open(sp.truth_path(product)) as dataset:
        truth = dataset.read(1, out_shape=(300, 300), resampling=Resampling.nearest)
    return product, truth


def test_reference_of_a_generated_product_finds_its_truth(generated, tmp_path):
    product, truth = generated
    grid = product_grid(open_product(product), 20)
    train, check = draw_points(truth, 40, seed=1)
    result = build_reference(product, [point(grid, r, c, CLASS_NAMES[code]) for r, c, code in train],
                             tmp_path / "reference.tif", resolution=20, suggestions=5)
    with rasterio.open(result.output) as dataset:
        mask = dataset.read(1)
    assert mask.shape == truth.shape
    assert np.mean([mask[r, c] == code for r, c, code in check]) >= 0.75
    assert "B10" in result.features and features.CIRRUS_FEATURE not in result.features
    assert len(result.suggestions) == 5


def test_polygon_samples_give_their_pixels_and_count_as_one_sample_each(generated):
    product, _ = generated
    grid = product_grid(open_product(product), 20)
    x0, y0 = grid.map_xy(10, 10)
    square = {"type": "Polygon", "coordinates": [[(x0, y0), (x0 + 100, y0), (x0 + 100, y0 - 100), (x0, y0 - 100),
                                                  (x0, y0)]]}
    pixels = samples.sample_pixels([Sample(square, "cloud", 7)], grid, "p")
    assert len(pixels) == 25 and set(pixels.codes) == {4}
    assert sorted(set(pixels.rows)) == list(range(10, 15)) and sorted(set(pixels.cols)) == list(range(10, 15))
    tiny = {"type": "Polygon", "coordinates": [[(x0 + 1, y0 - 1), (x0 + 2, y0 - 1), (x0 + 2, y0 - 2),
                                                (x0 + 1, y0 - 1)]]}
    assert len(samples.sample_pixels([Sample(tiny, 1)], grid, "p")) == 1


def test_feature_blocks_equal_the_whole_grid_cropped(generated):
    product, _ = generated
    with features.FeatureStack(product, 60) as stack:
        whole, whole_valid = stack.read(Window(0, 0, stack.grid.width, stack.grid.height))
        block, block_valid = stack.read(Window(0, 37, stack.grid.width, 20))
    assert np.allclose(block, whole[:, 37:57], atol=1e-6)
    assert np.array_equal(block_valid, whole_valid[37:57])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda g: [], "has no features"),
        (lambda g: [point(g, 5, 5, "fog")] * 12 + [point(g, 9, 9, 1)] * 12, "'fog', which is not a class name"),
        (lambda g: [point(g, 5, 5, 7)], "class code 7"),
        (lambda g: [point(g, 5, 5, 1)] * 12 + [point(g, 9, 9, 4)] * 3, "too few samples in a class (cloud 3)"),
        (lambda g: [point(g, 5, 5, 1)] * 12, "samples of 1 class(es) (clear)"),
        (lambda g: [point(g, 5, 5, 1)] * 12 + [point(g, -40, 5, 4), point(g, 5, 900, 4)], "2 of 14 samples lie outside"),
    ],
    ids=["empty", "unknown-name", "unknown-code", "too-few", "one-class", "outside"],
)
def test_bad_samples_are_refused_with_what_to_do(generated, tmp_path, build, message):
    product, _ = generated
    grid = product_grid(open_product(product), 60)
    with pytest.raises(SampleError) as caught:
        build_reference(product, build(grid), tmp_path / "reference.tif", resolution=60)
    assert message in str(caught.value)
    assert not (tmp_path / "reference.tif").exists()
    if isinstance(caught.value, SamplesOutside):  # named one by one, so a dock can drop them
        assert caught.value.feature_ids == ("-40,5", "5,900")


def test_class_names_codes_and_spellings():
    for value, code in (("Cloud", 4), ("cloud_shadow", 2), ("Semi-transparent cloud", 3), ("thin cloud", 3),
                        (" CLEAR ", 1), ("2", 2), (3, 3), (4.0, 4), ("cirrus", 3)):
        assert samples.class_code(value, "f") == code


def test_indices_are_normalised_differences_of_the_right_bands():
    names = ["B03", "B04", "B8A", "B11"]
    data = np.array([[[0.2]], [[0.1]], [[0.5]], [[0.1]]], np.float32)
    index_names, values = features.index_features(data, names)
    assert index_names == ["NDVI", "NDWI", "NDSI"]
    assert np.allclose(values[:, 0, 0], [(0.5 - 0.1) / 0.6, (0.2 - 0.5) / 0.7, (0.2 - 0.1) / 0.3])


def test_spatial_groups_keep_neighbours_together():
    rows, cols = np.array([0, 1, 0, 500]), np.array([0, 1, 500, 0])
    groups = classifier.spatial_groups(rows, cols, (800, 800), blocks=8)
    assert groups[0] == groups[1] and len(set(groups)) == 3


def test_lowest_per_cell_streams_and_pick_spread_keeps_distance():
    rng = np.random.default_rng(3)
    confidence = rng.random((60, 60)).astype(np.float32)
    confidence[0:10, 0:10] = np.nan
    whole, streamed = suggestions.LowestPerCell((60, 60), 4), suggestions.LowestPerCell((60, 60), 4)
    whole.update(confidence, 0)
    for row in range(0, 60, 7):
        streamed.update(confidence[row:row + 7], row)
    assert whole.candidates() == streamed.candidates()
    picked = suggestions.pick_spread(whole.candidates(), 4, whole.side)
    assert len(picked) == 4 and picked[0].confidence == np.nanmin(confidence)
    assert all(math.hypot(a.row - b.row, a.col - b.col) >= whole.side for a in picked for b in picked if a != b)


def test_a_raster_and_u_net_probabilities_serve_as_input(real_l2a, tmp_path):
    """Any raster works (its bands as they are, named by their descriptions), and a probability raster
    (maskproduct's OUTPUT_PROBABILITIES) adds its bands as features."""
    from osgeo import gdal

    from tests.real_product import LARGE_WINDOW, STACK_BANDS, write_band_stack

    stack = write_band_stack(real_l2a, STACK_BANDS, tmp_path / "stack.tif", LARGE_WINDOW)
    dataset = gdal.Open(str(stack), gdal.GA_Update)
    for number, band in enumerate(STACK_BANDS, start=1):
        dataset.GetRasterBand(number).SetDescription(band)
    dataset = None
    with rasterio.open(stack) as source:
        profile = {**source.profile, "count": 2, "dtype": "uint8", "nodata": 255}
        grid_transform, shape = source.transform, (source.height, source.width)
        blue = source.read(1).astype(np.float32)
    with rasterio.open(tmp_path / "probabilities.tif", "w", **profile) as target:
        bright = np.clip(blue / 40, 0, 100).astype(np.uint8)  # a stand-in model opinion: bright means cloud
        target.write(np.stack([100 - bright, bright]))
        target.set_band_description(1, "Probability of clear (percent)")
        target.set_band_description(2, "Probability of cloud (percent)")
    product = open_product(real_l2a)
    grid = product_grid(product, 60).cropped_to(LARGE_WINDOW)
    truth = scl_to_mask(read_scl(product, grid))
    assert truth.shape == shape
    train = []
    rng = np.random.default_rng(3)
    for code in (1, 4):
        rows, cols = np.nonzero(truth == code)
        train += [(rows[i], cols[i], code) for i in rng.choice(rows.size, 20, replace=False)]
    result = build_reference(stack, [point(grid, r, c, code) for r, c, code in train], tmp_path / "reference.tif",
                             resolution=60, probabilities=tmp_path / "probabilities.tif", suggestions=3)
    assert result.features[:6] == list(STACK_BANDS)
    assert {"NDVI", "NDWI", "NDSI", "Probability of cloud (percent)"} <= set(result.features)
    assert result.grid.transform == grid_transform
    with rasterio.open(result.output) as dataset:
        assert set(np.unique(dataset.read(1))) <= {0, 1, 4}
