"""Waiting in a QGIS test for what runs on Qt's event loop (a QgsTask, a QProcess): the one way to do it."""

from __future__ import annotations

import time

from qgis.core import QgsApplication


def wait_until(condition, timeout: float = 240.0) -> None:
    """Process Qt's events until `condition()` holds; fail the test when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        QgsApplication.processEvents()
        time.sleep(0.02)
    assert condition(), f"not reached within {timeout} s"
