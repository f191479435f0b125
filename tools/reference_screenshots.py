"""Reproduce the README's screenshots of the reference workflow (docs/images/reference-round.png and
docs/images/reference-suggestion.png).

The dock's Reference tab on the real T29UNU product at 60 m: points of each
class are marked (drawn from the product's SCL, standing in for an analyst),
a round is trained, the map shows the reference with the samples and the
suggested places; then the first suggestion is opened and shown on the
confidence layer. Run it under a display:

    xvfb-run -a -s "-screen 0 1366x768x24" env QT_QPA_PLATFORM=xcb /usr/bin/python3 -m tools.reference_screenshots

Options: --product PATH, --out FOLDER (default docs/images), --points N per class (default 40).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tools.screenshots import DEFAULT_PRODUCT, REPO, close_host, docked_host, sandbox, wait_until


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--product", type=Path, default=DEFAULT_PRODUCT)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--points", type=int, default=40)
    args = parser.parse_args()
    root = sandbox()

    import numpy as np
    from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsPointXY, QgsProject, QgsRasterLayer
    from s2cloudmask.inference.classes import MASK_CODES, scl_to_mask
    from s2cloudmask.inference.reading.product import open_product, product_grid
    from s2cloudmask.inference.reading.reader import read_scl

    app = QgsApplication([], True)
    app.initQgis()
    from s2cloudmask.toolbelt.preferences import DockSettings, PlgSettings

    # as after a masking run that saved here: the rounds go to this folder where the product's is read-only
    PlgSettings.set(DockSettings(output_folder=tempfile.mkdtemp(prefix="reference-", dir=root)))
    host, dock = docked_host("QGIS: Sentinel-2 Cloud Mask, reference by active learning")
    dock.set_product(str(args.product))
    dock.mainTabs.setCurrentWidget(dock.referenceScroll)
    panel = dock.reference

    product = open_product(args.product)
    grid = product_grid(product, 60)
    truth = scl_to_mask(read_scl(product, grid))
    rng = np.random.default_rng(2022)
    crs = QgsCoordinateReferenceSystem(product.crs)
    for code in MASK_CODES:
        rows, cols = np.nonzero(truth == code)
        for i in rng.choice(rows.size, args.points, replace=False):
            x, y = grid.map_xy(cols[i] + 0.5, rows[i] + 0.5)
            panel.add_sample(QgsPointXY(x, y), crs, code)

    def render(name: str) -> None:
        host.tree.expandAll()
        rendered = []
        host.canvas.mapCanvasRefreshed.connect(lambda: rendered.append(True))
        host.canvas.refresh()
        wait_until(app, lambda: bool(rendered), timeout=120)
        for _ in range(20):
            app.processEvents()
        host.window.grab().save(str(args.out / name))

    panel.train()
    wait_until(app, lambda: panel.task is None, timeout=900)
    if panel.result is None:
        raise SystemExit("the round failed: " + panel.statusLabel.text())
    args.out.mkdir(parents=True, exist_ok=True)
    for _ in range(20):  # the layer tree hands the new layers to the canvas first, which may zoom to them
        app.processEvents()
    host.canvas.setExtent(QgsRasterLayer(panel.result.output, "extent").extent())  # the whole scene, in its CRS
    render("reference-round.png")

    project = QgsProject.instance()
    for layer in project.mapLayers().values():
        if layer.name().startswith(("Reference mask", "Reference confidence")):
            shown = layer.name().startswith("Reference confidence")
            project.layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(shown)
    panel.suggestionList.setCurrentRow(0)
    for _ in range(20):
        app.processEvents()
    scroll = dock.referenceScroll.verticalScrollBar()
    scroll.setValue(scroll.maximum())  # the tab scrolled down to the list, as after clicking in it
    render("reference-suggestion.png")
    print(f"wrote {args.out / 'reference-round.png'} and {args.out / 'reference-suggestion.png'}")

    panel.unload()
    close_host(app, host, dock, root)


if __name__ == "__main__":
    main()
