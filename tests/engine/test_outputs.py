"""Outputs: nothing good is lost, nothing half-written looks finished, nothing silently wrong.

A full disk is a real 4 MiB tmpfs filled up (the `tiny_disk` fixture; skipped where the tests do not run
as root). Killed runs are real child processes killed with SIGKILL and SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from disk import fill_disk, listing
from model_helpers import utm_grid, write_raster
from osgeo import gdal
from s2cloudmask.inference.errors import OutputError
from s2cloudmask.inference.masking.writer import MaskWriter
from s2cloudmask.inference.outputs import (
    LOCK_SUFFIX,
    PARTIAL_MARK,
    atomic_output,
    check_outputs,
    gdal_write_errors,
    remove_stale_partials,
)

from tests.sandbox_env import PACKAGE_ROOT


def random_codes(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Codes that hardly compress, so a small disk really fills up."""
    return np.random.default_rng(seed).integers(0, 5, (height, width), dtype=np.uint8)


def write_mask(path: Path, codes: np.ndarray, probabilities: Path | None = None) -> None:
    grid = utm_grid(codes.shape[1], codes.shape[0], 10.0)
    with atomic_output(path) as temporary:
        if probabilities is None:
            with MaskWriter(temporary, grid, {"MODEL": "test"}) as writer:
                writer.write(codes)
            return
        with atomic_output(probabilities) as temporary_probabilities, \
                MaskWriter(temporary, grid, {"MODEL": "test"}, temporary_probabilities, ["a", "b"]) as writer:
            writer.write_probabilities(np.stack([codes * 20, 100 - codes * 20]).astype(np.uint8))
            writer.write(codes)


def good_mask(folder: Path) -> Path:
    path = folder / "mask.tif"
    write_mask(path, random_codes(64, 64, seed=1))
    return path


# --------------------------------------------------------------------------- a full disk


@pytest.mark.parametrize("free_kib", [20, 128, 700])
def test_a_full_disk_fails_with_its_cause_and_keeps_the_mask_that_was_there(tiny_disk: Path, free_kib: int):
    good_mask(tiny_disk)
    fill_disk(tiny_disk, free_kib * 1024)
    before = listing(tiny_disk)
    with pytest.raises(OutputError, match=r"mask\.tif: the disk is full \(\d+ KiB free in .*\)\. Nothing was written"):
        write_mask(tiny_disk / "mask.tif", random_codes(1500, 1500))
    assert listing(tiny_disk) == before  # the good mask and its .aux.xml untouched; no partial, no lock
    with rasterio.open(tiny_disk / "mask.tif") as dataset:
        assert dataset.read(1).shape == (64, 64)


def test_a_full_disk_while_writing_probabilities_keeps_both_files(tiny_disk: Path):
    good_mask(tiny_disk)
    fill_disk(tiny_disk, 128 * 1024)
    before = listing(tiny_disk)
    with pytest.raises(OutputError, match="the disk is full"):
        write_mask(tiny_disk / "mask.tif", random_codes(700, 700), probabilities=tiny_disk / "probabilities.tif")
    assert listing(tiny_disk) == before


def test_an_aux_xml_that_cannot_be_saved_is_a_failure(tiny_disk: Path):
    """GDAL only warns when the .aux.xml side-car (the category names) cannot be written."""
    path = tiny_disk / "named.tif"
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), 16, 16, 1, gdal.GDT_Byte)
    dataset.GetRasterBand(1).WriteArray(np.ones((16, 16), np.uint8))
    dataset.FlushCache()
    fill_disk(tiny_disk, 0)
    with pytest.raises(OutputError, match=r"named\.tif: the disk is full"):
        with gdal_write_errors(path, tiny_disk):
            dataset.GetRasterBand(1).SetCategoryNames(["no data", "clear"])
            dataset = None


def test_a_text_output_on_a_full_disk_names_the_cause(tiny_disk: Path):
    (tiny_disk / "report.html").write_text("the old report", encoding="utf-8")
    fill_disk(tiny_disk, 0)
    with pytest.raises(OutputError, match=r"report\.html: the disk is full"):
        with atomic_output(tiny_disk / "report.html") as temporary:
            temporary.write_text("x" * 200_000, encoding="utf-8")
    assert (tiny_disk / "report.html").read_text(encoding="utf-8") == "the old report"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler.bin", "report.html"]


