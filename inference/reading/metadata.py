"""Sentinel-2 product and tile metadata (MTD_MSIL1C.xml, MTD_MSIL2A.xml, MTD_TL.xml), and DN -> reflectance.

Pure XML parsing with the standard library: no GDAL, no file layout. `product.py`
finds the files; this module says what they mean. Element names are matched on
their local part (namespaces differ between processing baselines), and the
names of the older formats are accepted as aliases of the current ones:
PSD 14.2 Level-2A (L2A_Product_Info, IMAGE_FILE_2A, L2A_BOA_QUANTIFICATION_VALUE,
...) and the pre-2016-12 long-name SAFE (Granules, IMAGE_ID).

Reflectance = (DN + offset) / quantification, with the per-band offset of the
product (RADIO_ADD_OFFSET for L1C, BOA_ADD_OFFSET for L2A; -1000 from processing
baseline 04.00 on, none before). `to_reflectance` is the only place that does it.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
from affine import Affine

from ..errors import ProductError

# The 13 spectral bands in the order of the metadata's band_id / bandId attributes.
BAND_IDS: tuple[str, ...] = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")

# Native resolution (m) of each band; L1C stores each band at this resolution only.
NATIVE_RESOLUTION: dict[str, int] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
}

# The offset every product from processing baseline 04.00 on carries (ESA, "Sentinel-2 L1C/L2A
# products: new radiometric offset", 2022); used only where such a product's XML lacks the list.
BASELINE_04_OFFSET = -1000.0

# Where other imagery goes: by the names both doors show (the dock's input choice, the Processing algorithm).
MASK_AS_RASTER = ("To mask a raster file with Sentinel-2 bands instead, add it as a layer and choose 'Raster layer of "
                  "the project' in the dock, or run 'Mask raster' (s2cloudmask:maskraster) in Processing, with its "
                  "band numbers.")

_PRODUCT_ROOTS = {"Level-1C_User_Product": "L1C", "Level-2A_User_Product": "L2A"}
_TILE_ROOTS = {"Level-1C_Tile_ID": "L1C", "Level-2A_Tile_ID": "L2A"}
_TILE_RE = re.compile(r"_T(\d{2}[A-Z]{3})(?:_|$)")
_BASELINE_RE = re.compile(r"_N(\d{2})\.?(\d{2})(?:_|$)")


@dataclass(frozen=True)
class GranuleEntry:
    """One Granule (or old-format Granules) element of the product metadata."""

    identifier: str
    image_format: str  # "JPEG2000" or "GeoTIFF"
    image_files: tuple[str, ...]  # IMAGE_FILE paths relative to the SAFE root, without extension, or old IMAGE_ID stems


@dataclass(frozen=True)
class ProductMetadata:
    """What MTD_MSIL1C.xml / MTD_MSIL2A.xml say about a product."""

    source: str
    level: str  # "L1C" or "L2A"
    product_id: str  # PRODUCT_URI without ".SAFE"
    product_type: str  # "S2MSI1C", "S2MSI2A", "S2MSI2Ap"
    product_format: str  # "SAFE_COMPACT" or "SAFE" (the long-name layout before 2016-12)
    satellite: str  # SPACECRAFT_NAME, "Sentinel-2A"
    sensing_time: datetime  # DATATAKE_SENSING_START (UTC)
    processing_baseline: str  # "04.00"
    quantification: float  # QUANTIFICATION_VALUE (L1C) / BOA_QUANTIFICATION_VALUE (L2A)
    offsets: dict[str, float]  # band -> additive offset in DN for all 13 bands
    offsets_in_xml: bool  # False where the offsets are 0 (before 04.00) or were assumed
    nodata_value: int
    saturated_value: int
    special_values: dict[str, int]  # every Special_Values entry, "NODATA" -> 0, "SATURATED" -> 65535
    granules: tuple[GranuleEntry, ...]
    tile_id: str | None  # "29UNU", from the granule identifier or the product id
    warnings: tuple[str, ...] = ()

    @property
    def baseline_tuple(self) -> tuple[int, int]:
        return baseline_tuple(self.processing_baseline)

    @property
    def granule_identifiers(self) -> tuple[str, ...]:
        """Distinct tiles listed (old L2A lists the same granule once per resolution)."""
        seen: dict[str, None] = {}
        for granule in self.granules:
            seen.setdefault(granule.identifier, None)
        return tuple(seen)


@dataclass(frozen=True)
class MaskEntry:
    type: str  # "MSK_CLASSI", "MSK_DETFOO", ...
    band: str | None  # "B02" where the mask is per band
    path: str  # relative to the SAFE root, as written in MTD_TL.xml


@dataclass(frozen=True)
class SunViewAngles:
    """The tile's mean sun angle and mean viewing incidence angles (degrees), from Tile_Angles of MTD_TL.xml.

    Azimuths are clockwise from north; the viewing azimuth points from the ground towards the satellite.
    Cloud-shadow geometry needs both: a shadow lies away from the sun, and a cloud is seen displaced away
    from the satellite (parallax).
    """

    sun_zenith: float
    sun_azimuth: float
    viewing: dict[str, tuple[float, float]]  # band -> (zenith, azimuth); may be empty

    def view(self) -> tuple[float, float]:
        """One (zenith, azimuth) for the whole tile: the mean over bands (close to each other), (0, 0) without."""
        if not self.viewing:
            return 0.0, 0.0
        zeniths = [zenith for zenith, _ in self.viewing.values()]
        azimuths = np.radians([azimuth for _, azimuth in self.viewing.values()])
        mean_azimuth = np.degrees(np.arctan2(np.sin(azimuths).mean(), np.cos(azimuths).mean())) % 360.0
        return float(np.mean(zeniths)), float(mean_azimuth)


@dataclass(frozen=True)
class TileMetadata:
    """What MTD_TL.xml (or the old S2A_OPER_MTD_L1C_TL_*.xml) says about the tile."""

    source: str
    level: str
    tile_id: str  # "29UNU"
    granule_id: str  # TILE_ID, "S2A_OPER_MSI_L2A_TL_ATOS_..._T29UNU_N04.00"
    processing_baseline: str | None  # from TILE_ID's _Nxx.yy suffix
    sensing_time: datetime | None
    crs: str  # "EPSG:32629"
    crs_name: str
    sizes: dict[int, tuple[int, int]]  # resolution -> (rows, cols)
    geopositions: dict[int, tuple[float, float, float, float]]  # resolution -> (ULX, ULY, XDIM, YDIM)
    masks: tuple[MaskEntry, ...] = field(default=())
    angles: SunViewAngles | None = None  # None where Tile_Angles lacks the mean sun angle

    def transform(self, resolution: int) -> Affine:
        ulx, uly, xdim, ydim = self.geopositions[resolution]
        return Affine(xdim, 0.0, ulx, 0.0, ydim, uly)


# --------------------------------------------------------------------------- XML helpers


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _iter(element: ET.Element, *names: str) -> Iterator[ET.Element]:
    wanted = set(names)
    for node in element.iter():
        if _local(node.tag) in wanted:
            yield node


def _first(element: ET.Element, *names: str) -> ET.Element | None:
    for name in names:  # in order of preference
        for node in _iter(element, name):
            return node
    return None


def _text(element: ET.Element, *names: str) -> str | None:
    node = _first(element, *names)
    if node is None or node.text is None:
        return None
    text = node.text.strip()
    return text or None


def _children(element: ET.Element, *names: str) -> list[ET.Element]:
    wanted = set(names)
    return [child for child in element if _local(child.tag) in wanted]


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 as written by the ground segment ('2022-10-05T11:54:11.024Z', up to 9 decimals) -> aware UTC."""
    if not text:
        return None
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$", text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    micro = int((match.group(7) or "0")[:6].ljust(6, "0"))
    zone = match.group(8)
    try:
        tz = timezone.utc
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(timezone.utc)
    except (ValueError, OverflowError):  # 2022-13-45T25:61:00: not a time, so no time
        return None


