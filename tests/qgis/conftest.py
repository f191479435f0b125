"""Fixtures of the QGIS room: QGIS's own processing framework with this plugin's provider registered, a generated
scene with its truth, and a profile with the plugin installed for qgis_process."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio
from qgis.core import QgsApplication, QgsLayerTreeModel, QgsProject
from qgis.gui import QgsLayerTreeView
from rasterio.enums import Resampling

from tests.sandbox_env import REPO


def import_qgis_processing():
    """QGIS's own `processing` plugin; the repository root (the plugin folder) must not shadow it."""
    plugins = str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins")
    if plugins in sys.path:
        sys.path.remove(plugins)
    sys.path.insert(0, plugins)
    from processing.core.Processing import Processing

    import processing

    assert Path(processing.__file__).resolve().parent.parent == Path(plugins).resolve()
    Processing.initialize()
    return processing


@pytest.fixture(scope="session", autouse=True)
def qgis_session(qgis_app, qgis_iface):
    """The stand-in iface gets a real layer tree view of the project (QGIS 3.44's Processing hands it to C++
    when it loads results; a mock there crashes), and Python lets go of every GDAL dataset and QGIS object
    before QGIS exits (one freed after exitQgis() crashes the process)."""
    view = QgsLayerTreeView()
    view.setModel(QgsLayerTreeModel(QgsProject.instance().layerTreeRoot(), view))
    qgis_iface.layerTreeView = lambda: view
    yield
    del qgis_iface.layerTreeView
    view.setModel(None)
    del view
    gc.collect()


@pytest.fixture(scope="module")
def processing(qgis_app):
    from s2cloudmask.processing.provider import CloudMaskProvider

    module = import_qgis_processing()
    registry = QgsApplication.processingRegistry()
    provider = CloudMaskProvider()
    assert registry.addProvider(provider)
    yield module
    registry.removeProvider(provider)


@pytest.fixture(scope="session")
def qgis_env(tmp_path_factory) -> dict[str, str]:
    """A fresh settings folder with the plugin installed and enabled, the way a user's profile holds it."""
    root = tmp_path_factory.mktemp("qgis-process")
    settings = root / "settings"
    home = root / "home"
    home.mkdir()
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "install_plugin.py"), "--settings-dir", str(settings)],
        check=True, capture_output=True, text=True, cwd=root,
    )
    assert (settings / "profiles" / "default" / "python" / "plugins" / "s2cloudmask" / "metadata.txt").is_file()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "QGIS_"))}
    env.update(
        QGIS_CUSTOM_CONFIG_PATH=str(settings),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        QT_QPA_PLATFORM="offscreen",
    )
    return env


@pytest.fixture(scope="session")
def generated(generated_product):
    """A generated L2A product (600 px at 10 m), its truth at 60 m, the truth's grid and CRS."""
    from s2cloudmask.inference.grid import Grid
    from s2cloudmask.tools.synthetic_product import truth_path

    product = generated_product("L2A", seed=11)
    with rasterio.open(truth_path(product)) as dataset:
        truth = dataset.read(1, out_shape=(100, 100), resampling=Resampling.nearest)
        grid = Grid(dataset.crs.to_string(), dataset.transform, dataset.width, dataset.height).resampled(60.0)
        crs = dataset.crs.to_string()
    return product, truth, grid, crs
