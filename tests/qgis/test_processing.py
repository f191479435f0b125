"""The Processing provider through processing.run, as the toolbox, the modeler and scripts use it.

Every run masks a small window of the real L2A product (EXTENT), never the whole tile.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from model_helpers import read_mask
from qgis.core import (
    QgsApplication,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputString,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
    QgsProject,
    QgsRasterLayer,
)
from qgis.gui import QgsFileWidget, QgsGui, QgsProcessingGui, QgsProcessingParameterWidgetContext
from recording_feedback import RecordingFeedback
from s2cloudmask.inference.classes import CLASS_NAMES, MASK_CODES

from tests.real_product import STACK_BANDS, WINDOW, WINDOW_EXTENT, scl_file, write_band_stack

STACK_NAMES = ("blue", "green", "red", "nir", "swir16", "swir22")
PERCENT_OUTPUTS = ("CLEAR_PERCENT", "CLOUD_SHADOW_PERCENT", "SEMI_TRANSPARENT_PERCENT", "CLOUD_PERCENT")


def assert_no_outputs(folder: Path) -> None:
    leftovers = [p.name for p in folder.iterdir() if p.suffix in (".tif", ".html", ".json") or "partial" in p.name]
    assert leftovers == []


# --- the provider and its interface ------------------------------------------------------------


def test_provider_offers_its_algorithms(processing):
    provider = QgsApplication.processingRegistry().providerById("s2cloudmask")
    assert provider.name() == "Sentinel-2 Cloud Mask"
    assert not provider.icon().isNull()
    ids = sorted(alg.id() for alg in provider.algorithms())
    assert ids == ["s2cloudmask:applymask", "s2cloudmask:comparescl", "s2cloudmask:composite",
                   "s2cloudmask:exportpatches", "s2cloudmask:finetune",
                   "s2cloudmask:maskmany",
                   "s2cloudmask:maskproduct", "s2cloudmask:maskraster", "s2cloudmask:referencemask",
                   "s2cloudmask:validate"]
    groups = {"comparescl": "Comparison", "maskproduct": "Cloud masking", "maskraster": "Cloud masking",
              "maskmany": "Cloud masking", "referencemask": "Reference and validation",
              "validate": "Reference and validation", "exportpatches": "Reference and validation",
              "finetune": "Training", "applymask": "Clean pixels", "composite": "Clean pixels"}
    for alg in provider.algorithms():
        assert not alg.icon().isNull()
        assert alg.group() == groups[alg.name()]


@pytest.mark.parametrize(
    ("algorithm", "parameters", "outputs"),
    [
        (
            "s2cloudmask:maskproduct",
            ["INPUT", "MODEL", "DEVICE", "EXTENT", "RESOLUTION", "SHADOW_CHECK", "BUFFER", "OUTPUT",
             "OUTPUT_PROBABILITIES"],
            ["OUTPUT", "OUTPUT_PROBABILITIES", *PERCENT_OUTPUTS, "DEVICE_USED", "MODEL_USED", "CLASS3_SOURCE"],
        ),
        (
            "s2cloudmask:maskraster",
            ["INPUT", "BAND_BLUE", "BAND_GREEN", "BAND_RED", "BAND_NIR", "BAND_SWIR16", "BAND_SWIR22",
             "SCALE", "OFFSET", "LEVEL", "MODEL", "DEVICE", "SHADOW_CHECK", "SUN_AZIMUTH", "SUN_ZENITH", "BUFFER",
             "OUTPUT"],
            ["OUTPUT", *PERCENT_OUTPUTS, "DEVICE_USED", "MODEL_USED", "CLASS3_SOURCE"],
        ),
        (
            "s2cloudmask:comparescl",
            ["MASK", "SCL", "OUTPUT", "REPORT"],
            ["OUTPUT", "REPORT", "OVERALL_AGREEMENT", "KAPPA", "AGREEMENT_EXCLUDING_AMBIGUOUS",
             "KAPPA_EXCLUDING_AMBIGUOUS", "F1_CLOUD", "F1_CLOUD_SHADOW", "PER_CLASS"],
        ),
    ],
)
def test_parameter_and_output_names_are_the_designed_ones(processing, algorithm, parameters, outputs):
    alg = QgsApplication.processingRegistry().algorithmById(algorithm)
    assert [p.name() for p in alg.parameterDefinitions()] == parameters
    assert [o.name() for o in alg.outputDefinitions()] == outputs
    for name in PERCENT_OUTPUTS + ("OVERALL_AGREEMENT", "KAPPA", "F1_CLOUD"):
        if alg.outputDefinition(name) is not None:
            assert isinstance(alg.outputDefinition(name), QgsProcessingOutputNumber)
    for name in ("DEVICE_USED", "MODEL_USED", "CLASS3_SOURCE", "PER_CLASS"):
        if alg.outputDefinition(name) is not None:
            assert isinstance(alg.outputDefinition(name), QgsProcessingOutputString)
    assert isinstance(alg.outputDefinition("OUTPUT"), QgsProcessingOutputRasterLayer)
    help_text = alg.shortHelpString()
    for name in parameters:
        assert name in help_text


def test_help_gives_codes_defaults_and_citation(processing):
    registry = QgsApplication.processingRegistry()
    product = registry.algorithmById("s2cloudmask:maskproduct")
    text = product.shortHelpString()
    assert "10.1016/j.rse.2019.05.022" in text and "Wieland" in text
    for code in MASK_CODES:
        assert f"{code} {CLASS_NAMES[code].lower()}" in text
    assert ".SAFE" in text and "MTD_MSIL2A.xml" in text
    product_input = product.parameterDefinition("INPUT")
    assert product_input.behavior() == QgsProcessingParameterFile.File
    typed_paths = ("/d/S2A_MSIL2A_X.SAFE", "/d/S2A_MSIL2A_X.SAFE/", "/d/X.zip", "/d/MTD_MSIL2A.xml", "/d/manifest.safe")
    for typed in typed_paths:
        assert product_input.checkValueIsAcceptable(typed)
    model = product.parameterDefinition("MODEL")
    assert model.defaultValue() == "auto"
    # a file picker for .onnx models that still takes the word 'auto'
    assert isinstance(model, QgsProcessingParameterFile) and "*.onnx" in model.fileFilter()
    assert model.checkValueIsAcceptable("auto") and model.checkValueIsAcceptable("/models/kappamask.onnx")
    assert len(model.description()) <= 40  # the dialog's label stays short; setHelp says the rest
    assert product.parameterDefinition("RESOLUTION").defaultValue() == "10"
    assert product.parameterDefinition("DEVICE").options() == ["auto", "cpu", "gpu"]
    raster = registry.algorithmById("s2cloudmask:maskraster")
    assert raster.parameterDefinition("SCALE").defaultValue() == pytest.approx(0.0001)
    assert raster.parameterDefinition("OFFSET").defaultValue() == pytest.approx(-0.1)
    assert raster.parameterDefinition("BAND_SWIR16").flags() & raster.parameterDefinition("BAND_SWIR16").FlagOptional
    assert raster.parameterDefinition("BAND_NIR").parentLayerParameterName() == "INPUT"
    assert "04.00" in raster.shortHelpString() and "OFFSET to 0" in raster.shortHelpString()
    assert "SCL" in registry.algorithmById("s2cloudmask:comparescl").shortHelpString()


# --- maskproduct -------------------------------------------------------------------------------


def test_maskproduct_on_a_window(processing, real_l2a, tmp_path):
    feedback = RecordingFeedback()
    output = tmp_path / "mask.tif"
    results = processing.run(
        "s2cloudmask:maskproduct",
        {"INPUT": str(real_l2a), "EXTENT": WINDOW_EXTENT, "RESOLUTION": "60", "DEVICE": "cpu", "OUTPUT": str(output)},
        feedback=feedback,
    )
    assert results["OUTPUT"] == str(output)
    with rasterio.open(output) as dataset:
        assert (dataset.width, dataset.height) == (128, 128)
        assert dataset.transform.c == pytest.approx(WINDOW[0]) and dataset.transform.f == pytest.approx(WINDOW[3])
        assert dataset.nodata == 0
        mask = dataset.read(1)
    valid = mask[mask > 0]
    for name, code in zip(PERCENT_OUTPUTS, MASK_CODES):
        assert results[name] == pytest.approx(100.0 * np.count_nonzero(valid == code) / valid.size, abs=0.01)
    assert sum(results[name] for name in PERCENT_OUTPUTS) == pytest.approx(100.0, abs=0.01)
    assert results["CLOUD_PERCENT"] > 1 and results["CLEAR_PERCENT"] > 1  # a mixed window, not all one class
    assert results["DEVICE_USED"] == "CPU"
    assert results["MODEL_USED"]
    assert results["CLASS3_SOURCE"]
    # stage text, progress and warnings reach the dialog's log
    assert len(set(feedback.stages)) >= 2
    assert feedback.progress_values and max(feedback.progress_values) == pytest.approx(100.0)
    assert any("60 m" in warning for warning in feedback.warnings)


def test_maskproduct_writes_probabilities_at_10_m_by_default(processing, real_l2a, tmp_path):
    extent = f"{WINDOW[0]},{WINDOW[0] + 1920},{WINDOW[3] - 1920},{WINDOW[3]} [EPSG:32629]"
    results = processing.run(
        "s2cloudmask:maskproduct",
        {"INPUT": str(real_l2a / "MTD_MSIL2A.xml"), "EXTENT": extent, "DEVICE": "cpu",
         "OUTPUT": str(tmp_path / "mask.tif"), "OUTPUT_PROBABILITIES": str(tmp_path / "probabilities.tif")},
    )
    with rasterio.open(results["OUTPUT"]) as dataset:
        assert dataset.res == (10.0, 10.0) and (dataset.width, dataset.height) == (192, 192)
    assert results["OUTPUT_PROBABILITIES"] == str(tmp_path / "probabilities.tif")
    with rasterio.open(results["OUTPUT_PROBABILITIES"]) as dataset:
        assert dataset.count >= 3


def test_maskproduct_cancel_leaves_nothing(processing, real_l2a, tmp_path):
    """Cancel, as the dialog's button does, once the first batch of tiles has run (of several)."""
    feedback = RecordingFeedback(cancel_at=0.1)
    extent = f"{WINDOW[0]},{WINDOW[0] + 15360},{WINDOW[3] - 15360},{WINDOW[3]} [EPSG:32629]"
    with pytest.raises(QgsProcessingException, match="(?i)cancel"):
        processing.run(
            "s2cloudmask:maskproduct",
            {"INPUT": str(real_l2a), "EXTENT": extent, "RESOLUTION": "60", "DEVICE": "cpu",
             "OUTPUT": str(tmp_path / "mask.tif"), "OUTPUT_PROBABILITIES": str(tmp_path / "probabilities.tif")},
            feedback=feedback,
        )
    assert feedback.isCanceled()
    assert 0.1 <= max(feedback.progress_values) < 95.0
    assert_no_outputs(tmp_path)


