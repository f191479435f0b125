"""Shows toolbelt.diagnostics.report() as text a user can copy into a bug report."""

from __future__ import annotations

from qgis.PyQt.QtGui import QFont, QGuiApplication
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QPushButton, QVBoxLayout

from ..toolbelt import diagnostics


class DiagnosticsDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Sentinel-2 Cloud Mask: diagnostics"))
        self.resize(760, 420)
        self.text = QPlainTextEdit(diagnostics.report())
        self.text.setReadOnly(True)
        self.text.setFont(QFont("monospace"))
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        copy = QPushButton(self.tr("Copy to clipboard"))
        buttons.addButton(copy, QDialogButtonBox.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text.toPlainText()))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
