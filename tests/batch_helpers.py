"""Small generated products for the batch runner's tests, in both rooms (engine and QGIS)."""

from __future__ import annotations

from pathlib import Path

from s2cloudmask.tools import synthetic_product as sp

SIZE = 240  # 2.4 km: a second or two per product at 60 m
# Generated products are named after their level and baseline, so each of these has its own product id.
GOOD = (("L2A", "04.00"), ("L1C", "04.00"), ("L2A", "02.09"))
CORRUPT = ("L1C", "02.09")


def _generate(folder: Path, level: str, baseline: str, seed: int) -> Path:
    staging = folder.parent / f"staging-{level}-{baseline}"
    product = sp.write_product(staging, level=level, baseline=baseline, size=SIZE, seed=seed, extras=False)
    return product.rename(folder / product.name)


def write_products(folder: Path, good: int = len(GOOD)) -> Path:
    """`good` good products and one whose B02 cannot be decoded (corrupt JPEG 2000), in `folder`."""
    folder.mkdir(parents=True)
    for seed, (level, baseline) in enumerate(GOOD[:good]):
        _generate(folder, level, baseline, seed)
    corrupt = _generate(folder, *CORRUPT, seed=9)
    sp.corrupt_jp2(next(corrupt.rglob("*_B02.jp2")))
    return folder


def corrupt_name(folder: Path) -> str:
    """The product id of the corrupt product."""
    return next(p.name for p in folder.iterdir() if "MSIL1C_2020" in p.name).removesuffix(".SAFE")