# --- maskraster --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def band_stacks(real_l2a, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stacks")
    ordered = write_band_stack(real_l2a, STACK_BANDS, folder / "stack.tif")
    shuffled_bands = ("B12", "B8A", "B02", "B11", "B04", "B03")
    shuffled = write_band_stack(real_l2a, shuffled_bands, folder / "shuffled.tif")
    return ordered, shuffled, shuffled_bands


def band_parameters(order: tuple[str, ...]) -> dict[str, int]:
    names = dict(zip(STACK_BANDS, STACK_NAMES))
    return {f"BAND_{names[band].upper()}": order.index(band) + 1 for band in order}


def test_maskraster_uses_the_band_mapping(processing, band_stacks, tmp_path):
    ordered, shuffled, shuffled_bands = band_stacks
    common = {"LEVEL": "l2a", "DEVICE": "cpu"}  # SCALE / OFFSET defaults: L2A from baseline 04.00
    feedback = RecordingFeedback()
    first = processing.run(
        "s2cloudmask:maskraster",
        {"INPUT": str(ordered), **band_parameters(STACK_BANDS), **common, "OUTPUT": str(tmp_path / "ordered.tif")},
        feedback=feedback,
    )
    assert any("class 3" in warning for warning in feedback.warnings)
    second = processing.run(
        "s2cloudmask:maskraster",
        {"INPUT": str(shuffled), **band_parameters(shuffled_bands), **common, "OUTPUT": str(tmp_path / "shuffled.tif")},
    )
    wrong = processing.run(
        "s2cloudmask:maskraster",
        {"INPUT": str(shuffled), **band_parameters(STACK_BANDS), **common, "OUTPUT": str(tmp_path / "wrong.tif")},
    )
    ordered_mask, shuffled_mask = read_mask(first["OUTPUT"]), read_mask(second["OUTPUT"])
    assert ordered_mask.shape == (128, 128)
    assert set(np.unique(ordered_mask)) >= {1, 4}
    np.testing.assert_array_equal(ordered_mask, shuffled_mask)
    assert first["CLOUD_PERCENT"] == pytest.approx(second["CLOUD_PERCENT"])
    assert np.count_nonzero(read_mask(wrong["OUTPUT"]) != ordered_mask) > 0.05 * ordered_mask.size
    assert "6" in first["MODEL_USED"] or "6b" in first["MODEL_USED"].lower()
    assert first["SEMI_TRANSPARENT_PERCENT"] == 0.0 and first["CLASS3_SOURCE"]