def baseline_tuple(baseline: str | None) -> tuple[int, int]:
    """'04.00' -> (4, 0); unknown -> (0, 0)."""
    if not baseline:
        return (0, 0)
    match = re.match(r"^\s*N?(\d{1,2})\.?(\d{2})\s*$", baseline)
    if not match:
        return (0, 0)
    return (int(match.group(1)), int(match.group(2)))


def tile_from_name(name: str | None) -> str | None:
    """'..._T29UNU_...' -> '29UNU'."""
    if not name:
        return None
    match = _TILE_RE.search(name)
    return match.group(1) if match else None


# --------------------------------------------------------------------------- what is this file?


def _parse_xml(data: bytes, source: str) -> ET.Element:
    if not data or not data.strip():
        raise ProductError(
            f"The metadata file {source} is empty. The product is damaged or was not completely "
            "downloaded; download it again."
        )
    try:
        return ET.fromstring(data)
    except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError, ValueError: an unknown or unusable encoding
        raise ProductError(
            f"The metadata file {source} is not valid XML ({exc}). The product is damaged or was not "
            "completely downloaded; download it again."
        ) from None


def _foreign(root: ET.Element, source: str) -> ProductError:
    """The error for XML that is not Sentinel-2 L1C/L2A metadata, saying what it seems to be."""
    name = _local(root.tag)
    what = "Open a Sentinel-2 Level-1C or Level-2A product: its .SAFE folder, its .zip, or its MTD_MSIL1C.xml / MTD_MSIL2A.xml."
    blob = ET.tostring(root, encoding="unicode")[:20000]
    if name.startswith("Level-1B"):
        return ProductError(f"{source} belongs to a Sentinel-2 Level-1B product, which is not orthorectified and cannot be masked. {what}")
    if re.match(r"Level-(3|2[BFHS])", name) or "Level-3" in name:
        return ProductError(f"{source} is metadata of a {name.split('_')[0]} product, not of a Level-1C or Level-2A product. {what}")
    if "DataStrip" in name or "Datastrip" in name:
        return ProductError(f"{source} is datastrip metadata, not the product's. Open the MTD_MSIL1C.xml / MTD_MSIL2A.xml at the top of the .SAFE folder instead, or the folder itself.")
    if name.upper().startswith("LANDSAT") or "LANDSAT" in blob[:2000].upper():
        return ProductError(f"{source} is a Landsat metadata file. This tool masks Sentinel-2 products. {MASK_AS_RASTER}")
    lowered = blob.lower()
    if "sentinel-1" in lowered or (name == "product" and "adsHeader" in blob):
        return ProductError(f"{source} belongs to a Sentinel-1 (radar) product, which has no optical bands to mask. {what}")
    if "sentinel-3" in lowered:
        return ProductError(f"{source} belongs to a Sentinel-3 product, not a Sentinel-2 one. {what}")
    if name == "XFDU":
        return ProductError(f"{source} is a SAFE manifest, not the product metadata. {what}")
    return ProductError(f"{source} is not Sentinel-2 product metadata (its root element is <{name}>). {what}")


