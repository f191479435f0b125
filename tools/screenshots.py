"""Reproduce the README's screenshots: the dock (docs/images/dock.png) and the map after a run (docs/images/map.png).

Runs the dock on a window of the real T29UNU product in a small QGIS main
window (layers panel with legend, map canvas, the dock on the right), exactly
as the plugin shows it, and grabs the widgets. Run it under a display:

    xvfb-run -a -s "-screen 0 1760x1080x24" env QT_QPA_PLATFORM=xcb /usr/bin/python3 tools/screenshots.py

Options: --product PATH (default ../shared/data/.../T29UNU...SAFE), --out FOLDER
(default docs/images). QGIS runs with a throw-away profile, never the user's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PRODUCT = (
    REPO.parent / "shared" / "data" / "sentinel2" / "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
)
# 30 km x 30 km of tile 29UNU (UTM 29N) with clear land, cloud, thin cloud and shadow side by side.
WINDOW = (522480.0, 5847540.0, 552480.0, 5877540.0)
WINDOW_SIZE = (1760, 1000)
DOCK_WIDTH = 650
LAYERS_WIDTH = 310


def sandbox() -> Path:
    """A throw-away HOME and QGIS profile, and the repository importable as `s2cloudmask`."""
    root = Path(tempfile.mkdtemp(prefix="s2cloudmask-screenshots-"))
    for name in ("home", "profiles", "packages", "runtime"):
        (root / name).mkdir(mode=0o700)
    os.environ.update(
        HOME=str(root / "home"), QGIS_CUSTOM_CONFIG_PATH=str(root / "profiles"), XDG_RUNTIME_DIR=str(root / "runtime")
    )
    (root / "packages" / "s2cloudmask").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(root / "packages"))
    from s2cloudmask.toolbelt import dependencies

    dependencies.activate()
    return root


def wait_until(app, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout} s")
        app.processEvents()
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--product", type=Path, default=DEFAULT_PRODUCT)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    root = sandbox()

    from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsLayerTreeModel, QgsProject, QgsRectangle
    from qgis.gui import QgsLayerTreeMapCanvasBridge, QgsLayerTreeView, QgsMapCanvas, QgsMessageBar
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QColor, QPainter, QPixmap
    from qgis.PyQt.QtWidgets import QDockWidget, QMainWindow, QVBoxLayout, QWidget

    app = QgsApplication([], True)
    app.initQgis()

    class Host:
        """The few parts of QGIS's main window the dock talks to, built from the same QGIS widgets."""

        def __init__(self) -> None:
            self.window = QMainWindow()
            self.window.setWindowTitle("QGIS: Sentinel-2 Cloud Mask")
            self.canvas = QgsMapCanvas()
            self.canvas.setCanvasColor(QColor(255, 255, 255))
            self.bar = QgsMessageBar()
            central = QWidget()
            layout = QVBoxLayout(central)
            layout.setContentsMargins(0, 0, 0, 0)
            layout.addWidget(self.bar)
            layout.addWidget(self.canvas)
            self.window.setCentralWidget(central)
            project = QgsProject.instance()
            self.bridge = QgsLayerTreeMapCanvasBridge(project.layerTreeRoot(), self.canvas)
            self.model = QgsLayerTreeModel(project.layerTreeRoot())  # the view does not own it: keep it alive
            self.model.setFlag(QgsLayerTreeModel.AllowNodeChangeVisibility)
            self.tree = QgsLayerTreeView()
            self.tree.setModel(self.model)
            self.layers_dock = QDockWidget("Layers")
            self.layers_dock.setWidget(self.tree)
            self.window.addDockWidget(Qt.LeftDockWidgetArea, self.layers_dock)

        def mapCanvas(self):  # noqa: N802 (QgisInterface's names)
            return self.canvas

        def messageBar(self):  # noqa: N802
            return self.bar

        def mainWindow(self):  # noqa: N802
            return self.window

        def addDockWidget(self, area, dock) -> None:  # noqa: N802
            self.window.addDockWidget(area, dock)

    from s2cloudmask.ui.dock import CloudMaskDock

    host = Host()
    QgsProject.instance().setCrs(QgsCoordinateReferenceSystem("EPSG:32629"))
    dock = CloudMaskDock(host)
    host.addDockWidget(Qt.RightDockWidgetArea, dock)
    host.window.resize(*WINDOW_SIZE)
    host.window.resizeDocks([dock, host.layers_dock], [DOCK_WIDTH, LAYERS_WIDTH], Qt.Horizontal)
    host.window.show()

    output = Path(tempfile.mkdtemp(prefix="run-", dir=root)) / "T29UNU_cloudmask.tif"
    dock.set_product(str(args.product))
    dock.resolutionCombo.setCurrentIndex(dock.resolutionCombo.findData(20))
    dock.extentGroupBox.setChecked(True)
    dock.extentWidget.setOutputExtentFromUser(QgsRectangle(*WINDOW[:4]), QgsCoordinateReferenceSystem("EPSG:32629"))
    dock.outputFileWidget.setFilePath(str(output))
    dock.run()
    wait_until(app, lambda: dock.task is None, timeout=600)
    if dock.last_outcome is None:
        raise SystemExit("the run failed: " + "; ".join(item.text() for item in host.bar.items()))

    host.tree.expandAll()
    rendered = []
    host.canvas.mapCanvasRefreshed.connect(lambda: rendered.append(True))
    host.canvas.refresh()
    wait_until(app, lambda: bool(rendered), timeout=120)
    for _ in range(20):
        app.processEvents()

    args.out.mkdir(parents=True, exist_ok=True)
    host.window.grab().save(str(args.out / "map.png"))

    dock.mainTabs.setCurrentWidget(dock.settingsTab)
    app.processEvents()
    settings = dock.grab()
    dock.mainTabs.setCurrentWidget(dock.resultsTab)
    app.processEvents()
    results = dock.grab()
    both = QPixmap(settings.width() + results.width() + 12, max(settings.height(), results.height()))
    both.fill(QColor(255, 255, 255))
    painter = QPainter(both)
    painter.drawPixmap(0, 0, settings)
    painter.drawPixmap(settings.width() + 12, 0, results)
    painter.end()
    both.save(str(args.out / "dock.png"))
    print(f"wrote {args.out / 'map.png'} and {args.out / 'dock.png'}")

    QgsProject.instance().clear()
    host.window.close()
    dock.deleteLater()
    host.window.deleteLater()
    app.processEvents()
    app.exitQgis()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
