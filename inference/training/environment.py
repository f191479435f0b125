"""The training environment: a virtual environment with PyTorch, kept apart from QGIS's Python.

QGIS must never load PyTorch (hundreds of MB, its own OpenMP and numpy), so
fine-tuning runs `python -m trainer` with this environment's interpreter. It is
made once by `make train-env` (or the command `creation_command()` returns)
from the pins in resources/requirements-train.txt, and marked complete by a
file holding those pins, so changing a pin asks for a rebuild.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..about import TRAINING_ENV_DIR, TRAINING_REQUIREMENTS
from ..errors import DependencyError

COMPLETE_MARKER = ".complete"


def pins() -> list[str]:
    lines = TRAINING_REQUIREMENTS.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def environment_dir() -> Path:
    """Where the environment lives; S2CLOUDMASK_TRAIN_ENV points elsewhere (e.g. a shared, prepared one)."""
    return Path(os.environ.get("S2CLOUDMASK_TRAIN_ENV", str(TRAINING_ENV_DIR)))


def interpreter(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def creation_command(folder: Path | None = None) -> str:
    folder = folder or environment_dir()
    return (f"python3 -m venv {folder} && {interpreter(folder)} -m pip install -r {TRAINING_REQUIREMENTS} && "
            f"grep -v '^#' {TRAINING_REQUIREMENTS} > {folder / COMPLETE_MARKER}   "
            "(in a development checkout: make train-env)")


def is_ready(folder: Path | None = None) -> bool:
    folder = folder or environment_dir()
    marker = folder / COMPLETE_MARKER
    if not (interpreter(folder).is_file() and marker.is_file()):
        return False
    recorded = [line.strip() for line in marker.read_text(encoding="utf-8").splitlines() if line.strip()]
    return recorded == pins()


def training_python() -> Path:
    """The environment's interpreter, or DependencyError saying how to make the environment."""
    folder = environment_dir()
    if not is_ready(folder):
        state = "is out of date (its pins changed)" if interpreter(folder).is_file() else "does not exist"
        raise DependencyError(
            f"The fine-tuning environment {folder} {state}. Fine-tuning runs PyTorch outside QGIS, in its own "
            f"environment; create it once with: {creation_command(folder)}"
        )
    return interpreter(folder)