def parse_metadata(data: bytes | str, source: str = "<metadata>") -> ProductMetadata | TileMetadata:
    """Parse product (MTD_MSIL*.xml) or tile (MTD_TL.xml) metadata; ProductError for anything else."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    root = _parse_xml(data, source)
    name = _local(root.tag)
    if name in _PRODUCT_ROOTS:
        return _product_from_root(root, source)
    if name in _TILE_ROOTS:
        return _tile_from_root(root, source)
    raise _foreign(root, source)


def parse_product_metadata(data: bytes | str, source: str = "<metadata>") -> ProductMetadata:
    parsed = parse_metadata(data, source)
    if not isinstance(parsed, ProductMetadata):
        raise ProductError(
            f"{source} is tile metadata (MTD_TL.xml), not the product's. Open the MTD_MSIL1C.xml / "
            "MTD_MSIL2A.xml at the top of the .SAFE folder, or the folder itself."
        )
    return parsed


def parse_tile_metadata(data: bytes | str, source: str = "<metadata>") -> TileMetadata:
    parsed = parse_metadata(data, source)
    if not isinstance(parsed, TileMetadata):
        raise ProductError(f"{source} is product metadata, not the tile metadata (MTD_TL.xml) expected here.")
    return parsed


# --------------------------------------------------------------------------- product metadata


# The ranges a number of the metadata must lie in to be believed. Real products give QUANTIFICATION_VALUE
# 10000, offsets 0 or -1000, special values 0 and 65535 (16-bit DN), pixel sizes of 10, 20, 60 m and tiles of
# 10980 x 10980 pixels at most; anything outside these bounds by orders of magnitude is damage, not data.
QUANTIFICATION_RANGE = (1.0, 1.0e6)
OFFSET_LIMIT = 65535.0
DN_RANGE = (0, 65535)
PIXEL_SIZE_LIMIT = 10000.0
COORDINATE_LIMIT = 1.0e8
MAX_TILE_PIXELS = 100000


def _damaged(source: str, problem: str) -> ProductError:
    return ProductError(
        f"The metadata file {source} {problem}. The product is damaged or was altered; download it again."
    )


def _number(text: str | None, source: str, what: str) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ProductError(
            f"The metadata file {source} has no readable {what} (found {text!r}); without it the digital "
            "numbers cannot be turned into reflectance. The product is damaged or of an unknown format."
        ) from None


def _in_range(value: float, low: float, high: float, source: str, what: str, why: str) -> float:
    """value itself when finite and within [low, high]; otherwise a ProductError naming the element."""
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer with hundreds of digits
        finite = False
    if not finite or not low <= value <= high:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise _damaged(source, f"gives {what} = {shown}, outside {low:g} to {high:g} ({why})")
    return value


def _offsets(root: ET.Element, level: str, baseline: tuple[int, int], source: str) -> tuple[dict[str, float], bool, list[str]]:
    tag = "RADIO_ADD_OFFSET" if level == "L1C" else "BOA_ADD_OFFSET"
    found: dict[str, float] = {}
    for node in _iter(root, tag, "L2A_" + tag):
        band_id = node.get("band_id", node.get("bandId"))
        try:
            index = int(band_id)  # type: ignore[arg-type]
            value = float((node.text or "").strip())
        except (TypeError, ValueError):
            raise ProductError(f"The metadata file {source} has an unreadable {tag} entry (band_id={band_id!r}).") from None
        if not 0 <= index < len(BAND_IDS):
            raise ProductError(f"The metadata file {source} has a {tag} for an unknown band_id {index}.")
        found[BAND_IDS[index]] = _in_range(value, -OFFSET_LIMIT, OFFSET_LIMIT, source, f"{tag} (band_id {index})",
                                           "an offset in digital numbers; products give 0 or -1000")
    warnings: list[str] = []
    if found:
        missing = [band for band in BAND_IDS if band not in found]
        default = BASELINE_04_OFFSET if baseline >= (4, 0) else 0.0
        if missing:
            warnings.append(f"{source} gives no {tag} for {', '.join(missing)}; {default:g} is used for them.")
        return {band: found.get(band, default) for band in BAND_IDS}, True, warnings
    if baseline >= (4, 0):
        warnings.append(
            f"{source} (processing baseline {baseline[0]:02d}.{baseline[1]:02d}) has no {tag} list although every "
            f"product from baseline 04.00 on carries one; the documented offset {BASELINE_04_OFFSET:g} is assumed."
        )
        return {band: BASELINE_04_OFFSET for band in BAND_IDS}, False, warnings
    return {band: 0.0 for band in BAND_IDS}, False, warnings


def inside_product(path: str, source: str, tag: str) -> str:
    """A path the metadata gives relative to the product, refused when it climbs out of it ('..'): a band read
    from outside the product would be masked as if it were the product's own."""
    if ".." in re.split(r"[/\\]", path):
        raise ProductError(f"{source} gives the {tag} {path!r}, which lies outside the product ('..'); the metadata "
                           "was edited or damaged. Download the product again.")
    return path


