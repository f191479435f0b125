"""The models this user has fine-tuned, newest first: fine-tuning publishes each model here, every door reads it.

A short JSON list in the user's data folder (kept between QGIS sessions and
plugin updates); models deleted or moved since are left out when read. The
dock offers them in its model field beside 'auto'.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..about import user_data_dir

LIST_NAME = "trained_models.json"
KEEP = 50


def published_list_path() -> Path:
    return user_data_dir() / LIST_NAME


def _read() -> list[str]:
    try:
        entries = json.loads(published_list_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(entry) for entry in entries] if isinstance(entries, list) else []


def published_models() -> list[Path]:
    """Fine-tuned models that still exist, newest first."""
    return [Path(entry) for entry in _read() if Path(entry).is_file()]


def publish_model(model: str | Path) -> None:
    """Put a newly published model at the top of the list; a list that cannot be written is no failure."""
    entry = str(Path(model).resolve())
    entries = [entry, *(e for e in _read() if e != entry)][:KEEP]
    try:
        published_list_path().parent.mkdir(parents=True, exist_ok=True)
        published_list_path().write_text(json.dumps(entries, indent=1), encoding="utf-8")
    except OSError:
        pass
