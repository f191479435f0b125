"""Finding products in a STAC API (Earth Search, Planetary Computer, any STAC API with item search).

A search names a collection, an area (longitude/latitude bounds), a date range
and a maximum cloud cover; what it finds is listed for the user before anything
runs, and each item is kept as a .json file in the run's output folder, so the
batch records name a file that a rerun finds again. pystac-client does the
searching (paging, the API's conformance); it is optional: without it the
plugin loads and everything else works, and a search says how to install it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DependencyError, ParameterError, RemoteError
from .paths import is_url

ITEMS_FOLDER = "stac-items"
DEFAULT_COLLECTION = "sentinel-2-l2a"
DEFAULT_MAX_ITEMS = 50
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?$")


@dataclass(frozen=True)
class StacSearch:
    api: str  # the STAC API's root URL
    collection: str = DEFAULT_COLLECTION
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north in degrees
    start: str | None = None  # "2024-06-01"
    end: str | None = None
    max_cloud: float | None = None  # percent
    max_items: int = DEFAULT_MAX_ITEMS

    def check(self) -> None:
        """ParameterError naming the first value that cannot make a search."""
        if not is_url(self.api):
            raise ParameterError(f"The STAC API {self.api!r} is not an http(s) URL, such as "
                                 "https://earth-search.aws.element84.com/v1.")
        if self.bbox is not None:
            west, south, east, north = self.bbox
            if not all(math.isfinite(v) for v in self.bbox) or not (-180 <= west < east <= 180 and
                                                                    -90 <= south < north <= 90):
                raise ParameterError(f"The search area {self.bbox} is not west, south, east, north in degrees "
                                     "with west < east and south < north.")
        for name, value in (("start", self.start), ("end", self.end)):
            if value and not _DATE_RE.match(value):
                raise ParameterError(f"The search's {name} date {value!r} is not a date such as 2024-06-01.")
        if self.max_cloud is not None and not 0 <= self.max_cloud <= 100:
            raise ParameterError(f"The maximum cloud cover {self.max_cloud} is not a percentage (0-100).")
        if self.max_items < 1:
            raise ParameterError(f"The search's maximum number of items {self.max_items} must be at least 1.")

    def describe(self) -> str:
        parts = [f"collection {self.collection}"]
        if self.bbox:
            parts.append("area " + ", ".join(f"{v:g}" for v in self.bbox))
        if self.start or self.end:
            parts.append(f"{self.start or '..'} to {self.end or '..'}")
        if self.max_cloud is not None:
            parts.append(f"cloud cover below {self.max_cloud:g} %")
        return f"{self.api}: " + ", ".join(parts)


def search_items(search: StacSearch) -> list[dict]:
    """The items the API finds (at most max_items), as JSON objects with absolute asset hrefs."""
    search.check()
    try:
        from pystac_client import Client  # optional: only a search needs it
        from pystac_client.exceptions import APIError
    except ImportError:
        from ...packages.activation import missing_message

        raise DependencyError(missing_message(["pystac-client"])) from None
    interval = f"{search.start or '..'}/{search.end or '..'}" if (search.start or search.end) else None
    query = {"eo:cloud_cover": {"lte": search.max_cloud}} if search.max_cloud is not None else None
    try:
        client = Client.open(search.api)
        found = client.search(collections=[search.collection], bbox=search.bbox, datetime=interval, query=query,
                              max_items=search.max_items)
        items = list(found.items())
    except APIError as exc:
        raise RemoteError(f"The STAC API {search.api} refused the search ({str(exc)[:300]}).") from None
    except (OSError, ValueError) as exc:  # requests' connection errors are OSErrors; a page that is not JSON
        raise RemoteError(f"The STAC API {search.api} cannot be searched ({str(exc)[:300]}). Check the URL and "
                          "the network connection.") from None
    documents = []
    for item in items:
        item.make_asset_hrefs_absolute()
        documents.append(item.to_dict(include_self_link=False, transform_hrefs=False))
    return documents


def keep_items(items: list[dict], out: str | Path) -> list[str]:
    """Write each item to OUT/stac-items/<id>.json (the batch's sources); their paths, in the items' order."""
    folder = Path(out) / ITEMS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in items:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(item.get("id") or f"item-{len(paths)}"))
        path = folder / f"{name}.json"
        path.write_text(json.dumps(item, indent=1), encoding="utf-8")
        paths.append(str(path))
    return paths


def listing(items: list[dict]) -> list[str]:
    """One line per item for the user: id, date, cloud cover."""
    lines = []
    for item in items:
        properties = item.get("properties") or {}
        cloud = properties.get("eo:cloud_cover")
        lines.append(f"{item.get('id')}  {str(properties.get('datetime', ''))[:10]}  "
                     f"{'cloud ' + format(float(cloud), '.1f') + ' %' if cloud is not None else ''}".rstrip())
    return lines
