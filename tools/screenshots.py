"""Reproduce the README's screenshots after one dock run on a window of the real T29UNU product.

- docs/images/map.png: the QGIS window (1366 x 768, a laptop screen) with the layers panel, the map
  (true colour under the mask) and the dock at the width QGIS gives it when docked;
- docs/images/dock.png: the dock's Mask tab and Results tab as docked, and the whole results panel;
- docs/images/mask-on-canvas.png: the mask alone over the empty white canvas;
- docs/images/report.png: the HTML report of the run (QtWebKit);
- docs/images/clean-bands.png: the QGIS window after the Results tab's Clean bands: the cleaned bands on the
  map (what the mask removes is no data: the white canvas shows through), the dock as docked.

The window holds the same QGIS widgets the plugin meets in QGIS (layer tree, map
canvas, message bar, dock area), and the dock is added as the plugin adds it, with
the product and extent chosen and every other field left at its default.
Run it under a display:

    xvfb-run -a -s "-screen 0 1366x768x24" env QT_QPA_PLATFORM=xcb /usr/bin/python3 tools/screenshots.py

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
WINDOW_SIZE = (1366, 768)
LAYERS_WIDTH = 250
REPORT_WIDTH = 1200


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
    from s2cloudmask.packages.activation import activate

    activate()
    return root


def wait_until(app, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout} s")
        app.processEvents()
        time.sleep(0.02)


def render(app, canvas) -> None:
    """Redraw the canvas and wait until its image is complete."""
    rendered = []
    canvas.mapCanvasRefreshed.connect(lambda: rendered.append(True))
    canvas.refresh()
    wait_until(app, lambda: bool(rendered), timeout=120)
    for _ in range(20):
        app.processEvents()


def report_png(app, report: str, target: Path) -> None:
    """The HTML report rendered whole, as a browser shows it at REPORT_WIDTH px."""
    from qgis.PyQt.QtCore import QSize, QUrl
    from qgis.PyQt.QtGui import QImage, QPainter
    from qgis.PyQt.QtWebKitWidgets import QWebPage

    page = QWebPage()
    loaded = []
    page.mainFrame().loadFinished.connect(loaded.append)
    page.setViewportSize(QSize(REPORT_WIDTH, 800))
    page.mainFrame().load(QUrl.fromLocalFile(report))
    wait_until(app, lambda: bool(loaded), timeout=60)
    size = page.mainFrame().contentsSize()
    page.setViewportSize(QSize(REPORT_WIDTH, size.height()))
    image = QImage(REPORT_WIDTH, size.height(), QImage.Format.Format_RGB32)
    image.fill(0xFFFFFF)
    painter = QPainter(image)
    page.mainFrame().render(painter)
    painter.end()
    image.save(str(target))


def docked_host(title: str):
    """A main window with the QGIS parts the dock talks to (canvas, message bar, layers panel) and the plugin's
    dock at the width it asks for when docked, as QGIS gives it; shown. Call after QgsApplication.initQgis()."""
    # qgis is imported here: sandbox() must set HOME and the profile before QGIS is first loaded
    from qgis.core import QgsCoordinateReferenceSystem, QgsLayerTreeModel, QgsProject
    from qgis.gui import QgsLayerTreeMapCanvasBridge, QgsLayerTreeView, QgsMapCanvas, QgsMessageBar
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QColor
    from qgis.PyQt.QtWidgets import QDockWidget, QMainWindow, QVBoxLayout, QWidget
    from s2cloudmask.ui.dock import CloudMaskDock

    class Host:
        """The few parts of QGIS's main window the dock talks to, built from the same QGIS widgets."""

        def __init__(self) -> None:
            self.window = QMainWindow()
            self.window.setWindowTitle(title)
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
            self.model.setFlag(QgsLayerTreeModel.Flag.AllowNodeChangeVisibility)
            self.tree = QgsLayerTreeView()
            self.tree.setModel(self.model)
            self.layers_dock = QDockWidget("Layers")
            self.layers_dock.setWidget(self.tree)
            self.window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.layers_dock)

        def mapCanvas(self):  # noqa: N802 (QgisInterface's names)
            return self.canvas

        def messageBar(self):  # noqa: N802
            return self.bar

        def mainWindow(self):  # noqa: N802
            return self.window

        def addDockWidget(self, area, dock) -> None:  # noqa: N802
            self.window.addDockWidget(area, dock)

    host = Host()
    QgsProject.instance().setCrs(QgsCoordinateReferenceSystem("EPSG:32629"))
    dock = CloudMaskDock(host)
    host.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    host.window.resize(*WINDOW_SIZE)
    # the dock at the width it asks for when docked (CloudMaskDock.sizeHint), as QGIS gives it on a wider screen
    host.window.resizeDocks([host.layers_dock, dock], [LAYERS_WIDTH, dock.sizeHint().width()], Qt.Orientation.Horizontal)
    host.window.show()
    return host, dock


