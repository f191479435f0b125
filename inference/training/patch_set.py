"""A patch folder (docs/patches-format.md): its manifest read, checked, and its patches listed by split.

Written by s2cloudmask:exportpatches; every problem is named with the file
and what to do, before any training starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..classes import SEMI_TRANSPARENT
from ..defaults import SPLITS
from ..errors import TrainingError
from ..patch_format import FORMAT, FORMAT_VERSION, MANIFEST_JSON


@dataclass(frozen=True)
class Patch:
    id: str
    split: str
    image: Path
    label: Path
    class_fractions: dict[str, float]


@dataclass(frozen=True)
class PatchSet:
    folder: Path
    manifest_path: Path
    level: str
    resolution: float
    bands: tuple[str, ...]  # Sentinel-2 band ids in image band order
    patches: tuple[Patch, ...]
    sources: tuple[dict[str, Any], ...]

    def split(self, name: str) -> list[Patch]:
        return [patch for patch in self.patches if patch.split == name]

    def has_semi_transparent(self, split: str = "train") -> bool:
        """Whether the split's labels hold semi-transparent cloud (class 3) anywhere."""
        return any(patch.class_fractions.get(str(SEMI_TRANSPARENT), 0.0) > 0 for patch in self.split(split))

    def band_number(self, band: str) -> int | None:
        """The 1-based image band holding a Sentinel-2 band id, or None."""
        return self.bands.index(band) + 1 if band in self.bands else None


def read_patches(folder: str | Path) -> PatchSet:
    """The patch folder's manifest.json, checked: format, bands, splits, and that every file is there."""
    root = Path(folder)
    manifest_path = root / MANIFEST_JSON

    def fail(problem: str) -> TrainingError:
        return TrainingError(f"The patch folder {root} cannot be used: {problem}. "
                             "Export it again with s2cloudmask:exportpatches.")

    if not root.is_dir():
        raise TrainingError(f"The patch folder {root} does not exist; give the OUTPUT_FOLDER of "
                            "s2cloudmask:exportpatches.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(f"it has no {MANIFEST_JSON}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"{manifest_path.name} is not readable JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise fail(f"{manifest_path.name} is not an {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise fail(f"format_version {manifest.get('format_version')!r} is not {FORMAT_VERSION}")
    try:
        level = str(manifest["level"]).upper()
        resolution = float(manifest["resolution"])
        bands = tuple(str(b).upper() for b in manifest["bands"])
        patches = tuple(
            Patch(str(p["id"]), str(p["split"]), root / p["image"], root / p["label"],
                  {str(k): float(v) for k, v in p.get("class_fractions", {}).items()})
            for p in manifest["patches"]
        )
        sources = tuple(dict(s) for s in manifest.get("sources", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(f"{manifest_path.name} lacks or garbles a key ({exc!r})") from exc
    if level not in ("L1C", "L2A"):
        raise fail(f"level {level!r} is neither L1C nor L2A")
    if not resolution > 0:
        raise fail(f"resolution {resolution!r} is not a positive number of metres")
    unknown = sorted({p.split for p in patches} - set(SPLITS))
    if unknown:
        raise fail(f"unknown split name(s) {', '.join(unknown)}")
    missing = [str(path) for p in patches for path in (p.image, p.label) if not path.is_file()]
    if missing:
        raise fail(f"{len(missing)} patch file(s) are missing, e.g. {missing[0]}")
    return PatchSet(root, manifest_path, level, resolution, bands, patches, sources)
