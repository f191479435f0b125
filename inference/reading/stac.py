"""A STAC item as a product: the same Product a SAFE gives, with its bands read in place over HTTP.

Three layouts of Sentinel-2 items are understood, told apart by their asset keys:

- Earth Search v1 (collections sentinel-2-l2a, sentinel-2-c1-l2a, sentinel-2-l1c): one COG per band under
  common names (blue, green, red, nir, nir08, swir16, swir22, ..., scl) and the tile's MTD_TL.xml as
  ``granule_metadata``;
- Microsoft Planetary Computer (sentinel-2-l2a): one COG per band under its id (B02 ... B12, SCL), the
  MTD_TL.xml as ``granule-metadata`` and the product's MTD_MSIL2A.xml as ``product-metadata``; the hrefs
  need a SAS token (signing.py);
- items whose assets are a SAFE's own files (the Copernicus Data Space Ecosystem's: B02_10m, SCL_20m, ...,
  JPEG 2000), recognised by the SAFE's file names.

An item whose only asset is a whole product on this disk (a .SAFE, .zip or MTD xml) opens that product.

Radiometry (the rule, also in the README): reflectance = (DN + offset) / quantification, where

1. quantification is 1 / the assets' ``raster:bands`` scale, else the product metadata's, else 10000;
2. the offset is the one the original product carries: none before processing baseline 04.00, from 04.00 on
   the product metadata's BOA_ADD_OFFSET / RADIO_ADD_OFFSET where the item links it, else -1000 DN, else
   (baseline unknown) the assets' ``raster:bands`` offset;
3. a provider that removed the offset from its files says so (Earth Search: ``earthsearch:boa_offset_applied``
   true); the offset is then not applied again, whatever ``raster:bands`` advertises;
4. the data are checked against the decision: where the offset is to be applied, the coarsest overview of a
   SWIR band is read, and when more than CONTRADICTION_SHARE of its valid pixels lie below the offset (they
   would be negative reflectance, which the offset exists to make rare), the files have the offset removed
   already: it is not applied, and a warning names the item (Earth Search has items flagged false whose
   offset was removed, many from 2022 and some from 2025). The opposite mistake (flag true, offset still in
   the files) cannot be told from the data, since a bright scene looks the same.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import numpy as np

from ..errors import ProductError
from .metadata import (
    BAND_IDS,
    BASELINE_04_OFFSET,
    NATIVE_RESOLUTION,
    QUANTIFICATION_RANGE,
    ProductMetadata,
    SunViewAngles,
    TileMetadata,
    baseline_tuple,
    parse_product_metadata,
    parse_tile_metadata,
    parse_time,
    tile_from_name,
)
from .product import (
    WHAT_TO_OPEN,
    Product,
    _classify,
    _grids,
    display_path,
    open_product,
    open_raster,
    vsi_read,
)
from .paths import is_url
from .remote import endpoint_token, fetch, gdal_path, load_json, remote_reads
from .signing import Signing, signed

LAYOUT_EARTH_SEARCH = "stac:earth-search"
LAYOUT_PLANETARY = "stac:planetary-computer"
LAYOUT_SAFE_FILES = "stac:safe-files"

# Earth Search's asset keys (common band names) -> Sentinel-2 band ids.
EARTH_SEARCH_BANDS = {
    "coastal": "B01", "blue": "B02", "green": "B03", "red": "B04", "rededge1": "B05", "rededge2": "B06",
    "rededge3": "B07", "nir": "B08", "nir08": "B8A", "nir09": "B09", "cirrus": "B10", "swir16": "B11",
    "swir22": "B12",
}  # fmt: skip
SCL_KEYS = ("scl", "SCL")
TILE_METADATA_KEYS = ("granule_metadata", "granule-metadata", "MTD_TL")
PRODUCT_METADATA_KEYS = ("product_metadata", "product-metadata", "MTD_MSIL2A", "MTD_MSIL1C")
OFFSET_APPLIED_PROPERTIES = ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied")
# Assets that hold a whole product (Copernicus Data Space, Earth Search and Planetary Computer name them so).
WHOLE_PRODUCT_KEYS = ("PRODUCT", "product", "safe-manifest", "safe_manifest", "manifest")
LOCAL_PRODUCT_NAMES = ("MTD_MSIL1C.XML", "MTD_MSIL2A.XML", "MANIFEST.SAFE")
# Bands whose dark pixels (water, shadow, forest in the SWIR) tell whether the files still carry the offset.
OFFSET_PROBE_BANDS = ("B12", "B11", "B8A", "B08")
CONTRADICTION_SHARE = 0.02  # share of valid pixels below the offset that only offset-free files show
MIN_PROBE_PIXELS = 100

_CDSE_KEY_RE = re.compile(r"^(B(?:0[1-9]|1[0-2]|8A)|SCL)_(10|20|60)m$", re.IGNORECASE)
_BAND_KEY_RE = re.compile(r"^B(?:0[1-9]|1[0-2]|8A)$", re.IGNORECASE)
_UNSAFE_ID_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ItemAsset:
    """One asset the reader uses: a band or mask raster, or a metadata document."""

    key: str
    href: str  # absolute URL or local path (relative hrefs resolved against the item)
    kind: str  # "band", "mask", "tile_metadata", "product_metadata"
    name: str = ""  # "B02", "SCL_20m"
    resolution: int | None = None
    scale: float | None = None  # raster:bands
    offset: float | None = None


@dataclass(frozen=True)
class Radiometry:
    """How the item's digital numbers become reflectance: (DN + offsets[band]) / quantification."""

    quantification: float
    offsets: dict[str, float]  # DN, every band id
    rule: str  # which part of the rule decided the offset, in words
    warnings: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------- opening


