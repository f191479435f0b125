"""Progress, cancellation and warnings as plain callbacks.

The engine never calls back into QGIS; Processing's QgsProcessingFeedback and
the dock's QgsTask adapt themselves to this small protocol instead. Scripts and
the command lines (the batch runner, make demo, make finetune) use
ConsoleFeedback.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO

from .errors import Cancelled, CloudMaskError


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


class ConsoleFeedback:
    """A progress bar on one rewritten line in a terminal; one line per stage in a log file.

    `keep(stage)` names stages worth a line of their own in a terminal too (a
    finished epoch's losses), so they stay on screen above the bar.
    """

    def __init__(self, stream: TextIO | None = None, keep: Callable[[str], bool] | None = None) -> None:
        self._stream = stream or sys.stderr
        self._interactive = self._stream.isatty()
        self._keep = keep or (lambda stage: False)
        self._started = time.monotonic()
        self._bar = ""  # the text on the open bar line, "" when none is open
        self._stage = ""

    def progress(self, percent: float, stage: str) -> None:
        elapsed = time.monotonic() - self._started
        if self._interactive and not self._keep(stage):
            width = max(10, min(40, shutil.get_terminal_size().columns - len(stage) - 20))
            filled = int(width * percent / 100)
            line = f"\r[{'#' * filled}{'.' * (width - filled)}] {percent:3.0f} % {stage} ({elapsed:.0f} s)"
            self._stream.write(line.ljust(len(self._bar)))
            self._bar = line
        elif stage != self._stage:
            self.end_line()
            self._stream.write(f"[{percent:3.0f} %] {stage} ({elapsed:.0f} s)\n")
        self._stage = stage
        self._stream.flush()

    def is_cancelled(self) -> bool:
        return False

    def warn(self, message: str) -> None:
        self.end_line()
        self._stream.write(f"note: {message}\n")

    def end_line(self) -> None:
        """Close the bar's line, so the next text starts on a line of its own."""
        if self._bar:
            self._stream.write("\n")
            self._bar = ""


class Notices:
    """Feedback that passes everything on and keeps each warning once: the user hears it at once, and the run's
    result lists it."""

    def __init__(self, feedback: Feedback):
        self.feedback = feedback
        self.messages: list[str] = []

    def warn(self, message: str) -> None:
        if message not in self.messages:
            self.messages.append(message)
            self.feedback.warn(message)

    def progress(self, percent: float, stage: str) -> None:
        self.feedback.progress(percent, stage)

    def is_cancelled(self) -> bool:
        return self.feedback.is_cancelled()


class Share:
    """One step's feedback as a share of a whole run's: its 0-100 % fill [start, end] of the run's bar, its
    stages prefixed with what the step is; cancel and warnings pass through."""

    def __init__(self, feedback: Feedback, start: float, end: float, prefix: str):
        self.feedback, self.start, self.end, self.prefix = feedback, start, end, prefix

    def progress(self, percent: float, stage: str) -> None:
        self.feedback.progress(self.start + (self.end - self.start) * percent / 100.0, f"{self.prefix}{stage}")

    def is_cancelled(self) -> bool:
        return self.feedback.is_cancelled()

    def warn(self, message: str) -> None:
        self.feedback.warn(message)


def check_cancelled(feedback: Feedback) -> None:
    """Raise Cancelled if the user asked to stop; call between units of work."""
    if feedback.is_cancelled():
        raise Cancelled("The run was cancelled; no output was written.")


class ConsoleRun:
    """A command line's work under its progress bar, as a `with` block: the bar's line is closed however the work
    ends, and an interrupt or an engine error becomes one line on stderr and an exit code (`.code`) instead of a
    traceback. Anything else is a bug and goes up as it is."""

    def __init__(self, bar: ConsoleFeedback, interrupted: str, interrupted_code: int) -> None:
        self.bar = bar
        self.interrupted = interrupted
        self.interrupted_code = interrupted_code
        self.code: int | None = None

    def __enter__(self) -> "ConsoleRun":
        return self

    def __exit__(self, kind, error, trace) -> bool:
        self.bar.end_line()
        if kind is KeyboardInterrupt:
            print(self.interrupted, file=sys.stderr)
            self.code = self.interrupted_code
        elif kind is not None and issubclass(kind, (Cancelled, CloudMaskError)):
            print(f"error: {error}", file=sys.stderr)
            self.code = 2
        return self.code is not None
