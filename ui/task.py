"""The dock's background run: mask, SCL comparison and context views in a QgsTask.

The task calls the same engine functions as the Processing algorithms, so the
dock and the toolbox give the same mask for the same input. QGIS's task
manager shows it (with its own progress bar and cancel button) and QGIS stays
responsive because nothing here touches the GUI or the project: the dock turns
the outcome into layers once the task reports back on the main thread.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class CompanionPaths:
    """The files a run writes beside the mask, named after it so they sort together."""

    difference: str
    report: str
    true_colour: str
    scl_view: str

    def all_files(self, mask: str) -> list[Path]:
        """Every file a run with this mask may write, the mask first (the report's JSON included)."""
        report = Path(self.report)
        return [Path(p) for p in (mask, self.difference, self.report, report.with_suffix(".json"), self.true_colour, self.scl_view)]

    @classmethod
    def beside(cls, output: str) -> "CompanionPaths":
        mask = Path(output)
        stem = mask.with_suffix("")
        return cls(
            difference=f"{stem}_scl_difference.tif",
            report=f"{stem}_scl_report.html",
            true_colour=f"{stem}_truecolour.vrt",
            scl_view=f"{stem}_scl.vrt",
        )


@dataclass
class RunOutcome:
    """What a finished run produced, for the dock to show."""

    request: RunRequest
    mask: object  # inference.masking.engine.MaskResult
    comparison: object | None = None  # inference.comparing.compare.Comparison
    difference: str | None = None
    report: str | None = None
    true_colour: ContextView | None = None
    scl_view: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


class TaskFeedback:
    """The engine's Feedback protocol on a QgsTask: its progress, its cancel flag, the plugin's log.

    A run has several steps (mask, comparison); each maps its 0-100 onto its own
    share of the task's progress bar.
    """

    def __init__(self, task: "CloudMaskTask") -> None:
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
            PlgLogger().log(message, Qgis.Warning)


class CloudMaskTask(QgsTask):
    """Runs one RunRequest in the background; reports back through its signals on the main thread."""

    stageChanged = pyqtSignal(str)  # noqa: N815 (Qt's naming)
    succeeded = pyqtSignal(object)  # RunOutcome
    failed = pyqtSignal(str, str)  # message for the user, details for the log
    cancelledRun = pyqtSignal()  # noqa: N815

    def __init__(self, request: RunRequest) -> None:
        super().__init__(f"Cloud mask: {request.label}", QgsTask.CanCancel)
        self.request = request
        self.outcome: RunOutcome | None = None
        self.error: BaseException | None = None
        self.details = ""
        self._written: list[str] = []

    def run(self) -> bool:
        """True also for a cancelled run: cancelling is the user's choice, not a failure for the task manager."""
        try:
            self.outcome = self._run()
            return True
        except Cancelled as exc:
            self.error = exc
            self._remove_written()
            self.setDescription(f"{self.description()} (cancelled)")
            return True
        except CloudMaskError as exc:
            self.error = exc
            self.details = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must reach the log, not kill QGIS
            self.error = exc
            self.details = traceback.format_exc()
        self._remove_written()
        return False

    def _run(self) -> RunOutcome:
        request = self.request
        started = time.perf_counter()
        feedback = TaskFeedback(self)
        companions = CompanionPaths.beside(request.output)
        mask_share = 80.0 if request.scl else 95.0

        feedback.step(0.0, mask_share)
        if request.product is not None:
            mask = inference.mask_product(
                request.product,
                request.output,
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
                request.output,
                bands=request.bands,
                scale=request.scale,
                offset=request.offset,
                level=request.level,
                model=request.model,
                device=request.device,
                feedback=feedback,
                buffer=request.buffer,
            )
        self._written.append(mask.output)
        outcome = RunOutcome(request=request, mask=mask)

        if request.scl:
            feedback.step(mask_share, 95.0)
            outcome.comparison = inference.compare_with_scl(
                mask.output, request.scl, companions.difference, report=companions.report, feedback=feedback
            )
            self._written += [companions.difference, companions.report, str(Path(companions.report).with_suffix(".json"))]
            outcome.difference, outcome.report = companions.difference, companions.report

        feedback.step(95.0, 100.0)
        feedback.progress(0.0, "Preparing the map layers")
        check_cancelled(feedback)
        try:
            if request.product is not None:
                outcome.true_colour = inference.build_true_colour_view(request.product, mask.output, companions.true_colour)
                self._written.append(companions.true_colour)
            if request.scl:
                outcome.scl_view = inference.build_scl_view(request.scl, mask.output, companions.scl_view)
                self._written.append(companions.scl_view)
        except CloudMaskError as exc:  # context views help reading the mask; their absence must not cost it
            feedback.warn(f"The map shows the mask without its context view: {exc}")
        check_cancelled(feedback)
        feedback.progress(100.0, "Done")

        outcome.seconds = time.perf_counter() - started
        outcome.warnings = list(dict.fromkeys([*getattr(mask, "warnings", []), *feedback.warnings]))
        return outcome

    def _remove_written(self) -> None:
        """A cancelled or failed run leaves none of its files behind, finished or not."""
        for path in self._written:
            for candidate in (Path(path), Path(f"{path}.aux.xml")):
                with contextlib.suppress(OSError):
                    candidate.unlink()

    def finished(self, result: bool) -> None:  # noqa: FBT001 (QgsTask's signature)
        if result and self.outcome is not None:
            self.succeeded.emit(self.outcome)
        elif self.isCanceled() or isinstance(self.error, Cancelled):
            self._remove_written()  # the task manager may cancel before run() looked at the flag
            self.cancelledRun.emit()
        else:
            message = str(self.error) if isinstance(self.error, CloudMaskError) else (
                f"The run stopped on an unexpected error ({type(self.error).__name__}: {self.error}). "
                "Details are in the log panel; please report them."
            )
            self.failed.emit(message, self.details or message)
