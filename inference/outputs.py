"""Writing outputs so that nothing half-written ever looks finished.

Every output is written under a temporary name in its target folder and moved
into place only when complete; a failure or a cancellation removes the
temporary files. GDAL side-cars (.aux.xml with category names, .ovr) move with
their file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError

SIDECAR_SUFFIXES = (".aux.xml", ".ovr", ".msk")


def check_writable(path: str | Path) -> Path:
    """Fail early, before any heavy work, when the output cannot be written."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"The output {target} is a folder; give a file name such as {target / 'mask.tif'}.")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"The output folder {folder} does not exist; create it or choose another output file.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"The output folder {folder} is not writable; choose another output file for {target.name}.")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"The output {target} exists and cannot be overwritten; choose another file name.")
    return target


def _remove(path: Path) -> None:
    for candidate in (path, *(Path(str(path) + suffix) for suffix in SIDECAR_SUFFIXES)):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it (and its side-cars) into place on success."""
    target = check_writable(path)
    temporary = target.with_name(f".{target.stem}.partial-{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    try:
        _remove(target)
        for suffix in SIDECAR_SUFFIXES:
            sidecar = Path(str(temporary) + suffix)
            if sidecar.exists():
                os.replace(sidecar, str(target) + suffix)
        os.replace(temporary, target)
    except OSError as exc:
        _remove(temporary)
        raise OutputError(f"Could not move the finished output into place at {target}: {exc}") from exc
