"""referencemask, validate and exportpatches through processing.run, as the toolbox, the modeler and scripts use
them, on small generated products (their truth.tif stands in for the analyst)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant
from recording_feedback import RecordingFeedback
from s2cloudmask.inference.classes import CLASS_NAMES, MASK_CODES
from s2cloudmask.tools import synthetic_product as sp


PER_CLASS = 30


def sample_layer(generated, per_class: int = PER_CLASS, label=lambda code: CLASS_NAMES[code], seed: int = 0,
                 crs: str = "EPSG:4326") -> QgsVectorLayer:
    """Points drawn from the truth, with class names, stored in another CRS than the product's."""
    _, truth, grid, product_crs = generated
    layer = QgsVectorLayer(f"Point?crs={crs}", "samples", "memory")
    layer.dataProvider().addAttributes([QgsField("class", QVariant.String)])
    layer.updateFields()
    to_layer = QgsCoordinateTransform(QgsCoordinateReferenceSystem(product_crs), layer.crs(), QgsProject.instance())
    rng = np.random.default_rng(seed)
    features = []
    for code in MASK_CODES:
        rows, cols = np.nonzero(truth == code)
        for i in rng.choice(rows.size, per_class, replace=False):
            x, y = grid.map_xy(cols[i] + 0.5, rows[i] + 0.5)
            feature = QgsFeature(layer.fields())
            feature.setGeometry(QgsGeometry.fromPointXY(to_layer.transform(QgsPointXY(x, y))))
            feature.setAttributes([label(code)])
            features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


@pytest.fixture(scope="module")
def reference(processing, generated, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    feedback = RecordingFeedback()
    result = processing.run("s2cloudmask:referencemask", {
        "INPUT": str(generated[0]), "SAMPLES": sample_layer(generated), "CLASS_FIELD": "class", "RESOLUTION": "60",
        "SUGGESTION_COUNT": 8, "OUTPUT": str(folder / "reference.tif"),
        "OUTPUT_CONFIDENCE": str(folder / "confidence.tif"), "OUTPUT_SUGGESTIONS": str(folder / "suggestions.gpkg"),
    }, feedback=feedback)
    return result, feedback, folder


def test_referencemask_writes_the_reference_its_confidence_and_suggestions(reference, generated):
    result, feedback, _ = reference
    with rasterio.open(result["OUTPUT"]) as dataset:
        mask = dataset.read(1)
    truth = generated[1]
    assert mask.shape == truth.shape
    assert np.mean(mask[truth > 0] == truth[truth > 0]) > 0.7
    with rasterio.open(result["OUTPUT_CONFIDENCE"]) as dataset:
        assert dataset.read(1)[mask > 0].max() == 100
    suggestions = QgsVectorLayer(result["OUTPUT_SUGGESTIONS"], "s", "ogr")
    assert suggestions.featureCount() == 8
    assert suggestions.crs().authid() == "EPSG:32632"
    ranks = [f["rank"] for f in suggestions.getFeatures()]
    assert ranks == list(range(1, 9))
    assert 0.5 < result["CV_OVERALL_ACCURACY"] <= 1.0 and result["CV_KAPPA"] is not None
    assert set(json.loads(result["CV_PER_CLASS"])) == {"clear", "cloud_shadow", "semi_transparent_cloud", "cloud"}
    assert any("Cross-validated overall accuracy" in line for line in feedback.infos)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (lambda g: sample_layer(g, per_class=0), "has no features"),
        (lambda g: sample_layer(g, label=lambda code: "haze" if code == 3 else CLASS_NAMES[code]),
         "'haze', which is not a class name"),
        (lambda g: sample_layer(g, per_class=4), "too few samples in a class"),
    ],
    ids=["empty", "unknown-class", "too-few"],
)
def test_referencemask_refuses_bad_samples_with_a_clear_message(processing, generated, tmp_path, layer, message):
    with pytest.raises(QgsProcessingException, match=message):
        processing.run("s2cloudmask:referencemask", {
            "INPUT": str(generated[0]), "SAMPLES": layer(generated), "CLASS_FIELD": "class", "RESOLUTION": "60",
            "OUTPUT": str(tmp_path / "reference.tif")})
    assert not (tmp_path / "reference.tif").exists()


def test_referencemask_refuses_points_outside_the_product(processing, generated, tmp_path):
    layer = sample_layer(generated)
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(-60.0, 10.0)))
    feature.setAttributes(["cloud"])
    layer.dataProvider().addFeatures([feature])
    with pytest.raises(QgsProcessingException, match="1 of 121 samples lie outside"):
        processing.run("s2cloudmask:referencemask", {
            "INPUT": str(generated[0]), "SAMPLES": layer, "CLASS_FIELD": "class", "OUTPUT": str(tmp_path / "r.tif")})


