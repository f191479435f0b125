"""The plugin loads, registers what it promises, and unloads without leftovers, twice in one session."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QEvent
from qgis.PyQt.QtWidgets import QDockWidget, QToolBar
from s2cloudmask import classFactory
from s2cloudmask.__about__ import plugin_metadata
from s2cloudmask.ui.dependency_dialog import DependencyDialog
from s2cloudmask.ui.diagnostics_dialog import DiagnosticsDialog

from tests.sandbox_env import PACKAGE_ROOT

ALGORITHMS = {"s2cloudmask:maskproduct", "s2cloudmask:maskraster", "s2cloudmask:comparescl", "s2cloudmask:maskmany",
              "s2cloudmask:referencemask", "s2cloudmask:validate", "s2cloudmask:exportpatches", "s2cloudmask:finetune",
              "s2cloudmask:applymask", "s2cloudmask:composite"}


def _registered_algorithms() -> set[str]:
    return {alg.id() for alg in QgsApplication.processingRegistry().algorithms() if alg.id().startswith("s2cloudmask:")}


def _children(parent, kind, name):
    return [child for child in parent.findChildren(kind, name)]


def _settle():
    for _ in range(3):
        QgsApplication.processEvents()
        QgsApplication.sendPostedEvents(None, QEvent.DeferredDelete)  # runs pending deleteLater()


@pytest.fixture()
def iface(qgis_iface):
    for method in ("addPluginToRasterMenu", "removePluginRasterMenu", "addRasterToolBarIcon", "removeRasterToolBarIcon"):
        getattr(qgis_iface, method).reset_mock()
    return qgis_iface


def test_metadata_is_complete_for_the_plugin_repository():
    meta = plugin_metadata()
    for key in ("name", "description", "about", "version", "qgisminimumversion", "author", "email",
                "homepage", "tracker", "repository", "tags", "icon", "experimental", "hasprocessingprovider"):
        assert meta.get(key), key
    assert meta["qgisminimumversion"] == "3.22"
    assert meta["hasprocessingprovider"] == "yes"


def test_load_unload_load_leaves_nothing_behind(iface):
    main_window = iface.mainWindow()
    for _round in range(2):
        plugin = classFactory(iface)
        plugin.initGui()
        assert _registered_algorithms() == ALGORITHMS
        assert len(_children(main_window, QDockWidget, "S2CloudMaskDock")) == 1
        assert _children(main_window, QToolBar, "S2CloudMaskToolbar") == []  # no toolbar row for one button
        (button,) = [call.args[0] for call in iface.addRasterToolBarIcon.call_args_list]
        assert button.objectName() == "S2CloudMaskShowDock"
        added = [call.args[1].objectName() for call in iface.addPluginToRasterMenu.call_args_list]
        assert added == ["S2CloudMaskShowDock", "S2CloudMaskInstallDependencies", "S2CloudMaskTrainingEnvironment",
                         "S2CloudMaskDiagnostics"]

        plugin.unload()
        _settle()
        assert _registered_algorithms() == set()
        assert _children(main_window, QDockWidget, "S2CloudMaskDock") == []
        (removed,) = [call.args[0] for call in iface.removeRasterToolBarIcon.call_args_list]
        assert removed is button
        removed = [call.args[1] for call in iface.removePluginRasterMenu.call_args_list]
        assert len(removed) == 4
        for method in ("addPluginToRasterMenu", "removePluginRasterMenu", "addRasterToolBarIcon", "removeRasterToolBarIcon"):
            getattr(iface, method).reset_mock()


def test_processing_only_start_registers_provider(iface):
    """qgis_process calls initProcessing() alone, without any GUI."""
    plugin = classFactory(iface)
    plugin.initProcessing()
    try:
        assert _registered_algorithms() == ALGORITHMS
    finally:
        plugin.unload()
    assert _registered_algorithms() == set()


def test_install_dialog_with_everything_installed_offers_a_reinstall_not_an_idle_bar(qgis_app):
    from s2cloudmask.packages import activation
    from s2cloudmask.ui.dependency_dialog import DependencyDialog

    assert activation.missing_modules() == []  # the test environment has them
    dialog = DependencyDialog()
    assert dialog.install_button.text() == "Reinstall" and dialog.install_button.isEnabled()
    assert not dialog.progress.isVisibleTo(dialog)
    assert "All required packages are installed" in dialog.summary.text()
    dialog.deleteLater()


def test_diagnostics_name_the_python_that_installs_the_packages(qgis_app):
    from s2cloudmask.packages import installer
    from s2cloudmask.toolbelt import diagnostics

    python_line = next(line for line in diagnostics.report().splitlines() if line.startswith("Python:"))
    assert installer.python_executable() in python_line
    assert installer.install_command()[0] == installer.python_executable()


def test_diagnostics_open_on_the_last_self_test_and_run_it_again_on_request(qgis_app):
    from s2cloudmask.packages.folders import dependency_dir
    from s2cloudmask.packages.installer import SELF_TEST_NAME, last_self_test

    result_file = dependency_dir() / SELF_TEST_NAME
    before = result_file.stat().st_mtime_ns if result_file.is_file() else None
    dialog = DiagnosticsDialog()
    assert (result_file.stat().st_mtime_ns if result_file.is_file() else None) == before  # opening runs nothing
    shown = dialog.text.toPlainText()
    assert f"Dependency self-test: {last_self_test()}" in shown
    assert dialog.selfTestButton.text() == ("Run the self-test" if before is None else "Run the self-test again")
    dialog.selfTestButton.click()
    assert not dialog.selfTestButton.isEnabled()
    deadline = time.monotonic() + 300
    while dialog.self_test_task is not None and time.monotonic() < deadline:
        QgsApplication.processEvents()
        time.sleep(0.05)
    assert dialog.self_test_task is None and dialog.selfTestButton.isEnabled()
    assert result_file.stat().st_mtime_ns != before
    assert "Dependency self-test: Self-test passed" in dialog.text.toPlainText()
    assert dialog.selfTestButton.text() == "Run the self-test again"
    dialog.deleteLater()


LOAD_WITHOUT_PACKAGES = """
import importlib, importlib.abc, pkgutil, sys
HIDDEN = ('rasterio', 'affine', 'scipy', 'onnxruntime', 'ukis_csmask', 'sklearn', 'dask', 'distributed', 'jinja2',
          'markupsafe', 'pystac_client', 'pystac')
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in HIDDEN:
            raise ImportError(f'No module named {name!r} (hidden)')
