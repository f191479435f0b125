"""Progress, cancellation and warnings as plain callbacks.

The engine never calls back into QGIS; Processing's QgsProcessingFeedback and
the dock's QgsTask adapt themselves to this small protocol instead.
"""

from __future__ import annotations

from typing import Protocol

from .errors import Cancelled


class Feedback(Protocol):
    def progress(self, percent: float, stage: str) -> None:
        """percent in 0-100 of the whole run; stage is a short human text ("Reading bands")."""

    def is_cancelled(self) -> bool: ...

    def warn(self, message: str) -> None:
        """Something the user should know that does not stop the run."""


class SilentFeedback:
    """Feedback for scripts and tests that want none; collects warnings for inspection."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def progress(self, percent: float, stage: str) -> None:
        pass

    def is_cancelled(self) -> bool:
        return False

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def check_cancelled(feedback: Feedback) -> None:
    """Raise Cancelled if the user asked to stop; call between units of work."""
    if feedback.is_cancelled():
        raise Cancelled("The run was cancelled; no output was written.")
