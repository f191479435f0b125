"""A product as a cloud catalogue serves it: COGs of its bands and a STAC item in the Earth Search or the
Planetary Computer layout, for the STAC tests and the bytes benchmark (the real catalogues cannot be
reached from the test machines).

    /usr/bin/python3 tools/stac_items.py PRODUCT.SAFE OUT --layout earth-search --base-url http://127.0.0.1:8000

Earth Search (sentinel-2-l2a) removed the -1000 DN offset of processing baseline 04.00 from its COGs and
says so with ``earthsearch:boa_offset_applied``; ``remove_offset`` writes the COGs that way, ``flag`` sets the
property (True, False or None for absent) independently, so a mistagged item can be made on purpose.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

try:
    from ..inference.reading.product import Product, open_product
    from ..inference.reading.stac import EARTH_SEARCH_BANDS
except ImportError:  # run as a script from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tools.plugin_package import import_plugin_package

    import_plugin_package()
    from s2cloudmask.inference.reading.product import Product, open_product
    from s2cloudmask.inference.reading.stac import EARTH_SEARCH_BANDS

gdal.UseExceptions()

LAYOUTS = ("earth-search", "planetary-computer")
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
ES_KEYS = {band: key for key, band in EARTH_SEARCH_BANDS.items()}
OFFSET_DN = 1000


@dataclass(frozen=True)
class Variant:
    """What the item says and what its files hold."""

    layout: str = "earth-search"
    collection: str = "sentinel-2-l2a"
    remove_offset: bool = True  # the COGs hold DN - 1000 (Earth Search's sentinel-2-l2a from baseline 04.00 on)
    flag: bool | None = True  # earthsearch:boa_offset_applied; None: the property is absent
    advertise_offset: bool = True  # raster:bands offset -0.1 (Earth Search writes it from baseline 04.00 on)
    baseline: str | None = None  # s2:processing_baseline; None: the product's
    granule_metadata: bool = True  # link MTD_TL.xml (else the item's view: angles serve the shadow check)
    bands: tuple[str, ...] | None = None  # None: every band of the product


def write_cog(source: str, target: Path, shift: int = 0, block: int = 256) -> None:
    """A deflate COG of one band with averaged overviews; `shift` DN taken off every valid pixel (kept >= 1)."""
    dataset = gdal.Open(source)
    data = dataset.GetRasterBand(1).ReadAsArray()
    if shift:
        valid = data != 0
        data = np.where(valid, np.clip(data.astype(np.int32) - shift, 1, None), 0).astype(data.dtype)
    memory = gdal.GetDriverByName("MEM").Create("", dataset.RasterXSize, dataset.RasterYSize, 1,
                                                dataset.GetRasterBand(1).DataType)
    memory.SetGeoTransform(dataset.GetGeoTransform())
    memory.SetProjection(dataset.GetProjection())
    memory.GetRasterBand(1).WriteArray(data)
    memory.GetRasterBand(1).SetNoDataValue(0)
    target.parent.mkdir(parents=True, exist_ok=True)
    gdal.GetDriverByName("COG").CreateCopy(str(target), memory, options=[
        "COMPRESS=DEFLATE", f"BLOCKSIZE={block}", "OVERVIEW_RESAMPLING=AVERAGE", "NUM_THREADS=ALL_CPUS"])


def _footprint(product: Product) -> tuple[list[float], dict]:
    grid = product.grids[min(product.grids)]
    xmin, ymin, xmax, ymax = grid.bounds
    source, target = osr.SpatialReference(), osr.SpatialReference()
    source.SetFromUserInput(product.crs)
    target.ImportFromEPSG(4326)
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    source.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    transform = osr.CoordinateTransformation(source, target)
    ring = [transform.TransformPoint(x, y)[:2] for x, y in ((xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax))]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return [min(lons), min(lats), max(lons), max(lats)], {"type": "Polygon", "coordinates": [[*map(list, ring),
                                                                                            list(ring[0])]]}


def item_id(product: Product, layout: str) -> str:
    date = product.sensing_time.strftime("%Y%m%d")
    if layout == "earth-search":
        return f"S2{product.satellite[-1]}_{product.tile_id}_{date}_0_{product.level}"
    return product.product_id


def write_item(safe: str | Path, out: str | Path, base_url: str, variant: Variant = Variant(),
               cloud_cover: float = 25.0, block: int = 256) -> Path:
    """COGs (`block` pixels a side; Earth Search's are 1024), metadata and the item (item.json) of `safe` under
    `out`, with hrefs below `base_url`."""
    product = open_product(str(safe))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shift = OFFSET_DN if variant.remove_offset and product.offsets.get("B02", 0) < 0 else 0
    baseline = variant.baseline or product.processing_baseline
    assets: dict[str, dict] = {}
    for band in variant.bands or product.bands:
        resolution = min(product.band_files[band])
        key = ES_KEYS[band] if variant.layout == "earth-search" else band
        name = f"{band}.tif" if variant.layout == "earth-search" else \
            Path(product.band_files[band][resolution]).with_suffix(".tif").name
        write_cog(product.band_files[band][resolution], out / name, shift, block)
        asset = {"href": f"{base_url}/{name}", "type": COG_TYPE, "roles": ["data", "reflectance"], "gsd": resolution,
                 "eo:bands": [{"name": key if variant.layout == "earth-search" else band}]}
        if variant.layout == "earth-search":
            raster = {"nodata": 0, "data_type": "uint16", "spatial_resolution": resolution, "scale": 0.0001}
            if variant.advertise_offset:
                raster["offset"] = -0.1
            asset["raster:bands"] = [raster]
        assets[key] = asset
    if product.level == "L2A":
        scl_key = "SCL_20m" if "SCL_20m" in product.mask_files else "SCL_60m"
        write_cog(product.mask_files[scl_key], out / "SCL.tif", block=block)
        assets["scl" if variant.layout == "earth-search" else "SCL"] = {
            "href": f"{base_url}/SCL.tif", "type": COG_TYPE, "roles": ["data"], "gsd": int(scl_key[4:6])}
    if variant.granule_metadata and product.tile_metadata_file:
        shutil.copyfile(product.tile_metadata_file, out / "granule_metadata.xml")
        key = "granule_metadata" if variant.layout == "earth-search" else "granule-metadata"
        assets[key] = {"href": f"{base_url}/granule_metadata.xml", "type": "application/xml", "roles": ["metadata"]}
    if variant.layout == "planetary-computer":
        shutil.copyfile(product.metadata_file, out / "product_metadata.xml")
        assets["product-metadata"] = {"href": f"{base_url}/product_metadata.xml", "type": "application/xml",
                                      "roles": ["metadata"]}
    bbox, geometry = _footprint(product)
    properties: dict = {
        "datetime": product.sensing_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "platform": product.satellite.lower(), "constellation": "sentinel-2", "eo:cloud_cover": cloud_cover,
        "proj:epsg": int(product.crs.split(":")[1]), "s2:product_uri": f"{product.metadata.product_id}.SAFE",
        "s2:product_type": f"S2MSI{product.level[1:]}",
    }
    if variant.layout == "earth-search":
        properties["grid:code"] = f"MGRS-{product.tile_id}"
    else:
        properties["s2:mgrs_tile"] = product.tile_id
    if baseline:
        properties["s2:processing_baseline"] = baseline
    if variant.flag is not None:
        properties["earthsearch:boa_offset_applied"] = variant.flag
    if product.angles is not None:
        if variant.layout == "earth-search":
            properties.update({"view:sun_azimuth": product.angles.sun_azimuth,
                               "view:sun_elevation": 90.0 - product.angles.sun_zenith})
        else:
            properties.update({"s2:mean_solar_azimuth": product.angles.sun_azimuth,
                               "s2:mean_solar_zenith": product.angles.sun_zenith})
    item = {"type": "Feature", "stac_version": "1.0.0", "id": item_id(product, variant.layout),
            "collection": variant.collection, "bbox": bbox, "geometry": geometry, "properties": properties,
            "assets": assets, "links": []}
    path = out / "item.json"
    path.write_text(json.dumps(item, indent=1), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("product")
    parser.add_argument("out")
    parser.add_argument("--layout", choices=LAYOUTS, default="earth-search")
    parser.add_argument("--base-url", required=True, help="the URL the folder OUT is served at")
    args = parser.parse_args(argv)
    collection = "sentinel-2-l2a"
    print(write_item(args.product, args.out, args.base_url.rstrip("/"), Variant(args.layout, collection)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
