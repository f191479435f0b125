"""What a product path looks like, told from its name alone.

A light module: the dock asks it while the user drags files around, and it
must answer even before rasterio and onnxruntime are installed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

PRODUCT_FILE_NAMES = ("MTD_MSIL1C.XML", "MTD_MSIL2A.XML", "MANIFEST.SAFE")


def is_url(text: str | Path) -> bool:
    """Whether text is an http(s) URL (a STAC item's, an asset's)."""
    return urlparse(str(text)).scheme.lower() in ("http", "https")


def is_product_path(path: str | Path) -> bool:
    """Whether a path is something `open_product` takes: a .SAFE folder (or one holding its MTD xml),
    a .zip, an MTD_MSIL1C/2A.xml, a manifest.safe, or a STAC item (a URL or a .json file). A cheap look at
    the name, no parsing."""
    if is_url(path):
        return True
    candidate = Path(path)
    name = candidate.name.upper()
    if candidate.is_dir():
        return name.endswith(".SAFE") or any(candidate.glob("MTD_MSIL*.xml"))
    return name.endswith((".ZIP", ".JSON")) or name in PRODUCT_FILE_NAMES


def product_container(path: str | Path) -> Path:
    """What a run must leave whole when it reads `path`: the .SAFE folder a path lies in (an MTD xml, a band,
    the folder itself), else the path as given (a .zip, a folder holding a product, any raster)."""
    candidate = Path(path)
    return next((folder for folder in (candidate, *candidate.parents) if folder.name.upper().endswith(".SAFE")),
                candidate)


def product_id_from_name(path: str | Path) -> str:
    """A product's id as its name gives it: X for X.SAFE, X.zip, X.SAFE.zip, for the MTD xml inside X.SAFE, and
    for a STAC item's X.json or URL .../items/X (an item's product id is its id)."""
    container = product_container(path)
    name = container.name
    for suffix in (".json", ".zip", ".safe"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name
