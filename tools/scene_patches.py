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
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import reproject
from rasterio.windows import Window

try:
    from ..inference.classes import NODATA, scl_to_mask
    from ..inference.defaults import SPLITS
    from ..inference.patch_format import make_split_folders, write_manifest, write_patch
    from ..inference.reading.metadata import BAND_IDS
    from ..inference.reading.product import open_product, product_grid
    from ..inference.reading.reader import ProductReader, read_scl
except ImportError:  # run as `python -m tools.scene_patches` from the plugin folder
    from inference.classes import NODATA, scl_to_mask
    from inference.defaults import SPLITS
    from inference.patch_format import make_split_folders, write_manifest, write_patch
    from inference.reading.metadata import BAND_IDS
    from inference.reading.product import open_product, product_grid
    from inference.reading.reader import ProductReader, read_scl


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


def write_scene_patches(product_path: str | Path, labels: str | Path, out: str | Path, *, resolution: int = 60,
                        patch_size: int = 64, split: tuple[float, float, float] = (0.7, 0.15, 0.15), seed: int = 0,
                        min_valid: float = 0.5) -> Path:
    """The patch folder `out` for one product; returns the manifest path."""
    product = open_product(product_path)
    grid = product_grid(product, resolution)
    bands = [b for b in product.bands if b in BAND_IDS]
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
    make_split_folders(root)
    date = product.sensing_time.strftime("%Y-%m-%d")
    scene = {"product_id": product.product_id, "tile_id": product.tile_id, "date": date}
    records = [
        write_patch(root, names[index], scene, int(window.row_off), int(window.col_off),
                    image[(slice(None), *window.toslices())], label[window.toslices()], grid.window_grid(window), bands)
        for index, window in enumerate(windows)
    ]
    return write_manifest(
        root, level=product.level, resolution=resolution, patch_size=patch_size, bands=bands,
        split=dict(zip(SPLITS, split)), seed=seed, records=records,
        sources=[{"product": str(product_path), "product_id": product.product_id, "tile_id": product.tile_id,
                  "date": date, "reference": str(labels)}],
    )


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
