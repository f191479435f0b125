"""The batch runner on a real dask LocalCluster (two worker processes) over small generated products.

Products come from the project's generator at 2.4 km and are masked at 60 m,
so each task takes a second or two; one of them has a corrupt JPEG 2000 band.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import rasterio
from batch_helpers import corrupt_name, write_products
from s2cloudmask.inference.batch.inputs import find_products
from s2cloudmask.inference.batch.records import DONE, FAILED, NOT_RUN, SKIPPED, Settings, record_path
from s2cloudmask.inference.batch.runner import run_batch
from s2cloudmask.inference.batch.workers import plan_workers
from s2cloudmask.inference.errors import Cancelled, ProductError
from s2cloudmask.inference.reading.product import open_product

from tests.sandbox_env import PACKAGE_ROOT, REPO

SETTINGS = Settings(resolution=60, threads=1)


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> Path:
    """Three good products and one whose B02 cannot be decoded, in one folder."""
    return write_products(tmp_path_factory.mktemp("batch") / "products")


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*_cloudmask.tif")}


class CancelAfterFirst:
    """Feedback that asks to stop as soon as the first product has finished."""

    def __init__(self) -> None:
        self.finished = 0

    def progress(self, percent: float, stage: str) -> None:
        if "products" in stage:
            self.finished += 1

    def is_cancelled(self) -> bool:
        return self.finished >= 1

    def warn(self, message: str) -> None:
        pass


# --- inputs and sizing, no cluster -------------------------------------------------------------------------------

def test_folder_glob_and_list_file_name_the_same_products(products, tmp_path):
    from_folder = find_products(products)
    assert len(from_folder) == 4 and all(Path(p).name.endswith(".SAFE") for p in from_folder)
    assert find_products(str(products / "*MSIL2A*.SAFE")) == [p for p in from_folder if "MSIL2A" in p]
    listing = tmp_path / "list.txt"
    listing.write_text("# products to mask\n" + "\n".join(from_folder) + "\nmissing.SAFE\n")
    listed = find_products(listing)
    assert listed[:4] == from_folder and listed[4] == str(tmp_path / "missing.SAFE")  # fails in its own task


def test_a_stac_item_is_a_product_that_opens_the_local_product_its_asset_points_at(products, tmp_path):
    product = next(path for path in find_products(products) if "MSIL2A" in path)
    item = tmp_path / "item.json"
    item.write_text(json.dumps({"type": "Feature", "id": "x", "assets": {
        "thumbnail": {"href": "https://example.com/x.png"},
        "product": {"href": os.path.relpath(product, tmp_path)}}}))
    assert find_products(item) == [str(item)] == find_products(tmp_path, stac=True)
    assert find_products("https://example.com/items/x") == ["https://example.com/items/x"]
    assert open_product(item).root == product
    remote = tmp_path / "remote.json"
    remote.write_text(json.dumps({"type": "Feature", "assets": {"product": {"href": "s3://bucket/S2B_MSIL2A_x.zip"}}}))
    with pytest.raises(ProductError, match="remote.json.*no Sentinel-2 band assets.*no product on this disk"):
        open_product(remote)


def test_nothing_to_run_is_an_error_that_names_the_folder(tmp_path):
    with pytest.raises(ProductError, match=str(tmp_path)):
        find_products(tmp_path)


def test_workers_are_sized_for_cores_and_memory():
    gb = 1024**3
    laptop = plan_workers(2, 16 * gb)
    assert (laptop.workers, laptop.threads) == (1, 2)
    server = plan_workers(32, 64 * gb)
    assert (server.workers, server.threads) == (16, 2) and server.memory_limit * server.workers <= 64 * gb
    tight = plan_workers(32, 8 * gb)
    assert (tight.workers, tight.threads) == (3, 10) and "memory-bound" in tight.reason
    gpu = plan_workers(16, 64 * gb, gpu=True)
    assert (gpu.workers, gpu.threads) == (1, 16)
    assert plan_workers(16, 64 * gb, workers=2, threads=3).workers == 2


# --- runs on a LocalCluster ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_good_products_give_masks_and_the_corrupt_one_its_message(products, client, tmp_path, cog_errors):
    out = tmp_path / "out"
    result = run_batch(find_products(products), out, SETTINGS, client=client)

    rows = {Path(row["source"]).name: row for row in result.rows}
    corrupt = rows.pop(corrupt_name(products) + ".SAFE")
    assert corrupt["status"] == FAILED and "B02.jp2" in corrupt["error"] and "download" in corrupt["error"]
    for row in rows.values():
        assert row["status"] == DONE, row["error"]
        assert Path(row["mask"]).is_file() and row["device"] == "CPU" and row["date"] and row["tile"] == "32UPC"
        assert cog_errors(row["mask"]) == []
        total = sum(row[key] for key in ("clear_percent", "cloud_shadow_percent", "semi_transparent_cloud_percent",
                                         "cloud_percent"))
        assert total == pytest.approx(100.0, abs=0.01)
        if row["level"] == "L2A":
            assert 0.0 <= row["scl_agreement"] <= 1.0 and cog_errors(row["difference"]) == []
        else:
            assert row["scl_agreement"] is None and row["difference"] is None
    with (out / "summary.csv").open() as stream:
        table = list(csv.DictReader(stream))
    assert [r["status"] for r in table].count(DONE) == 3
    assert any(r["status"] == FAILED and "B02.jp2" in r["error"] for r in table)
    assert json.loads((out / "summary.json").read_text())["totals"] == {DONE: 3, FAILED: 1}
    assert not list(out.rglob(".*partial*"))

    before = _mtimes(out)
    again = run_batch(find_products(products), out, SETTINGS, client=client)
    assert again.counts == {DONE: 0, SKIPPED: 3, FAILED: 1, NOT_RUN: 0}
    assert _mtimes(out) == before  # the finished masks were not written again
    corrupt_record = record_path(out, corrupt_name(products))
    assert again.rows[[Path(r["source"]).name for r in again.rows].index(corrupt_name(products) + ".SAFE")][
        "error"] == corrupt["error"]  # not run again: its files are unchanged, it would fail the same way

    stamp = corrupt_record.stat().st_mtime_ns
    os.utime(next((products / (corrupt_name(products) + ".SAFE")).rglob("*_B02.jp2")))  # downloaded again
    run_batch([corrupt["source"]], out, SETTINGS, client=client)
    assert corrupt_record.stat().st_mtime_ns > stamp  # a changed product is tried again

    one = next(row["source"] for row in rows.values() if row["level"] == "L1C")
    changed = run_batch([one], out, Settings(resolution=60, threads=1, buffer=120.0, shadow_check=False), client=client)
    assert changed.counts[DONE] == 1  # other settings give other outputs: the earlier ones do not count
    with rasterio.open(changed.rows[0]["mask"]) as mask:
        assert mask.tags()["BUFFER"].startswith("120 m") and mask.tags()["CLASS2_SOURCE"] == "model"


def test_a_killed_worker_costs_a_retry_not_the_product(products, client, tmp_path):
    out = tmp_path / "out"
    source = next(p for p in find_products(products) if "MSIL2A_2022" in p)
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(
        result=run_batch([source], out, SETTINGS, client=client, retries=2)))
    pids = client.run(os.getpid)
    runner.start()
    busy = None
    deadline = time.monotonic() + 60
    while busy is None and time.monotonic() < deadline:
        busy = next((worker for worker, tasks in client.processing().items() if tasks), None)
        time.sleep(0.02)
    assert busy is not None, "the product never started"
    os.kill(pids[busy], signal.SIGKILL)
    runner.join(timeout=120)

    row = outcome["result"].rows[0]
    assert row["status"] == DONE and row["attempts"] == 2
    assert Path(row["mask"]).is_file()
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker


@pytest.mark.slow
def test_stac_items_in_files_of_one_name_are_told_apart_by_their_ids(products, client, tmp_path):
    """Items kept as <folder>/item.json: the product id is the item's, not the file's name."""
    from stac_helpers import serve_item, served

    safes = sorted(path for path in products.iterdir() if "MSIL2A" in path.name)
    with served(tmp_path / "served") as server:
        urls = [serve_item(server, safe, f"scene{number}") for number, safe in enumerate(safes)]
        result = run_batch(urls, tmp_path / "out", Settings(resolution=60, threads=1, compare=False),
                           client=client)
    ids = [json.loads((tmp_path / "served" / f"scene{number}" / "item.json").read_text())["id"]
           for number in range(len(safes))]
    assert len(set(ids)) == len(safes) == 2
    assert [row["status"] for row in result.rows] == [DONE, DONE]
    assert [row["product_id"] for row in result.rows] == ids
    assert all((tmp_path / "out" / f"{item}_cloudmask.tif").is_file() for item in ids)


@pytest.mark.slow
def test_a_cancelled_run_resumes_with_only_the_rest(products, client, tmp_path):
    out = tmp_path / "out"
    sources = [p for p in find_products(products) if "MSIL1C_2020" not in p]
    with pytest.raises(Cancelled, match="run it again"):
        run_batch(sources, out, SETTINGS, client=client, feedback=CancelAfterFirst())
    first = json.loads((out / "summary.json").read_text())["products"]
    finished = {row["source"] for row in first if row["status"] == DONE}
    assert 1 <= len(finished) < len(sources)
    assert {row["status"] for row in first} <= {DONE, NOT_RUN}

    second = run_batch(sources, out, SETTINGS, client=client)
    statuses = {row["source"]: row["status"] for row in second.rows}
    assert {s for s, status in statuses.items() if status == SKIPPED} == finished
    assert {s for s, status in statuses.items() if status == DONE} == set(sources) - finished


@pytest.mark.slow
def test_make_batch_entry_point_masks_the_folder_and_resumes_after_an_interrupt(products, tmp_path):
    """tools/batch.py with its own LocalCluster: Ctrl-C after the first product, then the rerun does the rest."""
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "tools" / "batch.py"), str(products), str(out),
               "--workers", "2", "--threads", "1", "--resolution", "60", "--no-compare"]
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
    first = subprocess.Popen(command, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((out / "records").glob("*.json")) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=120)
    summary = json.loads((out / "summary.json").read_text())
    done_first = {row["product_id"] for row in summary["products"] if row["status"] in (DONE, FAILED)}
    assert first.returncode == 1 and done_first, stderr

    second = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 1, second.stderr  # the corrupt product fails again
    rows = json.loads((out / "summary.json").read_text())["products"]
    assert sum(row["status"] == DONE for row in rows) + sum(row["status"] == SKIPPED for row in rows) == 3
    assert {row["product_id"] for row in rows if row["status"] == SKIPPED} <= done_first
    assert f"FAILED  {corrupt_name(products)}" in second.stderr
    assert len(list(out.glob("*_cloudmask.tif"))) == 3
    assert record_path(out, corrupt_name(products)).is_file()


def test_a_named_scheduler_is_used_as_it_is(products, client, tmp_path, monkeypatch):
    """An existing cluster, named by DASK_SCHEDULER_ADDRESS as dask-jobqueue or Kubernetes users name theirs."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", client.scheduler.address)
    source = next(p for p in find_products(products) if "MSIL1C_2022" in p)
    result = run_batch([source], tmp_path / "out", SETTINGS)
    assert result.counts[DONE] == 1 and result.plan is None  # no LocalCluster was started here
    assert len(client.scheduler_info()["workers"]) == 2
