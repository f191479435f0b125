"""The fine-tuned models this user has made, so the dock can offer them beside 'auto'.

A short JSON list in the user's data folder (`__about__.user_data_dir()`),
newest first; models deleted or moved since are left out when read.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...__about__ import user_data_dir

REGISTRY_NAME = "trained_models.json"
KEEP = 50


def registry_path() -> Path:
    return user_data_dir() / REGISTRY_NAME


def _read() -> list[str]:
    try:
        entries = json.loads(registry_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(entry) for entry in entries] if isinstance(entries, list) else []


def trained_models() -> list[Path]:
    """Fine-tuned models that still exist, newest first."""
    return [Path(entry) for entry in _read() if Path(entry).is_file()]


def record_model(model: str | Path) -> None:
    """Put a newly published model at the top of the list; a list that cannot be written is no failure."""
    entry = str(Path(model).resolve())
    entries = [entry, *(e for e in _read() if e != entry)][:KEEP]
    try:
        registry_path().parent.mkdir(parents=True, exist_ok=True)
        registry_path().write_text(json.dumps(entries, indent=1), encoding="utf-8")
    except OSError:
        pass
