"""The plugin loads, registers what it promises, and unloads without leftovers, twice in one session."""

from __future__ import annotations

import pytest
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QEvent
from qgis.PyQt.QtWidgets import QDockWidget, QToolBar
from s2cloudmask import classFactory
from s2cloudmask.__about__ import plugin_metadata

ALGORITHMS = {"s2cloudmask:maskproduct", "s2cloudmask:maskraster", "s2cloudmask:comparescl", "s2cloudmask:maskmany",
              "s2cloudmask:referencemask", "s2cloudmask:validate", "s2cloudmask:exportpatches"}


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
        assert added == ["S2CloudMaskShowDock", "S2CloudMaskInstallDependencies", "S2CloudMaskDiagnostics"]

        plugin.unload()
        _settle()
        assert _registered_algorithms() == set()
        assert _children(main_window, QDockWidget, "S2CloudMaskDock") == []
        (removed,) = [call.args[0] for call in iface.removeRasterToolBarIcon.call_args_list]
        assert removed is button
        removed = [call.args[1] for call in iface.removePluginRasterMenu.call_args_list]
        assert len(removed) == 3
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
    from s2cloudmask.toolbelt import dependencies
    from s2cloudmask.ui.dependency_dialog import DependencyDialog

    assert dependencies.missing_modules() == []  # the test environment has them
    dialog = DependencyDialog()
    assert dialog.install_button.text() == "Reinstall" and dialog.install_button.isEnabled()
    assert not dialog.progress.isVisibleTo(dialog)
    assert "All required packages are installed" in dialog.summary.text()
    dialog.deleteLater()


def test_diagnostics_name_the_python_that_installs_the_packages(qgis_app):
    from s2cloudmask.toolbelt import dependencies, diagnostics

    python_line = next(line for line in diagnostics.report().splitlines() if line.startswith("Python:"))
    assert dependencies.python_executable() in python_line
    assert dependencies.install_command()[0] == dependencies.python_executable()
