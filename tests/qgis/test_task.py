"""The dock's background run (ui/task.py) in QGIS's real task manager, on the real T29UNU product."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from qgis.core import QgsApplication
from s2cloudmask.inference.classes import MASK_CODES
from s2cloudmask.inference.reading import product as product_module
from s2cloudmask.inference.reading.product import open_product
from s2cloudmask.ui.run_files import UNFINISHED_MARK, CompanionPaths
from s2cloudmask.ui.task import CloudMaskTask, RunRequest, TaskFeedback, publish

from tests.real_product import LARGE_WINDOW, STACK_BANDS, write_band_stack


class Watcher:
    """Collects a task's signals; the task object itself is deleted by the task manager once it ends."""

    def __init__(self, task: CloudMaskTask) -> None:
        self.progress: list[float] = []
        self.stages: list[str] = []
        self.outcome = None
        self.failure: tuple[str, str] | None = None
        self.cancelled = False
        task.progressChanged.connect(self.progress.append)
        task.stageChanged.connect(self.stages.append)
        task.succeeded.connect(lambda outcome: setattr(self, "outcome", outcome))
        task.failed.connect(lambda message, details: setattr(self, "failure", (message, details)))
        task.cancelledRun.connect(lambda: setattr(self, "cancelled", True))

    @property
    def done(self) -> bool:
        return self.outcome is not None or self.failure is not None or self.cancelled

    def wait(self, timeout: float = 240.0, until=None) -> None:
        until = until or (lambda: self.done)
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            QgsApplication.processEvents()
            time.sleep(0.02)
        assert until(), f"the task did not get there within {timeout} s (stages seen: {self.stages})"


def start(request: RunRequest) -> tuple[CloudMaskTask, Watcher]:
    task = CloudMaskTask(request)
    watcher = Watcher(task)
    QgsApplication.taskManager().addTask(task)
    return task, watcher


@pytest.fixture
def band_stack(real_l2a: Path, tmp_path: Path) -> Path:
    """A six-band raster of real L2A digital numbers (the product's 60 m JP2s), cut to LARGE_WINDOW."""
    return write_band_stack(real_l2a, STACK_BANDS, tmp_path / "stack.vrt", LARGE_WINDOW)


def test_product_run_writes_mask_comparison_and_context_views(
    qgis_app, real_l2a: Path, tmp_path: Path, monkeypatch
) -> None:
    output = tmp_path / "mask.tif"
    product = open_product(real_l2a)  # as the dock passes it: opened once, read by every step
    reopened: list[str] = []
    monkeypatch.setattr(product_module, "open_product", lambda path: reopened.append(str(path)) or open_product(path))
    request = RunRequest(
        label="T29UNU window", output=str(output), product=product, resolution=60,
        extent=(*LARGE_WINDOW, "EPSG:32629"), scl=product,
    )
    task, watcher = start(request)
    assert task.description() == "Cloud mask: T29UNU window"
    watcher.wait()
    assert watcher.failure is None, watcher.failure
    assert reopened == []  # mask, comparison and both context views read the product the dock opened
    outcome = watcher.outcome
    # until the dock publishes them, the files wait in the run's hidden folder under their final names
    assert not output.exists() and [path.name for path in tmp_path.iterdir()] == [outcome.staging.name]
    assert UNFINISHED_MARK in outcome.staging.name and outcome.staging.name.startswith(".")
    staged = {path.name for path in outcome.staging.iterdir() if not path.name.endswith(".aux.xml")}
    assert staged == {Path(path).name for path in outcome.written()}
    publish(outcome)
    assert outcome.staging is None and not any(UNFINISHED_MARK in path.name for path in tmp_path.iterdir())

    assert outcome.mask.device_used == "CPU"
    assert set(outcome.mask.class_percentages) <= set(MASK_CODES)
    assert sum(outcome.mask.class_percentages.values()) == pytest.approx(100.0, abs=0.1)
    with rasterio.open(output) as mask:
        assert mask.crs.to_epsg() == 32629
        assert tuple(mask.bounds) == pytest.approx(LARGE_WINDOW)
        codes = np.unique(mask.read(1))
    assert {1, 4} <= set(codes.tolist()) <= {0, *MASK_CODES}

    companions = CompanionPaths.beside(str(output))
    assert outcome.difference == companions.difference and Path(companions.difference).is_file()
    assert outcome.report == companions.report and Path(companions.report).is_file()
    assert outcome.comparison.report == companions.report
    assert Path(f"{output}.aux.xml").is_file()  # the side-cars came along
    report = Path(companions.report).read_text()
    assert str(output) in report and UNFINISHED_MARK not in report  # the report names the files by their names
    assert 0.3 < outcome.comparison.overall_agreement <= 1.0
    assert outcome.comparison.matrix.shape == (4, 8)

    with rasterio.open(outcome.true_colour.path) as true_colour:
        assert true_colour.count == 3
        assert tuple(true_colour.bounds) == pytest.approx(LARGE_WINDOW)
        rgb = true_colour.read()
    assert rgb.max() > outcome.true_colour.minimum  # real reflectance, not an empty view
    # BOA_ADD_OFFSET -1000, quantification 10000: reflectance 0 and 0.25 as digital numbers
    assert (outcome.true_colour.minimum, outcome.true_colour.maximum) == (1000.0, 3500.0)
    with rasterio.open(outcome.scl_view) as scl:
        assert tuple(scl.bounds) == pytest.approx(LARGE_WINDOW, abs=20)
        assert set(np.unique(scl.read(1)).tolist()) <= set(range(12))
    for view in (outcome.true_colour.path, outcome.scl_view):
        assert Path(view).parent == tmp_path  # beside the mask, never inside the product

    assert watcher.progress == sorted(watcher.progress), "progress never runs backwards"
    assert watcher.progress[-1] == pytest.approx(100.0)
    assert "Comparing" in watcher.stages and watcher.stages[-1] == "Done"
    assert outcome.seconds > 0


