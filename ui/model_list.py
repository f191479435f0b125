"""The dock's model list: 'auto' and the fine-tuned models this user has made, offered in the model field."""

from __future__ import annotations

from qgis.PyQt.QtCore import QEvent, QObject, QStringListModel, Qt
from qgis.PyQt.QtWidgets import QCompleter, QLineEdit

from ..inference.training.published import published_models


class ModelList(QCompleter):
    """Completes the model field from the list, refreshed each time the field gets focus (a run may have added one)."""

    def __init__(self, line_edit: QLineEdit) -> None:
        super().__init__(line_edit)
        self.entries_model = QStringListModel(self)  # parented, so Python does not collect it under the completer
        self.setModel(self.entries_model)
        self.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterMode(Qt.MatchFlag.MatchContains)
        self.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.refresh()
        line_edit.setCompleter(self)
        line_edit.installEventFilter(self)

    def entries(self) -> list[str]:
        return ["auto", *(str(path) for path in published_models())]

    def refresh(self) -> None:
        self.entries_model.setStringList(self.entries())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.FocusIn:
            self.refresh()
        return False
