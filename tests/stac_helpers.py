"""Generated products served as a cloud catalogue serves them, for the STAC tests of both rooms."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from osgeo import gdal
from s2cloudmask.tools import synthetic_product as sp
from s2cloudmask.tools.range_server import RangeServer
from s2cloudmask.tools.stac_items import Variant, write_item

SIZE = 240  # 2.4 km: a second or two per product at 60 m


def write_safe(folder: Path, level: str = "L2A", baseline: str = "04.00", size: int = SIZE, seed: int = 3,
               cirrus_cover: float = 0.10) -> Path:
    return sp.write_product(folder, level=level, baseline=baseline, size=size, seed=seed, extras=False,
                            cirrus_cover=cirrus_cover)


def serve_item(server: RangeServer, safe: Path, folder: str, variant: Variant = Variant()) -> str:
    """The URL of an item of `safe` written into the server's folder `folder`."""
    write_item(safe, server.root / folder, server.url(folder), variant)
    return server.url(f"{folder}/item.json")


@contextlib.contextmanager
def served(root: Path) -> Iterator[RangeServer]:
    """A range server on `root`; GDAL forgets what it cached of its URLs afterwards (the next port may repeat)."""
    with RangeServer(root) as server:
        try:
            yield server
        finally:
            gdal.VSICurlClearCache()
