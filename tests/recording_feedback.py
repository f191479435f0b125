"""A real QgsProcessingFeedback that keeps what it is told: the QGIS room's tests read progress, stages and warnings
from it, and it cancels at a given percentage as the dialog's Cancel button would."""

from __future__ import annotations

from qgis.core import QgsProcessingFeedback


class RecordingFeedback(QgsProcessingFeedback):
    """A real QgsProcessingFeedback that also keeps what it was told, as the dialog's log would show it."""

    def __init__(self, cancel_at: float | None = None) -> None:
        super().__init__()
        self.stages: list[str] = []
        self.warnings: list[str] = []
        self.infos: list[str] = []
        self.progress_values: list[float] = []
        self.progressChanged.connect(self._on_progress)
        self._cancel_at = cancel_at

    def _on_progress(self, value: float) -> None:
        self.progress_values.append(value)
        if self._cancel_at is not None and value >= self._cancel_at:
            self.cancel()

    def setProgressText(self, text: str) -> None:  # noqa: N802
        self.stages.append(text)
        super().setProgressText(text)

    def pushWarning(self, warning: str) -> None:  # noqa: N802
        self.warnings.append(warning)
        super().pushWarning(warning)

    def pushInfo(self, info: str) -> None:  # noqa: N802
        self.infos.append(info)
        super().pushInfo(info)
