"""s2cloudmask:maskmany through processing.run: local dask workers inside the algorithm, summary as a table."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from batch_helpers import corrupt_name, write_products
from conftest import RecordingFeedback
from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsVectorLayer,
    QgsWkbTypes,
)
from s2cloudmask.inference.batch.records import COLUMNS

PARAMETERS = ["PRODUCTS", "MODEL", "DEVICE", "RESOLUTION", "SHADOW_CHECK", "BUFFER", "COMPARE_SCL", "WORKERS",
              "OUTPUT_FOLDER", "SUMMARY"]
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


def test_masks_a_folder_on_local_workers_with_the_summary_as_a_table(processing, products, tmp_path):
    feedback = RecordingFeedback()
    context = QgsProcessingContext()
    out = tmp_path / "out"
    parameters = {"PRODUCTS": str(products), "RESOLUTION": "60", "WORKERS": 2, "OUTPUT_FOLDER": str(out),
                  "SUMMARY": "TEMPORARY_OUTPUT"}
    result = processing.run("s2cloudmask:maskmany", parameters, context=context, feedback=feedback)

    assert (result["PRODUCTS_DONE"], result["PRODUCTS_FAILED"], result["PRODUCTS_SKIPPED"]) == (2, 1, 0)
    assert len(list(out.glob("*_cloudmask.tif"))) == 2 and Path(result["SUMMARY_CSV"]).is_file()
    table = result["SUMMARY"] if isinstance(result["SUMMARY"], QgsVectorLayer) else \
        context.getMapLayer(result["SUMMARY"])
    assert table.wkbType() == QgsWkbTypes.NoGeometry and table.fields().names() == list(COLUMNS)
    rows = {f["product_id"]: f for f in table.getFeatures()}
    assert rows[corrupt_name(products)]["status"] == "failed" and "B02.jp2" in rows[corrupt_name(products)]["error"]
    assert sorted(f["status"] for f in rows.values()) == ["done", "done", "failed"]
    assert "3 product(s) in" in feedback.infos[0]
    assert feedback.progress_values and max(feedback.progress_values) == 100

    again = processing.run("s2cloudmask:maskmany", parameters, context=QgsProcessingContext(),
                           feedback=RecordingFeedback())
    assert (again["PRODUCTS_DONE"], again["PRODUCTS_SKIPPED"]) == (0, 2)


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

    again = processing.run("s2cloudmask:maskmany", parameters, context=QgsProcessingContext(),
                           feedback=RecordingFeedback())
    assert again["PRODUCTS_SKIPPED"] >= 1 and again["PRODUCTS_NOT_RUN"] == 0
    assert again["PRODUCTS_DONE"] + again["PRODUCTS_SKIPPED"] == 2
