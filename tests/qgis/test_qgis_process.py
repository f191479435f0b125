"""The algorithms headless, as a server script runs them: qgis_process on a plugin installed into a profile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import rasterio
from qgis_process_runner import QGIS_PROCESS, qgis_process
from s2cloudmask.packages import folders
from s2cloudmask.processing.results import PERCENT_OUTPUTS
from s2cloudmask.tools import package

from tests.real_product import WINDOW, WINDOW_EXTENT
from tests.sandbox_env import REPO

pytestmark = pytest.mark.skipif(not Path(QGIS_PROCESS).is_file(), reason="qgis_process.bin is not installed")


def test_list_shows_the_algorithms(qgis_env):
    listed = qgis_process(qgis_env, "list")
    assert listed.returncode == 0, listed.stderr
    for algorithm in ("s2cloudmask:maskproduct", "s2cloudmask:maskraster", "s2cloudmask:comparescl"):
        assert algorithm in listed.stdout


def test_help_describes_maskproduct(qgis_env):
    shown = qgis_process(qgis_env, "help", "s2cloudmask:maskproduct")
    assert shown.returncode == 0, shown.stderr
    for text in ("INPUT", "EXTENT", "RESOLUTION", "OUTPUT_PROBABILITIES", "CLOUD_PERCENT", "10.1016/j.rse.2019.05.022"):
        assert text in shown.stdout


def test_run_on_a_window_returns_json(qgis_env, real_l2a, tmp_path):
    output = tmp_path / "mask.tif"
    ran = qgis_process(
        qgis_env, "--json", "run", "s2cloudmask:maskproduct", "--",
        f"INPUT={real_l2a}", f"EXTENT={WINDOW_EXTENT}", "RESOLUTION=60", "DEVICE=cpu", f"OUTPUT={output}",
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    results = json.loads(ran.stdout)["results"]
    assert results["OUTPUT"] == str(output)
    assert results["DEVICE_USED"] == "CPU"
    assert results["MODEL_USED"] and results["CLASS3_SOURCE"]
    assert sum(results[name] for name in PERCENT_OUTPUTS) == pytest.approx(100.0, abs=0.01)
    with rasterio.open(output) as dataset:
        assert dataset.bounds.left == pytest.approx(WINDOW[0]) and dataset.res == (60.0, 60.0)


def test_bad_input_exits_non_zero_with_the_message(qgis_env, tmp_path):
    not_a_product = tmp_path / "notes.txt"
    not_a_product.write_text("not a Sentinel-2 product\n")
    ran = qgis_process(
        qgis_env, "run", "s2cloudmask:maskproduct", "--", f"INPUT={not_a_product}", f"OUTPUT={tmp_path / 'mask.tif'}",
    )
    assert ran.returncode != 0
    failure = [line for line in (ran.stdout + ran.stderr).splitlines() if str(not_a_product) in line]
    assert failure, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    assert not (tmp_path / "mask.tif").exists()


@pytest.mark.slow
def test_reference_validate_and_patches_run_headless(qgis_env, tmp_path):
    """The README's reference workflow: samples in a GeoPackage -> referencemask -> validate -> exportpatches."""
    import numpy as np
    import rasterio
    from osgeo import ogr, osr
    from rasterio.enums import Resampling
    from s2cloudmask.inference.grid import Grid
    from s2cloudmask.tools import synthetic_product as sp

    product = sp.write_product(tmp_path / "product", level="L2A", size=600, seed=11, extras=False)
    truth_file = sp.truth_path(product)
    with rasterio.open(truth_file) as dataset:
        truth = dataset.read(1, out_shape=(100, 100), resampling=Resampling.nearest)
        grid = Grid(dataset.crs.to_string(), dataset.transform, dataset.width, dataset.height).resampled(60.0)
    driver = ogr.GetDriverByName("GPKG")
    source = driver.CreateDataSource(str(tmp_path / "samples.gpkg"))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    layer = source.CreateLayer("samples", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("class", ogr.OFTString))
    rng = np.random.default_rng(5)
    for code, name in ((1, "clear"), (2, "cloud shadow"), (3, "thin cloud"), (4, "cloud")):
        rows, cols = np.nonzero(truth == code)
        for i in rng.choice(rows.size, 25, replace=False):
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetField("class", name)
            x, y = grid.map_xy(cols[i] + 0.5, rows[i] + 0.5)
            feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({x} {y})"))
            layer.CreateFeature(feature)
    source = None

    ran = qgis_process(qgis_env, "--json", "run", "s2cloudmask:referencemask", "--", f"INPUT={product}",
                       f"SAMPLES={tmp_path / 'samples.gpkg'}", "CLASS_FIELD=class", "RESOLUTION=60",
                       f"OUTPUT={tmp_path / 'reference.tif'}", f"OUTPUT_CONFIDENCE={tmp_path / 'confidence.tif'}",
                       f"OUTPUT_SUGGESTIONS={tmp_path / 'suggestions.gpkg'}")
    assert ran.returncode == 0, ran.stderr
    results = json.loads(ran.stdout)["results"]
    assert 0.5 < results["CV_OVERALL_ACCURACY"] <= 1.0 and (tmp_path / "suggestions.gpkg").is_file()

    ran = qgis_process(qgis_env, "--json", "run", "s2cloudmask:validate", "--", f"MASK={tmp_path / 'reference.tif'}",
                       f"REFERENCE={truth_file}", "TOLERANCE=1", f"REPORT={tmp_path / 'validation.html'}")
    assert ran.returncode == 0, ran.stderr
    assert 0.5 < json.loads(ran.stdout)["results"]["OVERALL_ACCURACY"] <= 1.0
    assert (tmp_path / "validation.json").is_file()

    ran = qgis_process(qgis_env, "run", "s2cloudmask:exportpatches", "--", f"INPUT={product}",
                       f"REFERENCE={tmp_path / 'reference.tif'}", "PATCH_SIZE=32", "SPLIT=70,15,15",
                       f"OUTPUT_FOLDER={tmp_path / 'patches'}")
    assert ran.returncode == 0, ran.stderr
    assert json.loads((tmp_path / "patches" / "manifest.json").read_text())["format"] == "s2cloudmask-patches"

    bad = qgis_process(qgis_env, "run", "s2cloudmask:referencemask", "--", f"INPUT={product}",
                       f"SAMPLES={tmp_path / 'suggestions.gpkg'}", "CLASS_FIELD=rank", f"OUTPUT={tmp_path / 'r.tif'}")
    assert bad.returncode != 0 and "class code" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


