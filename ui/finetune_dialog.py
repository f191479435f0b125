"""The finetune algorithm's dialog: QGIS's own algorithm dialog that, while the fine-tuning environment is missing,
says so in its message bar with a button that creates it."""

from __future__ import annotations

from processing.gui.AlgorithmDialog import AlgorithmDialog  # QGIS's Processing plugin; only its GUI imports this
from qgis.core import Qgis
from qgis.PyQt.QtWidgets import QPushButton

from ..packages.training_env import environment_dir, instructions, is_ready, state
from .training_env_dialog import TrainingEnvDialog


class FinetuneDialog(AlgorithmDialog):
    def __init__(self, algorithm, parent=None) -> None:
        super().__init__(algorithm, parent=parent)
        self.environment_item = None
        self.offer_environment()

    def offer_environment(self) -> None:
        """The message and the button, unless the environment is ready or they show already."""
        folder = environment_dir()
        if is_ready(folder) or self.environment_item is not None:
            return
        bar = self.messageBar()
        text = self.tr("its PyTorch environment {state}.").format(state=state(folder))
        item = bar.createMessage(self.tr("Fine-tuning"), text)
        item.setToolTip(instructions(folder))
        button = QPushButton(self.tr("Create it…"))
        button.setToolTip(self.tr("Create the fine-tuning environment (a few minutes)"))
        button.clicked.connect(self.create_environment)
        item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.MessageLevel.Warning)
        self.environment_item = item

    def create_environment(self) -> None:
        dialog = TrainingEnvDialog(self)
        dialog.created.connect(self.environment_created)
        dialog.exec_()

    def environment_created(self) -> None:
        if self.environment_item is not None:
            self.messageBar().popWidget(self.environment_item)
            self.environment_item = None

    def finish(self, successful, result, context, feedback, in_place=False) -> None:  # noqa: D102 (QGIS's)
        super().finish(successful, result, context, feedback, in_place)
        if not successful:
            self.offer_environment()