def open_item(source: str) -> Product:
    """The product a STAC item describes (its URL or .json file); ProductError naming the item otherwise."""
    item = load_item(source)
    item_id = str(item.get("id") or Path(urlparse(source).path).stem)
    assets = item_assets(item, source)
    if not any(asset.kind == "band" for asset in assets):
        local = local_product(item, source)
        if local is not None:
            return open_product(local)
        raise ProductError(
            f"The STAC item {item_id} ({display_path(source)}) has no Sentinel-2 band assets (looked for Earth "
            "Search's blue/green/red/nir..., Planetary Computer's B02...B12 and SAFE band files) and no product on "
            f"this disk. {WHAT_TO_OPEN}"
        )
    layout = item_layout(assets)
    properties = item.get("properties") or {}
    collection = str(item.get("collection") or "")
    signing = Signing.from_environment()
    token = "" if layout != LAYOUT_PLANETARY else signing.token or (
        endpoint_token(signing.endpoint, collection) if signing.endpoint else "")

    def path_of(asset: ItemAsset) -> str:
        return gdal_path(signed(asset.href, token))

    tile = product_md = None
    for asset in assets:
        if asset.kind == "tile_metadata":
            tile = parse_tile_metadata(document(signed(asset.href, token), "the granule metadata"),
                                       display_path(asset.href))
        elif asset.kind == "product_metadata":
            product_md = parse_product_metadata(document(signed(asset.href, token), "the product metadata"),
                                                display_path(asset.href))
    level = item_level(item, assets, tile)
    product_uri = str(properties.get("s2:product_uri") or (product_md.product_id if product_md else "") or "")
    baseline = item_baseline(properties, product_uri, tile, product_md)
    band_assets = {asset.name: asset for asset in sorted(assets, key=lambda a: a.resolution or 0, reverse=True)
                   if asset.kind == "band"}  # the finest file of each band last, so it wins
    band_files: dict[str, dict[int, str]] = {}
    mask_files: dict[str, str] = {}
    for asset in assets:
        if asset.kind == "band":
            band_files.setdefault(asset.name, {})[asset.resolution or NATIVE_RESOLUTION[asset.name]] = path_of(asset)
        elif asset.kind == "mask":
            mask_files.setdefault(asset.name, path_of(asset))
    radiometry = item_radiometry(properties, level, baseline, band_assets, product_md, item_id)
    radiometry = checked_against_data(radiometry, band_files, item_id, properties)
    grids, crs, grid_warnings = _grids(source, tile, band_files, mask_files, tile_expected=False)
    tile_id = (tile.tile_id if tile else None) or item_tile(properties, product_uri, item_id) or ""
    sensing = parse_time(str(properties.get("datetime") or properties.get("start_datetime") or "")) \
        or (tile.sensing_time if tile else None)
    if sensing is None:
        raise ProductError(f"The STAC item {item_id} ({display_path(source)}) gives no readable datetime.")
    satellite = _satellite(properties, product_uri or item_id)
    angles = tile.angles if tile is not None and tile.angles is not None else item_angles(properties, item_id,
                                                                                          band_files)
    special = {"NODATA": 0, "SATURATED": 65535}
    warnings = [*radiometry.warnings, *grid_warnings]
    metadata = ProductMetadata(
        source=source, level=level, product_id=product_uri.removesuffix(".SAFE") or item_id,
        product_type=f"S2MSI{level[1:]}", product_format="STAC", satellite=satellite, sensing_time=sensing,
        processing_baseline=baseline, quantification=radiometry.quantification, offsets=radiometry.offsets,
        offsets_in_xml=False, nodata_value=special["NODATA"], saturated_value=special["SATURATED"],
        special_values=special, granules=(), tile_id=tile_id, warnings=tuple(warnings),
    )
    return Product(
        source=source,
        root=source,
        metadata_file=source,
        tile_metadata_file=next((a.href for a in assets if a.kind == "tile_metadata"), None),
        level=level,
        product_id=_UNSAFE_ID_RE.sub("_", item_id),
        satellite=satellite,
        tile_id=tile_id,
        sensing_time=sensing,
        processing_baseline=baseline,
        quantification=radiometry.quantification,
        offsets=dict(radiometry.offsets),
        nodata_value=special["NODATA"],
        saturated_value=special["SATURATED"],
        band_files=band_files,
        mask_files=mask_files,
        grids=grids,
        crs=crs,
        layout=layout,
        is_zip=False,
        metadata=metadata,
        tile=tile,
        warnings=tuple(warnings),
        angles=angles,
    )


