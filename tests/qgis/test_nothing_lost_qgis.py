"""The newer algorithms keep the promise masking keeps, as a server script sees them through qgis_process.

Each case is one a user met: an output over an input (samples, probabilities, a list of pairs, a product), two
outputs on one path, a list that is not text, a raster name that promises another format, the plugin's own
mask taken for an SCL, a failed product in maskmany. Each run must exit non-zero where it did not do what was
asked, say why in one message without a traceback, and leave every file that was there byte-identical (sha256
before and after). The batch runner's own cases run in tests/engine/test_nothing_lost_engine.py.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from batch_helpers import corrupt_name, write_products
from disk import tree_digests
from osgeo import ogr, osr
from qgis.core import QgsProcessingException, QgsProcessingParameterFile, QgsProcessingParameterFileDestination
from qgis_process_runner import QGIS_PROCESS, qgis_process
from s2cloudmask.inference.grid import Grid
from s2cloudmask.inference.masking.engine import mask_product
from s2cloudmask.processing.base import CloudMaskAlgorithm
from s2cloudmask.tools import synthetic_product as sp


pytestmark = pytest.mark.skipif(not Path(QGIS_PROCESS).is_file(), reason="qgis_process.bin is not installed")
SAMPLES = 40


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> dict[str, Path]:
    """A generated L2A product with what a user keeps beside it: hand-marked samples, probabilities, the mask."""
    folder = tmp_path_factory.mktemp("scene")
    product = sp.write_product(folder / "product", level="L2A", size=240, seed=4, extras=False)
    with rasterio.open(sp.truth_path(product)) as truth:
        grid, crs = Grid(truth.crs, truth.transform, truth.width, truth.height), truth.crs
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(folder / "good.gpkg"))
    srs = osr.SpatialReference()
    srs.ImportFromWkt(crs.to_wkt())
    layer = source.CreateLayer("samples", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("class", ogr.OFTInteger))
    for number in range(SAMPLES):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("class", 1 + number % 4)
        x, y = grid.map_xy(6 * number + 3, 6 * number + 3)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
        layer.CreateFeature(feature)
    source = None
    probabilities = folder / "prob.tif"
    mask = folder / "mask.tif"
    mask_product(product, mask, resolution=60, device="cpu", probabilities=probabilities)
    return {"product": product, "samples": folder / "good.gpkg", "probabilities": probabilities, "mask": mask,
            "folder": folder}


def refused(env: dict, algorithm: str, parameters: dict, watched: list[Path]) -> str:
    """Run an algorithm through qgis_process that must be refused: exit code not 0, no traceback, every file
    under `watched` byte-identical and none added. Returns what it printed.

    The one file allowed to appear is the .aux.xml side-car of a raster input: QGIS itself writes the band
    statistics there when it opens a multi-band raster as a layer, before any algorithm runs."""
    before = tree_digests(*watched)
    ran = qgis_process(env, "run", algorithm, "--", *(f"{name}={value}" for name, value in parameters.items()))
    text = ran.stdout + ran.stderr
    assert ran.returncode != 0, text
    assert "Traceback" not in text, text
    after = tree_digests(*watched)
    assert {path: after.get(path) for path in before} == before
    assert all(path.endswith(".aux.xml") and path.removesuffix(".aux.xml") in before for path in set(after) - set(before))
    return text


# --------------------------------------------------------------------------- data loss (1, 2, 3)


def test_referencemask_refuses_suggestions_over_its_samples(qgis_env, scene):  # noqa: F811
    """It used to replace the hand-marked samples with the suggestion points, and exit 0."""
    text = refused(qgis_env, "s2cloudmask:referencemask", {
        "INPUT": scene["product"], "SAMPLES": scene["samples"], "CLASS_FIELD": "class", "RESOLUTION": 60,
        "OUTPUT": scene["folder"] / "ref.tif", "OUTPUT_SUGGESTIONS": scene["samples"]}, [scene["folder"]])
    assert f"OUTPUT_SUGGESTIONS ({scene['samples']}) is SAMPLES itself" in text
    assert ogr.Open(str(scene["samples"])).GetLayer(0).GetFeatureCount() == SAMPLES


def test_referencemask_refuses_its_probabilities_as_output(qgis_env, scene):  # noqa: F811
    text = refused(qgis_env, "s2cloudmask:referencemask", {
        "INPUT": scene["product"], "SAMPLES": scene["samples"], "CLASS_FIELD": "class", "RESOLUTION": 60,
        "PROBABILITIES": scene["probabilities"], "OUTPUT": scene["probabilities"]}, [scene["folder"]])
    assert f"OUTPUT ({scene['probabilities']}) is PROBABILITIES itself" in text


def test_validate_refuses_a_report_whose_table_would_replace_the_list_of_pairs(qgis_env, scene, tmp_path):  # noqa: F811
    """REPORT=v.html writes v.csv beside it: with PAIRS=v.csv that was the user's list."""
    pairs = tmp_path / "v.csv"
    pairs.write_text(f"mask,reference\n{scene['mask']},{sp.truth_path(scene['product'])}\n", encoding="utf-8")
    text = refused(qgis_env, "s2cloudmask:validate", {"PAIRS": pairs, "REPORT": tmp_path / "v.html"},
                   [tmp_path, scene["folder"]])
    assert f"the CSV beside REPORT ({pairs}) is PAIRS itself" in text