def test_validate_scores_the_reference_against_the_truth_with_a_report(processing, reference, generated, tmp_path):
    result = processing.run("s2cloudmask:validate", {
        "MASK": reference[0]["OUTPUT"], "MASK_TYPE": "auto", "REFERENCE": str(sp.truth_path(generated[0])),
        "TOLERANCE": 1, "REPORT": str(tmp_path / "validation.html")})
    figures = json.loads((tmp_path / "validation.json").read_text())
    assert result["MASK_TYPE_USED"].startswith("plugin")
    assert result["OVERALL_ACCURACY"] == figures["four_classes"]["overall_accuracy"]
    assert result["OVERALL_ACCURACY_THIN_AS_CLOUD"] >= result["OVERALL_ACCURACY"]
    assert 0.6 < result["OVERALL_ACCURACY"] <= 1.0 and figures["excluded_pixels"] > 0
    assert set(json.loads(result["PER_CLASS"])["cloud"]) >= {"precision", "recall", "f1", "iou"}


def test_validate_batch_from_a_csv(processing, reference, generated, tmp_path):
    truth = sp.truth_path(generated[0])
    (tmp_path / "pairs.csv").write_text(f"mask,reference,mask_type\n{reference[0]['OUTPUT']},{truth},\n"
                                        f"{truth},{truth},plugin\n")
    result = processing.run("s2cloudmask:validate", {"PAIRS": str(tmp_path / "pairs.csv"),
                                                     "REPORT": str(tmp_path / "batch.html")})
    rows = (tmp_path / "batch.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[-1].startswith("pooled")
    assert 0.6 < result["OVERALL_ACCURACY"] < 1.0


def test_validate_without_mask_or_pairs_says_what_to_give(processing):
    with pytest.raises(QgsProcessingException, match="Give MASK and REFERENCE"):
        processing.run("s2cloudmask:validate", {"MASK_TYPE": "auto"})


def test_exportpatches_writes_a_split_folder_with_a_manifest(processing, reference, generated, tmp_path):
    result = processing.run("s2cloudmask:exportpatches", {
        "INPUT": str(generated[0]), "REFERENCE": reference[0]["OUTPUT"], "PATCH_SIZE": 32, "SPLIT": "70,15,15",
        "SEED": 1, "OUTPUT_FOLDER": str(tmp_path / "patches")})
    manifest = json.loads((tmp_path / "patches" / "manifest.json").read_text())
    assert result["MANIFEST"] == str(tmp_path / "patches" / "manifest.json")
    # one scene: all its patches (at most 3 x 3, those at least half labelled) form the training set
    assert 0 < result["PATCHES_TRAIN"] <= 9 and result["PATCHES_VALIDATION"] == result["PATCHES_TEST"] == 0
    assert manifest["resolution"] == 60.0 and manifest["level"] == "L2A"
    assert len(manifest["patches"]) == result["PATCHES_TRAIN"]


def test_referencemask_takes_polygons_with_class_codes(processing, generated, tmp_path):
    _, truth, grid, crs = generated
    layer = QgsVectorLayer(f"Polygon?crs={crs}", "areas", "memory")
    layer.dataProvider().addAttributes([QgsField("code", QVariant.Int)])
    layer.updateFields()
    rng = np.random.default_rng(8)
    features = []
    for code in MASK_CODES:
        rows, cols = np.nonzero(truth == code)
        for i in rng.choice(rows.size, 12, replace=False):
            x, y = grid.map_xy(cols[i] + 0.5, rows[i] + 0.5)
            feature = QgsFeature(layer.fields())
            feature.setGeometry(QgsGeometry.fromRect(QgsRectangle(x - 20, y - 20, x + 20, y + 20)))
            feature.setAttributes([code])
            features.append(feature)
    layer.dataProvider().addFeatures(features)
    result = processing.run("s2cloudmask:referencemask", {
        "INPUT": str(generated[0]), "SAMPLES": layer, "CLASS_FIELD": "code", "RESOLUTION": "60",
        "OUTPUT": str(tmp_path / "reference.tif")})
    assert result["CV_OVERALL_ACCURACY"] is not None
    with rasterio.open(result["OUTPUT"]) as dataset:
        assert set(np.unique(dataset.read(1))) == {0, 1, 2, 3, 4}