def test_the_difference_raster_on_a_full_disk(tiny_disk: Path, tmp_path: Path):
    from s2cloudmask.inference.comparing.compare import compare_masks

    grid = utm_grid(1500, 1500, 10.0)
    mask = write_raster(tmp_path / "mask.tif", random_codes(1500, 1500, 2)[np.newaxis], grid)
    reference = write_raster(tmp_path / "reference.tif", random_codes(1500, 1500, 3)[np.newaxis], grid)
    fill_disk(tiny_disk, 100 * 1024)
    before = listing(tiny_disk)
    with pytest.raises(OutputError, match=r"difference\.tif: the disk is full"):
        compare_masks(mask, reference, tiny_disk / "difference.tif", report=tiny_disk / "report.html")
    assert listing(tiny_disk) == before


# --------------------------------------------------------------------------- outputs against inputs


def test_an_output_that_is_an_input_is_refused(tmp_path: Path):
    stack = tmp_path / "stack.tif"
    stack.write_bytes(b"input")
    with pytest.raises(OutputError, match=r"OUTPUT \(.*stack\.tif\) is INPUT itself"):
        check_outputs({"OUTPUT": stack}, {"INPUT": stack})
    link = tmp_path / "link.tif"
    link.symlink_to(stack)
    with pytest.raises(OutputError, match="is INPUT itself"):
        check_outputs({"OUTPUT": link}, {"INPUT": stack})
    with pytest.raises(OutputError, match="is INPUT itself"):  # mask.tif.aux.xml is written with mask.tif
        check_outputs({"OUTPUT": tmp_path / "a.tif"}, {"INPUT": tmp_path / "a.tif.aux.xml"})


def test_an_output_inside_the_input_product_is_refused(real_l2a: Path):
    band = next(real_l2a.glob("GRANULE/*/IMG_DATA/R60m/*_B04_60m.jp2"))
    for target in (band, real_l2a / "MTD_MSIL2A.xml", real_l2a / "new-mask.tif"):
        with pytest.raises(OutputError, match=r"lies inside the product .*Choose a folder outside the input"):
            check_outputs({"OUTPUT": target}, {"the product": real_l2a})


def test_two_outputs_on_one_path_are_refused(tmp_path: Path):
    with pytest.raises(OutputError, match="OUTPUT and OUTPUT_PROBABILITIES are the same file"):
        check_outputs({"OUTPUT": tmp_path / "m.tif", "OUTPUT_PROBABILITIES": tmp_path / "./m.tif"}, {})
    check_outputs({"OUTPUT": tmp_path / "m.tif", "OUTPUT_PROBABILITIES": None}, {"INPUT": tmp_path / "in.tif"})


# --------------------------------------------------------------------------- concurrent and killed writers


def test_a_second_writer_of_the_same_file_is_refused_while_the_first_writes(tmp_path: Path):
    """Another run in the same process (QGIS runs each toolbox run in a thread of its own)."""
    target = tmp_path / "mask.tif"
    refused: list[str] = []

    def second_run() -> None:
        try:
            with atomic_output(target):
                pass
        except OutputError as exc:
            refused.append(str(exc))

    with atomic_output(target) as first:
        first.write_bytes(b"first")
        other_thread = threading.Thread(target=second_run)
        other_thread.start()
        other_thread.join()
        with atomic_output(tmp_path / "other.tif") as other:  # another file is no conflict
            other.write_bytes(b"other")
    assert len(refused) == 1 and re.search(r"Another run is writing .*mask\.tif right now", refused[0])
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.tif", "other.tif"]


def test_one_run_writing_one_path_twice_is_named_a_duplicate_not_another_run(tmp_path: Path):
    target = tmp_path / "ref.tif"
    with atomic_output(target) as first:
        first.write_bytes(b"first")
        with pytest.raises(OutputError, match=r"This run writes .*ref\.tif twice: two of its outputs"):
            with atomic_output(tmp_path / "." / "ref.tif"):
                pass
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.tif"]