def test_without_rasterio_the_algorithms_are_listed_and_a_run_names_it(qgis_env, real_l2a, hidden_rasterio, tmp_path):
    """qgis_process in a QGIS whose Python has no rasterio (Debian's hidden): the plugin loads, the provider lists
    its algorithms, and a run fails with the message that names rasterio and says how to install it."""
    env = dict(qgis_env, PYTHONPATH=str(hidden_rasterio), S2CLOUDMASK_DEPS_ROOT=str(tmp_path / "no-packages"))
    listed = qgis_process(env, "list")
    assert listed.returncode == 0, listed.stderr
    assert "error starting plugin" not in listed.stdout + listed.stderr
    for algorithm in ("s2cloudmask:maskproduct", "s2cloudmask:maskraster", "s2cloudmask:comparescl"):
        assert algorithm in listed.stdout
    ran = qgis_process(
        env, "run", "s2cloudmask:maskproduct", "--",
        f"INPUT={real_l2a}", f"EXTENT={WINDOW_EXTENT}", "RESOLUTION=60", f"OUTPUT={tmp_path / 'mask.tif'}",
    )
    assert ran.returncode != 0
    text = ran.stdout + ran.stderr
    assert "rasterio, onnxruntime, ukis-csmask" in text and "Install dependencies" in text, text
    assert "Traceback" not in text
    assert not (tmp_path / "mask.tif").exists()


def test_without_rasterio_qgis_process_runs_through_the_plugins_own_wheel(
    qgis_env, real_l2a, hidden_rasterio, wheel_deps_root, tmp_path
):
    """The same QGIS with the plugin's folder holding the rasterio wheel masks the window, pixel for pixel as
    Debian's rasterio does. (On Linux QGIS's GDAL serves the process's symbols, so the wheel runs on it.)"""
    env = dict(qgis_env, PYTHONPATH=str(hidden_rasterio), S2CLOUDMASK_DEPS_ROOT=str(wheel_deps_root))
    outputs = {}
    for name, run_env in (("wheel", env), ("debian", qgis_env)):
        outputs[name] = tmp_path / f"{name}.tif"
        ran = qgis_process(
            run_env, "--json", "run", "s2cloudmask:maskproduct", "--", f"INPUT={real_l2a}",
            f"EXTENT={WINDOW_EXTENT}", "RESOLUTION=60", "DEVICE=cpu", f"OUTPUT={outputs[name]}",
        )
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    with rasterio.open(outputs["wheel"]) as wheel, rasterio.open(outputs["debian"]) as debian:
        assert (wheel.read(1) == debian.read(1)).all()
        assert wheel.crs == debian.crs and wheel.transform == debian.transform


