"""The comparison report: JSON beside a self-contained HTML page, the quicklook, and the difference style."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis.core import QgsPalettedRasterRenderer, QgsRasterLayer
from qgis.PyQt.QtGui import QImage
from comparison_cases import constructed_case, write_codes
from qml_styles import qml_palette
from s2cloudmask.inference.classes import scl_to_mask
from s2cloudmask.inference.comparing.compare import compare_masks, compare_with_scl
from s2cloudmask.inference.comparing.difference import DIFFERENCE_CODES, DIFFERENCE_COLOURS, DIFFERENCE_NAMES
from s2cloudmask.inference.comparing.report import check_report_path
from s2cloudmask.inference.errors import OutputError

from tests.sandbox_env import REPO

DIFFERENCE_STYLE = REPO / "resources" / "styles" / "difference.qml"
JSON_KEYS = {
    "format", "format_version", "reference", "mask", "reference_source", "difference_raster", "grid", "pixels",
    "compared_area_km2", "matrix", "overall_agreement", "kappa", "balanced_accuracy", "per_class", "difference",
    "let_through_codes", "thrown_away_codes", "attribution", "seconds",
}


def embedded_images(page: str) -> list[QImage]:
    images = []
    for encoded in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        image = QImage()
        assert image.loadFromData(base64.b64decode(encoded), "PNG")
        images.append(image)
    return images


def assert_self_contained(page: str) -> None:
    references = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.IGNORECASE)
    assert references and all(ref.startswith("data:") for ref in references), references
    assert not re.search(r"<link|<script|@import|url\(", page, flags=re.IGNORECASE)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # the SVG namespace is a name, not a fetch


def test_json_and_html_beside_each_other(tmp_path: Path, qgis_app) -> None:
    mask, scl, expected = constructed_case(tmp_path)
    result = compare_with_scl(mask, scl, tmp_path / "difference.tif", report=tmp_path / "report.html")
    assert result.report == str(tmp_path / "report.html")

    figures = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert set(figures) == JSON_KEYS
    assert figures == json.loads(json.dumps(result.to_dict()))
    assert figures["reference"] == "SCL" and figures["matrix"]["columns"] == "SCL" and figures["matrix"]["rows"] == "mask"
    assert figures["matrix"]["counts"][0] == [12, 1, 0, 2, 0, 2, 0, 0]
    assert [c["key"] for c in figures["matrix"]["column_classes"]] == [
        "clear", "cloud_shadow", "semi_transparent_cloud", "cloud", "dark_area", "water", "unclassified", "snow_or_ice"]
    assert figures["overall_agreement"]["ambiguous_as_clear"] == pytest.approx(27 / 38)
    assert figures["pixels"] == {"total": 40, "compared": 38, "mask_no_data": 1, "reference_no_data": 1, "ambiguous": 4}
    assert figures["mask"]["tags"] == {"MODEL": "test model 1.0"}
    assert [row["code"] for row in figures["difference"]] == list(DIFFERENCE_CODES)
    missed = next(row for row in figures["difference"] if row["code"] == 4)
    assert missed["name"] == "Cloud missed by SCL" and missed["colour"] == "#e41a1c"
    assert missed["area_km2"] == pytest.approx(2e-4) and missed["percent"] == pytest.approx(100 * 2 / 38)

    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    assert "<svg" in page and 'class="matrix"' in page
    for code in DIFFERENCE_CODES:
        assert DIFFERENCE_NAMES[code] in page
    assert "SCL ambiguous, counted as clear" in page
    assert "test model 1.0" in page
    assert "Contains modified Copernicus Sentinel data" in page

    (image,) = embedded_images(page)
    assert (image.width(), image.height()) == (10, 4)  # small rasters are shown pixel for pixel
    for row in range(4):
        for column in range(10):
            colour = image.pixelColor(column, row)
            code = int(expected[row, column])
            if code == 0:
                assert colour.alpha() == 0
            else:
                assert colour.getRgb() == DIFFERENCE_COLOURS[code]


def test_real_report(tmp_path: Path, real_l2a: Path, qgis_app) -> None:
    scl20 = next(real_l2a.glob("GRANULE/*/IMG_DATA/R20m/*_SCL_20m.jp2"))
    scl60 = next(real_l2a.glob("GRANULE/*/IMG_DATA/R60m/*_SCL_60m.jp2"))
    with rasterio.open(scl60) as dataset:
        mask = write_codes(tmp_path / "mask60.tif", scl_to_mask(dataset.read(1)), transform=dataset.transform,
                            crs=dataset.crs, MODEL="scl_to_mask of SCL_60m")
    result = compare_with_scl(mask, scl20, tmp_path / "difference.tif", report=tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    assert "Contains modified Copernicus Sentinel data 2022" in page
    assert "scl_to_mask of SCL_60m" in page
    (image,) = embedded_images(page)
    assert (image.width(), image.height()) == (672, 560)  # below the quicklook's 900 px: pixel for pixel
    # the orbit edge is no data: transparent in the quicklook's south-east corner, coloured in the west
    assert image.pixelColor(665, 555).alpha() == 0
    assert image.pixelColor(10, 280).alpha() == 255
    figures = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert figures["attribution"] == "Contains modified Copernicus Sentinel data 2022"
    assert figures["pixels"]["compared"] == result.compared_pixels
    assert sum(row["percent"] for row in figures["difference"]) == pytest.approx(100.0)
    assert figures["grid"] == {"crs": "EPSG:32629", "resolution": 60.0, "width": 672, "height": 560}
    # the same units as the dock: per-class figures in percent, the reference's pixel size in metres
    assert "<th>Precision (%)</th>" in page and "<th>Reference pixel size</th><td>20 m</td>" in page
    cloud = figures["per_class"]["cloud"]
    assert f'<td class="num">{100 * cloud["precision"]:.1f}</td>' in page


def test_report_for_two_masks(tmp_path: Path, qgis_app) -> None:
    mask = write_codes(tmp_path / "a.tif", np.array([[1, 1, 4, 2], [1, 4, 4, 1]]))
    reference = write_codes(tmp_path / "b.tif", np.array([[1, 4, 4, 2], [2, 4, 1, 1]]))
    compare_masks(mask, reference, tmp_path / "difference.tif", report=tmp_path / "masks.html")
    figures = json.loads((tmp_path / "masks.json").read_text(encoding="utf-8"))
    assert figures["reference"] == "reference mask"
    assert figures["reference_source"]["kind"] == "mask"
    assert not any(c["ambiguous"] for c in figures["matrix"]["column_classes"])
    # no semi-transparent cloud on either side: its figures are undefined, not zero
    assert figures["per_class"]["semi_transparent_cloud"]["precision"] is None
    assert figures["per_class"]["semi_transparent_cloud"]["iou"] is None
    page = (tmp_path / "masks.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    assert "Cloud only in reference mask" in page and "n/a" in page
    assert "ambiguous, counted as clear" not in page


def test_report_paths_are_checked(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"report\.pdf must be an HTML file"):
        check_report_path(tmp_path / "report.pdf")
    (tmp_path / "taken.json").mkdir()
    with pytest.raises(OutputError, match=r"taken\.json is a folder"):
        check_report_path(tmp_path / "taken.html")
    assert check_report_path(tmp_path / "fine.html") == (tmp_path / "fine.html", tmp_path / "fine.json")


def test_difference_style_matches_the_constants() -> None:
    assert qml_palette(DIFFERENCE_STYLE) == {
        code: (DIFFERENCE_NAMES[code], DIFFERENCE_COLOURS[code]) for code in DIFFERENCE_CODES
    }


def test_difference_style_loads_in_qgis(tmp_path: Path, qgis_app) -> None:
    mask, scl, _ = constructed_case(tmp_path)
    compare_with_scl(mask, scl, tmp_path / "difference.tif")
    layer = QgsRasterLayer(str(tmp_path / "difference.tif"), "difference", "gdal")
    assert layer.isValid()
    message, loaded = layer.loadNamedStyle(str(DIFFERENCE_STYLE))
    assert loaded, message
    renderer = layer.renderer()
    assert isinstance(renderer, QgsPalettedRasterRenderer)
    classes = {int(c.value): (c.label, c.color.getRgb()) for c in renderer.classes()}
    assert classes == {code: (DIFFERENCE_NAMES[code], DIFFERENCE_COLOURS[code]) for code in DIFFERENCE_CODES}
