"""s2cloudmask:maskmany through processing.run: local dask workers inside the algorithm, summary as a table."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from batch_helpers import corrupt_name, write_products
from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingException,
    QgsVectorLayer,
    QgsWkbTypes,
)
from recording_feedback import RecordingFeedback
from s2cloudmask.inference.batch.records import COLUMNS

PARAMETERS = ["PRODUCTS", "STAC_API", "COLLECTION", "EXTENT", "START", "END", "MAX_CLOUD", "MAX_ITEMS", "MODEL",
              "DEVICE", "RESOLUTION", "SHADOW_CHECK", "BUFFER", "COMPARE_SCL", "WORKERS", "OUTPUT_FOLDER", "SUMMARY"]
OUTPUTS = ["PRODUCTS_DONE", "PRODUCTS_SKIPPED", "PRODUCTS_FAILED", "PRODUCTS_NOT_RUN", "OUTPUT_FOLDER", "SUMMARY",
           "SUMMARY_CSV"]


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> Path:
    return write_products(tmp_path_factory.mktemp("maskmany") / "products", good=2)


def test_parameter_and_output_names_are_the_designed_ones(processing):
    alg = QgsApplication.processingRegistry().algorithmById("s2cloudmask:maskmany")
    assert [p.name() for p in alg.parameterDefinitions()] == PARAMETERS
    assert sorted(o.name() for o in alg.outputDefinitions()) == sorted(OUTPUTS)
    for name in PARAMETERS:
        assert name in alg.shortHelpString()


def test_masks_a_folder_on_local_workers_and_fails_as_a_product_failed(processing, products, tmp_path):
    """A failed product fails the algorithm (qgis_process exits 1, as make batch does), with the summary written;
    a rerun over the good products skips them and returns the summary as a table."""
    feedback = RecordingFeedback()
    out = tmp_path / "out"
    parameters = {"PRODUCTS": str(products), "RESOLUTION": "60", "WORKERS": 2, "OUTPUT_FOLDER": str(out),
                  "SUMMARY": "TEMPORARY_OUTPUT"}
    with pytest.raises(QgsProcessingException) as raised:
        processing.run("s2cloudmask:maskmany", parameters, context=QgsProcessingContext(), feedback=feedback)
    message = str(raised.value)
    assert "1 of 3 product(s) failed" in message and corrupt_name(products) in message
    assert str(out / "summary.csv") in message and "Traceback" not in message
    with (out / "summary.csv").open(encoding="utf-8") as stream:
        statuses = {row["product_id"]: row["status"] for row in csv.DictReader(stream)}
    assert statuses.pop(corrupt_name(products)) == "failed" and sorted(statuses.values()) == ["done", "done"]
    assert len(list(out.glob("*_cloudmask.tif"))) == 2
    assert "3 product(s) in" in feedback.infos[0]
    assert feedback.progress_values and max(feedback.progress_values) == 100

    good = tmp_path / "good.txt"
    good.write_text("\n".join(str(p) for p in sorted(products.iterdir()) if p.name != corrupt_name(products) + ".SAFE"))
    context = QgsProcessingContext()
    again = processing.run("s2cloudmask:maskmany", dict(parameters, PRODUCTS=str(good)), context=context,
                           feedback=RecordingFeedback())
    assert (again["PRODUCTS_DONE"], again["PRODUCTS_SKIPPED"], again["PRODUCTS_FAILED"]) == (0, 2, 0)
    assert Path(again["SUMMARY_CSV"]).is_file()
    table = again["SUMMARY"] if isinstance(again["SUMMARY"], QgsVectorLayer) else \
        context.getMapLayer(again["SUMMARY"])
    assert table.wkbType() == QgsWkbTypes.NoGeometry and table.fields().names() == list(COLUMNS)
    assert sorted(f["status"] for f in table.getFeatures()) == ["skipped", "skipped"]


@pytest.mark.slow
def test_in_a_background_task_cancel_stops_the_run_and_a_rerun_finishes_it(processing, products, tmp_path):
    """As the toolbox runs it: a QgsProcessingAlgRunnerTask in QGIS's task manager; Cancel is the task's."""
    alg = QgsApplication.processingRegistry().createAlgorithmById("s2cloudmask:maskmany")
    parameters = {"PRODUCTS": str(products), "RESOLUTION": "60", "WORKERS": 2, "OUTPUT_FOLDER": str(tmp_path),
                  "SUMMARY": "TEMPORARY_OUTPUT"}
    context, feedback = QgsProcessingContext(), RecordingFeedback()
    task = QgsProcessingAlgRunnerTask(alg, parameters, context, feedback)
    finished: list[bool] = []
    task.executed.connect(lambda ok, results: finished.append(ok))
    QgsApplication.taskManager().addTask(task)
    deadline = time.monotonic() + 240
    while not finished and time.monotonic() < deadline:
        if not feedback.isCanceled() and any('"status": "done"' in record.read_text()
                                             for record in tmp_path.glob("records/*.json")):
            task.cancel()  # a product is done: press Cancel
        QgsApplication.processEvents()
        time.sleep(0.02)
    assert finished == [False] and (tmp_path / "summary.csv").is_file()

    with pytest.raises(QgsProcessingException, match=r"1 of 3 product\(s\) failed and 0 did not run"):
        processing.run("s2cloudmask:maskmany", parameters, context=QgsProcessingContext(),
                       feedback=RecordingFeedback())  # the corrupt product fails again
    with (tmp_path / "summary.csv").open(encoding="utf-8") as stream:
        statuses = [row["status"] for row in csv.DictReader(stream)]
    assert statuses.count("skipped") >= 1 and statuses.count("done") + statuses.count("skipped") == 2
