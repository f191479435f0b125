"""Fixtures of the QGIS room: QGIS's own processing framework with this plugin's provider registered."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest
from qgis.core import QgsApplication, QgsLayerTreeModel, QgsProcessingFeedback, QgsProject
from qgis.gui import QgsLayerTreeView


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


class RecordingFeedback(QgsProcessingFeedback):
    """A real QgsProcessingFeedback that also keeps what it was told, as the dialog's log would show it."""

    def __init__(self, cancel_at: float | None = None) -> None:
        super().__init__()
        self.stages: list[str] = []
        self.warnings: list[str] = []
        self.infos: list[str] = []
        self.progress_values: list[float] = []
        self.progressChanged.connect(self._on_progress)
        self._cancel_at = cancel_at

    def _on_progress(self, value: float) -> None:
        self.progress_values.append(value)
        if self._cancel_at is not None and value >= self._cancel_at:
            self.cancel()

    def setProgressText(self, text: str) -> None:  # noqa: N802
        self.stages.append(text)
        super().setProgressText(text)

    def pushWarning(self, warning: str) -> None:  # noqa: N802
        self.warnings.append(warning)
        super().pushWarning(warning)

    def pushInfo(self, info: str) -> None:  # noqa: N802
        self.infos.append(info)
        super().pushInfo(info)
