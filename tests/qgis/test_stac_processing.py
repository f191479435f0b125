"""STAC items through the Processing algorithms: an item's URL as maskproduct's INPUT, a STAC API search in
maskmany, and the STAC settings that sign Planetary Computer assets. The items are served on 127.0.0.1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from recording_feedback import RecordingFeedback
from qgis.core import QgsProcessingContext
from s2cloudmask.inference.reading.signing import SIGNING_URL_VARIABLE, TOKEN_VARIABLE
from s2cloudmask.toolbelt.preferences import StacSettings

from stac_helpers import serve_item, served, write_safe


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("stac")
    safe = write_safe(root / "safe")
    with served(root / "served") as server:
        url = serve_item(server, safe, "scene")
        item = json.loads((server.root / "scene" / "item.json").read_text())
        server.catalogue([item])
        yield server, url, item


def utm_extent(item: dict) -> str:
    """The scene's north-west quarter, in its UTM CRS, as Processing writes an extent."""
    with rasterio.open(item["assets"]["blue"]["href"].replace("http://", "/vsicurl/http://")) as dataset:
        left, bottom, right, top = dataset.bounds
    return f"{left},{(left + right) / 2},{(bottom + top) / 2},{top} [EPSG:32632]"


def test_maskproduct_and_comparescl_take_a_stac_items_url(processing, catalogue, tmp_path):
    server, url, item = catalogue
    result = processing.run("s2cloudmask:maskproduct", {
        "INPUT": url, "EXTENT": utm_extent(item), "RESOLUTION": "60", "DEVICE": "cpu",
        "OUTPUT": str(tmp_path / "mask.tif")}, context=QgsProcessingContext(), feedback=RecordingFeedback())
    with rasterio.open(result["OUTPUT"]) as mask:
        assert (mask.width, mask.height) == (20, 20)  # a quarter of the 40 x 40 pixel scene
        assert mask.tags()["PRODUCT_ID"] == item["id"]
    assert result["CLEAR_PERCENT"] + result["CLOUD_PERCENT"] > 50
    compared = processing.run("s2cloudmask:comparescl", {
        "MASK": result["OUTPUT"], "SCL": url, "OUTPUT": str(tmp_path / "difference.tif")},
        context=QgsProcessingContext(), feedback=RecordingFeedback())
    assert 0.5 < compared["OVERALL_AGREEMENT"] <= 1


@pytest.mark.slow
def test_applymask_and_composite_take_a_stac_items_url(processing, catalogue, tmp_path, cog_errors):
    _, url, item = catalogue
    cleaned = processing.run("s2cloudmask:applymask", {
        "INPUT": url, "RESOLUTION": "60", "DEVICE": "cpu", "OUTPUT": str(tmp_path / "clean.tif"),
        "OUTPUT_MASK": str(tmp_path / "mask.tif")}, context=QgsProcessingContext(), feedback=RecordingFeedback())
    with rasterio.open(cleaned["OUTPUT"]) as dataset:
        assert dataset.tags()["PRODUCT_ID"] == item["id"] and dataset.descriptions[0] == "B02"
    assert 0 < cleaned["KEPT_PERCENT"] < 100 and cog_errors(cleaned["OUTPUT"]) == []
    composited = processing.run("s2cloudmask:composite", {
        "PRODUCTS": url, "RESOLUTION": 60, "WORKERS": 1, "DEVICE": "cpu", "OUTPUT": str(tmp_path / "composite.tif")},
        context=QgsProcessingContext(), feedback=RecordingFeedback())
    assert composited["PRODUCTS_USED"] == 1 and composited["MASKS_MADE"] == 1 and cog_errors(composited["OUTPUT"]) == []
    with rasterio.open(cleaned["OUTPUT"]) as clean, rasterio.open(composited["OUTPUT"]) as single:
        assert single.transform == clean.transform  # one date: the composite is that date's clean bands
        count = single.read(single.count)
        assert ((count == 1) == np.isfinite(clean.read(1))).mean() > 0.95


@pytest.mark.slow
def test_maskmany_lists_what_a_stac_search_found_then_masks_it(processing, catalogue, tmp_path):
    server, _, item = catalogue
    feedback = RecordingFeedback()
    out = tmp_path / "out"
    west, south, east, north = item["bbox"]
    result = processing.run("s2cloudmask:maskmany", {
        "STAC_API": server.base, "EXTENT": f"{west},{east},{south},{north} [EPSG:4326]", "START": "2022-06-01",
        "END": "2022-06-30", "MAX_CLOUD": 50, "RESOLUTION": "60", "WORKERS": 1, "OUTPUT_FOLDER": str(out),
        "SUMMARY": "TEMPORARY_OUTPUT"}, context=QgsProcessingContext(), feedback=feedback)
    assert result["PRODUCTS_DONE"] == 1 and result["PRODUCTS_FAILED"] == 0
    assert feedback.infos[0].startswith("1 STAC item(s) found") and item["id"] in feedback.infos[1]
    assert (out / f"{item['id']}_cloudmask.tif").is_file()


def test_maskmany_needs_products_or_a_stac_api(processing, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="PRODUCTS .* or STAC_API"):
        processing.run("s2cloudmask:maskmany", {"OUTPUT_FOLDER": str(tmp_path), "SUMMARY": "TEMPORARY_OUTPUT"},
                       context=QgsProcessingContext(), feedback=RecordingFeedback())


def test_the_stac_settings_reach_the_engine_through_the_environment(qgis_app, monkeypatch):
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    monkeypatch.delenv(SIGNING_URL_VARIABLE, raising=False)
    StacSettings().set()  # nothing set: nothing exported
    assert TOKEN_VARIABLE not in os.environ
    StacSettings(token="st=1&sig=abc", signing_url="").set()
    assert os.environ[TOKEN_VARIABLE] == "st=1&sig=abc" and StacSettings.get().token == "st=1&sig=abc"
    StacSettings(token="", signing_url="https://example.com/token/{collection}").set()
    assert os.environ[SIGNING_URL_VARIABLE] == "https://example.com/token/{collection}"
    assert TOKEN_VARIABLE not in os.environ
    StacSettings().set()


def test_the_dock_takes_a_stac_items_url_and_its_stac_settings(qgis_iface, qgis_new_project, catalogue, tmp_path,
                                                               monkeypatch):
    from dataclasses import replace

    from s2cloudmask.toolbelt.preferences import PlgSettings
    from s2cloudmask.ui.dock import CloudMaskDock
    from s2cloudmask.ui.stac_settings_dialog import StacSettingsDialog

    _, url, item = catalogue
    PlgSettings.clear()
    PlgSettings.set(replace(PlgSettings.get(), output_folder=str(tmp_path)))
    dock = CloudMaskDock(qgis_iface)
    try:
        dock.set_product(url)
        assert dock.product is not None and not dock.product_error
        assert "L2A" in dock.productInfoLabel.text() and "32UPC" in dock.productInfoLabel.text()
        assert Path(dock.outputFileWidget.filePath()) == tmp_path / f"{item['id']}_cloudmask.tif"
        assert dock.stacSettingsAction.text() == "STAC settings…"
    finally:
        dock.deleteLater()
        PlgSettings.clear()
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    dialog = StacSettingsDialog()
    dialog.tokenEdit.setText("st=1&sig=abc")
    dialog.accept()
    assert os.environ[TOKEN_VARIABLE] == "st=1&sig=abc" and StacSettings.get().token == "st=1&sig=abc"
    StacSettings().set()