def _granules(root: ET.Element, source: str) -> tuple[GranuleEntry, ...]:
    entries = []
    for granule in _iter(root, "Granule", "Granules"):
        files = [
            inside_product((node.text or "").strip(), source, _local(node.tag))
            for node in granule
            if _local(node.tag) in ("IMAGE_FILE", "IMAGE_FILE_2A", "IMAGE_ID", "IMAGE_ID_2A") and (node.text or "").strip()
        ]
        entries.append(GranuleEntry(
            identifier=inside_product(granule.get("granuleIdentifier", ""), source, "granuleIdentifier"),
            image_format=granule.get("imageFormat", "JPEG2000"),
            image_files=tuple(files),
        ))
    return tuple(entries)


def _product_from_root(root: ET.Element, source: str) -> ProductMetadata:
    level = _PRODUCT_ROOTS[_local(root.tag)]
    product_type = _text(root, "PRODUCT_TYPE") or ("S2MSI1C" if level == "L1C" else "S2MSI2A")
    if not product_type.upper().startswith("S2MSI" + level[1:]):
        raise ProductError(
            f"{source} describes a product of type {product_type}, not a Sentinel-2 {level} product. "
            "Open a Level-1C (S2MSI1C) or Level-2A (S2MSI2A) product."
        )
    uri = _text(root, "PRODUCT_URI", "PRODUCT_URI_2A", "PRODUCT_URI_1C") or ""
    product_id = uri[:-5] if uri.upper().endswith(".SAFE") else uri
    baseline = _text(root, "PROCESSING_BASELINE")
    if baseline is None:
        match = _BASELINE_RE.search(product_id)
        baseline = f"{match.group(1)}.{match.group(2)}" if match else None
    if baseline is None:
        raise ProductError(f"The metadata file {source} gives no PROCESSING_BASELINE; the product is of an unknown format.")
    baseline_t = baseline_tuple(baseline)
    if level == "L1C":
        quant_text = _text(root, "QUANTIFICATION_VALUE")
        what = "QUANTIFICATION_VALUE"
    else:
        quant_text = _text(root, "BOA_QUANTIFICATION_VALUE", "L2A_BOA_QUANTIFICATION_VALUE")
        what = "BOA_QUANTIFICATION_VALUE"
    quantification = _in_range(_number(quant_text, source, what), *QUANTIFICATION_RANGE, source, what,
                               "Sentinel-2 products give 10000; reflectance = (DN + offset) / " + what)
    offsets, offsets_in_xml, warnings = _offsets(root, level, baseline_t, source)

    special: dict[str, int] = {}
    for node in _iter(root, "Special_Values"):
        text = _text(node, "SPECIAL_VALUE_TEXT")
        index = _text(node, "SPECIAL_VALUE_INDEX")
        if text and index is not None:
            try:
                value = float(index)
            except ValueError:
                raise ProductError(f"The metadata file {source} has an unreadable special value {text}={index!r}.") from None
            _in_range(value, *DN_RANGE, source, f"SPECIAL_VALUE_INDEX of {text}", "a 16-bit digital number")
            if not value.is_integer():
                raise _damaged(source, f"gives SPECIAL_VALUE_INDEX of {text} = {index!r}, not a whole digital number")
            special[text.upper()] = int(value)
    for key, default in (("NODATA", 0), ("SATURATED", 65535)):
        if key not in special:
            warnings.append(f"{source} declares no {key} special value; the format's {default} is used.")
            special[key] = default

    sensing = parse_time(_text(root, "DATATAKE_SENSING_START")) or parse_time(_text(root, "PRODUCT_START_TIME"))
    if sensing is None:
        match = re.search(r"_(\d{8}T\d{6})_", product_id)
        if match:
            sensing = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    if sensing is None:
        raise ProductError(f"The metadata file {source} gives no sensing time; the product is of an unknown format.")

    granules = _granules(root, source)
    tile_id = None
    for granule in granules:
        tile_id = tile_from_name(granule.identifier)
        if tile_id:
            break
    tile_id = tile_id or tile_from_name(product_id)
    product_format = _text(root, "PRODUCT_FORMAT") or ("SAFE_COMPACT" if product_id.startswith(("S2A_MSI", "S2B_MSI", "S2C_MSI", "S2D_MSI")) else "SAFE")

    return ProductMetadata(
        source=source,
        level=level,
        product_id=product_id,
        product_type=product_type,
        product_format=product_format,
        satellite=_text(root, "SPACECRAFT_NAME") or ("Sentinel-2" + product_id[2] if product_id[:2] == "S2" else "Sentinel-2"),
        sensing_time=sensing,
        processing_baseline=f"{baseline_t[0]:02d}.{baseline_t[1]:02d}" if baseline_t != (0, 0) else baseline,
        quantification=quantification,
        offsets=offsets,
        offsets_in_xml=offsets_in_xml,
        nodata_value=special["NODATA"],
        saturated_value=special["SATURATED"],
        special_values=special,
        granules=granules,
        tile_id=tile_id,
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------- tile metadata


def _angle(node: ET.Element, source: str, what: str, limit: float) -> float | None:
    """One ZENITH_ANGLE / AZIMUTH_ANGLE value, checked (finite, within [0, limit]); None where absent."""
    text = _text(node, what)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and 0.0 <= value <= limit):
        raise ProductError(
            f"The tile metadata {source} gives an impossible {what} of {text!r} (expected 0-{limit:g} degrees); "
            "the product is damaged. Download it again."
        )
    return value


