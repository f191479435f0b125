"""A QGIS without rasterio, played by this Debian machine: Debian's python3-rasterio is hidden, the plugin's own
installer brings the rasterio wheel, and the README's Python snippet masks a window of the real product and compares
it with its SCL through that wheel, with the same result as on Debian's rasterio."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from child_python import QGIS_PYTHON, plugin_env
from s2cloudmask.packages import folders, installer, requirements

from tests.real_product import WINDOW
from tests.sandbox_env import PACKAGE_ROOT

# The README's "Python, without QGIS" snippet, on a window at 60 m, printing what the test compares.
SNIPPET = """
import json, sys
from s2cloudmask.inference import compare_with_scl, mask_product

product, out = sys.argv[1], sys.argv[2]
window = tuple(float(value) for value in sys.argv[3].split(","))
result = mask_product(product, f"{out}/mask.tif", device="cpu", resolution=60, extent=window)
comparison = compare_with_scl(f"{out}/mask.tif", product, f"{out}/difference.tif")
import rasterio  # after the engine ran: which rasterio served it, and which GDAL libraries are loaded
gdal_libraries = sorted({line.split()[-1] for line in open("/proc/self/maps") if "libgdal" in line})
print(json.dumps({
    "rasterio": rasterio.__file__, "gdal_libraries": gdal_libraries,
    "percentages": result.class_percentages, "device": result.device_used,
    "agreement": comparison.overall_agreement, "kappa": comparison.kappa, "matrix": comparison.matrix.tolist(),
}))
"""


def run_snippet(real_l2a: Path, out: Path, env: dict[str, str]) -> dict:
    out.mkdir()
    done = subprocess.run(
        [QGIS_PYTHON, "-c", SNIPPET, str(real_l2a), str(out), ",".join(map(str, WINDOW))],
        env=env, capture_output=True, text=True, timeout=600, cwd=out,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def pixels(path: Path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


def test_without_rasterio_the_engine_names_it(real_l2a, hidden_rasterio, tmp_path):
    """Before the install: the entry point fails with DependencyError naming rasterio, no traceback of an import."""
    code = (
        "from s2cloudmask.inference.errors import DependencyError\n"
        "from s2cloudmask import inference\n"
        "try:\n    inference.mask_product\nexcept DependencyError as exc:\n    print(exc)\n"
    )
    env = plugin_env([hidden_rasterio, PACKAGE_ROOT], tmp_path / "empty-root")
    done = subprocess.run([QGIS_PYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "rasterio, onnxruntime, ukis-csmask" in done.stdout
    assert "Install dependencies" in done.stdout and "installer.py install" in done.stdout


def test_rasterio_wheel_masks_and_compares_like_debians_rasterio(real_l2a, hidden_rasterio, wheel_deps_root, tmp_path):
    # Debian's rasterio, only the plugins folder on PYTHONPATH: `import s2cloudmask.inference` activates the
    # checkout's package folder by itself.
    debian = run_snippet(real_l2a, tmp_path / "debian", plugin_env([PACKAGE_ROOT], None))
    # The wheel, in a Python where rasterio is hidden and whose environment names Debian's PROJ and GDAL data,
    # as QGIS's environment names its own: the wheel must keep to the data shipped inside it.
    env = plugin_env([hidden_rasterio, PACKAGE_ROOT], wheel_deps_root)
    env.update(PROJ_LIB="/usr/share/proj", GDAL_DATA="/usr/share/gdal")
    wheel = run_snippet(real_l2a, tmp_path / "wheel", env)

    assert Path(debian["rasterio"]).is_relative_to("/usr/lib/python3/dist-packages")
    assert Path(wheel["rasterio"]).is_relative_to(wheel_deps_root)
    # the wheel's own GDAL library is loaded beside Debian's (whose version may be the same)
    assert any(Path(library).is_relative_to(wheel_deps_root) for library in wheel["gdal_libraries"])
    assert not any(Path(library).is_relative_to(wheel_deps_root) for library in debian["gdal_libraries"])
    for key in ("percentages", "device", "matrix", "agreement", "kappa"):
        assert wheel[key] == debian[key], key
    for name in ("mask.tif", "difference.tif"):
        np.testing.assert_array_equal(pixels(tmp_path / "wheel" / name), pixels(tmp_path / "debian" / name))
    assert sum(debian["percentages"].values()) == pytest.approx(100.0, abs=0.01)


def test_installer_chose_the_wheel_only_because_rasterio_was_missing(wheel_deps_root):
    (folder,) = [path for path in wheel_deps_root.iterdir() if not path.name.startswith(".")]
    assert folder.name == folders.dependency_tag()
    pins = json.loads((folder / installer.MANIFEST_NAME).read_text())["pins"]
    # rasterio's block is hidden, and with it certifi, without which requests does not import: the requests
    # block comes too; Debian's scipy and python-dateutil serve
    hidden = [line for block in requirements.requirement_blocks(requirements.IF_MISSING_REQUIREMENTS)
              if requirements.distribution_name(block[0]) in ("rasterio", "requests") for line in block]
    assert pins == requirements.requirement_lines(requirements.REQUIREMENTS) + hidden
    assert "passed" in (folder / installer.SELF_TEST_NAME).read_text().splitlines()[0]
    # where QGIS's Python has rasterio (this machine's own set-up), the plan leaves the rasterio group out
    assert installer.install_plan() == requirements.requirement_lines(requirements.REQUIREMENTS)