_ITEM_IDS: dict[str, str] = {}  # a batch asks several times per item; only ids found are kept


def item_id(source: str) -> str | None:
    """The id inside a STAC item (its URL or .json file), whose name need not say it (.../scene/item.json);
    None when it cannot be read now (asked again next time): the run that opens the item then says why."""
    if source not in _ITEM_IDS:
        try:
            found = load_item(source).get("id")
        except ProductError:
            return None
        if not found:
            return None
        _ITEM_IDS[source] = str(found)
    return _ITEM_IDS[source]


def load_item(source: str) -> dict:
    """The item's JSON object; ProductError for a collection of items, a catalogue or anything else."""
    data = document(source, "the STAC item")
    item = load_json(data, source, "the STAC item")
    kind = item.get("type") if isinstance(item, dict) else None
    if kind == "FeatureCollection":
        count = len(item.get("features") or [])
        raise ProductError(f"{display_path(source)} holds {count} STAC items (a search result); open one item, or "
                           "give the list to 'Mask many Sentinel-2 products'.")
    if kind in ("Collection", "Catalog"):
        raise ProductError(f"{display_path(source)} is a STAC {kind.lower()}, not an item. {WHAT_TO_OPEN}")
    if kind != "Feature" or not isinstance(item.get("assets"), dict):
        raise ProductError(f"{display_path(source)} is not a STAC item (a GeoJSON Feature with assets). "
                           f"{WHAT_TO_OPEN}")
    return item


def document(href: str, what: str) -> bytes:
    """A small document (the item, MTD_TL.xml) from a URL, a file:// URL, a local path or a GDAL path."""
    if is_url(href):
        return fetch(href, what)
    if urlparse(href).scheme.lower() == "file":
        href = unquote(urlparse(href).path)
    path = gdal_path(href)
    with remote_reads(path):
        return vsi_read(path)


def resolve_href(href: str, source: str) -> str:
    """An asset href made absolute: relative to the item's URL, or to the folder of its .json file."""
    scheme = urlparse(href).scheme.lower()
    if len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        return unquote(urlparse(href).path) if scheme == "file" else href
    if is_url(source):
        return urljoin(source, href)
    local = Path(href)
    return str(local if local.is_absolute() else Path(source).resolve().parent / local)


# ------------------------------------------------------------------------------------------ assets and layout


def item_assets(item: dict, source: str) -> list[ItemAsset]:
    """The assets the reader uses, classified by key, then by the file name of their href."""
    found = []
    for key, asset in sorted((item.get("assets") or {}).items()):
        if not isinstance(asset, dict) or not asset.get("href") or key.endswith("-jp2"):
            continue  # Earth Search's "-jp2" twins are requester-pays copies of the COGs listed beside them
        href = resolve_href(str(asset["href"]), source)
        classified = _classify_asset(key, href, asset)
        if classified is not None:
            found.append(classified)
    return found


