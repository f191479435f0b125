"""The dock's background run: mask, SCL comparison and context views in a QgsTask.

The task calls the same engine functions as the Processing algorithms, so the
dock and the toolbox give the same mask for the same input. QGIS's task
manager shows it (with its own progress bar and cancel button) and QGIS stays
responsive because nothing here touches the GUI or the project: the dock turns
the outcome into layers once the task reports back on the main thread.

The task writes into a hidden folder beside the mask (ui/run_files.py); the
outcome already carries the names the files will have, and publish() gives
them those names once the dock has taken the earlier run's layers off them.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from qgis.core import Qgis, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .. import inference
from ..inference.defaults import (
    DEFAULT_BUFFER,
    DEFAULT_LEVEL,
    DEFAULT_OFFSET,
    DEFAULT_RESOLUTION,
    DEFAULT_SCALE,
    DEFAULT_SHADOW_CHECK,
)
from ..inference.errors import Cancelled, CloudMaskError
from ..inference.feedback import check_cancelled
from ..toolbelt.log_handler import PlgLogger
from .run_files import CompanionPaths, discard, make_staging_folder, replace_together, staged

if TYPE_CHECKING:  # the reader needs rasterio; this module must load without it
    from ..inference.reading.context_views import ContextView
    from ..inference.reading.product import Product

Extent = tuple[float, float, float, float, str]


@dataclass(frozen=True)
class RunRequest:
    """Everything one run needs, gathered from the dock on the main thread."""

    label: str  # product id or layer name: the task's description and the layer group's name
    output: str
    product: Product | str | None = None  # the product the dock opened (passed to every step, never reopened), or a path ...
    raster: str | None = None  # ... or a GDAL raster with Sentinel-2 bands
    bands: dict[str, int] = field(default_factory=dict)
    scale: float = DEFAULT_SCALE
    offset: float = DEFAULT_OFFSET
    level: str = DEFAULT_LEVEL
    model: str = "auto"
    device: str = "auto"
    resolution: int = DEFAULT_RESOLUTION
    extent: Extent | None = None
    shadow_check: bool = DEFAULT_SHADOW_CHECK  # products only: a raster has no sun angles in the dock
    buffer: float = DEFAULT_BUFFER  # metres around cloud, semi-transparent cloud and shadow
    scl: str | Product | None = None  # an L2A product (opened, or its path) or an SCL raster; None: no comparison


@dataclass
class RunOutcome:
    """What a finished run produced, for the dock to show: every path is the file's final name."""

    request: RunRequest
    mask: object  # inference.masking.engine.MaskResult
    comparison: object | None = None  # inference.comparing.compare.Comparison
    difference: str | None = None
    report: str | None = None  # written by publish(), once the difference raster has its name
    true_colour: ContextView | None = None
    scl_view: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    staging: Path | None = None  # the hidden folder holding the files until publish()

    def written(self) -> list[str]:
        """The files the run wrote, by their final names, the mask first."""
        views = [self.true_colour.path if self.true_colour else None, self.scl_view]
        return [path for path in (self.mask.output, self.difference, *views) if path]


def publish(outcome: RunOutcome) -> None:
    """Give a finished run's files their names, replacing the earlier run's files there, then write its report.

    The earlier run's layers must be off the map before (ReleasedLayers). An
    OutputError means nothing changed: the earlier files are as they were and
    the new ones are gone. A report that cannot be written only becomes a note.
    """
    request = outcome.request
    try:
        replace_together([(staged(outcome.staging, path), Path(path)) for path in outcome.written()],
                         retire=CompanionPaths.beside(request.output).all_files(request.output))
    finally:
        discard(outcome.staging)
        outcome.staging = None
    if outcome.comparison is not None and outcome.report:
        try:
            inference.write_report(outcome.comparison, outcome.report, difference_raster=outcome.difference)
            outcome.comparison = replace(outcome.comparison, report=outcome.report)
        except CloudMaskError as exc:
            outcome.warnings.append(f"The run's report could not be written: {exc}")
            outcome.report = None


class TaskFeedback:
    """The engine's Feedback protocol on a QgsTask: its progress, its cancel flag, the plugin's log.

    A run has several steps (mask, comparison); each maps its 0-100 onto its own
    share of the task's progress bar.
    """

    def __init__(self, task: "EngineTask") -> None:
        self._task = task
        self._low, self._high = 0.0, 100.0
        self._stage = ""
        self.warnings: list[str] = []

    def step(self, low: float, high: float) -> "TaskFeedback":
        self._low, self._high = low, high
        self.progress(0.0, self._stage)
        return self

    def progress(self, percent: float, stage: str) -> None:
        percent = max(0.0, min(100.0, float(percent)))
        self._task.setProgress(self._low + (self._high - self._low) * percent / 100.0)
        if stage and stage != self._stage:
            self._stage = stage
            self._task.stageChanged.emit(stage)

    def is_cancelled(self) -> bool:
        return self._task.isCanceled()

    def warn(self, message: str) -> None:
        """Logged as it happens (once: the dock shows the list but does not log it again)."""
        if message not in self.warnings:
            self.warnings.append(message)
            PlgLogger().log(message, Qgis.MessageLevel.Warning)