def test_a_writer_in_another_process_is_detected(tmp_path: Path):
    target = tmp_path / "mask.tif"
    child = _writer_child(tmp_path, target, hold_seconds=30)
    try:
        _wait_for_partial(tmp_path)
        with pytest.raises(OutputError, match="Another run is writing"):
            with atomic_output(target):
                pass
    finally:
        child.kill()
        child.wait()


def _writer_child(folder: Path, target: Path, hold_seconds: float) -> subprocess.Popen:
    """A process that writes a real mask GeoTIFF into its partial file and then waits inside atomic_output."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(PACKAGE_ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        import numpy as np
        from model_helpers import utm_grid
        from s2cloudmask.inference.masking.writer import MaskWriter
        from s2cloudmask.inference.outputs import atomic_output
        with atomic_output({str(target)!r}) as temporary:
            with MaskWriter(temporary, utm_grid(300, 300, 10.0), {{"MODEL": "test"}}) as writer:
                writer.write(np.ones((300, 300), np.uint8))
            print("written", flush=True)
            time.sleep({hold_seconds})
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _wait_for_partial(folder: Path, timeout: float = 60.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partials = [p for p in folder.iterdir() if PARTIAL_MARK in p.name and p.name.endswith(tuple("0123456789abcdef"))]
        if partials and any((p.parent / (p.name + ".aux.xml")).exists() for p in partials):
            return partials
        time.sleep(0.1)
    raise AssertionError(f"the child wrote no partial file in {folder}: {sorted(p.name for p in folder.iterdir())}")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_run_leaves_nothing_that_looks_finished_and_the_next_run_cleans_up(tmp_path: Path, how):
    target = tmp_path / "mask.tif"
    child = _writer_child(tmp_path, target, hold_seconds=60)
    assert child.stdout.readline().strip() == "written"
    os.kill(child.pid, how)
    child.wait()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not target.exists()
    assert all(name.startswith(".") for name in left), left  # hidden
    assert not any(name.lower().endswith((".tif", ".tiff")) for name in left), left  # no raster name
    assert any(PARTIAL_MARK in name for name in left)
    write_mask(target, random_codes(32, 32))  # the next run writing beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.tif", "mask.tif.aux.xml"]


def test_partials_of_a_live_writer_are_left_alone(tmp_path: Path):
    child = _writer_child(tmp_path, tmp_path / "busy.tif", hold_seconds=30)
    try:
        assert child.stdout.readline().strip() == "written"  # its staging file is gone; its output waits
        partials = _wait_for_partial(tmp_path)
        assert remove_stale_partials(tmp_path) == []
        write_mask(tmp_path / "mask.tif", random_codes(32, 32))
        assert all(p.exists() for p in partials)
        assert (tmp_path / f".busy.tif{LOCK_SUFFIX}").exists()
    finally:
        child.kill()
        child.wait()


def test_partials_of_earlier_releases_are_removed_once_old(tmp_path: Path):
    old = tmp_path / ".mask.partial-1a2b3c4d.tif"
    old.write_bytes(b"II*\0")
    (tmp_path / ".mask.partial-1a2b3c4d.tif.aux.xml").write_text("<PAMDataset/>", encoding="utf-8")
    recent = tmp_path / ".other.partial-0f0f0f0f.tif"
    recent.write_bytes(b"II*\0")
    hours_ago = time.time() - 7200
    os.utime(old, (hours_ago, hours_ago))
    assert remove_stale_partials(tmp_path) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == [recent.name]


def test_a_partial_without_a_lock_is_stale_and_cleaning_takes_no_other_runs_lock(tmp_path: Path):
    """Cleaning never creates another target's lock: a parallel run starting on that target is not refused."""
    stale = tmp_path / f".other.tif{PARTIAL_MARK}0123456789ab"
    stale.write_bytes(b"II*\0")
    Path(str(stale) + ".aux.xml").write_text("<PAMDataset/>", encoding="utf-8")
    write_mask(tmp_path / "mask.tif", random_codes(32, 32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.tif", "mask.tif.aux.xml"]