def _classify_asset(key: str, href: str, asset: dict) -> ItemAsset | None:
    bands = asset.get("raster:bands") or [{}]
    first = bands[0] if isinstance(bands[0], dict) else {}
    scale, offset = _number(first.get("scale")), _number(first.get("offset"))
    resolution = _asset_resolution(asset, first)
    if key in TILE_METADATA_KEYS:
        return ItemAsset(key, href, "tile_metadata")
    if key in PRODUCT_METADATA_KEYS:
        return ItemAsset(key, href, "product_metadata")
    name = None
    cdse = _CDSE_KEY_RE.match(key)
    if cdse:
        name, resolution = cdse.group(1).upper(), int(cdse.group(2))
    elif key in EARTH_SEARCH_BANDS:
        name = EARTH_SEARCH_BANDS[key]
    elif _BAND_KEY_RE.match(key):
        name = key.upper()
    elif key in SCL_KEYS:
        name = "SCL"
    else:
        found = _classify(urlparse(href).path.rsplit("/", 1)[-1])
        if found is not None:
            name, resolution = (found[1] if found[0] == "band" else "SCL"), found[2]
    if name is None:
        return None
    if name == "SCL":
        resolution = resolution if resolution in (20, 60) else 20
        return ItemAsset(key, href, "mask", f"SCL_{resolution}m", resolution)
    return ItemAsset(key, href, "band", name, resolution or NATIVE_RESOLUTION[name], scale, offset)


def _asset_resolution(asset: dict, band: dict) -> int | None:
    for value in (asset.get("gsd"), band.get("spatial_resolution"), (asset.get("proj:transform") or [None])[0]):
        number = _number(value)
        if number is not None and round(number) in (10, 20, 60):
            return int(round(number))
    return None


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def item_layout(assets: list[ItemAsset]) -> str:
    keys = {asset.key for asset in assets}
    if keys & set(EARTH_SEARCH_BANDS):
        return LAYOUT_EARTH_SEARCH
    if any(_BAND_KEY_RE.match(key) for key in keys):
        return LAYOUT_PLANETARY
    return LAYOUT_SAFE_FILES


def local_product(item: dict, source: str) -> str | None:
    """The product on this disk an item's whole-product asset points at (.SAFE, .zip or MTD xml), if any."""
    assets = item.get("assets") or {}
    ordered = [key for key in WHOLE_PRODUCT_KEYS if key in assets] + sorted(set(assets) - set(WHOLE_PRODUCT_KEYS))
    for key in ordered:
        href = str((assets[key] or {}).get("href", "")) if isinstance(assets[key], dict) else ""
        if not href or is_url(href) or is_url(source):
            continue
        candidate = Path(resolve_href(href, source))
        name = candidate.name.upper()
        if (name in LOCAL_PRODUCT_NAMES or name.endswith((".SAFE", ".ZIP"))) and candidate.exists():
            return str(candidate.resolve())
    return None


# ------------------------------------------------------------------------------------------- what the item says


def item_level(item: dict, assets: list[ItemAsset], tile: TileMetadata | None) -> str:
    properties = item.get("properties") or {}
    clues = " ".join(str(value) for value in (
        properties.get("s2:product_type"), properties.get("processing:level"), item.get("collection"),
        properties.get("s2:product_uri"), item.get("id"),
    ) if value).upper()  # fmt: skip
    level = "L2A" if re.search(r"L2A|MSI2A", clues) else "L1C" if re.search(r"L1C|MSI1C", clues) else None
    level = level or (tile.level if tile else None) or ("L2A" if any(a.kind == "mask" for a in assets) else None)
    if level is None:
        raise ProductError(f"The STAC item {item.get('id')} does not say whether it is Level-1C or Level-2A "
                           "(no s2:product_type, processing:level or collection naming it).")
    if tile is not None and tile.level != level:
        raise ProductError(f"The STAC item {item.get('id')} is {level} but its granule metadata is {tile.level}; "
                           "the item is inconsistent. Fetch it from the catalogue again.")
    return level