class EngineTask(QgsTask):
    """One engine call in the background (`_run`); reports back through its signals on the main thread."""

    stageChanged = pyqtSignal(str)  # noqa: N815 (Qt's naming)
    succeeded = pyqtSignal(object)  # what _run returned
    failed = pyqtSignal(str, str)  # message for the user, details for the log
    cancelledRun = pyqtSignal()  # noqa: N815
    what = "The run"  # how the failure message names the work

    def __init__(self, description: str) -> None:
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.outcome: object | None = None
        self.error: BaseException | None = None
        self.details = ""

    def run(self) -> bool:
        """True also for a cancelled run: cancelling is the user's choice, not a failure for the task manager."""
        try:
            self.outcome = self._run()
            return True
        except Cancelled as exc:
            self.error = exc
            self._discard()
            self.setDescription(f"{self.description()} (cancelled)")
            return True
        except CloudMaskError as exc:
            self.error = exc
            self.details = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must reach the log, not kill QGIS
            self.error = exc
            self.details = traceback.format_exc()
        self._discard()
        return False

    def _run(self) -> object:
        raise NotImplementedError

    def _discard(self) -> None:
        """What a cancelled or failed run must not leave behind (the engine's own outputs are atomic)."""

    def finished(self, result: bool) -> None:  # noqa: FBT001 (QgsTask's signature)
        if result and self.outcome is not None:
            self.succeeded.emit(self.outcome)
        elif self.isCanceled() or isinstance(self.error, Cancelled):
            self._discard()  # the task manager may cancel before run() looked at the flag
            self.cancelledRun.emit()
        else:
            message = str(self.error) if isinstance(self.error, CloudMaskError) else (
                f"{self.what} stopped on an unexpected error ({type(self.error).__name__}: {self.error}). "
                "Details are in the log panel; please report them."
            )
            self.failed.emit(message, self.details or message)


class CloudMaskTask(EngineTask):
    """Runs one RunRequest in the background: mask, comparison, context views (a RunOutcome)."""

    def __init__(self, request: RunRequest) -> None:
        super().__init__(f"Cloud mask: {request.label}")
        self.request = request
        self.staging: Path | None = None  # the hidden folder the run writes into (ui/run_files.py)

    def _run(self) -> RunOutcome:
        request = self.request
        started = time.perf_counter()
        feedback = TaskFeedback(self)
        companions = CompanionPaths.beside(request.output)
        mask_share = 80.0 if request.scl else 95.0
        self.staging = make_staging_folder(request.output)
        mask_file = str(staged(self.staging, request.output))

        feedback.step(0.0, mask_share)
        if request.product is not None:
            mask = inference.mask_product(
                request.product,
                mask_file,
                model=request.model,
                device=request.device,
                resolution=request.resolution,
                extent=request.extent,
                feedback=feedback,
                shadow_check=request.shadow_check,
                buffer=request.buffer,
            )
        else:
            mask = inference.mask_raster(
                request.raster,
                mask_file,
                bands=request.bands,
                scale=request.scale,
                offset=request.offset,
                level=request.level,
                model=request.model,
                device=request.device,
                feedback=feedback,
                buffer=request.buffer,
            )
        outcome = RunOutcome(request=request, mask=replace(mask, output=request.output), staging=self.staging)

        if request.scl:
            feedback.step(mask_share, 95.0)
            comparison = inference.compare_with_scl(
                mask_file, request.scl, str(staged(self.staging, companions.difference)), feedback=feedback
            )
            outcome.comparison = replace(comparison, mask=request.output, output=companions.difference)
            outcome.difference, outcome.report = companions.difference, companions.report

        feedback.step(95.0, 100.0)
        feedback.progress(0.0, "Preparing the map layers")
        check_cancelled(feedback)
        try:
            if request.product is not None:
                view = inference.build_true_colour_view(request.product, mask_file,
                                                        str(staged(self.staging, companions.true_colour)))
                outcome.true_colour = view and replace(view, path=companions.true_colour)
            if request.scl:
                inference.build_scl_view(request.scl, mask_file, str(staged(self.staging, companions.scl_view)))
                outcome.scl_view = companions.scl_view
        except CloudMaskError as exc:  # context views help reading the mask; their absence must not cost it
            feedback.warn(f"The map shows the mask without its context view: {exc}")
        check_cancelled(feedback)
        feedback.progress(100.0, "Done")

        outcome.seconds = time.perf_counter() - started
        outcome.warnings = list(dict.fromkeys([*getattr(mask, "warnings", []), *feedback.warnings]))
        return outcome

    def _discard(self) -> None:
        """A cancelled or failed run leaves none of its files behind, finished or not."""
        discard(self.staging)
        self.staging = None