def test_maskraster_four_bands_runs_the_4_band_model(processing, band_stacks, tmp_path):
    ordered, _, _ = band_stacks
    results = processing.run(
        "s2cloudmask:maskraster",
        {"INPUT": str(ordered), "DEVICE": "cpu", "OUTPUT": str(tmp_path / "four.tif")},  # bands 1-4 by default
    )
    assert "4" in results["MODEL_USED"]
    assert read_mask(results["OUTPUT"]).shape == (128, 128)


# --- the graphical modeler ---------------------------------------------------------------------


def build_mask_and_compare_model() -> QgsProcessingModelAlgorithm:
    """Product -> maskproduct (window) -> comparescl against the same product's SCL, as built in the modeler."""
    model = QgsProcessingModelAlgorithm("Mask and compare with SCL", "Tests")
    model.addModelParameter(
        QgsProcessingParameterFile("product", "Product", behavior=QgsProcessingParameterFile.File),
        QgsProcessingModelParameter("product"),
    )
    model.addModelParameter(QgsProcessingParameterExtent("window", "Window"), QgsProcessingModelParameter("window"))

    mask = QgsProcessingModelChildAlgorithm("s2cloudmask:maskproduct")
    mask.setChildId("mask")
    mask.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("product")])
    mask.addParameterSources("EXTENT", [QgsProcessingModelChildParameterSource.fromModelParameter("window")])
    mask.addParameterSources("RESOLUTION", [QgsProcessingModelChildParameterSource.fromStaticValue("60")])
    mask.addParameterSources("MODEL", [QgsProcessingModelChildParameterSource.fromStaticValue("auto")])
    mask.addParameterSources("DEVICE", [QgsProcessingModelChildParameterSource.fromStaticValue("cpu")])
    mask_output = QgsProcessingModelOutput("mask", "Cloud mask")
    mask_output.setChildOutputName("OUTPUT")
    mask.setModelOutputs({"mask": mask_output})
    model.addChildAlgorithm(mask)

    compare = QgsProcessingModelChildAlgorithm("s2cloudmask:comparescl")
    compare.setChildId("compare")
    compare.addParameterSources("MASK", [QgsProcessingModelChildParameterSource.fromChildOutput("mask", "OUTPUT")])
    compare.addParameterSources("SCL", [QgsProcessingModelChildParameterSource.fromModelParameter("product")])
    difference_output = QgsProcessingModelOutput("difference", "SCL difference")
    difference_output.setChildOutputName("OUTPUT")
    report_output = QgsProcessingModelOutput("report", "Report")
    report_output.setChildOutputName("REPORT")
    compare.setModelOutputs({"difference": difference_output, "report": report_output})
    model.addChildAlgorithm(compare)
    return model


