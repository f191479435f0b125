"""What the user names as products, turned into the list of product paths to run.

A folder (its .SAFE folders and .zip files), a glob pattern, a text file with
one product per line, a product itself, or STAC item JSON files whose assets
point at local products. Only names are looked at here; a product that turns
out to be broken fails in its own task, where its failure is recorded.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import ProductError
from ..reading.paths import PRODUCT_FILE_NAMES, is_product_path

GLOB_CHARACTERS = set("*?[")
# STAC asset keys that hold a whole product, in the order they are tried (Copernicus Data Space,
# Earth Search and Planetary Computer name them so); any other asset whose href is a product also counts.
STAC_PRODUCT_ASSETS = ("PRODUCT", "product", "safe-manifest", "safe_manifest", "manifest", "granule-metadata")


def find_products(spec: str | Path | Iterable[str | Path], stac: bool = False) -> list[str]:
    """Product paths for a folder, glob, list file or product (or several of them), in a stable order.

    A .json file is a STAC item and gives the local product its assets point at; with stac=True a
    folder is read for its STAC items (*.json) instead of its products.
    """
    specs = [spec] if isinstance(spec, (str, Path)) else list(spec)
    found: list[str] = []
    for one in specs:
        found.extend(_expand(str(one), stac))
    unique = list(dict.fromkeys(found))
    if not unique:
        raise ProductError(
            f"No Sentinel-2 products found in {', '.join(str(s) for s in specs)}; name a folder holding .SAFE "
            "folders or .zip files, a glob such as '/data/*.SAFE', or a text file with one product path per line."
        )
    return unique


def _expand(spec: str, stac: bool, listed: bool = False) -> list[str]:
    path = Path(spec).expanduser()
    if GLOB_CHARACTERS & set(spec) and not path.exists():
        matches = sorted(glob.glob(str(path)))
        return [found for match in matches for found in _expand(match, stac)]
    if not path.exists():
        if listed:  # its own task fails and records why; the other products still run
            return [str(path)]
        raise ProductError(f"{path} does not exist; name an existing folder, product, glob or list file.")
    if path.is_file() and path.suffix.lower() == ".json":
        return [product_from_stac_item(path)]
    if is_product_path(path):
        return [str(path.resolve())]
    if path.is_dir():
        if stac:
            return [product_from_stac_item(item) for item in sorted(path.glob("*.json"))]
        return [str(child.resolve()) for child in sorted(path.iterdir()) if _is_product_entry(child)]
    return [found for entry in _listed(path) for found in _expand(str(entry), stac, listed=True)]


def _is_product_entry(path: Path) -> bool:
    """A product as it lies in a folder of products: a .SAFE folder or a .zip (not its loose MTD xml)."""
    name = path.name.upper()
    return not name.startswith(".") and (
        (path.is_dir() and name.endswith(".SAFE")) or (path.is_file() and name.endswith(".ZIP"))
    )


def _listed(list_file: Path) -> list[Path]:
    """The entries of a list file: one path per line, '#' starts a comment, relative to the file's folder."""
    try:
        text = list_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProductError(
            f"{list_file} is neither a product, a folder nor a readable text list of products ({exc}); "
            "give one product path per line."
        ) from exc
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            entry = Path(line).expanduser()
            entries.append(entry if entry.is_absolute() else list_file.parent / entry)
    return entries


def product_from_stac_item(item_path: str | Path) -> str:
    """The local product a STAC item's assets point at (relative hrefs are relative to the item file)."""
    item_path = Path(item_path)
    try:
        item = json.loads(item_path.read_text(encoding="utf-8"))
        assets = item["assets"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProductError(f"{item_path} is not a STAC item JSON file with assets ({exc}).") from exc
    ordered = [key for key in STAC_PRODUCT_ASSETS if key in assets] + sorted(set(assets) - set(STAC_PRODUCT_ASSETS))
    remote = []
    for key in ordered:
        href = str((assets[key] or {}).get("href", ""))
        parsed = urlparse(href)
        scheme = parsed.scheme.lower()
        if len(scheme) > 1 and scheme != "file":  # one letter is a Windows drive, not a scheme
            remote.append(href)
            continue
        local = Path(unquote(parsed.path)) if scheme == "file" else Path(href)
        candidate = local if local.is_absolute() else item_path.parent / local
        name = candidate.name.upper()
        if (name in PRODUCT_FILE_NAMES or name.endswith((".SAFE", ".ZIP"))) and candidate.exists():
            return str(candidate.resolve())
    where = f" (remote assets such as {remote[0]} must be downloaded first)" if remote else ""
    raise ProductError(
        f"The STAC item {item_path} has no asset pointing at a local Sentinel-2 product (.SAFE, .zip, "
        f"MTD_MSIL1C.xml, MTD_MSIL2A.xml or manifest.safe){where}; download the product and point an asset at it."
    )
