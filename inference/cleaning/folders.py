"""Where a composite keeps the masks it makes: a light module, so the Processing side can name the folder too."""

from __future__ import annotations

from pathlib import Path


def masks_folder(output: str | Path, masks: str | Path | None) -> Path:
    """Where a composite finds and adds masks: MASKS, else `<OUTPUT stem>_masks` beside the output."""
    output = Path(output)
    return Path(masks) if masks not in (None, "") else output.with_name(f"{output.stem}_masks")
