"""Building products in tmp_path from the real crop's own files: cut-down copies, zips. Shared by the engine tests."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

GRANULE = "L2A_T29UNU_A038058_20221005T115407"


def granule_dir(safe: Path) -> Path:
    return safe / "GRANULE" / GRANULE


def band_path(safe: Path, band: str, res: int = 60) -> Path:
    return granule_dir(safe) / "IMG_DATA" / f"R{res}m" / f"T29UNU_20221005T115411_{band}_{res}m.jp2"


def make_mini_safe(real_l2a: Path, dest: Path, bands=("B02", "B12"), extra=()) -> Path:
    """A cut-down copy of the real product: its MTD xmls plus a few 60 m JP2s (and `extra` relative paths)."""
    safe = dest / real_l2a.name
    (granule_dir(safe) / "IMG_DATA" / "R60m").mkdir(parents=True)
    (granule_dir(safe) / "QI_DATA").mkdir()
    shutil.copyfile(real_l2a / "MTD_MSIL2A.xml", safe / "MTD_MSIL2A.xml")
    shutil.copyfile(granule_dir(real_l2a) / "MTD_TL.xml", granule_dir(safe) / "MTD_TL.xml")
    for band in bands:
        shutil.copyfile(band_path(real_l2a, band), band_path(safe, band))
    for rel in extra:
        target = safe / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real_l2a / rel, target)
    return safe


def zip_folder(folder: Path, target: Path, *, at_root: bool = False) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.endswith(".aux.xml"):
                name = path.relative_to(folder if at_root else folder.parent).as_posix()
                archive.write(path, name)
    return target
