"""Creates the fine-tuning environment from inside QGIS, for a user who installed the plugin from a ZIP.

packages/training_env.py, run by QGIS's Python in the shared command dialog,
makes a virtual environment beside the plugin's package folder, installs
PyTorch (its CPU build unless the CUDA build is asked for), onnx and numpy,
and runs a self-test; its output streams into the dialog as it goes.
"""

from __future__ import annotations

from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QCheckBox

from ..packages.training_env import creation_command, environment_dir, is_ready
from .command_dialog import CommandDialog


class TrainingEnvDialog(CommandDialog):
    """Says what creating the environment downloads and where it goes; `created` fires once it is ready."""

    created = pyqtSignal()

    def __init__(self, parent=None) -> None:
        cuda = QCheckBox()
        super().__init__(parent, options=cuda)
        self.cuda = cuda
        self.folder = environment_dir()
        ready = is_ready(self.folder)
        self.setWindowTitle(self.tr("Sentinel-2 Cloud Mask: fine-tuning environment"))
        self.cuda.setText(self.tr("CUDA build of PyTorch, for training on an NVIDIA GPU (several GB more)"))
        self.cuda.toggled.connect(self.show_command)
        self.summary.setText(
            self.tr("The fine-tuning environment in {folder} is ready; create it again only if it is broken.").format(
                folder=self.folder)
            if ready else
            self.tr("Fine-tuning runs PyTorch in an environment of its own, outside QGIS: {folder}, beside the plugin's "
                    "packages, so plugin updates keep it. Create downloads PyTorch's CPU build (about 200 MB, 1 GB on "
                    "disk), onnx and numpy and their few helpers from the Python package index, then checks the "
                    "environment with a short self-test. It takes a few minutes.").format(folder=self.folder)
        )
        self.log.setPlaceholderText(self.tr("The output of pip and of the self-test appears here."))
        self.action_button.setText(self.tr("Create again") if ready else self.tr("Create"))
        self.action_button.setDefault(not ready)
        self.show_command()

    def command(self) -> list[str]:
        return creation_command(self.cuda.isChecked()) + (["--force"] if is_ready(self.folder) else [])

    def start(self) -> None:
        self.cuda.setEnabled(False)
        super().start()

    def finished_with(self, exit_code: int) -> None:
        self.cuda.setEnabled(True)
        if exit_code == 0 and is_ready(self.folder):
            self.progress.setValue(1)
            self.summary.setText(self.tr("Created, and the self-test passed: fine-tuning is ready."))
            self.created.emit()
        else:
            self.action_button.setEnabled(True)
            self.summary.setText(
                self.tr("Creating the environment failed (exit code {code}); the output below says why. Copy it into "
                        "a bug report if it does not help.").format(code=exit_code)
            )
