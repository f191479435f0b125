"""s2cloudmask:applymask and s2cloudmask:composite through processing.run, as the toolbox, the modeler and
scripts use them: the designed names, the outputs, the true-colour look, and bad inputs refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from recording_feedback import RecordingFeedback
from qgis.core import (
    QgsApplication,
    QgsMultiBandColorRenderer,
    QgsProcessingContext,
    QgsProcessingException,
    QgsRasterLayer,
)
from s2cloudmask.inference.masking.engine import mask_product
from s2cloudmask.toolbelt.layers import style_band_stack
from s2cloudmask.tools import synthetic_product as sp

APPLY_PARAMETERS = ["INPUT", "MASK", "CLASSES", "BUFFER", "BANDS", "RESOLUTION", "EXTENT", "VALUES", "SCALE",
                    "OFFSET", "MODEL", "DEVICE", "OUTPUT", "OUTPUT_MASK"]
COMPOSITE_PARAMETERS = ["PRODUCTS", "MASKS", "EXTENT", "CRS", "RESOLUTION", "START", "END", "METHOD", "TARGET_DATE",
                        "CLASSES", "BUFFER", "BANDS", "MODEL", "DEVICE", "WORKERS", "OUTPUT"]


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("clean-pixels")
    found = sp.read_series(sp.write_series(folder / "products", dates=3, size=240, seed=2))
    found["folder"], found["masks"] = folder / "products", folder / "masks"
    found["masks"].mkdir()
    for entry in found["dates"]:
        entry["mask"] = found["masks"] / f"{entry['product_id']}_cloudmask.tif"
        mask_product(entry["product"], entry["mask"], resolution=20, device="cpu")
    return found


def _run(processing, algorithm: str, parameters: dict, feedback: RecordingFeedback | None = None) -> dict:
    return processing.run(algorithm, parameters, context=QgsProcessingContext(), feedback=feedback or RecordingFeedback())


def test_names_groups_and_help_are_the_designed_ones(processing):
    registry = QgsApplication.processingRegistry()
    for algorithm, parameters in (("s2cloudmask:applymask", APPLY_PARAMETERS),
                                  ("s2cloudmask:composite", COMPOSITE_PARAMETERS)):
        alg = registry.algorithmById(algorithm)
        assert [p.name() for p in alg.parameterDefinitions()] == parameters
        assert alg.group() == "Clean pixels" and not alg.icon().isNull()
        for name in parameters:
            assert name in alg.shortHelpString() or name in ("SCALE", "OFFSET", "MODEL", "DEVICE", "WORKERS")
    apply = registry.algorithmById("s2cloudmask:applymask")
    assert apply.parameterDefinition("CLASSES").options() == ["cloud", "semi_transparent_cloud", "cloud_shadow"]
    assert apply.parameterDefinition("RESOLUTION").defaultValue() == "20"
    assert registry.algorithmById("s2cloudmask:composite").parameterDefinition("METHOD").options() == ["median", "bap"]


def test_applymask_masks_a_product_first_and_writes_true_colour_bands(processing, series, tmp_path, cog_errors):
    entry = series["dates"][0]
    feedback = RecordingFeedback()
    results = _run(processing, "s2cloudmask:applymask",
                   {"INPUT": str(entry["product"]), "DEVICE": "cpu", "OUTPUT": str(tmp_path / "clean.tif"),
                    "OUTPUT_MASK": str(tmp_path / "mask.tif")}, feedback)
    assert results["OUTPUT"] == str(tmp_path / "clean.tif") and results["BANDS"] == ",".join(sp.SURFACE_BANDS)
    assert 0 < results["KEPT_PERCENT"] < 100 and results["KEPT_PERCENT"] + results["REMOVED_PERCENT"] == \
        pytest.approx(100.0)
    assert any(stage.startswith("Masking") for stage in feedback.stages) and cog_errors(results["OUTPUT"]) == []
    layer = QgsRasterLayer(results["OUTPUT"], "clean")
    style_band_stack(layer)
    renderer = layer.renderer()
    assert isinstance(renderer, QgsMultiBandColorRenderer)
    bands = list(sp.SURFACE_BANDS)
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == tuple(
        bands.index(b) + 1 for b in ("B04", "B03", "B02"))
    assert renderer.redContrastEnhancement().maximumValue() == pytest.approx(0.25)


def test_applymask_refuses_a_mask_of_another_product_and_an_output_over_its_input(processing, series, tmp_path):
    first, second = series["dates"][:2]
    with pytest.raises(QgsProcessingException, match=f"made from {first['product_id']}"):
        _run(processing, "s2cloudmask:applymask", {"INPUT": str(second["product"]), "MASK": str(first["mask"]),
                                                   "OUTPUT": str(tmp_path / "clean.tif")})
    before = Path(first["mask"]).read_bytes()
    with pytest.raises(QgsProcessingException, match="MASK"):
        _run(processing, "s2cloudmask:applymask", {"INPUT": str(first["product"]), "MASK": str(first["mask"]),
                                                   "OUTPUT": str(first["mask"])})
    assert Path(first["mask"]).read_bytes() == before and list(tmp_path.iterdir()) == []


def test_composite_reuses_the_masks_and_writes_bands_count_and_date(processing, series, tmp_path, cog_errors):
    feedback = RecordingFeedback()
    results = _run(processing, "s2cloudmask:composite",
                   {"PRODUCTS": str(series["folder"]), "MASKS": str(series["masks"]), "METHOD": "bap",
                    "OUTPUT": str(tmp_path / "composite.tif")}, feedback)
    assert results["PRODUCTS_USED"] == 3 and results["MASKS_REUSED"] == 3 and results["MASKS_MADE"] == 0
    assert 0 < results["COVERED_PERCENT"] <= 100 and cog_errors(results["OUTPUT"]) == []
    with rasterio.open(results["OUTPUT"]) as dataset:
        assert dataset.count == len(sp.SURFACE_BANDS) + 2 and dataset.res == (20.0, 20.0)
        count = dataset.read(len(sp.SURFACE_BANDS) + 1)
    assert count.max() <= 3 and np.isin(np.unique(count), [0, 1, 2, 3]).all()
    assert any("3 product(s) on this process" in info for info in feedback.infos)


def test_composite_of_mixed_levels_fails_with_the_reason(processing, series, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / Path(series["dates"][0]["product"]).name).symlink_to(series["dates"][0]["product"])
    sp.write_product(tmp_path / "l1c", level="L1C", size=120, seed=1, extras=False).rename(mixed / "l1c.SAFE")
    with pytest.raises(QgsProcessingException, match="mix levels") as raised:
        _run(processing, "s2cloudmask:composite", {"PRODUCTS": str(mixed), "MASKS": str(series["masks"]),
                                                   "OUTPUT": str(tmp_path / "composite.tif")})
    assert "Traceback" not in str(raised.value) and not (tmp_path / "composite.tif").exists()
