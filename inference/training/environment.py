"""The training environment as the engine needs it: its interpreter, or a DependencyError that says how to make it.

The environment itself (where it lies, how it is made and checked) is
packages/training_env.py's, which QGIS's Python runs to create it.
"""

from __future__ import annotations

from pathlib import Path

from ...packages.training_env import environment_dir, instructions, interpreter, is_ready
from ..errors import DependencyError


def training_python() -> Path:
    """The environment's interpreter, or DependencyError saying how to make the environment."""
    folder = environment_dir()
    if not is_ready(folder):
        raise DependencyError(instructions(folder))
    return interpreter(folder)
