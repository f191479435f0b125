"""Driving the dock as an analyst does, and looking at it as one: waiting for its tasks, answering its questions,
docking it in a main window at the width QGIS gives it, and checking that nothing in it is cut off or too wide.

Shared by the dock, reference panel and docked-width tests (tests/qgis).
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsRectangle
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox, QScrollArea, QWidget
from s2cloudmask.ui.dock import DOCKED_WIDTH, CloudMaskDock

SCREEN = (1366, 768)  # a laptop screen, the size the README's screenshots use
WINDOW = (537480.0, 5855040.0, 552480.0, 5870040.0)  # 15 km x 15 km of T29UNU with data, cloud, shadow and clear land
UTM29 = QgsCoordinateReferenceSystem("EPSG:32629")


def settle() -> None:
    for _ in range(5):
        QgsApplication.processEvents()


def messages(iface, level) -> list[str]:
    return iface.messageBar().get_messages(level)


def scrolls_sideways(area: QScrollArea) -> bool:
    settle()
    return area.horizontalScrollBar().maximum() > 0


def answer_next_question(button: int, look=None) -> None:
    """Press `button` in the next question box the dock opens (as a user would); `look(box)` sees it first."""
    def press() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            if look is not None:
                look(box)
            box.button(button).click()
        else:
            QTimer.singleShot(20, press)

    QTimer.singleShot(20, press)


def choose_window(dock: CloudMaskDock, real_l2a: Path, output: Path | None, resolution: int = 60) -> None:
    """The T29UNU window at `resolution`; output None keeps the name the dock chose."""
    dock.set_product(str(real_l2a))
    dock.resolutionCombo.setCurrentIndex(dock.resolutionCombo.findData(resolution))
    dock.extentGroupBox.setChecked(True)
    dock.extentWidget.setOutputExtentFromUser(QgsRectangle(*WINDOW), UTM29)
    if output is not None:
        dock.outputFileWidget.setFilePath(str(output))


def dock_in_window(iface) -> tuple[QMainWindow, CloudMaskDock]:
    """The dock in the right dock area of a main window the size of a laptop screen, at the width it asks for."""
    window = QMainWindow()
    window.setCentralWidget(QWidget())  # the map's place
    dock = CloudMaskDock(iface)
    window.addDockWidget(Qt.RightDockWidgetArea, dock)
    window.resize(*SCREEN)
    window.show()
    window.resizeDocks([dock], [dock.sizeHint().width()], Qt.Horizontal)
    settle()
    assert dock.width() == DOCKED_WIDTH
    return window, dock


def clipped_labels(page: QWidget) -> list[str]:
    """The shown labels of `page` that are lower than their text needs at their width (cut at top and bottom)."""
    clipped = []
    for label in page.findChildren(QLabel):
        if not label.isVisible() or not label.text():
            continue
        needed = label.heightForWidth(label.width()) if label.wordWrap() else label.sizeHint().height()
        if label.height() < needed:
            clipped.append(f"{label.text()[:40]!r} ({label.height()} px of {needed})")
    return clipped


def assert_every_tab_fits(dock: CloudMaskDock, when: str) -> None:
    """Every tab at the docked width: the dock has not grown, nothing scrolls sideways, no label is cut off."""
    current = dock.mainTabs.currentIndex()
    for index in range(dock.mainTabs.count()):
        dock.mainTabs.setCurrentIndex(index)
        settle()
        tab = f"{dock.mainTabs.tabText(index)} tab {when}"
        assert dock.width() == DOCKED_WIDTH, f"the dock grew to {dock.width()} px on the {tab}"
        assert dock.minimumSizeHint().width() <= DOCKED_WIDTH, tab
        page = dock.mainTabs.widget(index)
        for area in [page] if isinstance(page, QScrollArea) else page.findChildren(QScrollArea):
            assert not scrolls_sideways(area), f"the {tab} scrolls sideways"
        assert not clipped_labels(page), f"cut-off labels on the {tab}: {clipped_labels(page)}"
    assert not clipped_labels(dock.widget()), f"cut-off labels below the tabs {when}"
    dock.mainTabs.setCurrentIndex(current)
    settle()