def model_outputs(model: QgsProcessingModelAlgorithm) -> dict[str, str]:
    """The model's output parameters by description: QGIS 3.22 names them "child:output" ("mask:mask"), later
    releases after the description ("cloud_mask")."""
    return {parameter.description(): parameter.name() for parameter in model.destinationParameterDefinitions()}


def test_model_masks_a_window_and_compares_with_scl(processing, real_l2a, tmp_path):
    model = build_mask_and_compare_model()
    assert model.validate()[0], model.validate()[1]
    outputs = model_outputs(model)
    assert set(outputs) == {"Cloud mask", "SCL difference", "Report"}
    assert isinstance(model.parameterDefinition(outputs["Cloud mask"]), QgsProcessingParameterRasterDestination)
    feedback = RecordingFeedback()
    results = processing.run(
        model,
        {
            "product": str(real_l2a),
            "window": WINDOW_EXTENT,
            outputs["Cloud mask"]: str(tmp_path / "mask.tif"),
            outputs["SCL difference"]: str(tmp_path / "difference.tif"),
            outputs["Report"]: str(tmp_path / "report.html"),
        },
        feedback=feedback,
    )
    assert results[outputs["Cloud mask"]] == str(tmp_path / "mask.tif")
    assert results[outputs["SCL difference"]] == str(tmp_path / "difference.tif")
    children = results["CHILD_RESULTS"]
    comparison = children["compare"]
    assert 0.0 < comparison["OVERALL_AGREEMENT"] <= 1.0
    assert -1.0 <= comparison["KAPPA"] <= 1.0 and comparison["KAPPA"] > 0.2
    per_class = json.loads(comparison["PER_CLASS"])
    assert set(per_class) == {"clear", "cloud_shadow", "semi_transparent_cloud", "cloud"}
    assert comparison["F1_CLOUD"] == pytest.approx(per_class["cloud"]["f1"])
    assert comparison["F1_CLOUD_SHADOW"] == pytest.approx(per_class["cloud_shadow"]["f1"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["kappa"]["ambiguous_as_clear"] == pytest.approx(comparison["KAPPA"])
    assert (tmp_path / "report.html").is_file()
    with rasterio.open(tmp_path / "difference.tif") as dataset, rasterio.open(tmp_path / "mask.tif") as mask:
        assert dataset.shape == mask.shape and dataset.transform == mask.transform
        difference = dataset.read(1)
    agreeing = np.isin(difference, (1, 2, 3, 12))  # both clear, both cloud, both shadow, SCL-ambiguous clear
    assert comparison["OVERALL_AGREEMENT"] == pytest.approx(agreeing.sum() / np.count_nonzero(difference))
    assert children["mask"]["DEVICE_USED"] == "CPU"


# --- bad input, through every algorithm --------------------------------------------------------


@pytest.fixture
def not_a_product(tmp_path) -> Path:
    path = tmp_path / "inputs" / "notes.txt"
    path.parent.mkdir()
    path.write_text("not a Sentinel-2 product\n")
    return path


def failing_run(processing, algorithm: str, parameters: dict) -> str:
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(algorithm, parameters)
    message = str(raised.value)
    assert "Traceback" not in message
    return message


def test_maskproduct_rejects_bad_input(processing, real_l2a, not_a_product, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    base = {"EXTENT": WINDOW_EXTENT, "RESOLUTION": "60", "DEVICE": "cpu", "OUTPUT": str(out / "mask.tif")}
    message = failing_run(processing, "s2cloudmask:maskproduct", {**base, "INPUT": str(not_a_product)})
    assert str(not_a_product) in message
    missing = tmp_path / "S2A_MSIL2A_missing.SAFE"
    message = failing_run(processing, "s2cloudmask:maskproduct", {**base, "INPUT": str(missing)})
    assert str(missing) in message
    unwritable = not_a_product / "mask.tif"  # its "folder" is a file: no one can write there, not even root
    message = failing_run(processing, "s2cloudmask:maskproduct", {**base, "INPUT": str(real_l2a),
                                                                  "OUTPUT": str(unwritable)})
    assert str(not_a_product) in message
    message = failing_run(processing, "s2cloudmask:maskproduct", {**base, "INPUT": str(real_l2a),
                                                                  "MODEL": str(not_a_product)})
    assert str(not_a_product) in message
    text_model = tmp_path / "model.onnx"  # a web page saved under a model's name
    text_model.write_text("<!DOCTYPE html><html><body>Sign in to download</body></html>\n")
    message = failing_run(processing, "s2cloudmask:maskproduct", {**base, "INPUT": str(real_l2a),
                                                                  "MODEL": str(text_model)})
    assert f"The model file {text_model} is a text file" in message and "ONNXRuntimeError" not in message
    assert_no_outputs(out)


def test_maskraster_rejects_bad_input(processing, band_stacks, not_a_product, tmp_path):
    ordered, _, _ = band_stacks
    out = tmp_path / "out"
    out.mkdir()
    base = {"INPUT": str(ordered), "DEVICE": "cpu", "OUTPUT": str(out / "mask.tif")}
    message = failing_run(processing, "s2cloudmask:maskraster", {**base, "BAND_NIR": 9})
    assert str(ordered) in message and "9" in message
    message = failing_run(processing, "s2cloudmask:maskraster", {**base, "OUTPUT": str(not_a_product / "mask.tif")})
    assert str(not_a_product) in message
    message = failing_run(processing, "s2cloudmask:maskraster", {**base, "INPUT": str(not_a_product)})
    assert f"INPUT: {not_a_product} is not a raster" in message
    missing = tmp_path / "missing.tif"
    message = failing_run(processing, "s2cloudmask:maskraster", {**base, "INPUT": str(missing)})
    assert f"INPUT: the file {missing} does not exist" in message
    assert_no_outputs(out)


def test_maskraster_dialog_does_not_preselect_the_active_layer(processing, window_mask):
    """After a run the mask is the active layer; maskraster's INPUT must not offer it as the band stack."""
    mask = QgsRasterLayer(str(window_mask), "Cloud mask", "gdal")
    stack = QgsRasterLayer(str(window_mask), "Z stack", "gdal")
    project = QgsProject()
    project.addMapLayers([mask, stack])
    definition = QgsApplication.processingRegistry().algorithmById("s2cloudmask:maskraster").parameterDefinition("INPUT")
    wrapper = QgsGui.processingGuiRegistry().createParameterWidgetWrapper(definition, QgsProcessingGui.Standard)
    context = QgsProcessingParameterWidgetContext()
    context.setProject(project)
    context.setActiveLayer(mask)
    wrapper.setWidgetContext(context)
    wrapper.createWrappedWidget(QgsProcessingContext())
    assert wrapper.widgetValue() != mask.id()


def test_maskraster_refuses_one_of_its_own_masks_as_bands(processing, window_mask, tmp_path):
    message = failing_run(processing, "s2cloudmask:maskraster", {
        "INPUT": str(window_mask), "BAND_BLUE": 1, "BAND_GREEN": 1, "BAND_RED": 1, "BAND_NIR": 1,
        "DEVICE": "cpu", "OUTPUT": str(tmp_path / "mask_of_a_mask.tif")})
    assert str(window_mask) in message and "cloud mask" in message
    assert not (tmp_path / "mask_of_a_mask.tif").exists()


@pytest.fixture(scope="module")
def window_mask(processing, real_l2a, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("window-mask") / "mask.tif"
    processing.run(
        "s2cloudmask:maskproduct",
        {"INPUT": str(real_l2a), "EXTENT": WINDOW_EXTENT, "RESOLUTION": "60", "DEVICE": "cpu", "OUTPUT": str(output)},
    )
    return output


def test_comparescl_rejects_bad_input(processing, real_l2a, window_mask, band_stacks, not_a_product, tmp_path):
    ordered, _, _ = band_stacks
    out = tmp_path / "out"
    out.mkdir()
    base = {"MASK": str(window_mask), "OUTPUT": str(out / "difference.tif")}
    message = failing_run(processing, "s2cloudmask:comparescl", {**base, "SCL": str(not_a_product)})
    assert str(not_a_product) in message
    missing = tmp_path / "T29UNU_SCL_20m.jp2"
    message = failing_run(processing, "s2cloudmask:comparescl", {**base, "SCL": str(missing)})
    assert str(missing) in message
    scl = str(scl_file(real_l2a))
    message = failing_run(processing, "s2cloudmask:comparescl", {**base, "MASK": str(not_a_product), "SCL": scl})
    assert f"MASK: {not_a_product} is not a raster" in message
    message = failing_run(processing, "s2cloudmask:comparescl", {**base, "MASK": str(ordered), "SCL": scl})
    assert str(ordered) in message and "6 bands" in message
    message = failing_run(processing, "s2cloudmask:comparescl", {**base, "SCL": scl,
                                                                "OUTPUT": str(not_a_product / "d.tif")})
    assert str(not_a_product) in message
    assert_no_outputs(out)


# --- finetune ----------------------------------------------------------------------------------


def test_finetune_parameter_and_output_names(processing):
    alg = QgsApplication.processingRegistry().algorithmById("s2cloudmask:finetune")
    assert [p.name() for p in alg.parameterDefinitions()] == ["PATCHES", "BASE_MODEL", "EPOCHS", "OUTPUT_MODEL"]
    assert [o.name() for o in alg.outputDefinitions()] == [
        "OUTPUT_MODEL", "CARD", "REPORT", "TEST_ACCURACY_BASE", "TEST_ACCURACY", "TEST_KAPPA_BASE", "TEST_KAPPA",
        "DEVICE_USED", "EPOCHS_RUN", "BEST_EPOCH", "HISTORY"]
    assert alg.parameterDefinition("BASE_MODEL").defaultValue() == "auto"
    # a file chooser for .onnx files, as MODEL is in the masking algorithms, that also takes 'auto'
    base = alg.parameterDefinition("BASE_MODEL")
    model = QgsApplication.processingRegistry().algorithmById("s2cloudmask:maskproduct").parameterDefinition("MODEL")
    assert base.type() == model.type() == "file"
    assert base.behavior() == model.behavior() == QgsProcessingParameterFile.File
    assert base.fileFilter() == model.fileFilter() and "*.onnx" in base.fileFilter()
    wrapper = QgsGui.processingGuiRegistry().createParameterWidgetWrapper(base, QgsProcessingGui.Standard)
    chooser = wrapper.createWrappedWidget(QgsProcessingContext())
    assert isinstance(chooser, QgsFileWidget) and chooser.filePath() == "auto"  # what the dialog shows
    for name in ("PATCHES", "BASE_MODEL", "EPOCHS", "OUTPUT_MODEL", "TEST_ACCURACY", "DEVICE_USED"):
        assert name in alg.shortHelpString()


def test_finetune_names_a_folder_that_is_not_a_patch_folder(processing, tmp_path):
    with pytest.raises(QgsProcessingException, match=r"has no manifest.json.*exportpatches"):
        processing.run("s2cloudmask:finetune", {"PATCHES": str(tmp_path), "EPOCHS": 1,
                                                "OUTPUT_MODEL": str(tmp_path / "model.onnx")})
    assert not (tmp_path / "model.onnx").exists()


def test_finetune_cancel_stops_training_and_leaves_nothing(processing, training_python, tmp_path):
    """Cancel, as the dialog's button does, once the trainer has started: it is stopped, nothing is written."""
    from s2cloudmask.tools.scene_patches import write_scene_patches
    from s2cloudmask.tools.synthetic_product import truth_path, write_product

    product = write_product(tmp_path / "product", level="L2A", size=300, seed=5)
    write_scene_patches(product, truth_path(product), tmp_path / "patches", resolution=20, patch_size=48)
    out = tmp_path / "out"
    out.mkdir()
    feedback = RecordingFeedback(cancel_at=10.0)
    with pytest.raises(QgsProcessingException, match="(?i)cancelled; no model was written"):
        processing.run("s2cloudmask:finetune", {"PATCHES": str(tmp_path / "patches"), "EPOCHS": 1,
                                                "OUTPUT_MODEL": str(out / "model.onnx")}, feedback=feedback)
    assert any(stage.startswith("Training on") for stage in feedback.stages)
    assert list(out.iterdir()) == []