sys.meta_path.insert(0, Hide())
sys.path.insert(0, sys.argv[1])
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
sys.path.append(QgsApplication.pkgDataPath() + '/python/plugins')  # QGIS's own plugins, as in QGIS
import s2cloudmask, s2cloudmask.plugin
modules = ['s2cloudmask.plugin']
for package in ('packages', 'processing', 'ui', 'toolbelt'):
    root = importlib.import_module('s2cloudmask.' + package)
    for info in pkgutil.walk_packages(root.__path__, root.__name__ + '.'):
        importlib.import_module(info.name)
        modules.append(info.name)
from s2cloudmask.processing.provider import CloudMaskProvider
from s2cloudmask.packages import activation
provider = CloudMaskProvider()
app.processingRegistry().addProvider(provider)
print(' '.join(sorted(algorithm.id() for algorithm in provider.algorithms())))
print(', '.join(activation.missing_modules()))
print(len(modules))
"""


def test_every_module_the_plugin_loads_imports_without_its_packages(tmp_path):
    """rasterio, scipy, onnxruntime, ukis-csmask, scikit-learn, dask, jinja2 and pystac-client hidden: every
    QGIS-side module imports, the provider lists its algorithms, and every missing package is named."""
    done = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_PACKAGES, str(PACKAGE_ROOT)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    algorithms, missing, count = done.stdout.strip().splitlines()[-3:]
    assert set(algorithms.split()) == ALGORITHMS
    assert missing == "rasterio, scipy, onnxruntime, ukis-csmask, scikit-learn"
    assert int(count) >= 12


def test_after_an_install_the_bar_goes_and_the_dock_lists_devices_again(iface):
    """The dialog's `installed` reaches the plugin: the "Missing Python packages" entry leaves the message bar and
    the dock's device list is rebuilt from the onnxruntime that now imports."""
    plugin = classFactory(iface)
    plugin.initGui()
    try:
        plugin._offer_install(["rasterio", "onnxruntime"])
        bar = iface.messageBar()
        assert any("rasterio, onnxruntime" in item.text() for item in bar.items())
        plugin.dock.deviceCombo.clear()
        plugin.dock.deviceCombo.addItem("stale", "stale")

        dialog = DependencyDialog(iface.mainWindow())
        dialog.installed.connect(plugin.dependencies_installed)
        dialog._finished(0, None)  # the installer's process ended well, and every package imports

        assert "no restart needed" in dialog.summary.text()
        assert not any("Missing Python packages" in item.text() for item in bar.items())
        devices = [plugin.dock.deviceCombo.itemData(i) for i in range(plugin.dock.deviceCombo.count())]
        assert devices[:2] == ["auto", "cpu"]
    finally:
        plugin.unload()
        _settle()
