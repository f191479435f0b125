"""A deprecation raised in the plugin's own code fails the test that raised it (tests/conftest.py), on every QGIS,
numpy, GDAL and affine the suite runs with; one raised in a test, or in another package, does not."""

from __future__ import annotations

import warnings

from deprecations import plugin_deprecations

from tests.sandbox_env import PACKAGE_ROOT, REPO


def record(category: type[Warning], filename: str) -> warnings.WarningMessage:
    return warnings.WarningMessage("QgsMapLayer.setAbstract() is deprecated", category, filename, 7)


def test_deprecations_of_the_plugins_own_code_are_found_through_the_installed_package_path():
    caught = [
        record(DeprecationWarning, str(PACKAGE_ROOT / "s2cloudmask" / "ui" / "dock.py")),
        record(PendingDeprecationWarning, str(REPO / "inference" / "grid.py")),
        record(FutureWarning, str(REPO / "tools" / "demo.py")),
        record(DeprecationWarning, str(REPO / "tests" / "qgis" / "test_dock.py")),
        record(DeprecationWarning, "/usr/lib/python3/dist-packages/osgeo/gdal.py"),
        record(UserWarning, str(REPO / "inference" / "grid.py")),
    ]
    assert plugin_deprecations(caught) == [
        "ui/dock.py:7: DeprecationWarning: QgsMapLayer.setAbstract() is deprecated",
        "inference/grid.py:7: PendingDeprecationWarning: QgsMapLayer.setAbstract() is deprecated",
        "tools/demo.py:7: FutureWarning: QgsMapLayer.setAbstract() is deprecated",
    ]
