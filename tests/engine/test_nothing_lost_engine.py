"""The newer parts keep the promise masking keeps: the batch runner, reference masks, validation, patch export
and product reading, each case one a user met (the rest of the cases run through qgis_process in
tests/qgis/test_nothing_lost_qgis.py).

Each run must end with a clear message and the exit code (or engine error) saying whether it did what was
asked, no traceback, and every file that was there before byte-identical (sha256 before and after). Products
come from the project's generator at 2.4 km and are masked at 60 m.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio
from disk import tree_digests
from s2cloudmask.inference.batch.records import DONE, FAILED, NOT_RUN, SKIPPED, Settings
from s2cloudmask.inference.batch.runner import run_batch
from s2cloudmask.inference.comparing.validation_report import check_validation_report
from s2cloudmask.inference.errors import OutputError, ParameterError, ProductError
from s2cloudmask.inference.feedback import SilentFeedback
from s2cloudmask.inference.masking.engine import mask_product
from s2cloudmask.inference.reading.product import open_product
from s2cloudmask.inference.reference.build import build_reference
from s2cloudmask.inference.reference.patch_export import export_patches
from s2cloudmask.tools import synthetic_product as sp

from tests.sandbox_env import PACKAGE_ROOT, REPO

SETTINGS = Settings(resolution=60, threads=1, compare=False)
SIZE = 240


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """Generated products, each written once: an L2A of baseline 04.00 and an L1C of 04.00."""
    folder = tmp_path_factory.mktemp("library")
    for level, seed in (("L2A", 1), ("L1C", 2)):
        sp.write_product(folder / level, level=level, size=SIZE, seed=seed, extras=False)
    return folder


def product_copy(library: Path, level: str, folder: Path) -> Path:
    """A fresh copy of a generated product (its .SAFE folder) in `folder`."""
    safe = next((library / level).glob("*.SAFE"))
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(safe, folder / safe.name))


def batch_command(*arguments: str, cwd: Path = REPO, timeout: int = 300) -> subprocess.CompletedProcess:
    """`make batch` as a user runs it: tools/batch.py with its own workers, on a fresh interpreter."""
    return subprocess.run([sys.executable, str(REPO / "tools" / "batch.py"), *arguments],
                          env=dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT)), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def no_traceback(ran: subprocess.CompletedProcess) -> str:
    text = ran.stdout + ran.stderr
    assert "Traceback" not in text, text
    return text


# --------------------------------------------------------------------------- writes inside a product (5)


def test_batch_refuses_an_output_folder_inside_a_product_before_writing_anything(library, tmp_path):
    """tools/batch.py prods prods/X.SAFE/masks used to write records/ and summary.* inside the .SAFE."""
    safe = product_copy(library, "L2A", tmp_path / "prods")
    before = tree_digests(tmp_path)
    ran = batch_command(str(tmp_path / "prods"), str(safe / "masks"), "--workers", "1", "--resolution", "60")
    text = no_traceback(ran)
    assert ran.returncode == 2, text
    assert f"lies inside the product {safe.name}" in text and "Choose a folder outside the input" in text
    assert tree_digests(tmp_path) == before and not (safe / "masks").exists()


# --------------------------------------------------------------------------- resume (6, 7)


@pytest.mark.slow
def test_a_truncated_mask_is_made_again_not_skipped(library, client, tmp_path):
    """A finished mask cut to 1000 bytes used to be reported "skipped" and kept."""
    safe = product_copy(library, "L1C", tmp_path / "prods")
    out = tmp_path / "out"
    first = run_batch([str(safe)], out, SETTINGS, client=client)
    assert first.counts[DONE] == 1
    mask = Path(first.rows[0]["mask"])
    whole = mask.stat().st_size
    product = tree_digests(safe)
    with open(mask, "r+b") as handle:
        handle.truncate(1000)

    again = run_batch([str(safe)], out, SETTINGS, client=client)
    assert again.counts == {DONE: 1, SKIPPED: 0, FAILED: 0, NOT_RUN: 0}
    assert mask.stat().st_size == whole
    with rasterio.open(mask) as dataset:
        assert dataset.read(1).any()
    assert tree_digests(safe) == product
    third = run_batch([str(safe)], out, SETTINGS, client=client)
    assert third.counts[SKIPPED] == 1  # whole again: now it is skipped


def test_a_rerun_from_another_folder_or_with_absolute_paths_resumes(library, client, tmp_path, monkeypatch):
    """Records used to keep OUT relative to where the first run started, so a rerun recomputed everything."""
    safe = product_copy(library, "L1C", tmp_path / "prods")
    (tmp_path / "first").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    first = run_batch([os.path.relpath(safe)], "out", SETTINGS, client=client)
    assert first.counts[DONE] == 1 and Path(first.rows[0]["mask"]).is_absolute()
    out = tmp_path / "first" / "out"
    written = tree_digests(out, safe)

    monkeypatch.chdir(tmp_path / "elsewhere")
    again = run_batch([str(safe)], out, SETTINGS, client=client)
    assert again.counts[SKIPPED] == 1 and again.rows[0]["mask"] == first.rows[0]["mask"]
    moved = tmp_path / "moved-out"
    shutil.move(str(out), moved)
    kept = tree_digests(moved)
    from_moved = run_batch([os.path.relpath(safe)], os.path.relpath(moved), SETTINGS, client=client)
    assert from_moved.counts[SKIPPED] == 1 and from_moved.rows[0]["mask"].startswith(str(moved))
    assert {k: v for k, v in tree_digests(moved).items() if "summary" not in k} == \
        {k: v for k, v in kept.items() if "summary" not in k}  # the masks and records were not written again
    assert {k: v for k, v in written.items() if k.startswith(str(safe))} == tree_digests(safe)


# --------------------------------------------------------------------------- parameter ranges (9) and OUT (10)


def test_out_of_range_workers_are_refused_at_once_not_hung_on(library, tmp_path):
    """--workers -1 used to hang at "Starting workers" for ever."""
    safe = product_copy(library, "L1C", tmp_path / "prods")
    before = tree_digests(tmp_path)
    ran = batch_command(str(safe), str(tmp_path / "out"), "--workers", "-1", timeout=120)
    text = no_traceback(ran)
    assert ran.returncode == 2 and "workers -1 is out of range; give 1 to 256" in text, text
    assert tree_digests(tmp_path) == before and not (tmp_path / "out").exists()
    for arguments, named in (({"retries": -1}, "retries -1"), ({"workers": 0}, "workers 0"),
                             ({"workers": 10**6}, "workers 1000000")):
        with pytest.raises(ParameterError, match=named):
            run_batch([str(safe)], tmp_path / "out", SETTINGS, **arguments)
    with pytest.raises(ParameterError, match="threads -3 is out of range"):
        run_batch([str(safe)], tmp_path / "out", Settings(threads=-3))
    assert tree_digests(tmp_path) == before


def test_an_output_folder_that_is_a_file_is_named_not_a_traceback(library, tmp_path):
    safe = product_copy(library, "L1C", tmp_path / "prods")
    out = tmp_path / "out"
    out.write_text("my notes\n")
    before = tree_digests(tmp_path)
    ran = batch_command(str(safe), str(out), "--workers", "1")
    text = no_traceback(ran)
    assert ran.returncode == 2 and f"The output folder {out} is a file; give a folder" in text, text
    assert tree_digests(tmp_path) == before


# --------------------------------------------------------------------------- the same product twice (14)


@pytest.mark.slow
def test_the_same_product_as_safe_and_zip_is_masked_once_and_reported_once(library, tmp_path):
    """The second used to "fail" with "Another run is writing", a run that did not exist."""
    safe = product_copy(library, "L1C", tmp_path / "prods")
    sp.zip_product(safe, safe.with_suffix(".zip"))
    before = tree_digests(tmp_path / "prods")
    ran = batch_command(str(tmp_path / "prods"), str(tmp_path / "out"), "--workers", "1", "--threads", "1",
                        "--resolution", "60", "--no-compare")
    text = no_traceback(ran)
    assert ran.returncode == 0, text
    assert text.count("the same product as") == 1 and "Another run" not in text
    rows = {Path(row["source"]).name: row for row in json.loads((tmp_path / "out" / "summary.json").read_text())["products"]}
    assert rows[safe.name]["status"] == DONE
    assert rows[safe.with_suffix(".zip").name]["status"] == SKIPPED
    assert f"the same product as {safe}" in rows[safe.with_suffix(".zip").name]["error"]
    assert tree_digests(tmp_path / "prods") == before


# --------------------------------------------------------------------------- the engine's own guard (2, 3, 4, 13)


def test_a_reference_mask_refuses_its_probabilities_and_one_path_for_two_outputs(library, tmp_path):
    """The engine itself refuses, before reading a sample, whoever calls it (Processing, the dock, a script)."""
    safe = product_copy(library, "L2A", tmp_path / "prods")
    probabilities = tmp_path / "prob.tif"
    probabilities.write_bytes(b"the user's probabilities")
    before = tree_digests(tmp_path)
    with pytest.raises(OutputError, match=r"OUTPUT \(.*prob\.tif\) is PROBABILITIES itself"):
        build_reference(safe, [], probabilities, probabilities=probabilities)
    with pytest.raises(OutputError, match="OUTPUT and OUTPUT_CONFIDENCE are the same file"):
        build_reference(safe, [], tmp_path / "ref.tif", confidence=tmp_path / "ref.tif")
    with pytest.raises(OutputError, match=r"lies inside INPUT \(.*\.SAFE\)"):
        build_reference(safe / "MTD_MSIL2A.xml", [], safe / "ref.tif")
    assert tree_digests(tmp_path) == before


def test_a_validation_report_refuses_a_table_over_its_list_of_pairs(tmp_path):
    pairs = tmp_path / "v.csv"
    pairs.write_text("mask,reference\nm.tif,r.tif\n")
    before = tree_digests(tmp_path)
    with pytest.raises(OutputError, match=r"the CSV beside REPORT \(.*v\.csv\) is PAIRS itself"):
        check_validation_report(tmp_path / "v.html", batch=True, inputs={"PAIRS": pairs})
    check_validation_report(tmp_path / "v.html", batch=False, inputs={"PAIRS": pairs})  # one pair writes no CSV
    assert tree_digests(tmp_path) == before


def test_patch_export_refuses_a_folder_inside_the_product(library, tmp_path):
    safe = product_copy(library, "L2A", tmp_path / "prods")
    reference = tmp_path / "reference.tif"
    shutil.copyfile(sp.truth_path(next((library / "L2A").glob("*.SAFE"))), reference)
    before = tree_digests(tmp_path)
    with pytest.raises(OutputError, match=r"OUTPUT_FOLDER/.* lies inside the product \(.*\.SAFE\)"):
        export_patches([(str(safe), str(reference))], safe / "patches", patch_size=32)
    assert tree_digests(tmp_path) == before and not (safe / "patches").exists()


# --------------------------------------------------------------------------- reading products (17, 18)


def test_band_paths_from_the_metadata_stay_inside_the_product(library, tmp_path):
    """An IMAGE_FILE of ../outside_B02 used to be read as the product's B02."""
    safe = product_copy(library, "L1C", tmp_path / "prods")
    mtd = safe / "MTD_MSIL1C.xml"
    b02 = next(safe.glob("GRANULE/*/IMG_DATA/*_B02.jp2"))
    shutil.copyfile(b02, safe.parent / "outside_B02.jp2")
    entry = b02.relative_to(safe).with_suffix("").as_posix()
    text = mtd.read_text(encoding="utf-8")
    assert f">{entry}<" in text
    mtd.write_text(text.replace(f">{entry}<", ">../outside_B02<"), encoding="utf-8")
    before = tree_digests(tmp_path)
    with pytest.raises(ProductError, match=r"MTD_MSIL1C\.xml gives the IMAGE_FILE '\.\./outside_B02', which lies "
                                           r"outside the product .*Download the product again"):
        open_product(safe)
    with pytest.raises(ProductError, match="outside the product"):
        mask_product(safe, tmp_path / "mask.tif", resolution=60, device="cpu")
    assert tree_digests(tmp_path) == before


def test_a_0400_product_without_its_cirrus_layer_is_called_incomplete(library, tmp_path):
    """It used to be told its baseline was before 04.00."""
    safe = product_copy(library, "L2A", tmp_path / "prods")
    next(safe.rglob("MSK_CLASSI_B00.jp2")).unlink()
    before = tree_digests(tmp_path)
    notices = SilentFeedback()
    result = mask_product(safe, tmp_path / "mask.tif", resolution=60, device="cpu", feedback=notices)
    note = next(w for w in notices.warnings if "MSK_CLASSI_B00" in w)
    assert "baseline 04.00 products carry it, so this one is incomplete; download it again" in note
    assert "before 04.00" not in note and "before 04.00" not in result.class3_source
    assert tree_digests(safe) == {k: v for k, v in before.items() if k.startswith(str(safe))}
