"""The pin files and how their lines are read: one reader for every requirements file of the plugin."""

from __future__ import annotations

import re
from pathlib import Path

from . import PLUGIN_DIR

REQUIREMENTS = PLUGIN_DIR / "resources" / "requirements.txt"
IF_MISSING_REQUIREMENTS = PLUGIN_DIR / "resources" / "requirements-if-missing.txt"  # where QGIS lacks them

# distribution names whose import name differs from the name with "-" as "_"
IMPORT_NAMES: dict[str, str] = {"attrs": "attr", "click-plugins": "click_plugins"}


def requirement_lines(path: Path = REQUIREMENTS) -> list[str]:
    """The requirement lines of a pin file, comments and blank lines left out."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def distribution_name(line: str) -> str:
    return re.split(r"[=<>!~;\[ ]", line, maxsplit=1)[0].strip()


def import_name(distribution: str) -> str:
    return IMPORT_NAMES.get(distribution, distribution.replace("-", "_"))
