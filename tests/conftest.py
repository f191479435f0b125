"""Shared fixtures of both rooms. The session's sandbox (HOME, QGIS profile, package path) is set up by sandbox_env.

Real data comes from two places: the small real crop of the T29UNU product
committed under tests/data (tools/make_test_data.py), which every clone has
and most tests read, and ../shared/data (the whole tile, the metadata
collection, the labelled arrays), which a plain clone lacks. A test that asks
for ../shared/data (the fixtures `whole_tile` and `shared_data`) is marked
`realdata` and skipped, with the reason, where it is absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from child_python import QGIS_PYTHON, plugin_env
from deprecations import DEPRECATIONS, plugin_deprecations

from tests.sandbox_env import PACKAGE_ROOT, REPO, SANDBOX

SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
TEST_DATA = REPO / "tests" / "data"
REAL_L2A_NAME = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
SHARED_DATA_FIXTURES = {"shared_data", "whole_tile"}
SLOW_FIXTURES = {"wheel_deps_root"}  # installs the plugin's packages from scratch

# rasterio and what it imports: hidden together, as in a QGIS whose installer ships none of them
RASTERIO_GROUP = ("rasterio", "affine", "attr", "attrs", "click", "cligj", "click_plugins", "certifi", "pyparsing")


@pytest.fixture(autouse=True)
def no_deprecations_from_the_plugin():
    """A deprecation warning raised in the plugin's own code (a QGIS, numpy, GDAL or affine spelling that a newer
    release deprecates) fails the test, on every QGIS the suite runs on. Recorded rather than raised: raised
    inside a Qt slot or a QgsTask it would abort QGIS. Other warnings go on to pytest's own summary."""
    with warnings.catch_warnings(record=True) as caught:
        for category in DEPRECATIONS:
            warnings.filterwarnings("always", category=category, module="s2cloudmask")
        yield
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    found = plugin_deprecations(caught)
    assert not found, "the plugin's own code raised:\n" + "\n".join(found)


def pytest_collection_modifyitems(items) -> None:
    """Every test that reads ../shared/data is marked `realdata`, every test that needs a fresh install `slow`, so
    `-m "not realdata and not slow"` leaves them out."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if SHARED_DATA_FIXTURES & fixtures:
            item.add_marker(pytest.mark.realdata)
        if SLOW_FIXTURES & fixtures:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"../shared/data is not at {SHARED_DATA}: this test needs the whole tile or the whole labelled "
                    "patch that live there (README, 'Tests from a plain clone')")
    return SHARED_DATA


@pytest.fixture(scope="session")
def whole_tile(shared_data: Path) -> Path:
    """The whole real T29UNU L2A tile (its 60 m bands, SCL, masks): for what only a whole tile shows."""
    return shared_data / "sentinel2" / REAL_L2A_NAME


@pytest.fixture(scope="session")
def test_data() -> Path:
    """tests/data: the small real data every clone has, in the layout of ../shared/data (tools/make_test_data.py)."""
    return TEST_DATA


def _set_writable(root: Path, writable: bool) -> None:
    for path in [*root.rglob("*"), root]:
        path.chmod((0o755 if path.is_dir() else 0o644) if writable else (0o555 if path.is_dir() else 0o444))


@pytest.fixture(scope="session")
def real_l2a(test_data: Path, tmp_path_factory) -> Path:
    """The real crop of the T29UNU L2A tile (a valid SAFE of its own, in every clone), in a read-only folder as a
    user's downloaded products often are: what a door offers to write must never go beside it."""
    folder = tmp_path_factory.mktemp("products")
    product = Path(shutil.copytree(test_data / "sentinel2" / REAL_L2A_NAME, folder / REAL_L2A_NAME))
    _set_writable(folder, False)
    yield product
    _set_writable(folder, True)