def item_baseline(properties: dict, product_uri: str, tile: TileMetadata | None,
                  product_md: ProductMetadata | None) -> str:
    """'04.00' from s2:processing_baseline, the product id's _Nxxyy, the tile or product metadata; '' unknown."""
    match = re.search(r"_N(\d{2})(\d{2})_", product_uri)
    for candidate in (properties.get("s2:processing_baseline"), properties.get("processing:version"),
                      f"{match.group(1)}.{match.group(2)}" if match else None,
                      tile.processing_baseline if tile else None,
                      product_md.processing_baseline if product_md else None):
        parsed = baseline_tuple(str(candidate)) if candidate else (0, 0)
        if parsed != (0, 0):
            return f"{parsed[0]:02d}.{parsed[1]:02d}"
    return ""


def item_tile(properties: dict, product_uri: str, item_id: str) -> str | None:
    tile = properties.get("s2:mgrs_tile") or properties.get("grid:code", "").removeprefix("MGRS-") or None
    if not tile and all(properties.get(k) for k in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")):
        tile = f"{int(properties['mgrs:utm_zone']):02d}{properties['mgrs:latitude_band']}{properties['mgrs:grid_square']}"
    if not tile:
        match = re.search(r"_T?(\d{2}[A-Z]{3})_", item_id)
        tile = tile_from_name(product_uri) or (match.group(1) if match else None)
    return str(tile) if tile else None


def _satellite(properties: dict, name: str) -> str:
    platform = str(properties.get("platform") or "")
    match = re.match(r"^sentinel-?2([a-d])$", platform, re.IGNORECASE) or re.match(r"^S2([A-D])_", name)
    return f"Sentinel-2{match.group(1).upper()}" if match else "Sentinel-2"


def item_angles(properties: dict, item_id: str, band_files: dict) -> SunViewAngles | None:
    """Sun (and, where given, view) angles from the item's view: extension; None without a sun angle."""
    azimuth = _angle_property(properties, ("view:sun_azimuth", "s2:mean_solar_azimuth"), 360.0, item_id)
    elevation = _angle_property(properties, ("view:sun_elevation",), 90.0, item_id)
    zenith = 90.0 - elevation if elevation is not None else \
        _angle_property(properties, ("s2:mean_solar_zenith",), 90.0, item_id)
    if azimuth is None or zenith is None:
        return None
    incidence = _angle_property(properties, ("view:incidence_angle",), 90.0, item_id)
    view_azimuth = _angle_property(properties, ("view:azimuth",), 360.0, item_id)
    viewing = {band: (incidence, view_azimuth) for band in band_files} \
        if incidence is not None and view_azimuth is not None else {}
    return SunViewAngles(zenith, azimuth, viewing)


def _angle_property(properties: dict, names: tuple[str, ...], limit: float, item_id: str) -> float | None:
    for name in names:
        if properties.get(name) is None:
            continue
        value = _number(properties[name])
        if value is None or not 0.0 <= value <= limit:
            raise ProductError(f"The STAC item {item_id} gives an impossible {name} of {properties[name]!r} "
                               f"(expected 0-{limit:g} degrees); fetch the item from the catalogue again.")
        return value
    return None


# ------------------------------------------------------------------------------------------------- radiometry


def _flag(properties: dict) -> tuple[str, bool] | None:
    """(property, value) of the provider's 'offset already removed' flag, where the item has one."""
    for name in OFFSET_APPLIED_PROPERTIES:
        value = properties.get(name)
        if isinstance(value, bool):
            return name, value
        if str(value).lower() in ("true", "false"):
            return name, str(value).lower() == "true"
    return None


def item_radiometry(properties: dict, level: str, baseline: str, band_assets: dict[str, ItemAsset],
                    product_md: ProductMetadata | None, item_id: str) -> Radiometry:
    """Quantification and offsets by the rule in this module's doc (steps 1-3; step 4 is checked_against_data)."""
    scales = {band: asset.scale for band, asset in band_assets.items() if asset.scale is not None}
    if scales:
        values = sorted(set(scales.values()))
        if values[-1] - values[0] > 1e-9 * values[-1] or values[0] <= 0:
            listed = ", ".join(f"{band} {scale:g}" for band, scale in sorted(scales.items()))
            raise ProductError(f"The STAC item {item_id} gives its bands different or unusable scales ({listed}); "
                               "they cannot be turned into reflectance alike.")
        quantification = 1.0 / values[0]
    else:
        quantification = product_md.quantification if product_md else 10000.0
    if not QUANTIFICATION_RANGE[0] <= quantification <= QUANTIFICATION_RANGE[1]:
        raise ProductError(f"The STAC item {item_id} gives a scale of {1 / quantification:g}, which no Sentinel-2 "
                           "product has (0.0001); fetch the item from the catalogue again.")
    advertised = {band: asset.offset * quantification for band, asset in band_assets.items()
                  if asset.offset is not None}
    flag = _flag(properties)
    warnings = []
    zero = dict.fromkeys(BAND_IDS, 0.0)
    if baseline and baseline_tuple(baseline) < (4, 0):
        if any(abs(value) > 0.5 for value in advertised.values()):
            warnings.append(f"The STAC item {item_id} advertises a radiometric offset, but its processing baseline "
                            f"{baseline} predates the offset (04.00); no offset is applied.")
        return Radiometry(quantification, zero, f"processing baseline {baseline} is before 04.00: no offset",
                          tuple(warnings))
    if flag is not None and flag[1]:
        return Radiometry(quantification, zero, f"{flag[0]} is true: the files have the offset removed already; "
                                                "it is not applied again", tuple(warnings))
    if baseline:
        carried = dict(product_md.offsets) if product_md and product_md.offsets_in_xml \
            else dict.fromkeys(BAND_IDS, BASELINE_04_OFFSET)
        differing = sorted(band for band, value in advertised.items() if abs(value - carried[band]) > 0.5)
        if differing:
            warnings.append(f"The STAC item {item_id} advertises an offset for {', '.join(differing)} other than the "
                            f"{carried[differing[0]]:g} DN of processing baseline {baseline}; the baseline's is used.")
        source = "the product metadata" if product_md and product_md.offsets_in_xml else "-1000 DN"
        flagged = f", {flag[0]} is false" if flag else ""
        return Radiometry(quantification, carried,
                          f"processing baseline {baseline} carries an offset ({source}){flagged}", tuple(warnings))
    if advertised:
        offsets = {band: advertised.get(band, next(iter(advertised.values()))) for band in BAND_IDS}
        return Radiometry(quantification, offsets, "the item's raster:bands offset (no processing baseline given)")
    warnings.append(f"The STAC item {item_id} gives no processing baseline and no offset; none is applied. If the "
                    "scene was processed from 25 January 2022 on (baseline 04.00), reflectance is 0.1 too high.")
    return Radiometry(quantification, zero, "no processing baseline and no offset given: no offset",
                      tuple(warnings))


def offset_probe(path: str, offset: float) -> float | None:
    """The share of valid pixels, in the coarsest overview of a GeoTIFF band, below -offset DN; None where the
    file is not a GeoTIFF (a JPEG 2000 is not probed: its overview costs a large part of the file) or too
    small a sample."""
    dataset = open_raster(path)
    try:
        if dataset.driver != "GTiff":
            return None
        factor = (dataset.overviews(1) or [1])[-1]
        shape = (max(1, dataset.height // factor), max(1, dataset.width // factor))
        with remote_reads(path):
            data = dataset.read(1, out_shape=shape)
    finally:
        dataset.close()
    valid = data[data != 0]
    if valid.size < MIN_PROBE_PIXELS:
        return None
    return float(np.mean(valid < -offset))


def checked_against_data(radiometry: Radiometry, band_files: dict[str, dict[int, str]], item_id: str,
                         properties: dict) -> Radiometry:
    """Step 4 of the rule: files whose dark pixels lie below the offset have it removed already."""
    band = next((band for band in OFFSET_PROBE_BANDS if band in band_files), None)
    offset = radiometry.offsets.get(band, 0.0) if band else 0.0
    if band is None or offset >= 0:
        return radiometry
    share = offset_probe(band_files[band][min(band_files[band])], offset)
    if share is None or share < CONTRADICTION_SHARE:
        return radiometry
    flag = _flag(properties)
    said = f"although {flag[0]} is false" if flag else "although the item does not say so"
    warning = (f"{share:.0%} of the valid pixels of {band} in STAC item {item_id} lie below {-offset:g} DN, so the "
               f"files have the radiometric offset removed already ({said}); it is not applied again.")
    return replace(radiometry, offsets=dict.fromkeys(BAND_IDS, 0.0),
                   rule="the data: the files have the offset removed already", warnings=(*radiometry.warnings, warning))

