"""Installs the plugin's Python packages from inside QGIS, showing the installer's progress as it happens.

The installer (packages/installer.py run by QGIS's Python: plan, pip into a
temporary folder, rename, self-test) runs in a QProcess, so QGIS stays
responsive; its output streams into the dialog, and a failure leaves the full
text there to read or copy. Where it cannot run at all the dialog shows the
exact command to paste into a shell.
"""

from __future__ import annotations

import html

from qgis.PyQt.QtCore import QProcess, Qt, pyqtSignal
from qgis.PyQt.QtGui import QFont, QGuiApplication
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from ..packages.activation import activate, missing_modules
from ..packages.folders import dependency_dir
from ..packages.installer import install_command, shell_command


class DependencyDialog(QDialog):
    """Shows what is missing and runs the installer on request; `installed` fires once every package imports."""

    installed = pyqtSignal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Sentinel-2 Cloud Mask: install dependencies"))
        self.resize(720, 420)
        self._process: QProcess | None = None

        missing = missing_modules()
        self.summary = QLabel(self._summary_text(missing))
        self.summary.setWordWrap(True)
        self.command = QLabel(
            self.tr("Command: ") + "<code>" + html.escape(shell_command(install_command()))
            + "</code>"
        )
        self.command.setWordWrap(True)
        self.command.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.hide()  # shown once pip runs: an idle 0 % bar reads as "not installed"
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFont("monospace"))
        self.log.setPlaceholderText(self.tr("The installer's output (pip, then the self-test) appears here."))

        self.buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.install_button = QPushButton(self.tr("Install") if missing else self.tr("Reinstall"))
        self.install_button.setDefault(bool(missing))
        self.install_button.setToolTip(
            self.tr("Install the missing packages.")
            if missing
            else self.tr("Install the pinned versions again (after a broken or partial install).")
        )
        self.copy_button = QPushButton(self.tr("Copy output"))
        self.buttons.addButton(self.install_button, QDialogButtonBox.ActionRole)
        self.buttons.addButton(self.copy_button, QDialogButtonBox.ActionRole)
        self.buttons.rejected.connect(self.reject)
        self.install_button.clicked.connect(self.start_install)
        self.copy_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.log.toPlainText())
        )

        layout = QVBoxLayout(self)
        for widget in (self.summary, self.command, self.progress, self.log, self.buttons):
            layout.addWidget(widget)

    def _summary_text(self, missing: list[str]) -> str:
        folder = dependency_dir()
        if not missing:
            return self.tr("All required packages are installed (in {folder} or QGIS's own Python).").format(
                folder=folder
            )
        return self.tr(
            "Sentinel-2 Cloud Mask needs {names}. Install puts them into {folder}, outside the plugin folder so that "
            "plugin updates keep them, without touching QGIS's Python. It downloads about 200 MB, and 36 MB more "
            "where rasterio is installed too."
        ).format(names=", ".join(missing), folder=folder)

    def start_install(self) -> None:
        command = install_command()
        self.install_button.setEnabled(False)
        self.progress.show()
        self.progress.setRange(0, 0)  # busy: pip gives no overall percentage
        self.log.appendPlainText("$ " + shell_command(command))
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.MergedChannels)
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
        if error != QProcess.FailedToStart:
            return
        self.progress.setRange(0, 1)
        self.install_button.setEnabled(True)
        self.log.appendPlainText(
            self.tr(
                "\nThe installer could not be started. Run this command in a terminal (OSGeo4W Shell on Windows), "
                "then restart QGIS:\n"
            )
            + shell_command(install_command())
        )

    def _finished(self, exit_code: int, _status) -> None:
        self.progress.setRange(0, 1)
        activate()
        missing = missing_modules()
        if exit_code == 0 and not missing:
            self.progress.setValue(1)
            self.summary.setText(
                self.tr("Installed, and the self-test passed. The plugin is ready; no restart needed.")
            )
            self.installed.emit()
        elif not missing:
            self.progress.setValue(1)
            self.summary.setText(
                self.tr(
                    "Installed, but the self-test failed (exit code {code}): the output below says which check. "
                    "Copy it into a bug report."
                ).format(code=exit_code)
            )
            self.installed.emit()
        else:
            self.install_button.setEnabled(True)
            self.summary.setText(
                self.tr(
                    "Installation failed (exit code {code}); still missing: {names}. The output below says why; "
                    "copy it into a bug report if it does not help."
                ).format(code=exit_code, names=", ".join(missing))
            )
