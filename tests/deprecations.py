"""Which recorded warnings are deprecations raised in the plugin's own code: the suite fails a test on them
(tests/conftest.py), and tests/engine/test_warnings.py holds the rule itself."""

from __future__ import annotations

import warnings
from pathlib import Path

from tests.sandbox_env import REPO

DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def plugin_deprecations(caught: list[warnings.WarningMessage]) -> list[str]:
    """The deprecations (and GDAL's FutureWarning) raised in the plugin's own code, not in its tests."""
    return [
        f"{path.relative_to(REPO)}:{warning.lineno}: {warning.category.__name__}: {warning.message}"
        for warning in caught
        if issubclass(warning.category, DEPRECATIONS)
        and (path := Path(warning.filename).resolve()).is_relative_to(REPO)
        and not path.is_relative_to(REPO / "tests")
    ]