@pytest.fixture(scope="session")
def generated_product(tmp_path_factory):
    """make(level, seed, size=600): a product of the project's generator (tools/synthetic_product.py), written once
    per session for each level, seed and size, whichever tests ask for it."""
    from s2cloudmask.tools.synthetic_product import write_product

    made: dict[tuple[str, int, int], Path] = {}

    def make(level: str, seed: int, size: int = 600) -> Path:
        if (level, seed, size) not in made:
            folder = tmp_path_factory.mktemp(f"generated-{level}-{seed}-{size}")
            made[level, seed, size] = Path(write_product(folder, level=level, size=size, seed=seed, extras=False))
        return made[level, seed, size]

    return make


@pytest.fixture(scope="session")
def training_python() -> Path:
    """The fine-tuning environment's interpreter; the test is skipped, with the reason, where there is none."""
    from s2cloudmask.packages import training_env

    folder = training_env.environment_dir()
    if not training_env.is_ready(folder):
        pytest.skip(f"the fine-tuning environment {folder} {training_env.state(folder)}: run `make train-env`")
    return training_env.interpreter(folder)


@pytest.fixture(scope="session")
def cog_errors():
    """GDAL's own Cloud-Optimised GeoTIFF validator (osgeo_utils, shipped with the GDAL in use): a function
    giving a file's errors (an empty list for a valid COG; the validator's advice, such as overviews for a
    small file, is not an error)."""
    from osgeo_utils.samples.validate_cloud_optimized_geotiff import ValidateCloudOptimizedGeoTIFFException, validate

    def errors(path: Path) -> list[str]:
        try:
            _, found, _ = validate(str(path), full_check=True)
        except ValidateCloudOptimizedGeoTIFFException as exc:
            return [str(exc)]
        return found

    return errors


@pytest.fixture(scope="session")
def sandbox() -> Path:
    return SANDBOX


def _listing(root: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in root.rglob("*") if path.is_file()}


@pytest.fixture(scope="session", autouse=True)
def inputs_stay_untouched():
    """Inputs are never touched: no test may add or change a file under ../shared/data or tests/data (not even an
    .aux.xml)."""
    roots = [root for root in (SHARED_DATA, TEST_DATA) if root.is_dir()]
    before = {path: stamp for root in roots for path, stamp in _listing(root).items()}
    yield
    after = {path: stamp for root in roots for path, stamp in _listing(root).items()}
    added = sorted(set(after) - set(before))
    changed = sorted(path for path in before if path in after and after[path] != before[path])
    for path in added:
        Path(path).unlink()
    assert not added and not changed, f"tests wrote into the real data: added {added}, changed {changed}"


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 4 MiB file system of its own (tmpfs), to fill up and see how writers meet a full disk.

    Mounting needs root; elsewhere the test is skipped with the reason.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which only root can mount")
    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="session")
def hidden_rasterio(tmp_path_factory) -> Path:
    """A folder that, first on PYTHONPATH, makes Debian's python3-rasterio and the packages it imports fail to
    import: this Python then plays a QGIS without rasterio (the Windows and macOS installers)."""
    folder = tmp_path_factory.mktemp("no-rasterio")
    for name in RASTERIO_GROUP:
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(
            "raise ImportError(f'No module named {__name__!r} (hidden: this Python plays a QGIS without it)')\n"
        )
    return folder


@pytest.fixture(scope="session")
def wheel_deps_root(tmp_path_factory, hidden_rasterio) -> Path:
    """A dependency root filled by the plugin's own installer in a Python without rasterio: the rasterio wheel
    and its helpers go in beside onnxruntime and ukis-csmask."""
    root = tmp_path_factory.mktemp("deps-root")
    done = subprocess.run(
        [QGIS_PYTHON, str(REPO / "packages" / "installer.py"), "install"],
        env=plugin_env([hidden_rasterio, PACKAGE_ROOT], root), capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "Self-test passed" in done.stdout, done.stdout[-4000:]
    return root
