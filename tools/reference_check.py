"""How well a reference mask made from SCL points reproduces the SCL on other points (the feature's acceptance test).

Draws N training and N other points per class from the product's SCL (mapped
onto the four classes, 20 m SCL on the 60 m grid), builds a reference mask
from the training points and prints the share of the other points it gets
right, per class and overall, beside the spatially grouped cross-validation
and the time taken.

    /usr/bin/python3 -m tools.reference_check [--product PATH] [--points 150] [--seed 14] [--resolution 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tools.plugin_package import import_plugin_package

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PRODUCT = (
    REPO.parent / "shared" / "data" / "sentinel2" / "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
)


def draw_points(truth: np.ndarray, count: int, seed: int) -> tuple[list, list]:
    """`count` training and `count` other (row, col, code) per class 1-4, without repeats."""
    rng = np.random.default_rng(seed)
    train, check = [], []
    for code in (1, 2, 3, 4):
        rows, cols = np.nonzero(truth == code)
        pick = rng.choice(rows.size, 2 * count, replace=False)
        train += [(rows[i], cols[i], code) for i in pick[:count]]
        check += [(rows[i], cols[i], code) for i in pick[count:]]
    return train, check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--product", type=Path, default=DEFAULT_PRODUCT)
    parser.add_argument("--points", type=int, default=150)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--resolution", type=int, default=60)
    args = parser.parse_args()
    import_plugin_package()
    import rasterio  # noqa: PLC0415
    from s2cloudmask.inference.classes import CLASS_NAMES, scl_to_mask  # noqa: PLC0415
    from s2cloudmask.inference.reading.product import open_product, product_grid  # noqa: PLC0415
    from s2cloudmask.inference.reading.reader import read_scl  # noqa: PLC0415
    from s2cloudmask.inference.reference.build import build_reference  # noqa: PLC0415
    from s2cloudmask.inference.reference.samples import Sample  # noqa: PLC0415

    product = open_product(args.product)
    grid = product_grid(product, args.resolution)
    truth = scl_to_mask(read_scl(product, grid))
    train, check = draw_points(truth, args.points, args.seed)
    samples = [Sample({"type": "Point", "coordinates": grid.map_xy(c + 0.5, r + 0.5)}, code)
               for r, c, code in train]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = build_reference(args.product, samples, Path(folder) / "reference.tif", resolution=args.resolution)
        seconds = time.perf_counter() - started
        with rasterio.open(result.output) as dataset:
            mask = dataset.read(1)
    right = np.array([mask[r, c] == code for r, c, code in check])
    codes = np.array([code for *_, code in check])
    print(f"{product.product_id} at {args.resolution} m, {args.points} SCL points per class, seed {args.seed}")
    print(f"held-out points right: {right.mean():.3f} overall; " + ", ".join(
        f"{CLASS_NAMES[c].lower()} {right[codes == c].mean():.3f}" for c in (1, 2, 3, 4)))
    cv = result.cross_validation
    print(f"cross-validated ({cv['folds']} folds of {cv['grouping']}): overall {cv['overall_accuracy']:.3f}, "
          f"balanced {cv['balanced_accuracy']:.3f}, kappa {cv['kappa']:.3f}")
    print(f"{len(result.features)} features; {seconds:.1f} s for the whole tile ({grid.width} x {grid.height} px)")


if __name__ == "__main__":
    main()