@pytest.mark.slow
def test_an_update_keeps_the_installed_packages(tmp_path, real_l2a):
    """Install into a profile the way a user does (packages beside the profiles), then update the plugin the way
    QGIS's plugin manager does (delete the plugin folder, unzip the new one): it runs without reinstalling."""
    settings = tmp_path / "settings"
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "QGIS_", "S2CLOUDMASK_"))}
    subprocess.run([sys.executable, str(REPO / "tools" / "install_plugin.py"), "--settings-dir", str(settings)],
                   check=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    packages = settings / "s2cloudmask-packages"
    assert [path.name for path in packages.iterdir()] == [folders.dependency_tag()]

    plugins = settings / "profiles" / "default" / "python" / "plugins"
    shutil.rmtree(plugins / "s2cloudmask")
    with zipfile.ZipFile(package.build_zip(tmp_path / "s2cloudmask.zip")) as archive:
        archive.extractall(plugins)

    env.update(QGIS_CUSTOM_CONFIG_PATH=str(settings), HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CONFIG_HOME=str(home / ".config"), QT_QPA_PLATFORM="offscreen")
    ran = qgis_process(
        env, "--json", "run", "s2cloudmask:maskproduct", "--", f"INPUT={real_l2a}", f"EXTENT={WINDOW_EXTENT}",
        "RESOLUTION=60", "DEVICE=cpu", f"OUTPUT={tmp_path / 'mask.tif'}",
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert json.loads(ran.stdout)["results"]["DEVICE_USED"] == "CPU"
    assert not (plugins / "s2cloudmask" / ".deps").exists()


@pytest.mark.slow
def test_clean_pixels_run_headless_and_refuse_a_foreign_mask(qgis_env, tmp_path):
    """applymask with a mask, composite masking what has none on the batch runner, and a mask of another product
    refused with a non-zero exit, the message and no file."""
    from s2cloudmask.inference.masking.engine import mask_product
    from s2cloudmask.tools import synthetic_product as sp

    series = sp.read_series(sp.write_series(tmp_path / "products", dates=2, size=240, seed=8))
    first, second = series["dates"]
    mask = tmp_path / "first_cloudmask.tif"
    mask_product(first["product"], mask, resolution=20, device="cpu")
    applied = qgis_process(qgis_env, "--json", "run", "s2cloudmask:applymask", "--", f"INPUT={first['product']}",
                           f"MASK={mask}", "CLASSES=cloud", "CLASSES=cloud_shadow", "VALUES=dn",
                           f"OUTPUT={tmp_path / 'clean.tif'}")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert json.loads(applied.stdout)["results"]["BANDS"].startswith("B02,B03,B04")
    with rasterio.open(tmp_path / "clean.tif") as dataset:
        assert dataset.dtypes[0] == "uint16" and dataset.tags()["CLASSES_REMOVED"].startswith("cloud shadow, cloud")

    composited = qgis_process(qgis_env, "--json", "run", "s2cloudmask:composite", "--",
                              f"PRODUCTS={tmp_path / 'products'}", "DEVICE=cpu", "START=2022-05-01",
                              f"OUTPUT={tmp_path / 'composite.tif'}", timeout=900)
    assert composited.returncode == 0, composited.stdout + composited.stderr
    results = json.loads(composited.stdout)["results"]
    assert results["MASKS_MADE"] == 2 and results["MASKS_FOLDER"] == str(tmp_path / "composite_masks")
    assert (tmp_path / "composite_masks" / f"{second['product_id']}_cloudmask.tif").is_file()

    refused = qgis_process(qgis_env, "run", "s2cloudmask:applymask", "--", f"INPUT={second['product']}",
                           f"MASK={mask}", f"OUTPUT={tmp_path / 'wrong.tif'}")
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and f"made from {first['product_id']}" in said and "Traceback" not in said
    assert not (tmp_path / "wrong.tif").exists()