def _angles(root: ET.Element, source: str) -> SunViewAngles | None:
    """Mean_Sun_Angle and Mean_Viewing_Incidence_Angle_List of Tile_Angles; None where the sun angle is absent."""
    sun = _first(root, "Mean_Sun_Angle")
    if sun is None:
        return None
    zenith, azimuth = _angle(sun, source, "ZENITH_ANGLE", 90.0), _angle(sun, source, "AZIMUTH_ANGLE", 360.0)
    if zenith is None or azimuth is None:
        return None
    viewing: dict[str, tuple[float, float]] = {}
    for node in _iter(root, "Mean_Viewing_Incidence_Angle"):
        band_id = node.get("bandId", "")
        try:  # a band's odd viewing angle only loses that band: the mean over the others serves the same
            view_zenith = _angle(node, source, "ZENITH_ANGLE", 90.0)
            view_azimuth = _angle(node, source, "AZIMUTH_ANGLE", 360.0)
        except ProductError:
            continue
        if re.fullmatch(r"[0-9]{1,2}", band_id) and int(band_id) < len(BAND_IDS) \
                and view_zenith is not None and view_azimuth is not None:
            viewing[BAND_IDS[int(band_id)]] = (view_zenith, view_azimuth)
    return SunViewAngles(zenith, azimuth, viewing)