def close_host(app, host, dock, root: Path) -> None:
    """Take the host down in the order QGIS needs (project, widgets, application) and remove the sandbox."""
    from qgis.core import QgsProject

    QgsProject.instance().clear()
    host.window.close()
    dock.deleteLater()
    host.window.deleteLater()
    app.processEvents()
    app.exitQgis()
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--product", type=Path, default=DEFAULT_PRODUCT)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    root = sandbox()

    from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsProject, QgsRectangle
    from qgis.PyQt.QtGui import QColor, QPainter, QPixmap

    app = QgsApplication([], True)
    app.initQgis()

    host, dock = docked_host("QGIS: Sentinel-2 Cloud Mask")
    app.processEvents()

    output_folder = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    dock.set_product(str(args.product))
    dock.outputFileWidget.setFilePath(str(output_folder / "T29UNU_cloudmask.tif"))
    dock.extentGroupBox.setChecked(True)
    dock.extentWidget.setOutputExtentFromUser(QgsRectangle(*WINDOW[:4]), QgsCoordinateReferenceSystem("EPSG:32629"))
    args.out.mkdir(parents=True, exist_ok=True)
    for _ in range(20):
        app.processEvents()
    settings = dock.grab()
    dock.run()
    wait_until(app, lambda: dock.task is None, timeout=600)
    if dock.last_outcome is None:
        raise SystemExit("the run failed: " + "; ".join(item.text() for item in host.bar.items()))

    host.tree.expandAll()
    render(app, host.canvas)
    host.window.grab().save(str(args.out / "map.png"))
    print(f"dock width as docked: {dock.width()} px")

    results = dock.grab()
    panel = dock.results.grab()  # the whole panel, as it scrolls
    both = QPixmap(settings.width() + results.width() + panel.width() + 24,
                   max(settings.height(), results.height(), panel.height()))
    both.fill(QColor(255, 255, 255))
    painter = QPainter(both)
    painter.drawPixmap(0, 0, settings)
    painter.drawPixmap(settings.width() + 12, 0, results)
    painter.drawPixmap(settings.width() + results.width() + 24, 0, panel)
    painter.end()
    both.save(str(args.out / "dock.png"))

    group = QgsProject.instance().layerTreeRoot().findGroup(dock.last_outcome.request.label)
    for node in group.findLayers():
        node.setItemVisibilityChecked(node.name() == "Cloud mask")
    render(app, host.canvas)
    host.canvas.grab().save(str(args.out / "mask-on-canvas.png"))

    report_png(app, dock.last_outcome.report, args.out / "report.png")

    dock.results.cleanButton.click()
    wait_until(app, lambda: dock.task is None, timeout=600)
    for node in group.findLayers():
        node.setItemVisibilityChecked(node.name() == "Clean bands")
    dock.resultsScroll.ensureWidgetVisible(dock.results.cleanButton)
    render(app, host.canvas)
    host.window.grab().save(str(args.out / "clean-bands.png"))
    print(f"wrote map.png, dock.png, mask-on-canvas.png, report.png and clean-bands.png in {args.out}")

    close_host(app, host, dock, root)


if __name__ == "__main__":
    main()
