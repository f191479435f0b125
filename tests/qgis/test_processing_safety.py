"""What Processing and qgis_process do with outputs over inputs, a full disk and a world-sized extent.

The engine refuses these itself (tests/engine/test_run_safety.py); here the point is what a user of the
toolbox or of qgis_process sees: a failed run (exit code not 0), the cause in one line without a
traceback, and every file that was there before left exactly as it was.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import rasterio
from disk import fill_disk, listing
from qgis_process_runner import qgis_process
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProject
from s2cloudmask.inference.reading.product import open_product, product_grid

from tests.real_product import STACK_BANDS, WINDOW_EXTENT, scl_file, write_band_stack


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def failing(processing, algorithm: str, parameters: dict) -> str:
    with pytest.raises(QgsProcessingException) as raised:
        processing.run(algorithm, parameters)
    assert "Traceback" not in str(raised.value)
    return str(raised.value)


@pytest.fixture(scope="module")
def stack(real_l2a, tmp_path_factory) -> Path:
    return write_band_stack(real_l2a, STACK_BANDS, tmp_path_factory.mktemp("stack") / "stack.tif")


def test_maskraster_refuses_its_input_as_output(processing, stack):
    before = listing(stack.parent)
    message = failing(processing, "s2cloudmask:maskraster", {
        "INPUT": str(stack), "BAND_BLUE": 1, "BAND_GREEN": 2, "BAND_RED": 3, "BAND_NIR": 4, "BAND_SWIR16": 5,
        "BAND_SWIR22": 6, "DEVICE": "cpu", "OUTPUT": str(stack)})
    assert "is INPUT itself" in message and str(stack) in message
    assert listing(stack.parent) == before


def test_comparescl_refuses_the_mask_as_output(processing, real_l2a, stack, tmp_path):
    mask = tmp_path / "m.tif"
    processing.run("s2cloudmask:maskproduct", {"INPUT": str(real_l2a), "EXTENT": WINDOW_EXTENT, "RESOLUTION": "60",
                                               "DEVICE": "cpu", "OUTPUT": str(mask)})
    before = listing(tmp_path)
    message = failing(processing, "s2cloudmask:comparescl",
                      {"MASK": str(mask), "SCL": str(scl_file(real_l2a)), "OUTPUT": str(mask)})
    assert "is MASK itself" in message
    assert listing(tmp_path) == before


@pytest.mark.parametrize("target", ["band", "MTD_MSIL2A.xml", "probabilities"])
def test_maskproduct_refuses_outputs_inside_the_product(processing, real_l2a, tmp_path, target):
    """A band file or the MTD used to become a GeoTIFF, read by later runs as B04."""
    safe = tmp_path / real_l2a.name
    shutil.copytree(real_l2a, safe, ignore=shutil.ignore_patterns("*.aux.xml"))
    band = next(safe.glob("GRANULE/*/IMG_DATA/R60m/*_B04_60m.jp2"))
    parameters = {"INPUT": str(safe), "EXTENT": WINDOW_EXTENT, "RESOLUTION": "60", "DEVICE": "cpu",
                  "OUTPUT": str(tmp_path / "mask.tif")}
    if target == "band":
        parameters["OUTPUT"] = str(band)
    elif target == "MTD_MSIL2A.xml":
        parameters["OUTPUT"] = str(safe / "MTD_MSIL2A.xml")
    else:
        parameters["OUTPUT_PROBABILITIES"] = str(safe / "GRANULE" / "probabilities.tif")
    before = {path: digest(path) for path in safe.rglob("*") if path.is_file()}
    message = failing(processing, "s2cloudmask:maskproduct", parameters)
    assert "lies inside the product (INPUT)" in message
    assert {path: digest(path) for path in safe.rglob("*") if path.is_file()} == before
    assert not (tmp_path / "mask.tif").exists()


def test_maskproduct_refuses_one_path_for_both_outputs(processing, real_l2a, tmp_path):
    output = str(tmp_path / "mask.tif")
    message = failing(processing, "s2cloudmask:maskproduct", {
        "INPUT": str(real_l2a), "EXTENT": WINDOW_EXTENT, "RESOLUTION": "60", "DEVICE": "cpu", "OUTPUT": output,
        "OUTPUT_PROBABILITIES": output})
    assert "OUTPUT and OUTPUT_PROBABILITIES are the same file" in message
    assert list(tmp_path.iterdir()) == []


def test_a_world_extent_typed_in_degrees_reaches_the_engine_as_the_whole_tile(processing, real_l2a):
    """EXTENT=-180,180,-90,90 [EPSG:4326] used to give a mask one pixel wide."""
    from qgis.core import QgsApplication

    algorithm = QgsApplication.processingRegistry().algorithmById("s2cloudmask:maskproduct")
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    extent = algorithm.extent_value({"EXTENT": "-180,180,-90,90 [EPSG:4326]"}, context)
    product = open_product(real_l2a)
    assert product_grid(product, 60, extent) == product.grids[60]


# --------------------------------------------------------------------------- qgis_process


def test_qgis_process_exits_non_zero_when_the_output_is_the_input(qgis_env, stack):
    before = digest(stack)
    ran = qgis_process(qgis_env, "run", "s2cloudmask:maskraster", "--", f"INPUT={stack}", "BAND_BLUE=1",
                       "BAND_GREEN=2", "BAND_RED=3", "BAND_NIR=4", "DEVICE=cpu", f"OUTPUT={stack}")
    assert ran.returncode != 0
    assert "is INPUT itself" in ran.stdout + ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    assert digest(stack) == before


@pytest.mark.slow
def test_qgis_process_on_a_full_disk_exits_non_zero_and_keeps_the_good_mask(qgis_env, real_l2a, tiny_disk):
    """It used to exit 0, a damaged GeoTIFF in place of the good mask."""
    mask = tiny_disk / "mask.tif"
    arguments = ("run", "s2cloudmask:maskproduct", "--", f"INPUT={real_l2a}", f"EXTENT={WINDOW_EXTENT}",
                 "DEVICE=cpu", f"OUTPUT={mask}")
    good = qgis_process(qgis_env, *arguments, "RESOLUTION=60")
    assert good.returncode == 0, good.stdout + good.stderr
    fill_disk(tiny_disk, 8 * 1024)  # the 10 m window mask takes about 16 KiB
    before = listing(tiny_disk)
    ran = qgis_process(qgis_env, *arguments, "RESOLUTION=10")
    assert ran.returncode != 0
    assert "the disk is full" in ran.stdout + ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    assert listing(tiny_disk) == before
    with rasterio.open(mask) as dataset:
        assert dataset.res == (60.0, 60.0)
