"""A dialog that runs one of the plugin's set-up commands with QGIS's Python and shows its output as it happens.

The installer of the plugin's packages and the creator of the fine-tuning
environment both run this way: in a QProcess, so QGIS stays responsive; the
output streams into the dialog, and a failure leaves the full text there to
read or copy. Where the command cannot start at all the dialog shows it, to
paste into a shell.
"""

from __future__ import annotations

import html

from qgis.PyQt.QtCore import QProcess, Qt
from qgis.PyQt.QtGui import QFont, QGuiApplication
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..packages.installer import shell_command


class CommandDialog(QDialog):
    """Summary, the command, a busy bar while it runs, its output, and the buttons to run it and copy the output.

    Subclasses set the texts, say which command runs (`command`) and what its end means (`finished_with`), and
    call `show_command` once `command` can answer.
    """

    def __init__(self, parent=None, options: QWidget | None = None) -> None:
        super().__init__(parent)
        self.resize(720, 420)
        self._process: QProcess | None = None
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.command_label = QLabel()
        self.command_label.setWordWrap(True)
        self.command_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.hide()  # shown once the command runs: an idle 0 % bar reads as "not done"
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFont("monospace"))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.action_button = QPushButton()
        self.copy_button = QPushButton(self.tr("Copy output"))
        self.buttons.addButton(self.action_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        self.action_button.clicked.connect(self.start)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.log.toPlainText()))
        layout = QVBoxLayout(self)
        for widget in (self.summary, options, self.command_label, self.progress, self.log, self.buttons):
            if widget is not None:
                layout.addWidget(widget)

    def command(self) -> list[str]:
        raise NotImplementedError

    def finished_with(self, exit_code: int) -> None:
        """The command ended (the bar has stopped); say what that means."""
        raise NotImplementedError

    def show_command(self) -> None:
        self.command_label.setText(self.tr("Command: ") + "<code>" + html.escape(shell_command(self.command()))
                                   + "</code>")

    def start(self) -> None:
        command = self.command()
        self.action_button.setEnabled(False)
        self.progress.show()
        self.progress.setRange(0, 0)  # busy: pip gives no overall percentage
        self.log.appendPlainText("$ " + shell_command(command))
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._read_output)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._failed_to_start)
        self._process = process
        process.start(command[0], command[1:])

    def _read_output(self) -> None:
        assert self._process is not None
        text = bytes(self._process.readAllStandardOutput()).decode(errors="replace")
        self.log.appendPlainText(text.rstrip("\n"))

    def _failed_to_start(self, error) -> None:
        if error != QProcess.ProcessError.FailedToStart:
            return
        self.progress.setRange(0, 1)
        self.action_button.setEnabled(True)
        self.log.appendPlainText(
            self.tr("\nThe command could not be started. Run it in a terminal (OSGeo4W Shell on Windows), then "
                    "restart QGIS:\n") + shell_command(self.command())
        )

    def _finished(self, exit_code: int, _status) -> None:
        self.progress.setRange(0, 1)
        self.finished_with(exit_code)