def test_raster_run_masks_a_band_stack_and_compares_with_an_scl_file(qgis_app, real_l2a: Path, band_stack: Path, tmp_path: Path) -> None:
    output = tmp_path / "stack_mask.tif"
    scl = next((real_l2a / "GRANULE").glob("*/IMG_DATA/R60m/*_SCL_60m.jp2"))
    request = RunRequest(
        label="stack", output=str(output), raster=str(band_stack),
        bands={"blue": 1, "green": 2, "red": 3, "nir": 4, "swir16": 5, "swir22": 6},
        scale=0.0001, offset=-0.1, level="l2a", scl=str(scl),
    )
    _, watcher = start(request)
    watcher.wait()
    assert watcher.failure is None, watcher.failure
    outcome = watcher.outcome
    publish(outcome)
    assert outcome.true_colour is None  # a raster layer is its own context
    with rasterio.open(output) as mask, rasterio.open(band_stack) as stack:
        assert (mask.width, mask.height, mask.transform) == (stack.width, stack.height, stack.transform)
    assert outcome.comparison.reference_kind == "scl_raster"
    assert outcome.comparison.compared_pixels > 0.9 * 250 * 250
    assert any("cirrus" in warning for warning in outcome.warnings)  # class 3 absent, and the run says why


def test_failure_reaches_the_user_in_words(qgis_app, tmp_path: Path) -> None:
    missing = tmp_path / "S2B_MSIL2A_20230101T000000_N0509_R000_T00XXX_20230101T000000.SAFE"
    _, watcher = start(RunRequest(label="missing", output=str(tmp_path / "mask.tif"), product=str(missing)))
    watcher.wait(timeout=60)
    message, details = watcher.failure
    assert str(missing) in message
    assert "Traceback" not in message
    assert not any(tmp_path.iterdir())


def test_cancel_midway_leaves_no_output(qgis_app, real_l2a: Path, tmp_path: Path) -> None:
    output = tmp_path / "cancelled.tif"
    request = RunRequest(label="whole tile", output=str(output), product=str(real_l2a), resolution=20, scl=str(real_l2a))
    task, watcher = start(request)
    watcher.wait(timeout=120, until=lambda: watcher.done or (watcher.progress and watcher.progress[-1] > 1.0))
    assert not watcher.done, "the whole tile finished before it could be cancelled"
    task.cancel()
    watcher.wait(timeout=120)
    assert watcher.cancelled and watcher.outcome is None
    assert list(tmp_path.iterdir()) == []  # neither the mask nor a partial file nor a companion


def test_feedback_maps_each_step_onto_its_share_of_the_task(qgis_app) -> None:
    task = CloudMaskTask(RunRequest(label="shares", output="unused.tif"))
    stages: list[str] = []
    task.stageChanged.connect(stages.append)
    feedback = TaskFeedback(task).step(80.0, 95.0)
    feedback.progress(50.0, "Comparing")
    assert task.progress() == pytest.approx(87.5)
    feedback.progress(150.0, "Comparing")
    assert task.progress() == pytest.approx(95.0)
    assert stages == ["Comparing"]  # a repeated stage is not re-announced
    assert not feedback.is_cancelled()
    task.cancel()
    assert feedback.is_cancelled()