def _check_resolution(resolution: int, source: str, element: str) -> None:
    if not 1 <= resolution <= PIXEL_SIZE_LIMIT:
        raise _damaged(source, f"has a {element} for a resolution of {resolution} m")


def _tile_from_root(root: ET.Element, source: str) -> TileMetadata:
    level = _TILE_ROOTS[_local(root.tag)]
    granule_id = _text(root, "TILE_ID", "TILE_ID_2A") or ""
    tile_id = tile_from_name(granule_id)
    if not tile_id:
        raise ProductError(f"The tile metadata {source} gives no tile identifier (TILE_ID {granule_id!r}).")
    match = _BASELINE_RE.search(granule_id)
    baseline = f"{match.group(1)}.{match.group(2)}" if match else None
    geocoding = _first(root, "Tile_Geocoding")
    if geocoding is None:
        raise ProductError(f"The tile metadata {source} has no Tile_Geocoding; the product is damaged or of an unknown format.")
    crs = _text(geocoding, "HORIZONTAL_CS_CODE") or ""
    if not re.match(r"^EPSG:\d+$", crs):
        raise ProductError(f"The tile metadata {source} gives no usable HORIZONTAL_CS_CODE (found {crs!r}).")
    sizes: dict[int, tuple[int, int]] = {}
    for node in _children(geocoding, "Size"):
        try:
            resolution = int(node.get("resolution", ""))
            size = (int(_text(node, "NROWS") or ""), int(_text(node, "NCOLS") or ""))
        except ValueError:
            raise ProductError(f"The tile metadata {source} has an unreadable Size entry.") from None
        _check_resolution(resolution, source, "Size")
        for key, value in zip(("NROWS", "NCOLS"), size):
            _in_range(value, 1, MAX_TILE_PIXELS, source, f"{key} of the {resolution} m Size", "pixels of a tile")
        sizes[resolution] = size
    positions: dict[int, tuple[float, float, float, float]] = {}
    for node in _children(geocoding, "Geoposition"):
        try:
            resolution = int(node.get("resolution", ""))
            values = tuple(float(_text(node, key) or "") for key in ("ULX", "ULY", "XDIM", "YDIM"))
        except ValueError:
            raise ProductError(f"The tile metadata {source} has an unreadable Geoposition entry.") from None
        _check_resolution(resolution, source, "Geoposition")
        where = f"of the {resolution} m Geoposition"
        _in_range(values[0], -COORDINATE_LIMIT, COORDINATE_LIMIT, source, f"ULX {where}", "a map coordinate in metres")
        _in_range(values[1], -COORDINATE_LIMIT, COORDINATE_LIMIT, source, f"ULY {where}", "a map coordinate in metres")
        _in_range(values[2], 1e-3, PIXEL_SIZE_LIMIT, source, f"XDIM {where}", "a pixel width in metres, positive")
        _in_range(values[3], -PIXEL_SIZE_LIMIT, -1e-3, source, f"YDIM {where}", "a pixel height in metres, negative")
        positions[resolution] = values  # type: ignore[assignment]
    common = sorted(set(sizes) & set(positions))
    if not common:
        raise ProductError(f"The tile metadata {source} gives no size and position for any resolution.")
    masks = []
    for node in _iter(root, "MASK_FILENAME"):
        path = (node.text or "").strip()
        if not path:
            continue
        band_id = node.get("bandId")
        band = BAND_IDS[int(band_id)] if band_id is not None and re.fullmatch(r"[0-9]{1,2}", band_id) \
            and int(band_id) < len(BAND_IDS) else None
        masks.append(MaskEntry(type=node.get("type", ""), band=band, path=inside_product(path, source, "MASK_FILENAME")))
    return TileMetadata(
        angles=_angles(root, source),
        source=source,
        level=level,
        tile_id=tile_id,
        granule_id=granule_id,
        processing_baseline=baseline,
        sensing_time=parse_time(_text(root, "SENSING_TIME")),
        crs=crs,
        crs_name=_text(geocoding, "HORIZONTAL_CS_NAME") or crs,
        sizes={res: sizes[res] for res in common},
        geopositions={res: positions[res] for res in common},
        masks=tuple(masks),
    )


