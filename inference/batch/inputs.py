"""What the user names as products, turned into the list of product paths to run.

A folder (its .SAFE folders and .zip files), a glob pattern, a text file with
one product per line, a product itself, STAC items (their URLs or .json files,
which reading/stac.py opens as products), or the items a STAC API search finds
(reading/stac_search.py). Only names are looked at here; a product that turns
out to be broken fails in its own task, where its failure is recorded.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import ProductError
from ..reading.paths import is_product_path, is_url
from ..reading.stac_search import StacSearch, keep_items, listing, search_items

GLOB_CHARACTERS = set("*?[")


def find_products(spec: str | Path | Iterable[str | Path], stac: bool = False) -> list[str]:
    """Product paths for a folder, glob, list file or product (or several of them), in a stable order.

    A URL or a .json file is a STAC item; with stac=True a folder is read for its STAC items (*.json)
    instead of its products.
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
    if is_url(spec):
        return [spec]
    path = Path(spec).expanduser()
    if GLOB_CHARACTERS & set(spec) and not path.exists():
        matches = sorted(glob.glob(str(path)))
        return [found for match in matches for found in _expand(match, stac)]
    if not path.exists():
        if listed:  # its own task fails and records why; the other products still run
            return [str(path)]
        raise ProductError(f"{path} does not exist; name an existing folder, product, glob or list file.")
    if is_product_path(path):
        return [str(path.resolve())]
    if path.is_dir():
        if stac:
            return [str(item.resolve()) for item in sorted(path.glob("*.json"))]
        return [str(child.resolve()) for child in sorted(path.iterdir()) if _is_product_entry(child)]
    return [found for entry in _listed(path) for found in _expand(str(entry), stac, listed=True)]


def _is_product_entry(path: Path) -> bool:
    """A product as it lies in a folder of products: a .SAFE folder or a .zip (not its loose MTD xml)."""
    name = path.name.upper()
    return not name.startswith(".") and (
        (path.is_dir() and name.endswith(".SAFE")) or (path.is_file() and name.endswith(".ZIP"))
    )


def _listed(list_file: Path) -> list[str | Path]:
    """The entries of a list file: one path or URL per line, '#' starts a comment (not inside a URL), paths
    relative to the file's folder."""
    try:
        text = list_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProductError(
            f"{list_file} is neither a product, a folder nor a readable text list of products ({exc}); "
            "give one product path per line."
        ) from exc
    entries: list[str | Path] = []
    for line in text.splitlines():
        line = line.strip()
        if is_url(line):
            entries.append(line)
            continue
        line = line.split("#", 1)[0].strip()
        if line:
            entry = Path(line).expanduser()
            entries.append(entry if entry.is_absolute() else list_file.parent / entry)
    return entries


def found_by_search(search: StacSearch, out: str | Path, say: Callable[[str], None]) -> list[str]:
    """The items a STAC API search finds, listed through `say` before anything runs, kept in OUT/stac-items/."""
    items = search_items(search)
    say(f"{len(items)} STAC item(s) found in {search.describe()}" + (":" if items else ""))
    for line in listing(items):
        say("  " + line)
    if not items:
        raise ProductError(f"The STAC search found no items ({search.describe()}); widen the dates, the area or "
                           "the cloud cover.")
    return keep_items(items, out)
