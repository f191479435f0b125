"""Shows toolbelt.diagnostics.report() as text a user can copy into a bug report.

The report shows the last self-test's result; the dialog opens without running
it (it starts a separate QGIS Python for a few seconds) and offers to run it
again in the background, after which the report says the new result.
"""

from __future__ import annotations

from typing import Any

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtGui import QFont, QGuiApplication
from qgis.PyQt.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QPushButton, QVBoxLayout

from ..packages.installer import last_self_test, self_test
from ..toolbelt import diagnostics


class DiagnosticsDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Sentinel-2 Cloud Mask: diagnostics"))
        self.resize(760, 420)
        self.self_test_task: QgsTask | None = None
        self.text = QPlainTextEdit(diagnostics.report())
        self.text.setReadOnly(True)
        self.text.setFont(QFont("monospace"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton(self.tr("Copy to clipboard"))
        self.selfTestButton = QPushButton()
        self.selfTestButton.setToolTip(self.tr(
            "Opens a JPEG 2000 band, reprojects a window and runs an onnxruntime session in a separate QGIS Python, "
            "with the plugin's packages; takes a few seconds. The 'Dependency self-test' line then shows the result."))
        self._show_self_test_button()
        buttons.addButton(self.selfTestButton, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text.toPlainText()))
        self.selfTestButton.clicked.connect(self.run_self_test)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)

    def _show_self_test_button(self) -> None:
        never = last_self_test() == "not run"
        self.selfTestButton.setText(self.tr("Run the self-test") if never else self.tr("Run the self-test again"))
        self.selfTestButton.setEnabled(True)

    def run_self_test(self) -> None:
        """The self-test in QGIS's task manager; the report is written again when it ends."""
        self.selfTestButton.setEnabled(False)
        self.selfTestButton.setText(self.tr("Self-test running…"))
        self.self_test_task = QgsTask.fromFunction(
            self.tr("Sentinel-2 Cloud Mask self-test"), lambda _task: self_test(),
            on_finished=self._self_test_ended,
        )
        QgsApplication.taskManager().addTask(self.self_test_task)

    def _self_test_ended(self, exception: BaseException | None, _result: Any = None) -> None:
        self.self_test_task = None
        text = diagnostics.report()
        if exception is not None:  # the test could not even start: say so above the report
            text = self.tr("The self-test could not run: {error}").format(error=exception) + "\n\n" + text
        self.text.setPlainText(text)
        self._show_self_test_button()
