"""The Results tab's "Clean bands": the run's product with the run's mask applied, in a QgsTask.

The task calls the same engine function as s2cloudmask:applymask (the run's
mask, resolution and extent, the default classes, reflectance) and writes
beside the mask under a name no file has yet, so nothing of the run, of an
earlier cleaning or of anything else is replaced.
"""

from __future__ import annotations

from pathlib import Path

from .. import inference
from .task import EngineTask, RunOutcome, TaskFeedback

CLEAN_SUFFIX = "_clean"


def clean_output(mask: str) -> str:
    """Beside the mask: <name>_clean.tif for <name>_cloudmask.tif (else <mask name>_clean.tif), numbered when
    taken."""
    path = Path(mask)
    stem = path.stem.removesuffix("_cloudmask") + CLEAN_SUFFIX
    candidate, number = path.with_name(f"{stem}.tif"), 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{stem}_{number}.tif")
    return str(candidate)


class CleanBandsTask(EngineTask):
    """apply_mask for a finished run (a CleanResult when it succeeds)."""

    what = "Cleaning the bands"

    def __init__(self, run: RunOutcome) -> None:
        super().__init__(f"Clean bands: {run.request.label}")
        self.run_outcome = run
        self.output = clean_output(run.mask.output)

    def _run(self) -> object:
        request = self.run_outcome.request
        return inference.apply_mask(request.product, self.output, mask=self.run_outcome.mask.output,
                                    resolution=request.resolution, extent=request.extent,
                                    feedback=TaskFeedback(self))
