"""A model under a card of one's own, as a user gives MODEL: a link to the model file beside a side-car card.

The benchmarks and tests use it to run the built-in models with other tiles (CSmask's, or the tile
geometries of tools/tile_geometry.py) through the same path a user's model takes.
"""

from __future__ import annotations

import json
from pathlib import Path

from s2cloudmask.inference.masking.model_card import ModelCard, sidecar_path


def model_with_card(card: ModelCard, folder: Path, name: str) -> Path:
    """`folder/name`: a link to card.model_path with `card` as its side-car card (replaced if present)."""
    model = Path(folder) / name
    model.unlink(missing_ok=True)
    model.symlink_to(card.model_path)
    sidecar_path(model).write_text(json.dumps(card.to_dict()), encoding="utf-8")
    return model