# --------------------------------------------------------------------------- writes inside a product (4)


@pytest.mark.parametrize("algorithm", ["referencemask", "exportpatches"])
def test_outputs_inside_the_product_are_refused(qgis_env, scene, algorithm):  # noqa: F811
    safe = scene["product"]
    parameters = ({"INPUT": safe, "SAMPLES": scene["samples"], "CLASS_FIELD": "class", "OUTPUT": safe / "ref.tif"}
                  if algorithm == "referencemask" else
                  {"INPUT": safe, "REFERENCE": scene["mask"], "PATCH_SIZE": 32, "OUTPUT_FOLDER": safe / "patches"})
    text = refused(qgis_env, f"s2cloudmask:{algorithm}", parameters, [scene["folder"]])
    assert f"lies inside the product (INPUT) ({safe})" in text and "Choose a folder outside the input" in text


# --------------------------------------------------------------------------- exit codes (8) and OUTPUT_FOLDER (10)


@pytest.mark.slow
def test_maskmany_exits_non_zero_when_a_product_failed_and_still_writes_the_summary(qgis_env, tmp_path):  # noqa: F811
    """It used to exit 0 (PRODUCTS_FAILED=1) where make batch exits 1 on the same folder."""
    products = write_products(tmp_path / "products", good=2)
    before = tree_digests(products)
    out = tmp_path / "out"
    ran = qgis_process(qgis_env, "run", "s2cloudmask:maskmany", "--", f"PRODUCTS={products}", "RESOLUTION=60",
                       "WORKERS=2", f"OUTPUT_FOLDER={out}", "SUMMARY=TEMPORARY_OUTPUT")
    text = ran.stdout + ran.stderr
    assert ran.returncode == 1, text
    assert "Traceback" not in text
    assert "1 of 3 product(s) failed" in text and corrupt_name(products) in text and str(out / "summary.csv") in text
    with (out / "summary.csv").open(encoding="utf-8") as stream:
        assert sorted(row["status"] for row in csv.DictReader(stream)) == ["done", "done", "failed"]
    assert tree_digests(products) == before


