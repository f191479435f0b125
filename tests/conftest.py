"""Shared fixtures. The session's sandbox (HOME, QGIS profile, package path) is set up by sandbox_env."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox_env import REPO, SANDBOX

SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
REAL_L2A_NAME = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real Sentinel-2 data not found at {SHARED_DATA} (see README, 'Test data')")
    return SHARED_DATA


@pytest.fixture(scope="session")
def real_l2a(shared_data: Path) -> Path:
    return shared_data / "sentinel2" / REAL_L2A_NAME


@pytest.fixture(scope="session")
def sandbox() -> Path:
    return SANDBOX


def _listing(root: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in root.rglob("*") if path.is_file()}


@pytest.fixture(scope="session", autouse=True)
def inputs_stay_untouched():
    """Inputs are never touched: no test may add or change a file under ../shared/data (not even an .aux.xml)."""
    before = _listing(SHARED_DATA) if SHARED_DATA.is_dir() else {}
    yield
    if not before:
        return
    after = _listing(SHARED_DATA)
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
    import os
    import subprocess

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

