"""The files of one dock run: their names beside the mask, the hidden folder they are written in, and their move
onto those names once the run is complete.

A run writes only into a hidden folder of its own beside the mask. The files
of an earlier run under the same names stay untouched meanwhile, so its layers
stay on the map and a cancelled or failed run costs nothing but that folder.
Only a complete run's files take the names, all of them or, when one cannot be
moved, none.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..inference.errors import OutputError
from ..inference.outputs import SIDECAR_SUFFIXES

UNFINISHED_MARK = ".s2cloudmask-unfinished-"
SET_ASIDE_MARK = ".s2cloudmask-replaced-"


@dataclass(frozen=True)
class CompanionPaths:
    """The files a run writes beside the mask, named after it so they sort together."""

    difference: str
    report: str
    true_colour: str
    scl_view: str

    def all_files(self, mask: str) -> list[Path]:
        """Every file a run with this mask may write, the mask first (the report's JSON included)."""
        report = Path(self.report)
        return [Path(p) for p in (mask, self.difference, self.report, report.with_suffix(".json"), self.true_colour, self.scl_view)]

    @classmethod
    def beside(cls, output: str) -> CompanionPaths:
        mask = Path(output)
        stem = mask.with_suffix("")
        return cls(
            difference=f"{stem}_scl_difference.tif",
            report=f"{stem}_scl_report.html",
            true_colour=f"{stem}_truecolour.vrt",
            scl_view=f"{stem}_scl.vrt",
        )


def make_staging_folder(output: str) -> Path:
    """A new hidden folder beside the mask, named after it and marked unfinished."""
    mask = Path(output)
    folder = mask.with_name(f".{mask.stem}{UNFINISHED_MARK}{uuid.uuid4().hex[:8]}")
    folder.mkdir()
    return folder


def staged(folder: Path, final: str | Path) -> Path:
    """Where a run writes the file that is to become `final`."""
    return folder / Path(final).name


def discard(folder: Path | None) -> None:
    """Remove a run's hidden folder and whatever it holds."""
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _with_sidecars(path: Path) -> list[Path]:
    return [path, *(Path(f"{path}{suffix}") for suffix in SIDECAR_SUFFIXES)]


def replace_together(moves: list[tuple[Path, Path]], retire: list[Path]) -> None:
    """Move each staged file (side-cars included) onto its final name and take the files in `retire` away.

    All of it happens, or none: the files already there are first set aside
    under hidden names, and when any step fails they come back and an
    OutputError names the file and the cause (on Windows, usually another
    program that has it open).
    """
    token = uuid.uuid4().hex[:8]
    old = [path for target in dict.fromkeys([*(final for _, final in moves), *retire])
           for path in _with_sidecars(target) if path.exists()]
    set_aside: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    current = moves[0][1] if moves else Path()
    try:
        for path in old:
            current = path
            aside = path.with_name(f".{path.name}{SET_ASIDE_MARK}{token}")
            os.replace(path, aside)
            set_aside.append((path, aside))
        for source, final in moves:
            current = final
            for index, (staged_file, final_file) in enumerate(zip(_with_sidecars(source), _with_sidecars(final))):
                if index == 0 or staged_file.exists():  # the file itself must be there; side-cars may not
                    os.replace(staged_file, final_file)
                    placed.append(final_file)
    except OSError as exc:
        for path in placed:
            with contextlib.suppress(OSError):
                path.unlink()
        for path, aside in reversed(set_aside):
            with contextlib.suppress(OSError):
                os.replace(aside, path)
        raise OutputError(
            f"{current} could not be replaced ({exc.strerror or exc}); the earlier results are kept as they were. "
            "Close any program that has the file open and run again, or choose another output name."
        ) from exc
    for _, aside in set_aside:
        with contextlib.suppress(OSError):
            aside.unlink()