# --------------------------------------------------------------------------- reflectance


def band_offsets(band_ids: Iterable[str], metadata) -> np.ndarray:
    """The additive offsets (DN) of these bands, in order; metadata is a ProductMetadata or a Product."""
    offsets = metadata.offsets
    values = []
    for band in band_ids:
        if band not in offsets:
            raise ValueError(f"no radiometric offset known for band {band!r}; expected one of {', '.join(BAND_IDS)}")
        values.append(offsets[band])
    return np.asarray(values, dtype=np.float32)


def to_reflectance(dn: np.ndarray, band_ids: Sequence[str], metadata, out: np.ndarray | None = None) -> np.ndarray:
    """Digital numbers -> float32 reflectance: (DN + offset[band]) / quantification.

    dn: (bands, ...) with one leading entry per band in band_ids (or a single band's
    array when band_ids has one entry); any numeric dtype, including the fractional
    DN of resampled reads. metadata: a ProductMetadata or a Product (anything with
    `offsets` and `quantification`). No masking happens here: special values
    (NODATA, SATURATED) are the caller's business.
    out: a float32 array of dn's shape to take the result (dn itself, to spare a large block a copy).
    """
    band_ids = list(band_ids)
    array = np.asarray(dn)
    squeeze = len(band_ids) == 1 and array.ndim == 2
    if squeeze:
        array = array[np.newaxis]
    if array.ndim < 1 or array.shape[0] != len(band_ids):
        raise ValueError(f"dn has {array.shape[0] if array.ndim else 0} bands but {len(band_ids)} band ids were given")
    offsets = band_offsets(band_ids, metadata).reshape((-1,) + (1,) * (array.ndim - 1))
    quantification = np.float32(metadata.quantification)
    if out is None:
        result = (array.astype(np.float32, copy=False) + offsets) / quantification
        result = result.astype(np.float32, copy=False)
    else:
        result = out[np.newaxis] if squeeze else out
        np.add(array.astype(np.float32, copy=False), offsets, out=result)
        result /= quantification
    return result[0] if squeeze else result


def reflectance_scaling(band_ids: Sequence[str], metadata) -> list[tuple[float, float]]:
    """to_reflectance as GDAL's per-band (scale, offset): reflectance = DN * scale + offset, for files that keep
    the digital numbers and let their reader convert them."""
    quantification = float(metadata.quantification)
    return [(1.0 / quantification, float(offset) / quantification) for offset in band_offsets(band_ids, metadata)]