def test_maskmany_names_an_output_folder_that_is_a_file(qgis_env, scene, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    out.write_text("my notes\n")
    text = refused(qgis_env, "s2cloudmask:maskmany", {"PRODUCTS": scene["product"], "OUTPUT_FOLDER": out,
                                                      "SUMMARY": "TEMPORARY_OUTPUT"}, [tmp_path, scene["folder"]])
    assert f"The output folder {out} is a file; give a folder" in text


# --------------------------------------------------------------------------- lists that are not text (11, 12)


def test_validate_names_a_list_of_pairs_that_is_not_utf8(qgis_env, tmp_path):  # noqa: F811
    pairs = tmp_path / "pairs.csv"
    pairs.write_bytes(b"mask,reference\n\xff\xfe\xfa.tif,r.tif\n")
    text = refused(qgis_env, "s2cloudmask:validate", {"PAIRS": pairs}, [tmp_path])
    assert f"The list of pairs {pairs} is not UTF-8 text" in text and "save it as a CSV in UTF-8" in text


def test_exportpatches_names_a_control_character_in_its_list(qgis_env, scene, tmp_path):  # noqa: F811
    """A NUL byte in a path used to give "ERROR:" and nothing after it."""
    listed = tmp_path / "list.csv"
    listed.write_bytes(b"product,reference\n" + str(scene["product"]).encode() + b"\x00x," +
                       str(scene["mask"]).encode() + b"\n")
    text = refused(qgis_env, "s2cloudmask:exportpatches", {"INPUT": listed, "OUTPUT_FOLDER": tmp_path / "patches"},
                   [tmp_path, scene["folder"]])
    assert f"Line 2 of {listed} holds a path with a control character" in text and "\\x00" in text


# --------------------------------------------------------------------------- duplicates named as such (13)


def test_two_outputs_on_one_path_are_named_duplicates_not_another_run(qgis_env, scene, tmp_path):  # noqa: F811
    target = tmp_path / "ref.tif"
    text = refused(qgis_env, "s2cloudmask:referencemask", {
        "INPUT": scene["product"], "SAMPLES": scene["samples"], "CLASS_FIELD": "class", "OUTPUT": target,
        "OUTPUT_CONFIDENCE": target}, [tmp_path, scene["folder"]])
    assert f"OUTPUT and OUTPUT_CONFIDENCE are the same file ({target})" in text and "Another run" not in text


# --------------------------------------------------------------------------- silently wrong (15, 16)


@pytest.mark.parametrize("name", ["mask.png", "mask.jpg", "mask.gpkg"])
def test_maskproduct_refuses_a_raster_name_that_promises_another_format(qgis_env, scene, tmp_path, name):  # noqa: F811
    """It used to write a GeoTIFF named mask.png, and exit 0."""
    text = refused(qgis_env, "s2cloudmask:maskproduct", {"INPUT": scene["product"], "RESOLUTION": 60,
                                                         "DEVICE": "cpu", "OUTPUT": tmp_path / name},
                   [tmp_path, scene["folder"]])
    assert f"OUTPUT {tmp_path / name}: rasters are written as GeoTIFF only" in text and ".tif or .tiff" in text


def test_comparescl_refuses_the_plugins_own_mask_as_the_scl(qgis_env, scene, tmp_path):  # noqa: F811
    """It used to compare the mask with itself as an SCL and report 0 % agreement."""
    mask = tmp_path / "mask.tif"
    shutil.copyfile(scene["mask"], mask)
    text = refused(qgis_env, "s2cloudmask:comparescl", {"MASK": mask, "SCL": mask, "OUTPUT": tmp_path / "d.tif"},
                   [tmp_path])
    assert f"{mask} was written by this plugin" in text and "not Sen2Cor's Scene Classification Layer" in text
    with rasterio.open(mask) as dataset:
        assert np.isin(dataset.read(1), [0, 1, 2, 3, 4]).all()


# --------------------------------------------------------------------------- the guard is the base class's


class CopyAlgorithm(CloudMaskAlgorithm):
    """A new algorithm as a contributor would add one: parameters and `process`, nothing about the guard."""

    def name(self) -> str:
        return "copy"

    def displayName(self) -> str:  # noqa: N802 (QGIS's name)
        return "Copy a file"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802 (QGIS's name)
        self.addParameter(QgsProcessingParameterFile("INPUT", "File"))
        self.addParameter(QgsProcessingParameterFileDestination("OUTPUT", "Copy"))

    def process(self, parameters, context, feedback) -> dict:
        target = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        shutil.copyfile(self.parameterAsFile(parameters, "INPUT", context), target)
        return {"OUTPUT": target}


def test_a_new_algorithm_is_guarded_without_declaring_anything(processing, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    before = tree_digests(tmp_path)
    for target in (notes, tmp_path / "link.txt"):
        if target != notes:
            target.symlink_to(notes)
            before = tree_digests(tmp_path)
        with pytest.raises(QgsProcessingException, match=r"OUTPUT \(.*notes\.txt\) is INPUT itself") as raised:
            processing.run(CopyAlgorithm(), {"INPUT": str(notes), "OUTPUT": str(target)})
        assert "Traceback" not in str(raised.value)
        assert tree_digests(tmp_path) == before
    assert processing.run(CopyAlgorithm(), {"INPUT": str(notes), "OUTPUT": str(tmp_path / "copy.txt")})["OUTPUT"]


def test_an_algorithm_that_would_skip_the_guard_is_refused_at_import():
    with pytest.raises(TypeError, match="defines processAlgorithm; define process"):
        class Unguarded(CloudMaskAlgorithm):  # noqa: F841 (defining it is the test)
            def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS's name)
                return {}
