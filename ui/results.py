"""The dock's results panel: what a finished run found, in figures a person can read at a glance.

It shows what the mask says (the share of each class), how it was made (model,
device, time) and, when the run compared with Sen2Cor's SCL, where the two
agree: overall agreement and kappa, the areas where SCL lets clouds through or
throws clear pixels away, per-class precision and recall, and the confusion
matrix. Everything comes from the engine's MaskResult and Comparison, so these
figures are the same ones the Processing algorithms and the HTML report give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.PyQt.QtCore import Qt, QUrl
from qgis.PyQt.QtGui import QColor, QDesktopServices, QFont, QIcon, QPixmap
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..inference.classes import CLASS_COLOURS, CLASS_NAMES, MASK_CODES

EMPTY_TEXT = "No results yet. Choose a product on the Mask tab and press Run; the figures appear here."


def swatch(rgba: tuple[int, int, int, int] | str, size: int = 12) -> QIcon:
    """A small colour square, so a table row reads like the map legend."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(rgba) if isinstance(rgba, str) else QColor(*rgba))
    return QIcon(pixmap)


def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100.0 * value:.{digits}f} %"


def plain(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def describe_seconds(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


def _item(text: str, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable)
    if align_right:
        item.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
    return item


def _table(name: str, headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.NoSelection)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeToContents)
    header.setSectionResizeMode(0, QHeaderView.Stretch)
    table.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
    return table


def _fit_height(table: QTableWidget) -> None:
    """Tables show every row; the panel scrolls, not each table."""
    table.resizeRowsToContents()
    rows = sum(table.rowHeight(row) for row in range(table.rowCount()))
    table.setFixedHeight(table.horizontalHeader().sizeHint().height() + rows + 2 * table.frameWidth())


def _fill(table: QTableWidget, rows: list[list[QTableWidgetItem]]) -> None:
    table.setRowCount(len(rows))
    for row, items in enumerate(rows):
        for column, item in enumerate(items):
            table.setItem(row, column, item)
    _fit_height(table)


class ResultsPanel(QWidget):
    """Figures of the latest run; empty (with a hint) until one finishes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report_path: str | None = None

        self.emptyLabel = QLabel(EMPTY_TEXT)
        self.emptyLabel.setWordWrap(True)
        self.emptyLabel.setObjectName("emptyLabel")

        self.titleLabel = QLabel()
        self.titleLabel.setObjectName("titleLabel")
        self.titleLabel.setWordWrap(True)
        self.titleLabel.setTextInteractionFlags(Qt.TextSelectableByMouse)
        title_font = QFont(self.titleLabel.font())
        title_font.setBold(True)
        self.titleLabel.setFont(title_font)

        self.runGroup = QGroupBox("Mask")
        form = QFormLayout(self.runGroup)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.modelLabel, self.deviceLabel, self.timeLabel, self.outputLabel, self.class3Label = (
            self._value_label(name) for name in ("modelValue", "deviceValue", "timeValue", "outputValue", "class3Value")
        )
        self.outputLabel.setTextInteractionFlags(Qt.TextBrowserInteraction)
        self.outputLabel.setOpenExternalLinks(False)
        self.outputLabel.linkActivated.connect(lambda link: QDesktopServices.openUrl(QUrl(link)))
        form.addRow("Model", self.modelLabel)
        form.addRow("Device", self.deviceLabel)
        form.addRow("Time", self.timeLabel)
        form.addRow("File", self.outputLabel)
        form.addRow("Thin cloud", self.class3Label)
        self.classTable = _table("classTable", ["Class", "Share of valid pixels"])
        form.addRow(self.classTable)
        self.warningsLabel = self._value_label("warningsValue")
        self.warningsLabel.setStyleSheet("color: #9a5b00;")
        form.addRow(self.warningsLabel)

        self.sclGroup = QGroupBox("Agreement with Sen2Cor's SCL")
        scl_layout = QFormLayout(self.sclGroup)
        scl_layout.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.agreementLabel = self._value_label("agreementValue")
        self.kappaLabel = self._value_label("kappaValue")
        self.comparedLabel = self._value_label("comparedValue")
        scl_layout.addRow("Overall agreement", self.agreementLabel)
        scl_layout.addRow("Cohen's kappa", self.kappaLabel)
        scl_layout.addRow("Compared", self.comparedLabel)
        self.differenceTable = _table("differenceTable", ["Where", "km²", "%"])
        scl_layout.addRow(QLabel("Where the mask and SCL differ:"))
        scl_layout.addRow(self.differenceTable)
        self.perClassTable = _table("perClassTable", ["Class", "Precision", "Recall", "F1"])
        self.perClassTable.setToolTip(
            "With SCL as the truth. Precision: of what the mask calls the class, the share SCL agrees with. "
            "Recall: of what SCL calls the class, the share the mask finds."
        )
        scl_layout.addRow(QLabel("Per class, with SCL as the truth:"))
        scl_layout.addRow(self.perClassTable)
        self.matrixCaption = QLabel()
        self.matrixCaption.setWordWrap(True)
        self.matrixTable = _table("matrixTable", [""])
        scl_layout.addRow(self.matrixCaption)
        scl_layout.addRow(self.matrixTable)
        self.reportButton = QPushButton("Open the HTML report")
        self.reportButton.setObjectName("reportButton")
        self.reportButton.clicked.connect(self.open_report)
        scl_layout.addRow(self.reportButton)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for widget in (self.emptyLabel, self.titleLabel, self.runGroup, self.sclGroup):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.clear()

    @staticmethod
    def _value_label(name: str) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        return label

    def clear(self) -> None:
        self.report_path = None
        self.emptyLabel.show()
        for widget in (self.titleLabel, self.runGroup, self.sclGroup):
            widget.hide()

    def show_run(self, title: str, mask: Any, seconds: float, comparison: Any | None = None, warnings: list[str] | None = None) -> None:
        """Fill the panel from a MaskResult and, when there was one, a Comparison."""
        self.emptyLabel.hide()
        self.titleLabel.setText(title)
        self.titleLabel.show()
        self._show_mask(mask, seconds, warnings if warnings is not None else list(mask.warnings))
        self.runGroup.show()
        if comparison is None:
            self.report_path = None
            self.sclGroup.hide()
        else:
            self._show_comparison(comparison)
            self.sclGroup.show()

    def _show_mask(self, mask: Any, seconds: float, warnings: list[str]) -> None:
        self.modelLabel.setText(mask.model_used)
        self.deviceLabel.setText(mask.device_used)
        self.timeLabel.setText(describe_seconds(seconds))
        output = Path(mask.output)
        self.outputLabel.setText(f'<a href="{QUrl.fromLocalFile(str(output.parent)).toString()}">{output.name}</a>')
        self.outputLabel.setToolTip(str(output))
        self.class3Label.setText(mask.class3_source)
        rows = []
        for code in MASK_CODES:
            name = _item(CLASS_NAMES[code])
            name.setIcon(swatch(CLASS_COLOURS[code]))
            rows.append([name, _item(f"{mask.class_percentages.get(code, 0.0):.1f} %", align_right=True)])
        _fill(self.classTable, rows)
        self.warningsLabel.setText("\n".join(f"⚠ {warning}" for warning in warnings))
        self.warningsLabel.setVisible(bool(warnings))

    def _show_comparison(self, comparison: Any) -> None:
        figures = comparison.to_dict()
        reference = figures["reference"]
        self.sclGroup.setTitle("Agreement with Sen2Cor's SCL" if reference == "SCL" else f"Agreement with the {reference}")
        agreement, kappa = figures["overall_agreement"], figures["kappa"]
        self.agreementLabel.setText(
            f"{percent(agreement['ambiguous_as_clear'])} "
            f"({percent(agreement['excluding_ambiguous'])} leaving out ambiguous SCL classes)"
        )
        self.kappaLabel.setText(
            f"{plain(kappa['ambiguous_as_clear'])} ({plain(kappa['excluding_ambiguous'])} leaving out ambiguous)"
        )
        pixels = figures["pixels"]
        self.comparedLabel.setText(
            f"{figures['compared_area_km2']:,.1f} km² ({pixels['compared']:,} pixels, "
            f"{pixels['ambiguous']:,} of them ambiguous in SCL)"
        )

        rows = []
        for entry in figures["difference"]:
            if not entry["pixels"]:
                continue
            name = _item(entry["name"])
            name.setIcon(swatch(entry["colour"]))
            rows.append([name, _item(f"{entry['area_km2']:,.2f}", True), _item(f"{entry['percent'] or 0.0:.1f}", True)])
        _fill(self.differenceTable, rows)

        rows = []
        for entry in figures["per_class"].values():
            name = _item(entry["name"])
            name.setIcon(swatch(CLASS_COLOURS[entry["code"]]))
            rows.append([name, *(_item(percent(entry[key], 0), True) for key in ("precision", "recall", "f1"))])
        _fill(self.perClassTable, rows)

        self._show_matrix(figures["matrix"], reference)
        self.report_path = getattr(comparison, "report", None)
        self.reportButton.setEnabled(bool(self.report_path))
        self.reportButton.setToolTip(self.report_path or "This run wrote no report.")

    def _show_matrix(self, matrix: dict[str, Any], reference: str) -> None:
        """Reference classes down, the mask's four across: eight SCL rows fit a narrow dock, eight columns do not."""
        mask_classes = matrix["row_classes"]
        reference_classes = matrix["column_classes"]
        counts = matrix["counts"]
        total = sum(sum(row) for row in counts) or 1
        self.matrixCaption.setText(
            f"Confusion matrix, pixels: {reference} classes down, mask classes across "
            f"(ambiguous SCL classes in italics; agreement on the diagonal in bold)."
        )
        table = self.matrixTable
        table.clear()
        table.setColumnCount(1 + len(mask_classes))
        table.setHorizontalHeaderLabels([f"{reference} \\ mask", *(c["name"] for c in mask_classes)])
        for column, mask_class in enumerate(mask_classes, start=1):
            header = table.horizontalHeaderItem(column)
            header.setIcon(swatch(CLASS_COLOURS[mask_class["code"]]))
            header.setToolTip(f"Pixels the mask calls {mask_class['name'].lower()}")
        header_view = table.horizontalHeader()
        header_view.setSectionResizeMode(QHeaderView.ResizeToContents)  # class names must read in full
        header_view.setStretchLastSection(True)
        rows = []
        for row_index, reference_class in enumerate(reference_classes):
            name = _item(reference_class["name"])
            codes = ", ".join(str(code) for code in reference_class["reference_codes"])
            name.setToolTip(f"{reference} codes {codes}, compared as {CLASS_NAMES[reference_class['compared_as']].lower()}")
            if reference_class["ambiguous"]:
                font = name.font()
                font.setItalic(True)
                name.setFont(font)
            cells = [name]
            for column_index, mask_class in enumerate(mask_classes):
                count = counts[column_index][row_index]
                cell = _item(f"{count:,}", align_right=True)
                cell.setToolTip(f"{100.0 * count / total:.2f} % of the compared pixels")
                if not reference_class["ambiguous"] and reference_class["compared_as"] == mask_class["code"]:
                    font = cell.font()
                    font.setBold(True)
                    cell.setFont(font)
                cells.append(cell)
            rows.append(cells)
        _fill(table, rows)

    def open_report(self) -> None:
        if self.report_path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.report_path))
