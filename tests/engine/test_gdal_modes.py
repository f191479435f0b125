"""The engine is right whichever error mode GDAL is in: exceptions on (QGIS 3.40's Processing, the plugin's own
tools) or off (QGIS 3.22, a script that chose return codes).

Each mode runs in a fresh Python, so nothing imported before (the generator turns exceptions on) decides it:
a mask written and read back with its colour table, category names and tags, an SCL comparison, and a mask
that meets a full disk (its files closed and removed before the error reaches the caller, so no traceback keeps a
file open that a later garbage collection would close noisily, or that Windows would refuse to remove).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from s2cloudmask.inference.classes import CLASS_NAMES

from child_python import plugin_env
from tests.sandbox_env import PACKAGE_ROOT, REPO

CHILD = """
import json, os, sys, warnings
from pathlib import Path
import numpy as np
from osgeo import gdal
mode, folder, full_disk = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]) if sys.argv[3] else None
gdal.UseExceptions() if mode == "on" else gdal.DontUseExceptions()
warnings.filterwarnings("error", module="s2cloudmask")  # no warning from the engine's own code, in either mode
from s2cloudmask.packages.activation import activate
activate()
from disk import fill_disk
from model_helpers import utm_grid, write_raster
from s2cloudmask.inference.comparing.compare import compare_with_scl
from s2cloudmask.inference.errors import OutputError
from s2cloudmask.inference.masking.writer import MaskWriter
from s2cloudmask.inference.outputs import atomic_output

codes = (np.arange(64 * 64).reshape(64, 64) % 5).astype(np.uint8)
grid = utm_grid(64, 64, 20.0)
mask = folder / "mask.tif"
with atomic_output(mask) as temporary, MaskWriter(temporary, grid, {"MODEL": "modes"}) as writer:
    writer.write(codes)
dataset = gdal.Open(str(mask))
band = dataset.GetRasterBand(1)
table = band.GetColorTable()
report = {
    "codes": bool((band.ReadAsArray() == codes).all()),
    "colours": table.GetCount() if table else 0,
    "names": band.GetCategoryNames()[:5],
    "model": dataset.GetMetadataItem("MODEL"),
}
band = dataset = None
scl = folder / "scl.tif"
write_raster(scl, np.full((1, 32, 32), 4, np.uint8), utm_grid(32, 32, 40.0))
comparison = compare_with_scl(str(mask), str(scl), str(folder / "difference.tif"))
report["agreement"] = comparison.overall_agreement
if full_disk is not None:
    filler = fill_disk(full_disk, 128 * 1024)
    noise = np.random.default_rng(0).integers(0, 5, (700, 700), dtype=np.uint8)
    try:
        with atomic_output(full_disk / "big.tif") as temporary, \\
                atomic_output(full_disk / "big-probabilities.tif") as temporary_probabilities, \\
                MaskWriter(temporary, utm_grid(700, 700, 10.0), {"MODEL": "modes"}, temporary_probabilities,
                           ["a", "b"]) as writer:
            writer.write_probabilities(np.stack([noise * 20, 100 - noise * 20]).astype(np.uint8))
            writer.write(noise)
        report["full_disk"] = "written"
    except OutputError as error:
        report["full_disk"] = str(error)
        # the error (and its traceback) still alive: the files it is about are closed all the same
        links = (os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                 if os.path.islink(f"/proc/self/fd/{fd}"))
        report["open_while_failing"] = sorted(os.path.basename(link) for link in links
                                              if link.startswith(str(full_disk)) and link != str(filler))
    report["left_on_the_full_disk"] = sorted(path.name for path in full_disk.iterdir() if path != filler)
print(json.dumps(report))
"""


def run_in_mode(mode: str, folder, full_disk) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(folder), str(full_disk or "")],
        env=plugin_env([PACKAGE_ROOT, REPO / "tests"], Path(os.environ["S2CLOUDMASK_DEPS_ROOT"])), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["on", "off"])
def test_the_engine_writes_compares_and_meets_a_full_disk_alike_with_gdal_exceptions(mode, tmp_path, tiny_disk):
    report = run_in_mode(mode, tmp_path, tiny_disk)
    assert report["codes"] and report["model"] == "modes"
    assert report["colours"] == 5 and report["names"] == [CLASS_NAMES[code] for code in sorted(CLASS_NAMES)]
    assert 0.0 < report["agreement"] <= 1.0
    assert "the disk is full" in report["full_disk"], report["full_disk"]
    assert report["open_while_failing"] == []
    assert report["left_on_the_full_disk"] == []
