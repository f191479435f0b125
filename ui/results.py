"""The dock's results panel: what a finished run found, in figures a person can read at a glance.

It shows what the mask says (the share of each class), how it was made (model,
model file, device, resolution, extent, buffer, shadow check, time) and, when
the run compared with Sen2Cor's SCL, where the two agree: overall agreement and
kappa, the areas where SCL lets clouds through or throws clear pixels away,
per-class precision, recall, F1 and IoU, and the confusion matrix. Everything
comes from the engine's MaskResult and Comparison, so these figures are the
same ones the Processing algorithms and the HTML report give, in the same
units (percent) and the same matrix orientation (rows: the mask; columns: the
reference).

The panel lives in a docked panel about 300 px wide: tables wrap their text
and grow downwards, and the confusion matrix, too wide for one row of
columns, wraps its reference columns onto as many stacked blocks as the width
needs; the panel then scrolls vertically only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qgis.PyQt.QtCore import QSize, Qt, QUrl
from qgis.PyQt.QtGui import QColor, QDesktopServices, QFont, QFontMetrics, QIcon, QPainter, QPixmap
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
from .narrow import breakable, wrapping_label

if TYPE_CHECKING:
    from .task import RunRequest

# Short class names for the confusion matrix's rows (mask classes) and column headers (reference classes), so
# four columns fit side by side in a docked panel; tooltips carry the full names and SCL codes.
MATRIX_HEADERS = {
    "clear": "Clear",
    "cloud_shadow": "Shadow",
    "semi_transparent_cloud": "Thin cloud",
    "cloud": "Cloud",
    "dark_area": "Dark area",
    "water": "Water",
    "unclassified": "Unclass.",
    "snow_or_ice": "Snow, ice",
}
CLEAN_TIP = ("The product's bands at the run's resolution and extent, with what this mask removes (cloud, "
             "semi-transparent cloud, cloud shadow) as no data, written beside the mask and added to the map in true "
             "colour (as 'Apply a cloud mask to Sentinel-2 bands').")
CLEAN_RASTER_TIP = ("This run masked a raster layer: use 'Apply a cloud mask to Sentinel-2 bands' in the Processing "
                    "toolbox with the layer and this mask.")
EMPTY_TEXT = "No results yet. Choose a product on the Mask tab and press Run; the figures appear here."
DEVICE_CHOICES = {"auto": "automatic", "cpu": "CPU", "gpu": "GPU"}


def swatch(rgba: tuple[int, int, int, int] | str, size: int = 12) -> QIcon:
    """A small colour square with a grey edge, so a table row reads like the map legend.

    Drawn opaque: a class the map leaves see-through (clear) still needs a visible key here.
    """
    colour = QColor(rgba) if isinstance(rgba, str) else QColor(*rgba)
    colour.setAlpha(255)
    pixmap = QPixmap(size, size)
    pixmap.fill(colour)
    painter = QPainter(pixmap)
    painter.setPen(QColor(110, 110, 110))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    return QIcon(pixmap)


def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100.0 * value:.{digits}f} %"


def plain(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def describe_seconds(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


def run_settings(request: RunRequest, mask: Any) -> list[tuple[str, str]]:
    """What a run was asked to do, in words, one (label, value) a row: two runs with other options look different."""
    product = request.product is not None
    if request.extent is None:
        extent = "the whole product" if product else "the whole raster"
    else:
        xmin, ymin, xmax, ymax, crs = request.extent
        crs_name = crs if len(crs) < 20 else "the extent's CRS"
        extent = f"x {xmin:,.0f} to {xmax:,.0f}, y {ymin:,.0f} to {ymax:,.0f} ({crs_name})"
    return [
        ("Model file", "the built-in U-Net for the level (auto)" if request.model == "auto" else request.model),
        ("Device", f"{mask.device_used} (asked: {DEVICE_CHOICES.get(request.device, request.device)})"),
        ("Resolution", f"{request.resolution} m" if product else "the raster's own grid"),
        ("Extent", extent),
        ("Buffer", f"{request.buffer:g} m" if request.buffer else "none"),
        ("Shadow check", ("on" if request.shadow_check else "off") if product
         else "off (a raster layer has no sun angles here)"),
    ]


def _item(text: str, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
    if align_right:
        item.setTextAlignment(int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter))
    return item


class FitTable(QTableWidget):
    """A read-only table that shows every row at the width the panel gives it: names wrap, the panel scrolls."""

    def __init__(self, name: str, headers: list[str]) -> None:
        super().__init__(0, len(headers))
        self.setObjectName(name)
        self.setHorizontalHeaderLabels(headers)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrap(True)  # the first column wraps its names; the figures beside it keep their width
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(8)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)  # the panel's width decides, not the contents

    def fit_height(self) -> None:
        """Tall enough for every row at the current width: the table never scrolls, the panel does."""
        self.resizeRowsToContents()
        rows = sum(self.rowHeight(row) for row in range(self.rowCount()))
        self.setFixedHeight(self.horizontalHeader().sizeHint().height() + rows + 2 * self.frameWidth())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.fit_height()  # wrapped names need other row heights at another width


def _fill(table: FitTable, rows: list[list[QTableWidgetItem]]) -> None:
    table.setRowCount(len(rows))
    for row, items in enumerate(rows):
        for column, item in enumerate(items):
            table.setItem(row, column, item)
    table.fit_height()


class ResultsPanel(QWidget):
    """Figures of the latest run; empty (with a hint) until one finishes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report_path: str | None = None

        self.emptyLabel = wrapping_label(EMPTY_TEXT, "emptyLabel")

        self.titleLabel = wrapping_label(name="titleLabel")
        self.titleLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        title_font = QFont(self.titleLabel.font())
        title_font.setBold(True)
        self.titleLabel.setFont(title_font)

        self.runGroup = QGroupBox("Mask")
        form = self._form(self.runGroup)
        self.modelLabel, self.timeLabel, self.outputLabel, self.class3Label = (
            self._value_label(name) for name in ("modelValue", "timeValue", "outputValue", "class3Value")
        )
        self.outputLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.outputLabel.setOpenExternalLinks(False)
        self.outputLabel.linkActivated.connect(lambda link: QDesktopServices.openUrl(QUrl(link)))
        form.addRow("Model", self.modelLabel)
        form.addRow("Time", self.timeLabel)
        form.addRow("File", self.outputLabel)
        form.addRow("Thin cloud", self.class3Label)
        self.classTable = FitTable("classTable", ["Class", "Share"])
        form.addRow(self.classTable)
        self.warningsLabel = self._value_label("warningsValue")
        self.warningsLabel.setStyleSheet("color: #9a5b00;")
        form.addRow(self.warningsLabel)
        self.cleanButton = QPushButton("Clean bands")
        self.cleanButton.setObjectName("cleanButton")
        form.addRow(self.cleanButton)

        # How the run was made: filled by show_run() from run_settings(), one row each.
        self.settingsGroup = QGroupBox("Settings")
        self.settingsGroup.setObjectName("settingsGroup")
        self.settingsForm = self._form(self.settingsGroup)
        self.settings: dict[str, QLabel] = {}

        self.sclGroup = QGroupBox("Agreement with SCL")
        scl_layout = self._form(self.sclGroup)
        self.agreementLabel = self._value_label("agreementValue")
        self.kappaLabel = self._value_label("kappaValue")
        self.comparedLabel = self._value_label("comparedValue")
        scl_layout.addRow("Overall agreement", self.agreementLabel)
        scl_layout.addRow("Cohen's kappa", self.kappaLabel)
        scl_layout.addRow("Compared", self.comparedLabel)
        self.differenceTable = FitTable("differenceTable", ["Where", "km²", "%"])
        scl_layout.addRow(wrapping_label("Where the mask and SCL differ:"))
        scl_layout.addRow(self.differenceTable)
        self.perClassTable = FitTable("perClassTable", ["Class", "Prec.", "Recall", "F1", "IoU"])
        self.perClassTable.setToolTip(
            "With SCL as the truth. Precision: of what the mask calls the class, the share SCL agrees with. "
            "Recall: of what SCL calls the class, the share the mask finds. F1: their harmonic mean. "
            "IoU: the pixels both call the class, of those either calls it."
        )
        scl_layout.addRow(wrapping_label("Per class, with SCL as the truth (percent):"))
        scl_layout.addRow(self.perClassTable)
        self.matrixCaption = wrapping_label()
        self.matrixView = MatrixView()
        scl_layout.addRow(self.matrixCaption)
        scl_layout.addRow(self.matrixView)
        self.reportButton = QPushButton("Open the HTML report")
        self.reportButton.setObjectName("reportButton")
        self.reportButton.clicked.connect(self.open_report)
        scl_layout.addRow(self.reportButton)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for widget in (self.emptyLabel, self.titleLabel, self.runGroup, self.settingsGroup, self.sclGroup):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.clear()

    @staticmethod
    def _form(group: QGroupBox) -> QFormLayout:
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        return form

    @staticmethod
    def _value_label(name: str) -> QLabel:
        label = wrapping_label(name=name)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def clear(self) -> None:
        self.report_path = None
        self.emptyLabel.show()
        for widget in (self.titleLabel, self.runGroup, self.settingsGroup, self.sclGroup):
            widget.hide()

    def show_run(self, title: str, mask: Any, seconds: float, comparison: Any | None = None,
                 warnings: list[str] | None = None, settings: list[tuple[str, str]] | None = None) -> None:
        """Fill the panel from a MaskResult, the run's settings and, when there was one, a Comparison."""
        self.emptyLabel.hide()
        self.titleLabel.setText(breakable(title))
        self.titleLabel.show()
        self._show_mask(mask, seconds, warnings if warnings is not None else list(mask.warnings))
        self.runGroup.show()
        self._show_settings(settings or [])
        if comparison is None:
            self.report_path = None
            self.sclGroup.hide()
        else:
            self._show_comparison(comparison)
            self.sclGroup.show()

    def offer_cleaning(self, product: bool) -> None:
        """Clean bands needs the run's product: a raster layer's run has its mask but no product bands to read."""
        self.cleanButton.setEnabled(product)
        self.cleanButton.setToolTip(CLEAN_TIP if product else CLEAN_RASTER_TIP)

    def _show_settings(self, settings: list[tuple[str, str]]) -> None:
        while self.settingsForm.rowCount():
            self.settingsForm.removeRow(0)
        self.settings = {}
        for name, value in settings:
            label = self._value_label(f"setting {name}")
            label.setText(breakable(value))
            label.setToolTip(value)
            self.settingsForm.addRow(name, label)
            self.settings[name] = label
        self.settingsGroup.setVisible(bool(settings))

    def _show_mask(self, mask: Any, seconds: float, warnings: list[str]) -> None:
        self.modelLabel.setText(breakable(mask.model_used))
        self.timeLabel.setText(describe_seconds(seconds))
        output = Path(mask.output)
        self.outputLabel.setText(f'<a href="{QUrl.fromLocalFile(str(output.parent)).toString()}">{breakable(output.name)}</a>')
        self.outputLabel.setToolTip(str(output))
        self.class3Label.setText(breakable(mask.class3_source))
        rows = []
        for code in MASK_CODES:
            name = _item(CLASS_NAMES[code])
            name.setIcon(swatch(CLASS_COLOURS[code]))
            rows.append([name, _item(f"{mask.class_percentages.get(code, 0.0):.1f} %", align_right=True)])
        _fill(self.classTable, rows)
        self.warningsLabel.setText(breakable("\n".join(f"⚠ {warning}" for warning in warnings)))
        self.warningsLabel.setVisible(bool(warnings))

    def _show_comparison(self, comparison: Any) -> None:
        figures = comparison.to_dict()
        reference = figures["reference"]
        self.sclGroup.setTitle(f"Agreement with {'SCL' if reference == 'SCL' else 'the ' + reference}")
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
            rows.append([name, _item(f"{entry['area_km2']:,.2f}", True), _item(f"{entry['percent'] or 0.0:.2f}", True)])
        _fill(self.differenceTable, rows)

        rows = []
        for entry in figures["per_class"].values():
            name = _item(entry["name"])
            name.setIcon(swatch(CLASS_COLOURS[entry["code"]]))
            rows.append([name, *(_item(plain(None if entry[key] is None else 100.0 * entry[key], 1), True)
                               for key in ("precision", "recall", "f1", "iou"))])
        _fill(self.perClassTable, rows)

        self._show_matrix(figures["matrix"], reference)
        self.report_path = getattr(comparison, "report", None)
        self.reportButton.setEnabled(bool(self.report_path))
        self.reportButton.setToolTip(self.report_path or "This run wrote no report.")

    def _show_matrix(self, matrix: dict[str, Any], reference: str) -> None:
        """Rows: the mask's classes; columns: the reference's, as in the report, wrapped onto stacked blocks."""
        self.matrixCaption.setText(
            f"Confusion matrix: mask classes down, {reference} classes across; each cell is the percent of the "
            f"row's pixels (rows add up to 100), agreement in bold, ambiguous {reference} classes in italics. "
            "Hover a cell for its pixel count, a name for the full class."
        )
        self.matrixView.show_matrix(matrix, reference)

    def open_report(self) -> None:
        if self.report_path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.report_path))


