"""A STAC API search (pystac-client against the range server's /search) and the batch runner's --stac."""

from __future__ import annotations

import copy
import json
import sys

import pytest
import rasterio
from s2cloudmask.inference.batch.cli import main as batch_main
from s2cloudmask.inference.batch.records import DONE
from s2cloudmask.inference.errors import DependencyError, ParameterError
from s2cloudmask.inference.reading.stac_search import ITEMS_FOLDER, StacSearch, search_items

from stac_helpers import serve_item, served, write_safe


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """A served Earth Search item and three variants of it: cloudier, later, another collection."""
    root = tmp_path_factory.mktemp("catalogue")
    safe = write_safe(root / "safe")
    with served(root / "served") as server:
        serve_item(server, safe, "scene")
        item = json.loads((server.root / "scene" / "item.json").read_text())
        variants = [item]
        for name, change in (("cloudy", {"eo:cloud_cover": 90.0}), ("later", {"datetime": "2022-08-01T10:00:00Z"}),
                             ("l1c", {})):
            other = copy.deepcopy(item)
            other["id"] = name
            other["properties"].update(change)
            other["collection"] = "sentinel-2-l1c" if name == "l1c" else item["collection"]
            variants.append(other)
        server.catalogue(variants)
        yield server, item


def test_a_search_keeps_the_collection_dates_area_and_cloud_cover(catalogue):
    server, item = catalogue
    west, south, east, north = item["bbox"]
    found = search_items(StacSearch(server.base, "sentinel-2-l2a", (west, south, east, north), "2022-06-01",
                                    "2022-06-30", max_cloud=50))
    assert [one["id"] for one in found] == [item["id"]]
    assert found[0]["assets"]["red"]["href"] == item["assets"]["red"]["href"]
    assert {one["id"] for one in search_items(StacSearch(server.base))} == {item["id"], "cloudy", "later"}
    assert search_items(StacSearch(server.base, bbox=(east + 1, south, east + 2, north))) == []


def test_bad_search_values_are_named():
    with pytest.raises(ParameterError, match="not an http"):
        StacSearch("earth-search").check()
    with pytest.raises(ParameterError, match="west < east"):
        StacSearch("https://x.example/v1", bbox=(10.0, 47.0, 9.0, 48.0)).check()
    with pytest.raises(ParameterError, match="not a date"):
        StacSearch("https://x.example/v1", start="June").check()


def test_without_pystac_client_a_search_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pystac_client", None)  # import fails as where it is not installed
    with pytest.raises(DependencyError, match="pystac-client.*Install dependencies"):
        search_items(StacSearch("https://x.example/v1"))


@pytest.mark.slow
def test_the_batch_runner_lists_what_a_search_found_then_masks_it_within_the_area(catalogue, tmp_path, capsys):
    server, item = catalogue
    west, south, east, north = item["bbox"]
    out = tmp_path / "out"
    code = batch_main(["--stac", server.base, "--bbox", f"{west},{south},{(west + east) / 2},{(south + north) / 2}",
                       "--start", "2022-06-01", "--end", "2022-06-30", "--max-cloud", "50", str(out),
                       "--resolution", "60", "--workers", "1"])
    said = capsys.readouterr().err
    assert code == 0, said
    assert "1 STAC item(s) found" in said and f"  {item['id']}  2022-06-15  cloud 25.0 %" in said
    assert said.index("found") < said.index("Starting workers")
    assert (out / ITEMS_FOLDER / f"{item['id']}.json").is_file()
    rows = json.loads((out / "summary.json").read_text())["products"]
    assert [row["status"] for row in rows] == [DONE]
    with rasterio.open(rows[0]["mask"]) as mask:  # about half the scene's 40 x 40 pixels a side: the area searched
        assert 20 <= mask.width <= 21 and 20 <= mask.height <= 21
