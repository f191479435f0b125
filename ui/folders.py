"""Where the dock writes: folders a user finds again, never the system's temp folder.

QGIS treats layers in the temp folder as temporary, and the files vanish with
it, so a saved project would point at nothing. Outputs go beside their input,
else into the folder the user saved to last, else into the project's home.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..inference.reading.paths import is_url


def accepts_output(folder: Path | None) -> bool:
    """A folder we may write into: writable, and not marked read-only (which root would otherwise ignore)."""
    if folder is None or not str(folder):
        return False
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(folder, os.W_OK | os.X_OK)


def first_writable(*candidates: Path | str | None) -> Path | None:
    """The first candidate folder that accepts_output(); None when none does."""
    folders = (Path(candidate) if candidate else None for candidate in candidates)
    return next((folder for folder in folders if accepts_output(folder)), None)


def folder_holding_product(path: str | Path) -> Path | None:
    """The folder holding the input: the .SAFE's parent (also for an MTD xml inside it), a .zip's or a raster's folder;
    None for a STAC item's URL (nothing of it is on this disk)."""
    if is_url(path):
        return None
    candidate = Path(path).resolve()
    if candidate.is_file() and candidate.name.upper().startswith(("MTD_MSIL", "MANIFEST")):
        candidate = candidate.parent
    return candidate.parent