class MatrixView(QWidget):
    """The confusion matrix, mask classes down and reference classes across, wrapped to the panel's width.

    Eight SCL columns do not fit beside each other in a docked panel. Instead of
    a horizontal scroll bar the columns wrap, like words in a line: each block
    repeats the mask classes down its side and holds as many reference columns as
    the width allows.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("matrixView")
        self.tables: list[FitTable] = []
        self._matrix: dict[str, Any] | None = None
        self._reference = ""
        self._per_block = 0
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def show_matrix(self, matrix: dict[str, Any], reference: str) -> None:
        self._matrix, self._reference, self._per_block = matrix, reference, 0
        self._rebuild()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if self._matrix is not None and event.oldSize().width() != event.size().width():
            self._rebuild()  # another width: other blocks, or the same blocks with other column widths

    @staticmethod
    def _header(column: dict[str, Any]) -> str:
        """A class's short name (row or column), one word a line."""
        return "\n".join(MATRIX_HEADERS.get(column["key"], column["name"]).split())

    def _matrix_font(self) -> QFont:
        """A point smaller than the panel's: a matrix is read cell by cell, not as running text."""
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() - 1.0))
        return font

    def _layout_widths(self) -> tuple[int, int, int]:
        """Reference columns per block, and the widths of the mask-class column and of one reference column."""
        metrics = QFontMetrics(self._matrix_font())
        padding = 8
        matrix = self._matrix or {}
        columns = matrix.get("column_classes", [])
        words = [line for column in columns for line in self._header(column).split("\n")] + ["100.0"]
        column = max(metrics.horizontalAdvance(word) for word in words) + padding
        rows = [line for row in matrix.get("row_classes", []) for line in self._header(row).split("\n")] or ["Mask"]
        first = max(metrics.horizontalAdvance(word) for word in rows) + padding  # no swatch: the class table has them
        available = self.width() - 4  # the table's frame
        per_block = max(1, min(len(columns) or 1, (available - first) // column))
        first = max(40, min(first, available - per_block * column))
        return per_block, first, max(column, (available - first) // per_block)  # the block fills the width

    def _rebuild(self) -> None:
        for table in self.tables:
            self._layout.removeWidget(table)
            table.deleteLater()
        self.tables = []
        matrix, reference = self._matrix, self._reference
        if matrix is None:
            return
        self._per_block, first, column = self._layout_widths()
        mask_classes, columns, counts = matrix["row_classes"], matrix["column_classes"], matrix["counts"]
        for start in range(0, len(columns), self._per_block):
            block = list(enumerate(columns))[start : start + self._per_block]
            table = FitTable(f"matrixTable{len(self.tables) + 1}", ["Mask", *(self._header(c) for _, c in block)])
            header = table.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.resizeSection(0, first)
            for position, (_, reference_class) in enumerate(block, start=1):
                header.resizeSection(position, column)
                codes = ", ".join(str(code) for code in reference_class["reference_codes"])
                item = table.horizontalHeaderItem(position)
                item.setToolTip(f"{reference} codes {codes}, compared as {CLASS_NAMES[reference_class['compared_as']].lower()}"
                                + (" (ambiguous)" if reference_class["ambiguous"] else ""))
                if reference_class["ambiguous"]:
                    font = item.font()
                    font.setItalic(True)
                    item.setFont(font)
            rows = []
            table.setFont(self._matrix_font())
            for row_index, mask_class in enumerate(mask_classes):
                name = _item(self._header(mask_class))
                name.setToolTip(f"Pixels the mask calls {mask_class['name'].lower()}")
                row_total = sum(counts[row_index]) or 1
                cells = [name]
                for column_index, reference_class in block:
                    count = counts[row_index][column_index]
                    cell = _item(f"{100.0 * count / row_total:.1f}", align_right=True)
                    cell.setToolTip(f"{count:,} pixels the mask calls {mask_class['name'].lower()} and {reference} "
                                    f"calls {reference_class['name'].lower()}")
                    if not reference_class["ambiguous"] and reference_class["compared_as"] == mask_class["code"]:
                        font = cell.font()
                        font.setBold(True)
                        cell.setFont(font)
                    cells.append(cell)
                rows.append(cells)
            _fill(table, rows)
            self._layout.addWidget(table)
            self.tables.append(table)
        self.updateGeometry()
