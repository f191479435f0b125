"""Write a patch folder (docs/patches-format.md) from one product and a label raster, split spatially.

For tests, the demo and experiments on a single scene: the labels are a
generated product's truth.tif, any mask GeoTIFF with the plugin's codes, or the
product's own SCL mapped to the four classes (`--labels scl`: agreement with
Sen2Cor, not with the truth). The format's rule that a scene never straddles
two splits cannot hold for one scene; here whole patches are dealt to the
splits by a seeded shuffle, so train, validation and test never share a pixel,
although neighbouring patches of one scene are alike. `s2cloudmask:exportpatches`
is the tool for real, multi-scene exports.

    /usr/bin/python3 -m tools.scene_patches PRODUCT LABELS|scl OUT --resolution 60 --patch-size 64
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import Window

try:
    from ..inference.classes import CLASS_NAMES, MASK_CODES, NODATA, scl_to_mask
    from ..inference.reading.product import open_product, product_grid
    from ..inference.reading.reader import ProductReader, read_scl
except ImportError:  # run as `python -m tools.scene_patches` from the plugin folder
    from inference.classes import CLASS_NAMES, MASK_CODES, NODATA, scl_to_mask
    from inference.reading.product import open_product, product_grid
    from inference.reading.reader import ProductReader, read_scl

SPLITS = ("train", "validation", "test")
CSV_CLASSES = {1: "clear", 2: "cloud_shadow", 3: "semi_transparent_cloud", 4: "cloud"}


def _labels(product, labels: str | Path, grid) -> np.ndarray:
    if str(labels).lower() == "scl":
        return scl_to_mask(read_scl(product, grid))
    target = np.zeros(grid.shape, dtype=np.uint8)
    with rasterio.open(labels) as src:
        coarser = grid.resolution > abs(src.transform.a)
        reproject(src.read(1), target, src_transform=src.transform, src_crs=src.crs, dst_transform=grid.transform,
                  dst_crs=CRS.from_user_input(grid.crs), src_nodata=NODATA, dst_nodata=NODATA,
                  resampling=Resampling.mode if coarser else Resampling.nearest)
    return target


def _write(path: Path, data: np.ndarray, grid, window: Window, nodata: float, descriptions: list[str] | None) -> None:
    profile = {"driver": "GTiff", "width": int(window.width), "height": int(window.height), "count": data.shape[0],
               "dtype": data.dtype.name, "crs": CRS.from_user_input(grid.crs),
               "transform": rasterio.windows.transform(window, grid.transform), "nodata": nodata,
               "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        for index, name in enumerate(descriptions or [], start=1):
            ds.set_band_description(index, name)


def write_scene_patches(product_path: str | Path, labels: str | Path, out: str | Path, *, resolution: int = 60,
                        patch_size: int = 64, split: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0,
                        min_valid: float = 0.5) -> Path:
    """The patch folder `out` for one product; returns the manifest path."""
    product = open_product(product_path)
    grid = product_grid(product, resolution)
    bands = [b for b in product.bands if b in {"B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09",
                                               "B10", "B11", "B12"}]
    with ProductReader(product, bands, grid) as reader:
        block = reader.read()
    label = _labels(product, labels, grid)
    label[~block.valid] = NODATA
    image = np.where(block.valid, block.data, np.nan).astype(np.float32)
    windows = [Window(c, r, patch_size, patch_size) for r in range(0, grid.height - patch_size + 1, patch_size)
               for c in range(0, grid.width - patch_size + 1, patch_size)]
    windows = [w for w in windows if (label[w.toslices()] != NODATA).mean() >= min_valid]
    if len(windows) < 3:
        raise ValueError(f"only {len(windows)} patch(es) of {patch_size} px with labels; choose smaller patches")
    order = np.random.default_rng(seed).permutation(len(windows))
    n_test = max(1, round(split[2] * len(windows)))
    n_val = max(1, round(split[1] * len(windows)))
    names = {int(i): ("test" if k < n_test else "validation" if k < n_test + n_val else "train")
             for k, i in enumerate(order)}
    root = Path(out)
    for name in SPLITS:
        (root / name).mkdir(parents=True, exist_ok=True)
    date = product.sensing_time.strftime("%Y-%m-%d")
    entries = []
    for index, window in enumerate(windows):
        part = names[index]
        pid = f"{product.tile_id}_{date}_r{int(window.row_off)}_c{int(window.col_off)}"
        patch_label = label[window.toslices()]
        labelled = patch_label[patch_label != NODATA]
        fractions = {str(c): float((labelled == c).mean()) if labelled.size else 0.0 for c in MASK_CODES}
        _write(root / part / f"{pid}_image.tif", image[(slice(None), *window.toslices())], grid, window,
               float("nan"), bands)
        _write(root / part / f"{pid}_label.tif", patch_label[None], grid, window, NODATA, None)
        entries.append({"id": pid, "split": part, "image": f"{part}/{pid}_image.tif",
                        "label": f"{part}/{pid}_label.tif", "product_id": product.product_id,
                        "tile_id": product.tile_id, "date": date, "row": int(window.row_off),
                        "col": int(window.col_off), "class_fractions": fractions,
                        "valid_fraction": float(np.isfinite(image[0][window.toslices()]).mean())})
    manifest = {"format": "s2cloudmask-patches", "format_version": 1, "level": product.level,
                "resolution": resolution, "patch_size": patch_size, "bands": bands,
                "reflectance": "(DN + offset) / quantification",
                "classes": {"0": "no data", **{str(c): CLASS_NAMES[c] for c in MASK_CODES}},
                "split": dict(zip(SPLITS, split)), "seed": seed,
                "sources": [{"product": str(product_path), "product_id": product.product_id,
                             "tile_id": product.tile_id, "date": date, "reference": str(labels)}],
                "patches": entries}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "split", "image", "label", "product_id", "tile_id", "date", "row", "col",
                         *CSV_CLASSES.values(), "valid_fraction"])
        for e in entries:
            writer.writerow([e["id"], e["split"], e["image"], e["label"], e["product_id"], e["tile_id"], e["date"],
                             e["row"], e["col"], *(e["class_fractions"][str(c)] for c in CSV_CLASSES),
                             e["valid_fraction"]])
    return root / "manifest.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("product")
    parser.add_argument("labels", help="a label GeoTIFF (codes 0-4) or 'scl'")
    parser.add_argument("out")
    parser.add_argument("--resolution", type=int, default=60)
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_scene_patches(args.product, args.labels, args.out, resolution=args.resolution,
                              patch_size=args.patch_size, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
