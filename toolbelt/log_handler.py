"""One way to tell the user something: the QGIS message log, and the message bar when it matters now.

Every message of the plugin goes through `PlgLogger.log`, so each one is
logged exactly once under the plugin's tag, and a message-bar entry is never
a second, differently worded copy of a log line. Levels follow QGIS's meaning:
Info for a user's slip (a field left empty, a run already going), Warning for
a result that needs a second look, Critical only for a failure.
"""

from __future__ import annotations

from qgis.core import Qgis, QgsMessageLog

from ..__about__ import PLUGIN_NAME

# How long each level stays in the message bar, in seconds (0: until the user closes it).
BAR_DURATIONS = {Qgis.MessageLevel.Info: 6, Qgis.MessageLevel.Success: 8, Qgis.MessageLevel.Warning: 10, Qgis.MessageLevel.Critical: 0}


class PlgLogger:
    """Logs under the plugin's tag and, with push=True, shows the same text in the message bar."""

    def __init__(self, iface=None) -> None:
        self.iface = iface  # None (qgis_process, scripts): the log alone

    def log(
        self,
        message: str,
        level: Qgis.MessageLevel = Qgis.MessageLevel.Info,
        *,
        push: bool = False,
        details: str = "",
        duration: int | None = None,
    ) -> None:
        """Write `details` (or the message) to the log once; with push, show `message` in the message bar."""
        QgsMessageLog.logMessage(details or message, PLUGIN_NAME, level)
        bar = self.iface.messageBar() if push and self.iface is not None else None
        if bar is not None:
            bar.pushMessage(PLUGIN_NAME, message, level=level, duration=BAR_DURATIONS[level] if duration is None else duration)

    def bar(self, message: str, level: Qgis.MessageLevel = Qgis.MessageLevel.Info, duration: int | None = None) -> None:
        """The message bar only: for a message whose text is already in the log (a summary of logged notes)."""
        if self.iface is not None:
            self.iface.messageBar().pushMessage(
                PLUGIN_NAME, message, level=level, duration=BAR_DURATIONS[level] if duration is None else duration
            )
