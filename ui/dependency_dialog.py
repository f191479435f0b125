"""Installs the plugin's Python packages from inside QGIS, showing the installer's progress as it happens.

The installer (packages/installer.py run by QGIS's Python: plan, pip into a
temporary folder, rename, self-test) runs in the shared command dialog.
"""

from __future__ import annotations

from qgis.PyQt.QtCore import pyqtSignal

from ..packages.activation import activate, missing_modules
from ..packages.folders import dependency_dir
from ..packages.installer import install_command
from .command_dialog import CommandDialog


class DependencyDialog(CommandDialog):
    """Shows what is missing and runs the installer on request; `installed` fires once every package imports."""

    installed = pyqtSignal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        missing = missing_modules()
        self.setWindowTitle(self.tr("Sentinel-2 Cloud Mask: install dependencies"))
        self.summary.setText(self._summary_text(missing))
        self.log.setPlaceholderText(self.tr("The installer's output (pip, then the self-test) appears here."))
        self.install_button = self.action_button
        self.install_button.setText(self.tr("Install") if missing else self.tr("Reinstall"))
        self.install_button.setDefault(bool(missing))
        self.install_button.setToolTip(
            self.tr("Install the missing packages.")
            if missing
            else self.tr("Install the pinned versions again (after a broken or partial install).")
        )
        self.show_command()

    def command(self) -> list[str]:
        return install_command()

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

    def finished_with(self, exit_code: int) -> None:
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
