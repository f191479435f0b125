"""The fine-tuning environment from inside QGIS: the finetune dialog offers to create it where it is missing, and
the creation dialog makes it beside the packages folder with QGIS's Python, as `make train-env` does."""

from __future__ import annotations

from pathlib import Path

import pytest
from qgis.core import QgsApplication
from qgis.gui import QgsBrowserGuiModel
from qgis.PyQt.QtWidgets import QPushButton
from s2cloudmask.packages import training_env

from qt_events import wait_until


@pytest.fixture
def finetune_dialog(processing, qgis_iface, monkeypatch):
    """The algorithm's dialog as the toolbox opens it (QGIS's parameter panel asks the interface for its browser)."""
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)

    def open_dialog():
        algorithm = QgsApplication.processingRegistry().createAlgorithmById("s2cloudmask:finetune")
        return algorithm.createCustomParametersWidget(None)

    opened = []
    yield lambda: opened.append(open_dialog()) or opened[-1]
    for dialog in opened:
        dialog.deleteLater()


def test_the_finetune_dialog_offers_to_create_a_missing_environment(finetune_dialog, tmp_path, monkeypatch):
    monkeypatch.setenv(training_env.ENV_VARIABLE, str(tmp_path / "no-env"))
    from s2cloudmask.ui.finetune_dialog import FinetuneDialog

    dialog = finetune_dialog()
    assert isinstance(dialog, FinetuneDialog)
    item = dialog.environment_item
    assert item is not None and "its PyTorch environment does not exist" in item.text()
    assert "no-env, which does not exist" in item.toolTip() and "training_env.py create" in item.toolTip()
    buttons = [b.text() for b in item.findChildren(QPushButton)]
    assert "Create it…" in buttons
    dialog.environment_created()  # what the creation dialog's `created` does: the message goes
    assert dialog.environment_item is None
    assert all(entry is not item for entry in dialog.messageBar().items())


def test_the_finetune_dialog_says_nothing_when_the_environment_is_ready(finetune_dialog, training_python):
    assert finetune_dialog().environment_item is None


@pytest.mark.slow
def test_the_creation_dialog_makes_a_working_environment(qgis_app, training_python, tmp_path, monkeypatch):
    """Where `make train-env` could make one, the dialog does too: the CPU build, the self-test, `created`."""
    from s2cloudmask.ui.training_env_dialog import TrainingEnvDialog

    folder = tmp_path / "env"
    monkeypatch.setenv(training_env.ENV_VARIABLE, str(folder))
    dialog = TrainingEnvDialog()
    created = []
    dialog.created.connect(lambda: created.append(True))
    assert dialog.action_button.text() == "Create" and "--cuda" not in dialog.command_label.text()
    dialog.cuda.setChecked(True)
    assert "--cuda" in dialog.command_label.text()
    dialog.cuda.setChecked(False)
    dialog.start()
    wait_until(lambda: dialog.action_button.isEnabled() or created, timeout=1200)
    log = dialog.log.toPlainText()
    assert created == [True], log[-3000:]
    assert "Created, and the self-test passed" in dialog.summary.text()
    assert "step 4 of 4" in log and "ok: torch" in log
    assert training_env.is_ready(folder)
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no partial folder left
    dialog.deleteLater()
