"""STAC items as products, read over HTTP from a real server on 127.0.0.1 (tools/range_server.py).

Generated products are served as Earth Search and Planetary Computer serve theirs:
one COG per band and an item. The real catalogues cannot be reached here; these
tests hold the reader to their layouts, radiometry rules and failures instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from s2cloudmask.inference.errors import ProductError, RemoteError
from s2cloudmask.inference.reading.product import open_product, product_grid
from s2cloudmask.inference.reading.reader import ProductReader
from s2cloudmask.inference.reading.signing import SIGNING_URL_VARIABLE, TOKEN_VARIABLE
from s2cloudmask.inference.reading.stac import LAYOUT_EARTH_SEARCH, LAYOUT_PLANETARY
from s2cloudmask.tools.stac_items import Variant

from stac_helpers import serve_item, served, write_safe
from tests.sandbox_env import REPO

PIXEL = (117, 83)  # a known 10 m pixel of B04 (row, column)


@pytest.fixture(scope="module")
def safes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("safes")
    kinds = {"l2a": ("L2A", "04.00"), "l2a_0209": ("L2A", "02.09"), "l1c": ("L1C", "04.00"),
             "l1c_0209": ("L1C", "02.09")}
    return {name: write_safe(root / name, level, baseline) for name, (level, baseline) in kinds.items()}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with served(tmp_path_factory.mktemp("served")) as running:
        yield running


def raw_dn(safe: Path, band: str = "B04") -> int:
    with rasterio.open(open_product(safe).band_files[band][10]) as dataset:
        return int(dataset.read(1, window=Window(PIXEL[1], PIXEL[0], 1, 1))[0, 0])


def reflectance_at_pixel(product, band: str = "B04") -> float:
    grid = product_grid(product, 10)
    with ProductReader(product, [band], grid) as reader:
        return float(reader.read(Window(PIXEL[1], PIXEL[0], 1, 1)).data[0, 0, 0])


ES = Variant()
# (safe, what the item says and holds, the offset in DN the known pixel's reflectance is made with, a warning)
RADIOMETRY_TABLE = {
    "ES L2A 04.00, flag true, offset removed": ("l2a", ES, -1000, None),
    "ES L2A 04.00, flag false, offset kept": ("l2a", dataclasses.replace(ES, remove_offset=False, flag=False),
                                             -1000, None),
    "ES L2A 04.00, flag false, offset removed (mistagged)": ("l2a", dataclasses.replace(ES, flag=False), -1000,
                                                             "removed already"),
    "ES L2A 04.00, flag absent, offset kept": ("l2a", dataclasses.replace(ES, remove_offset=False, flag=None),
                                               -1000, None),
    "ES L2A 02.09, flag absent, no offset": ("l2a_0209", dataclasses.replace(ES, flag=None, advertise_offset=False),
                                             0, None),
    "ES L2A 02.09, flag false, offset advertised": ("l2a_0209", dataclasses.replace(ES, flag=False), 0,
                                                    "predates the offset"),
    "ES C1 L2A 05.10, no flag, offset kept": ("l2a", dataclasses.replace(
        ES, collection="sentinel-2-c1-l2a", remove_offset=False, flag=None, baseline="05.10"), -1000, None),
    "ES L1C 04.00, offset kept": ("l1c", dataclasses.replace(ES, collection="sentinel-2-l1c", remove_offset=False,
                                                             flag=None), -1000, None),
    "ES L1C 02.09, no offset": ("l1c_0209", dataclasses.replace(ES, collection="sentinel-2-l1c", flag=None,
                                                                advertise_offset=False), 0, None),
    "PC L2A 04.00 (offset from the product metadata)": ("l2a", Variant("planetary-computer", remove_offset=False,
                                                                       flag=None), -1000, None),
    "PC L2A 02.09": ("l2a_0209", Variant("planetary-computer", remove_offset=False, flag=None), 0, None),
}


@pytest.mark.parametrize("case", RADIOMETRY_TABLE)
def test_a_known_pixel_has_the_safes_reflectance_in_every_item_variant(case, safes, server):
    kind, variant, offset, warning = RADIOMETRY_TABLE[case]
    safe = safes[kind]
    product = open_product(serve_item(server, safe, f"radiometry-{list(RADIOMETRY_TABLE).index(case)}", variant))
    expected = (raw_dn(safe) + offset) / 10000
    assert reflectance_at_pixel(open_product(safe)) == pytest.approx(expected, abs=1e-6)
    assert reflectance_at_pixel(product) == pytest.approx(expected, abs=1e-6)
    if warning:
        assert any(warning in message for message in product.warnings), product.warnings
    else:
        assert not product.warnings, product.warnings


def test_earth_search_and_planetary_items_are_told_apart_by_their_asset_keys(safes, server):
    es = open_product(serve_item(server, safes["l2a"], "layout-es"))
    pc = open_product(serve_item(server, safes["l2a"], "layout-pc", Variant("planetary-computer", flag=None)))
    safe = open_product(safes["l2a"])
    assert (es.layout, pc.layout) == (LAYOUT_EARTH_SEARCH, LAYOUT_PLANETARY)
    for product in (es, pc):
        assert product.level == "L2A" and product.tile_id == safe.tile_id
        assert product.grids == safe.grids and product.crs == safe.crs
        assert {"B02", "B03", "B04", "B8A", "B11", "B12"} <= set(product.bands)
        assert list(product.mask_files) == ["SCL_20m"]
        assert product.sensing_time == safe.sensing_time.replace(microsecond=product.sensing_time.microsecond)
    assert es.product_id == "S2B_32UPC_20220615_0_L2A" and pc.product_id == safe.product_id


def test_angles_come_from_the_granule_metadata_else_from_the_items_view_properties(safes, server):
    safe = open_product(safes["l2a"])
    with_tile = open_product(serve_item(server, safes["l2a"], "angles-tile"))
    without = open_product(serve_item(server, safes["l2a"], "angles-view",
                                      dataclasses.replace(ES, granule_metadata=False)))
    assert with_tile.angles == safe.angles
    assert without.tile is None and without.angles is not None
    assert without.angles.sun_zenith == pytest.approx(safe.angles.sun_zenith)
    assert without.angles.sun_azimuth == pytest.approx(safe.angles.sun_azimuth)


def test_a_window_reads_only_the_blocks_under_it(tmp_path):
    safe = write_safe(tmp_path / "safe", size=1200, seed=5)
    with served(tmp_path / "served") as server:
        product = open_product(serve_item(server, safe, "window", dataclasses.replace(ES, bands=("B02", "B8A"))))
        grid = product_grid(product, 10)
        server.reset_counts()
        with ProductReader(product, ["B02", "B8A"], grid) as reader:
            block = reader.read(Window(544, 544, 160, 160))  # 1.6 x 1.6 km of 12 x 12 km, inside one block of each
        served_bytes = server.bytes_served()
    assert block.valid.any()
    sizes = {name: (tmp_path / "served" / "window" / name).stat().st_size for name in ("B02.tif", "B8A.tif")}
    fetched = {name: served_bytes[f"window/{name}"] for name in sizes}
    # B02: one 256-pixel block of 25 (4 %); B8A (20 m): one of 9 (11 %); both with the header's few kB
    assert 0 < fetched["B02.tif"] < 0.08 * sizes["B02.tif"] and 0 < fetched["B8A.tif"] < 0.2 * sizes["B8A.tif"], \
        (fetched, sizes)


def test_missing_asset_names_its_url_and_says_what_to_do(safes, server):
    url = serve_item(server, safes["l2a"], "missing")
    server.rule("missing/B04.tif", status=404)
    product = open_product(url)
    with pytest.raises(RemoteError, match=r"missing/B04\.tif is not on the server \(HTTP 404\).*fetch the item"):
        ProductReader(product, ["B04"], product_grid(product, 60))


def test_a_missing_item_and_an_unreachable_host_are_named(server):
    with pytest.raises(RemoteError, match=r"nowhere/item\.json is not on the server \(HTTP 404\)"):
        open_product(server.url("nowhere/item.json"))
    with pytest.raises(RemoteError, match=r"127\.0\.0\.1:9 cannot be reached .*Check the network"):
        open_product("http://127.0.0.1:9/item.json")


def test_planetary_computer_assets_need_a_token_from_the_settings_or_a_signing_endpoint(safes, server, monkeypatch):
    url = serve_item(server, safes["l2a"], "signed", Variant("planetary-computer", flag=None))
    for path in [p.relative_to(server.root).as_posix() for p in (server.root / "signed").iterdir()
                 if p.name != "item.json"]:
        server.rule(path, token="good")
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    monkeypatch.delenv(SIGNING_URL_VARIABLE, raising=False)
    with pytest.raises(RemoteError, match=r"refused .*HTTP 403.*SAS token or a signing endpoint") as refused:
        open_product(url)
    assert "sig=" not in str(refused.value)
    monkeypatch.setenv(TOKEN_VARIABLE, "st=2026&sig=wrong")
    with pytest.raises(RemoteError, match="HTTP 403"):
        open_product(url)
    monkeypatch.setenv(TOKEN_VARIABLE, "st=2026&sig=good")
    assert open_product(url).level == "L2A"
    monkeypatch.delenv(TOKEN_VARIABLE)
    (server.root / "token").mkdir(exist_ok=True)
    (server.root / "token" / "sentinel-2-l2a").write_text('{"token": "se=2099&sig=good", '
                                                          '"msft:expiry": "2099-01-01T00:00:00Z"}')
    monkeypatch.setenv(SIGNING_URL_VARIABLE, server.url("token/{collection}"))
    product = open_product(url)
    with ProductReader(product, ["B04"], product_grid(product, 60)) as reader:
        assert reader.read().valid.any()


def test_5xx_answers_and_dropped_connections_are_retried(safes, server):
    url = serve_item(server, safes["l2a"], "flaky")
    product = open_product(url)
    server.rule("flaky/B03.tif", status=503, times=2)
    server.rule("flaky/B04.tif", drop=True, times=1)
    with ProductReader(product, ["B03", "B04"], product_grid(product, 60)) as reader:
        assert reader.read().valid.any()
    server.rule("flaky/B02.tif", drop=True)
    with ProductReader(product, ["B02"], product_grid(product, 60)) as reader, \
            pytest.raises(RemoteError, match=r"flaky/B02\.tif failed .*also after 4 retries"):
        reader.read()


def test_a_local_item_with_relative_hrefs_reads_its_files(safes, tmp_path):
    from s2cloudmask.tools.stac_items import write_item

    item = write_item(safes["l2a"], tmp_path / "local", ".")
    product = open_product(item)
    assert product.layout == LAYOUT_EARTH_SEARCH and Path(product.band_files["B04"][10]).is_file()
    assert reflectance_at_pixel(product) == pytest.approx(reflectance_at_pixel(open_product(safes["l2a"])), abs=1e-6)


def test_a_search_result_or_a_collection_is_not_an_item(tmp_path):
    (tmp_path / "found.json").write_text('{"type": "FeatureCollection", "features": [{}, {}]}')
    (tmp_path / "c.json").write_text('{"type": "Collection", "id": "sentinel-2-l2a"}')
    with pytest.raises(ProductError, match="holds 2 STAC items"):
        open_product(tmp_path / "found.json")
    with pytest.raises(ProductError, match="is a STAC collection, not an item"):
        open_product(tmp_path / "c.json")


def test_nothing_is_written_into_the_plugin_folder(safes, server):
    def listing() -> set[Path]:
        skip = {".git", ".venv", ".deps", ".venv-train", ".cache", "__pycache__"}
        return {path for path in REPO.rglob("*") if not skip & set(path.relative_to(REPO).parts)}

    before = listing()
    product = open_product(serve_item(server, safes["l2a"], "no-cache"))
    with ProductReader(product, ["B02", "B12"], product_grid(product, 60)) as reader:
        reader.read()
    assert listing() == before


@pytest.mark.slow
def test_an_earth_search_item_gives_the_mask_of_its_safe(tmp_path):
    """The item's COGs had the offset removed (as Earth Search's have) and are read at full resolution: the mask
    of the SAFE decoded at full resolution too. The SAFE's default decoding (the JPEG 2000 wavelet level nearest
    the model's grid) differs from averaging the full-resolution pixels by the wavelet's low-pass, and moves a
    few percent of a 60 m mask (tile shifts alone move as much, docs/speed-levers.md)."""
    from s2cloudmask.inference.masking.engine import mask_product

    from model_helpers import read_mask

    def agreement(first: np.ndarray, second: np.ndarray) -> float:
        counted = (first > 0) | (second > 0)
        return float(np.mean(first[counted] == second[counted]))

    safe = write_safe(tmp_path / "safe", size=480, seed=7, cirrus_cover=0.0)  # items carry no cirrus layer
    with served(tmp_path / "served") as server:
        from_item = mask_product(serve_item(server, safe, "item"), tmp_path / "item.tif", resolution=60,
                                 device="cpu")
    full = mask_product(safe, tmp_path / "full.tif", resolution=60, device="cpu", reduced_resolution=False)
    reduced = mask_product(safe, tmp_path / "reduced.tif", resolution=60, device="cpu")
    item_codes, full_codes, reduced_codes = (read_mask(Path(result.output)) for result in (from_item, full, reduced))
    assert item_codes.shape == full_codes.shape == reduced_codes.shape
    assert agreement(item_codes, full_codes) >= 0.99  # 0.992 measured
    assert agreement(item_codes, reduced_codes) >= 0.96  # 0.970 measured
    assert from_item.class_percentages.get(4, 0) > 1  # the scene's clouds are found, not an empty mask


def test_an_item_whose_assets_are_the_safes_own_files_reads_them(safes, tmp_path):
    """The Copernicus Data Space layout: keys B02_10m ... SCL_20m, hrefs to the SAFE's JPEG 2000 files."""
    import json

    safe = open_product(safes["l2a"])
    assets = {f"{band}_{resolution}m": {"href": path, "type": "image/jp2", "roles": ["data"]}
              for band, files in safe.band_files.items() for resolution, path in files.items()}
    assets.update({key: {"href": path, "type": "image/jp2"} for key, path in safe.mask_files.items()
                   if key.startswith("SCL")})
    assets["granule_metadata"] = {"href": safe.tile_metadata_file, "type": "application/xml"}
    item = {"type": "Feature", "stac_version": "1.0.0", "id": safe.product_id, "collection": "sentinel-2-l2a",
            "properties": {"datetime": safe.sensing_time.isoformat().replace("+00:00", "Z"),
                           "platform": "sentinel-2b", "processing:level": "L2A"},
            "assets": assets, "links": []}
    (tmp_path / "item.json").write_text(json.dumps(item))
    product = open_product(tmp_path / "item.json")
    assert product.layout == "stac:safe-files" and product.band_files == safe.band_files
    assert product.mask_files.keys() == {key for key in safe.mask_files if key.startswith("SCL")}
    assert product.offsets == safe.offsets and product.angles == safe.angles
    assert reflectance_at_pixel(product) == pytest.approx(reflectance_at_pixel(safe), abs=1e-6)
