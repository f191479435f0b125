"""Open a Sentinel-2 L1C / L2A product: a .SAFE folder, a product .zip (read in place through
GDAL's /vsizip/, never extracted), or the path of its MTD_MSIL1C.xml / MTD_MSIL2A.xml.

Both SAFE layouts are understood: the compact naming (December 2016 on:
S2A_MSIL1C_..., GRANULE/L1C_T32UPC_.../IMG_DATA/T32UPC_..._B02.jp2) and the older
long-name one (S2A_OPER_PRD_MSIL1C_PDMC_..., GRANULE/S2A_OPER_MSI_L1C_TL_...,
band files S2A_OPER_MSI_L1C_TL_..._B02.jp2) as long as it holds a single tile.
Files are located from the MTD xml's IMAGE_FILE / IMAGE_ID entries, falling back
to a directory listing; all file access goes through GDAL's virtual file system,
so a folder and a zip are read by the same code.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import rasterio
from osgeo import gdal
from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from ..defaults import RESOLUTIONS
from ..errors import BandError, ProductError
from ..grid import Grid
from .metadata import (
    BAND_IDS,
    MASK_AS_RASTER,
    NATIVE_RESOLUTION,
    ProductMetadata,
    SunViewAngles,
    TileMetadata,
    parse_metadata,
    parse_tile_metadata,
)
from .paths import is_url
from .remote import display_url, is_remote, remote_error, remote_reads

MAX_XML_BYTES = 64 * 1024 * 1024

_PRODUCT_MTD_RE = re.compile(r"^(MTD_MSIL(1C|2A)|S2[A-D]_[A-Z]{4}_MTD_SAFL(1C|2A)_.*)\.xml$", re.IGNORECASE)
_OTHER_LEVEL_MTD_RE = re.compile(r"^(MTD_MSIL(1B|2B|3)|S2[A-D]_[A-Z]{4}_MTD_SAFL(1B|2B|03|3))\b.*\.xml$", re.IGNORECASE)
_BAND_FILE_RE = re.compile(r"(?:^|_)(B(?:0[1-9]|1[0-2]|8A))(?:_(10|20|60)m)?\.(jp2|tif|tiff)$", re.IGNORECASE)
_BAND_STEM_RE = re.compile(r"(?:^|_)(B(?:0[1-9]|1[0-2]|8A))(?:_(10|20|60)m)?$", re.IGNORECASE)
_SCL_RE = re.compile(r"_SCL_(20|60)m(?:\.(jp2|tif|tiff))?$", re.IGNORECASE)
_MASK_FILE_RE = re.compile(r"^(MSK_[A-Z]+)_(B(?:0[0-9]|1[0-2]|8A)|\d{2}m)\.(jp2|tif|tiff)$", re.IGNORECASE)
_RASTER_EXTS = {"JPEG2000": (".jp2", ".tif"), "GEOTIFF": (".tif", ".jp2")}

OTHER_MISSIONS = (
    (re.compile(r"^S1[A-D]_"), "a Sentinel-1 (radar) product, which has no optical bands to mask"),
    (re.compile(r"^S3[A-D]_"), "a Sentinel-3 product"),
    (re.compile(r"^S5P_"), "a Sentinel-5P product"),
    (re.compile(r"^L[COTEM]0[1-9]_", re.IGNORECASE), "a Landsat product"),
    (re.compile(r"^HLS\.", re.IGNORECASE), "a Harmonized Landsat Sentinel-2 (HLS) granule"),
)

WHAT_TO_OPEN = (
    "Open a Sentinel-2 Level-1C or Level-2A product: its .SAFE folder, its .zip as downloaded, "
    "the MTD_MSIL1C.xml / MTD_MSIL2A.xml inside it, or a STAC item (its URL or .json file)."
)
MULTI_TILE_ADVICE = (
    "Products from before December 2016 could hold many tiles; this tool reads single-tile products only. "
    "Download the tile you need as a single-tile product (the Copernicus Data Space Ecosystem, "
    "dataspace.copernicus.eu, serves every acquisition that way), or pass the MTD_TL metadata of one granule's tile "
    "to a tool that splits old products."
)


# --------------------------------------------------------------------------- GDAL virtual file system


@contextlib.contextmanager
def gdal_errors() -> Iterator[list[str]]:
    """Collect GDAL failures raised in this thread, and make JPEG 2000 decoding report them.

    GDAL's JP2OpenJPEG driver decodes blocks in worker threads by default, and a
    failure there is lost: the read "succeeds" with zeros. GDAL_NUM_THREADS=1
    (set for this thread only) keeps decoding in the calling thread, where the
    pushed handler sees every CE_Failure; callers turn a non-empty list into a
    ProductError naming the file, never returning the half-read array.
    """
    errors: list[str] = []

    def handler(err_class, err_no, message):
        if err_class >= gdal.CE_Failure:
            errors.append(str(message).strip())

    previous = gdal.GetThreadLocalConfigOption("GDAL_NUM_THREADS", None)
    gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", "1")
    gdal.PushErrorHandler(handler)
    try:
        yield errors
    finally:
        gdal.PopErrorHandler()
        gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", previous)


def _call(function, *args):
    """Call a GDAL VSI function, mapping 'not found' (None or an exception when the caller enabled them) to None."""
    try:
        with gdal_errors():
            return function(*args)
    except RuntimeError:
        return None


def vsi_stat(path: str):
    return _call(gdal.VSIStatL, path)


def check_regular_file(path: str, role: str = "The file") -> None:
    """ProductError for a local path that is a named pipe, a socket or a device: opening one would wait forever
    for a writer (a FIFO) or read an endless stream. Paths inside archives (/vsizip/...) are always files."""
    if path.startswith("/vsi"):
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: the caller's own message says so
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise ProductError(
            f"{role} {display_path(path)} is {kind}, not a regular file; it is not read, since reading it would "
            "wait for data that may never come. Give the path of a real file."
        )


def vsi_exists(path: str) -> bool:
    return vsi_stat(path) is not None


def vsi_isdir(path: str) -> bool:
    info = vsi_stat(path)
    return bool(info is not None and info.IsDirectory())


def vsi_listdir(path: str) -> list[str]:
    names = _call(gdal.ReadDir, path) or []
    return sorted(name for name in names if name not in (".", "..") and name)


def vsi_read(path: str, limit: int = MAX_XML_BYTES) -> bytes:
    """The bytes of a (small) file, through GDAL so that /vsizip/ paths work; ProductError when unreadable."""
    check_regular_file(path)
    info = vsi_stat(path)
    if info is None or info.IsDirectory():
        raise ProductError(f"The file {display_path(path)} is missing. The product is incomplete; download it again.")
    if info.size > limit:
        raise ProductError(f"The file {display_path(path)} is {info.size} bytes, too large for a metadata file.")
    with gdal_errors() as errors:
        handle = _call(gdal.VSIFOpenL, path, "rb")
        if handle is None:
            raise ProductError(f"The file {display_path(path)} cannot be opened. Check that it is readable.")
        try:
            data = gdal.VSIFReadL(1, info.size, handle) or b""
        finally:
            gdal.VSIFCloseL(handle)
    if errors or len(data) != info.size:
        detail = f" ({errors[-1]})" if errors else ""
        raise ProductError(
            f"The file {display_path(path)} could not be read completely{detail}. The product or archive is damaged "
            "or was not completely downloaded; download it again."
        )
    return bytes(data)


def join(root: str, *parts: str) -> str:
    path = root.rstrip("/\\")
    for part in parts:
        if part:
            path += "/" + part.strip("/\\")
    return path


def display_path(path: str) -> str:
    """A GDAL path as a person reads it: '/vsizip//data/x.zip/A.SAFE/f.jp2' -> '/data/x.zip!/A.SAFE/f.jp2';
    a remote one as its URL, without the query string that may hold a token."""
    if is_remote(path) and not path.startswith("/vsizip/"):
        return display_url(path)
    if path.startswith("/vsizip/"):
        inner = path[len("/vsizip/"):]
        match = re.match(r"^(.*?\.zip)(/.*)?$", inner, re.IGNORECASE)
        if match:
            return match.group(1) + ("!" + match.group(2) if match.group(2) else "")
        return inner
    return path


# --------------------------------------------------------------------------- the product


@dataclass(frozen=True)
class Product:
    source: str  # what the user gave
    root: str  # GDAL path of the SAFE root folder (inside /vsizip/ for a zip)
    metadata_file: str  # GDAL path of MTD_MSIL1C.xml / MTD_MSIL2A.xml
    tile_metadata_file: str | None  # GDAL path of MTD_TL.xml
    level: str  # "L1C" or "L2A"
    product_id: str
    satellite: str
    tile_id: str
    sensing_time: datetime
    processing_baseline: str
    quantification: float
    offsets: dict[str, float]  # band -> additive offset in DN (0 before baseline 04.00)
    nodata_value: int
    saturated_value: int
    band_files: dict[str, dict[int, str]]  # "B02" -> {10: gdal_path, 20: ..., 60: ...}; present files only
    mask_files: dict[str, str]  # "SCL_20m", "MSK_CLASSI_B00", "MSK_CLDPRB_20m", "MSK_DETFOO_B02", ...
    grids: dict[int, Grid]  # 10 / 20 / 60 m grids of the tile
    crs: str  # "EPSG:32629"
    layout: str  # "compact" or "legacy" (the long-name SAFE before 2016-12)
    is_zip: bool
    metadata: ProductMetadata
    tile: TileMetadata | None
    missing_files: tuple[str, ...] = ()  # listed in the MTD xml but absent (a cut-down product)
    warnings: tuple[str, ...] = field(default=())
    angles: SunViewAngles | None = None  # sun and view angles for the shadow check (MTD_TL.xml, or a STAC item's)

    def __post_init__(self) -> None:
        """Files and grids in one order whatever the layout found them in, so a SAFE and a STAC item of the same
        product describe themselves alike."""
        band_files = {band: dict(sorted(self.band_files[band].items())) for band in BAND_IDS if band in self.band_files}
        object.__setattr__(self, "band_files", band_files)
        object.__setattr__(self, "mask_files", dict(sorted(self.mask_files.items())))
        object.__setattr__(self, "grids", dict(sorted(self.grids.items())))

    @property
    def bands(self) -> list[str]:
        """The spectral bands present, in product order."""
        return [band for band in BAND_IDS if band in self.band_files]

    @property
    def resolutions(self) -> list[int]:
        """The resolutions (m) at which at least one spectral band is present."""
        return sorted({res for files in self.band_files.values() for res in files})

    @property
    def masks(self) -> list[str]:
        return sorted(self.mask_files)

    def band_path(self, band: str, resolution: int | None = None) -> str:
        """The file of a band: at `resolution`, or the finest present."""
        files = self.band_files.get(band)
        if not files:
            raise band_missing_error(self, band)
        if resolution is None:
            return files[min(files)]
        if resolution not in files:
            raise band_missing_error(self, band, resolution)
        return files[resolution]

    def describe(self) -> str:
        """A few lines for logs and reports."""
        lines = [
            f"{self.product_id} ({self.level}, {self.satellite}, tile {self.tile_id}, sensed {self.sensing_time:%Y-%m-%d %H:%M:%S} UTC)",
            f"processing baseline {self.processing_baseline}; quantification {self.quantification:g}; "
            f"offsets {sorted(set(self.offsets.values()))}; NODATA={self.nodata_value}, SATURATED={self.saturated_value}",
            f"CRS {self.crs}; grids " + ", ".join(f"{res} m {g.width}x{g.height}" for res, g in sorted(self.grids.items())),
            "bands " + ", ".join(f"{b}@{'/'.join(str(r) for r in sorted(self.band_files[b]))}" for b in self.bands),
            "masks " + (", ".join(self.masks) or "none"),
        ]
        return "\n".join(lines + list(self.warnings))


def band_missing_error(product: Product, band: str, resolution: int | None = None):
    present = ", ".join(product.bands) or "none"
    at = f" at {resolution} m" if resolution else ""
    if band not in BAND_IDS:
        return BandError(f"{band!r} is not a Sentinel-2 band id; use one of {', '.join(BAND_IDS)}.")
    hint = ""
    if product.level == "L2A" and band == "B10":
        hint = " Level-2A products never contain B10 (cirrus); it is dropped by the atmospheric correction."
    elif product.level == "L2A" and band == "B08" and 10 not in product.resolutions:
        hint = " Level-2A products have B08 at 10 m only, and this product has no 10 m bands; B8A is the nearest band."
    listed = [path for path in product.missing_files if re.search(rf"_{band}(_\d\dm)?\.", path)]
    if listed:
        names = ", ".join(display_path(path) for path in listed[:3])
        hint += (f" The metadata lists {names} but {'the file is' if len(listed) == 1 else 'these files are'} missing: "
                 "the product is incomplete; download it again.")
    return BandError(f"Band {band}{at} is not in product {product.product_id} ({display_path(product.source)}); bands present: {present}.{hint}")


# --------------------------------------------------------------------------- locating the product


def _foreign_name(name: str) -> str | None:
    for pattern, what in OTHER_MISSIONS:
        if pattern.match(name):
            return what
    return None


def _find_mtd(folder: str) -> str | None:
    """The product MTD xml directly in folder, or None. ProductError for other levels or ambiguity."""
    names = vsi_listdir(folder)
    matches = [name for name in names if _PRODUCT_MTD_RE.match(name)]
    if len(matches) > 1:
        raise ProductError(
            f"The folder {display_path(folder)} holds several product metadata files ({', '.join(matches)}); "
            "it is not a single Sentinel-2 product. Keep one product per folder."
        )
    if matches:
        return join(folder, matches[0])
    others = [name for name in names if _OTHER_LEVEL_MTD_RE.match(name)]
    if others:
        level = re.search(r"(1B|2B|3)", others[0].upper().replace("SAFL03", "SAFL3"))
        raise ProductError(
            f"{display_path(join(folder, others[0]))} is the metadata of a Level-{level.group(1) if level else '?'} product, "
            f"which this tool does not read. {WHAT_TO_OPEN}"
        )
    return None


def _locate_in_folder(folder: str, source: str, *, inside_zip: bool = False) -> tuple[str, str]:
    """(SAFE root, MTD path) for a folder that is, or directly holds, a product."""
    mtd = _find_mtd(folder)
    if mtd:
        return folder, mtd
    names = vsi_listdir(folder)
    subfolders = [name for name in names if vsi_isdir(join(folder, name))]
    safes = [name for name in subfolders if name.upper().endswith(".SAFE")]
    candidates = safes or (subfolders if inside_zip and len(subfolders) == 1 else [])
    if len(candidates) == 1:
        inner = join(folder, candidates[0])
        mtd = _find_mtd(inner)
        if mtd:
            return inner, mtd
    where = "The archive" if inside_zip else "The folder"
    label = display_path(source)
    if len(safes) > 1:
        raise ProductError(f"{where} {label} holds {len(safes)} .SAFE products; open one of them.")
    base = os.path.basename(folder.rstrip("/\\"))
    foreign = _foreign_name(base) or (_foreign_name(candidates[0]) if candidates else None)
    if foreign:
        raise ProductError(f"{label} is {foreign}, not a Sentinel-2 Level-1C or Level-2A product. {WHAT_TO_OPEN}")
    if "GRANULE" in names or "manifest.safe" in names:
        raise ProductError(
            f"{label} looks like a Sentinel-2 product but its metadata file (MTD_MSIL1C.xml or MTD_MSIL2A.xml) is "
            "missing. The product is incomplete; download it again."
        )
    raise ProductError(f"{where} {label} is not a Sentinel-2 product: it has no MTD_MSIL1C.xml or MTD_MSIL2A.xml. {WHAT_TO_OPEN}")


def _locate_zip(path: str, source: str) -> tuple[str, str]:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ProductError(f"The archive {source} cannot be read ({exc.strerror}). Check that the file is readable.") from None
    if magic[:2] != b"PK":
        raise ProductError(f"{source} is not a zip archive (its content does not start like one). {WHAT_TO_OPEN}")
    unusable = _unusable_zip(path, source)
    if unusable:
        raise ProductError(unusable)
    vsi_root = "/vsizip/" + Path(path).resolve().as_posix()
    names = _call(gdal.ReadDir, vsi_root)
    if not names:
        raise ProductError(
            f"The zip archive {source} is damaged or truncated: its table of contents cannot be read. "
            "The download was probably interrupted; download the product again."
        )
    return _locate_in_folder(vsi_root, source, inside_zip=True)


def _unusable_zip(path: str, source: str) -> str | None:
    """Why a zip is unusable where that is not damage: it is empty, or its members have absolute paths or climb
    out with '..' (never the case in a product download). Reads only the table of contents."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return None  # damaged: GDAL's reading says so, in the caller's words
    if not names:
        return (f"The zip archive {source} is empty: it holds no files at all. The download did not complete; "
                "download the product again.")
    escaping = [name for name in names if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name)
                or ".." in re.split(r"[/\\]", name)]
    if escaping:
        return (f"The zip archive {source} holds members with absolute paths or '..' (such as {escaping[0]!r}); "
                "a Sentinel-2 download never does, so it is not read. Download the product again from the "
                "Copernicus Data Space Ecosystem, or unpack it with a tool you trust and open the .SAFE folder.")
    return None


def _locate(path: str | os.PathLike) -> tuple[str, str, bool]:
    """(SAFE root, MTD path, is_zip) for what a user may give."""
    source = os.fspath(path)
    if not source:
        raise ProductError(f"No product was given. {WHAT_TO_OPEN}")
    if source.startswith("/vsi"):
        if vsi_isdir(source):
            return (*_locate_in_folder(source, source), source.startswith("/vsizip/"))
        if not vsi_exists(source):
            raise ProductError(f"{display_path(source)} does not exist. {WHAT_TO_OPEN}")
        name = source.rstrip("/").rsplit("/", 1)[-1]
        return (*_locate_file(source, name, source), source.startswith("/vsizip/"))
    local = Path(source).expanduser()
    if not local.exists():
        raise ProductError(f"{source} does not exist. Check the path. {WHAT_TO_OPEN}")
    check_regular_file(str(local), "The product")
    if local.is_dir():
        return (*_locate_in_folder(str(local.resolve()), source), False)
    if local.suffix.lower() == ".zip" or _looks_like_zip(local):
        return (*_locate_zip(str(local), source), True)
    return (*_locate_file(str(local.resolve()), local.name, source), False)


def _looks_like_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _parent(path: str) -> str:
    stripped = path.rstrip("/\\")
    cut = max(stripped.rfind("/"), stripped.rfind("\\"))
    return stripped[:cut] if cut > 0 else stripped


def _locate_file(path: str, name: str, source: str) -> tuple[str, str]:
    """A file given directly: the product MTD xml, the manifest, or a tile MTD inside GRANULE/<g>/."""
    if _PRODUCT_MTD_RE.match(name):
        return _parent(path), path
    if name.lower() == "manifest.safe":
        return _locate_in_folder(_parent(path), source)
    lower = name.lower()
    if lower.endswith(".xml"):
        # Parse to say what it is; a tile MTD inside a product is accepted for its product.
        parsed = parse_metadata(vsi_read(path), display_path(path))
        if isinstance(parsed, TileMetadata):
            granule_parent = _parent(_parent(path))
            if os.path.basename(granule_parent).upper() == "GRANULE":
                return _locate_in_folder(_parent(granule_parent), source)
            raise ProductError(
                f"{display_path(source)} is tile metadata (MTD_TL.xml) without its product around it. {WHAT_TO_OPEN}"
            )
        return _parent(path), path  # product metadata under another name
    foreign = _foreign_name(name)
    if foreign:
        raise ProductError(f"{display_path(source)} is {foreign}, not a Sentinel-2 Level-1C or Level-2A product. {WHAT_TO_OPEN}")
    raise ProductError(f"{display_path(source)} is not a Sentinel-2 product. {WHAT_TO_OPEN} {MASK_AS_RASTER}")


# --------------------------------------------------------------------------- files of the product


def _resolve_raster(root: str, rel: str, image_format: str) -> tuple[str | None, str]:
    """The present file for an IMAGE_FILE entry (no extension), and the expected path."""
    rel = rel.strip().lstrip("/")
    if re.search(r"\.(jp2|tif|tiff)$", rel, re.IGNORECASE):
        candidates = [rel]
    else:
        candidates = [rel + ext for ext in _RASTER_EXTS.get(image_format.upper(), (".jp2", ".tif"))]
    for candidate in candidates:
        path = join(root, candidate)
        info = vsi_stat(path)
        if info is not None and not info.IsDirectory():
            check_regular_file(path)
            return path, path
    return None, join(root, candidates[0])


def _granule_dir(root: str, metadata: ProductMetadata, source: str) -> str | None:
    granules_root = join(root, "GRANULE")
    listed = [name for name in vsi_listdir(granules_root) if vsi_isdir(join(granules_root, name))]
    if len(listed) > 1:
        raise ProductError(
            f"{display_path(source)} holds {len(listed)} tiles (granules) in one product. {MULTI_TILE_ADVICE}"
        )
    if listed:
        return join(granules_root, listed[0])
    for granule in metadata.granules:
        for rel in granule.image_files:
            parts = rel.strip("/").split("/")
            if len(parts) > 2 and parts[0] == "GRANULE":
                return join(root, parts[0], parts[1])
        if granule.identifier:
            return join(granules_root, granule.identifier)
    return None


def _tile_metadata_path(granule: str | None) -> str | None:
    if granule is None:
        return None
    names = [name for name in vsi_listdir(granule) if name.lower().endswith(".xml")]
    for name in names:
        if name == "MTD_TL.xml":
            return join(granule, name)
    for name in names:
        if re.match(r"^S2[A-D]_[A-Z]{4}_MTD_L(1C|2A)_TL_", name, re.IGNORECASE) or "MTD" in name.upper():
            return join(granule, name)
    return None


def _classify(name: str) -> tuple[str, str, int] | None:
    """('band', 'B02', 10) / ('mask', 'SCL_20m', 20) for a raster file name or IMAGE_FILE stem; None otherwise."""
    base = name.rsplit("/", 1)[-1]
    scl = _SCL_RE.search(base)
    if scl:
        return ("mask", f"SCL_{scl.group(1)}m", int(scl.group(1)))
    if re.search(r"_(TCI|AOT|WVP|PVI)(_\d\dm)?(\.\w+)?$", base, re.IGNORECASE):
        return None
    match = _BAND_FILE_RE.search(base) or _BAND_STEM_RE.search(base)
    if not match:
        return None
    band = match.group(1).upper()
    resolution = int(match.group(2)) if match.group(2) else NATIVE_RESOLUTION[band]
    return ("band", band, resolution)


def _collect_files(root: str, granule: str | None, metadata: ProductMetadata, tile: TileMetadata | None):
    band_files: dict[str, dict[int, str]] = {}
    mask_files: dict[str, str] = {}
    missing: list[str] = []

    def add(kind: str, key: str, resolution: int, path: str) -> None:
        check_regular_file(path)
        if kind == "band":
            band_files.setdefault(key, {}).setdefault(resolution, path)
        else:
            mask_files.setdefault(key, path)

    # 1. The IMAGE_FILE / IMAGE_ID entries of the product metadata.
    for entry in metadata.granules:
        for rel in entry.image_files:
            found = _classify(rel)
            if found is None:
                continue
            if "/" not in rel.strip("/"):  # old-format IMAGE_ID: a bare file stem inside the granule
                if granule is None:
                    continue
                subfolder = f"R{found[2]}m/" if re.search(r"_\d\dm$", rel) else ""
                base = granule[len(root):].strip("/") if granule.startswith(root) else "GRANULE/" + entry.identifier
                rel = f"{base}/IMG_DATA/{subfolder}{rel}"
            path, expected = _resolve_raster(root, rel, entry.image_format)
            if path is None:
                missing.append(expected)
            else:
                add(*found, path)

    # 2. A directory listing where the metadata named no band that exists (or named none at all).
    if granule is not None and not band_files:
        image_dir = join(granule, "IMG_DATA")
        folders = [image_dir] + [join(image_dir, name) for name in vsi_listdir(image_dir) if re.match(r"^R\d+m$", name)]
        for folder in folders:
            for name in vsi_listdir(folder):
                if not re.search(r"\.(jp2|tif|tiff)$", name, re.IGNORECASE):
                    continue
                found = _classify(name)
                if found is not None:
                    add(*found, join(folder, name))

    # 3. Quality masks: QI_DATA listing plus the raster MASK_FILENAME entries of MTD_TL.xml.
    if granule is not None:
        qi_dir = join(granule, "QI_DATA")
        for name in vsi_listdir(qi_dir):
            match = _MASK_FILE_RE.match(name)
            if match:
                mask_files.setdefault(f"{match.group(1).upper()}_{match.group(2)}", join(qi_dir, name))
    if tile is not None:
        for mask in tile.masks:
            name = mask.path.rsplit("/", 1)[-1]
            match = _MASK_FILE_RE.match(name)
            if match and f"{match.group(1).upper()}_{match.group(2)}" not in mask_files:
                path = join(root, mask.path)
                if vsi_exists(path):
                    mask_files[f"{match.group(1).upper()}_{match.group(2)}"] = path
    return band_files, mask_files, missing


# --------------------------------------------------------------------------- grids


def open_raster(path: str, **options):
    """rasterio dataset for a product file (`options`: GDAL open options such as OVERVIEW_LEVEL), ProductError
    naming it when GDAL cannot open it."""
    check_regular_file(path)
    with gdal_errors() as errors, remote_reads(path):
        try:
            dataset = rasterio.open(path, **options)
        except Exception as exc:  # rasterio.errors.RasterioIOError and friends
            if is_remote(path):
                raise remote_error(path, " ".join([str(exc), *errors])) from None
            raise ProductError(
                f"The file {display_path(path)} cannot be opened as a raster ({short_error(exc)}). It is damaged or was "
                "not completely downloaded; download the product again."
            ) from None
    if errors:
        dataset.close()
        raise ProductError(
            f"The file {display_path(path)} is damaged ({errors[-1]}); download the product again."
        )
    return dataset


def short_error(exc: Exception) -> str:
    """The first line of a library's error, bounded: enough to name the cause in a user message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _epsg(crs) -> int | None:
    try:
        return crs.to_epsg() if crs is not None else None
    except Exception:
        return None


def _grids(product_source: str, tile: TileMetadata | None, band_files, mask_files,
           tile_expected: bool = True) -> tuple[dict[int, Grid], str, list[str]]:
    """The 10/20/60 m grids from MTD_TL Geoposition, cross-checked with one file per resolution.

    tile_expected: a missing MTD_TL.xml is worth a warning (a SAFE always has one; a STAC item need not)."""
    warnings: list[str] = []
    by_resolution: dict[int, str] = {}
    for band in BAND_IDS:  # a spectral file per resolution, else a mask or SCL
        for res, path in sorted(band_files.get(band, {}).items()):
            by_resolution.setdefault(res, path)
    for key, path in sorted(mask_files.items()):
        match = re.search(r"_(\d\d)m$", key)
        if match:
            by_resolution.setdefault(int(match.group(1)), path)

    grids: dict[int, Grid] = {}
    crs = tile.crs if tile is not None else None
    if tile is not None:
        for res in RESOLUTIONS:
            if res in tile.geopositions:
                rows, cols = tile.sizes[res]
                grids[res] = Grid(tile.crs, tile.transform(res), cols, rows)

    for res, path in sorted(by_resolution.items()):
        with contextlib.closing(open_raster(path)) as dataset:
            epsg = _epsg(dataset.crs)
            if res in grids:
                grid = grids[res]
                expected_epsg = int(grid.crs.split(":")[1])
                if epsg is not None and epsg != expected_epsg:
                    raise ProductError(
                        f"The file {display_path(path)} is in EPSG:{epsg} but the tile metadata says {grid.crs}. "
                        "The product is inconsistent; download it again."
                    )
                same_size = (dataset.width, dataset.height) == (grid.width, grid.height)
                same_transform = dataset.transform.almost_equals(grid.transform, precision=1e-6)
                if not (same_size and same_transform):
                    raise ProductError(
                        f"The georeferencing of {display_path(path)} ({dataset.width}x{dataset.height}, "
                        f"{tuple(dataset.transform)[:6]}) disagrees with the tile metadata ({grid.width}x{grid.height}, "
                        f"{tuple(grid.transform)[:6]}). The product is inconsistent; download it again."
                    )
            else:
                if epsg is None:
                    raise ProductError(f"The file {display_path(path)} has no coordinate reference system; the product is damaged.")
                crs = crs or f"EPSG:{epsg}"
                grids[res] = Grid(f"EPSG:{epsg}", dataset.transform, dataset.width, dataset.height)
                if tile is not None:
                    warnings.append(f"The tile metadata gives no {res} m geoposition; the grid of {display_path(path)} is used.")
    if not grids or crs is None:
        raise ProductError(
            f"The georeferencing of {display_path(product_source)} cannot be found: no tile metadata (MTD_TL.xml) and "
            "no readable raster. The product is incomplete; download it again."
        )
    if tile is None and tile_expected:
        warnings.append("The tile metadata (MTD_TL.xml) is missing; the grids were taken from the raster files.")
    return grids, crs, warnings


# --------------------------------------------------------------------------- open_product


def open_product(path: str | os.PathLike) -> Product:
    """Open a product: a .SAFE folder, a product .zip (read in place), its MTD_MSIL1C.xml / MTD_MSIL2A.xml,
    or a STAC item (its URL or .json file; reading/stac.py).

    Raises ProductError with a message that names the file and says what to do.
    Nothing is written anywhere.
    """
    source = os.fspath(path)
    if is_stac_item(source):
        from .stac import open_item  # stac.py builds its Product with this module's helpers, so it imports us

        return open_item(source)
    root, mtd_path, is_zip = _locate(source)
    parsed = parse_metadata(vsi_read(mtd_path), display_path(mtd_path))
    if isinstance(parsed, TileMetadata):
        raise ProductError(f"{display_path(mtd_path)} is tile metadata, not the product's. {WHAT_TO_OPEN}")
    metadata = parsed
    if len(metadata.granule_identifiers) > 1:
        raise ProductError(
            f"{display_path(source)} holds {len(metadata.granule_identifiers)} tiles (granules) in one product. {MULTI_TILE_ADVICE}"
        )
    layout = "compact" if metadata.product_format.upper() == "SAFE_COMPACT" else "legacy"
    granule = _granule_dir(root, metadata, source)
    tile_path = _tile_metadata_path(granule)
    tile = parse_tile_metadata(vsi_read(tile_path), display_path(tile_path)) if tile_path else None
    if tile is not None and tile.level != metadata.level:
        raise ProductError(
            f"The tile metadata {display_path(tile_path)} is {tile.level} but the product is {metadata.level}. "
            "The product is inconsistent; download it again."
        )
    band_files, mask_files, missing = _collect_files(root, granule, metadata, tile)
    if not band_files:
        where = display_path(join(granule, "IMG_DATA")) if granule else display_path(join(root, "GRANULE"))
        raise ProductError(
            f"{display_path(source)} has no spectral band files (looked in {where}). The product is incomplete; "
            "download it again."
        )
    grids, crs, grid_warnings = _grids(source, tile, band_files, mask_files)
    warnings = list(metadata.warnings) + grid_warnings
    missing_bands = [found for found in (_classify(p.rsplit("/", 1)[-1]) for p in missing) if found and found[0] == "band"]
    if missing_bands:
        absent_res = sorted({found[2] for found in missing_bands})
        warnings.append(
            f"{len(missing_bands)} band file(s) listed in the metadata are absent (resolutions "
            f"{', '.join(f'{r} m' for r in absent_res)}); bands are read from the resolutions present: "
            f"{', '.join(f'{r} m' for r in sorted({r for f in band_files.values() for r in f}))}."
        )
    tile_id = (tile.tile_id if tile else None) or metadata.tile_id or ""
    return Product(
        source=source,
        root=root,
        metadata_file=mtd_path,
        tile_metadata_file=tile_path,
        level=metadata.level,
        product_id=metadata.product_id or os.path.basename(root.rstrip("/")).removesuffix(".SAFE"),
        satellite=metadata.satellite,
        tile_id=tile_id,
        sensing_time=metadata.sensing_time,
        processing_baseline=metadata.processing_baseline,
        quantification=metadata.quantification,
        offsets=dict(metadata.offsets),
        nodata_value=metadata.nodata_value,
        saturated_value=metadata.saturated_value,
        band_files=band_files,
        mask_files=mask_files,
        grids=grids,
        crs=crs,
        layout=layout,
        is_zip=is_zip,
        metadata=metadata,
        tile=tile,
        missing_files=tuple(missing),
        warnings=tuple(warnings),
        angles=tile.angles if tile is not None else None,
    )


# --------------------------------------------------------------------------- product_grid


def product_grid(product: Product, resolution: float, extent=None) -> Grid:
    """The tile grid at `resolution` m (10, 20, 60 as in the product; 30 or any other: the tile's bounds
    at that resolution, origin at the tile's corner), optionally cropped to `extent`.

    extent: (xmin, ymin, xmax, ymax, crs) in any CRS (transformed to the product's CRS
    first), or (xmin, ymin, xmax, ymax) in the product's CRS. The crop snaps outward
    to whole pixels of the grid. ProductError when the extent does not overlap the tile.
    """
    try:
        resolution = float(resolution)
    except (TypeError, ValueError):
        raise ProductError(f"The resolution {resolution!r} is not a number; use 10, 20, 30 or 60 (m).") from None
    if not math.isfinite(resolution) or resolution <= 0:
        raise ProductError(f"The resolution {resolution!r} is not a positive number of metres; use 10, 20, 30 or 60.")
    exact = int(resolution) if resolution.is_integer() else None
    if exact in product.grids:
        grid = product.grids[exact]
    else:
        base = product.grids[min(product.grids)]
        grid = base.resampled(resolution)
    if extent is None:
        return grid
    bounds = _extent_in_crs(extent, product.crs, grid.bounds, product)
    try:
        return grid.cropped_to(bounds)
    except ValueError:
        raise _no_overlap(product, bounds, product.crs) from None


def _no_overlap(product: Product, bounds, crs_name: str) -> ProductError:
    xmin, ymin, xmax, ymax = product.grids[min(product.grids)].bounds
    return ProductError(
        f"The extent {_numbers(bounds)} (in {crs_name}) does not overlap tile {product.tile_id} "
        f"of {product.product_id}, which covers ({xmin:.0f}, {ymin:.0f}, {xmax:.0f}, {ymax:.0f}) in {product.crs}. "
        "Choose an extent inside the product, or leave it empty for the whole tile."
    )


def _numbers(values) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def crs_label(crs) -> str:
    """A CRS as a person reads it: 'EPSG:4326', else its name; never a page of WKT."""

    try:
        parsed = CRS.from_user_input(crs)
    except Exception:
        text = str(crs)
        return text if len(text) <= 40 else text[:37] + "..."
    epsg = _epsg(parsed)
    if epsg:
        return f"EPSG:{epsg}"
    name = re.match(r'^\s*\w+\["([^"]+)"', parsed.to_wkt())
    return name.group(1) if name else "a custom CRS"


def _extent_in_crs(extent, crs: str, footprint, product: Product) -> tuple[float, float, float, float]:
    """The extent as bounds in the product's CRS, first clamped to the tile's footprint in the extent's own CRS.

    Clamping before transforming is what makes a world-sized extent work: the
    corners of (-180, -90, 180, 90) have no place in a UTM zone, and bounds
    transformed from them are meaningless, while the tile's footprint in
    degrees transforms back onto the tile.
    """
    values = tuple(extent)
    if len(values) not in (4, 5):
        raise ProductError("The extent must be (xmin, ymin, xmax, ymax) with an optional CRS; "
                           f"{len(values)} values were given.")
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in values[:4])
    except (TypeError, ValueError):
        raise ProductError("The extent's corners are not numbers; give xmin, ymin, xmax, ymax.") from None
    extent_crs = values[4] if len(values) == 5 and values[4] not in (None, "") else None
    label = crs_label(extent_crs) if extent_crs is not None else crs
    corners = (xmin, ymin, xmax, ymax)
    if not all(math.isfinite(v) for v in corners):
        raise ProductError(f"The extent {_numbers(corners)} (in {label}) has a corner that is not a finite number.")
    if not (xmin < xmax and ymin < ymax):
        raise ProductError(
            f"The extent {_numbers(corners)} (in {label}) is empty, without area: it needs xmin < xmax and ymin < ymax. "
            "Draw an extent with some width and height, or leave it empty for the whole tile."
        )
    if extent_crs is None:
        return corners

    try:
        source_crs = CRS.from_user_input(extent_crs)
        target_crs = CRS.from_user_input(crs)
    except Exception as exc:
        raise ProductError(f"The CRS of the extent ({label}) is not understood: {short_error(exc)}") from None
    if source_crs == target_crs:
        return corners
    try:
        fxmin, fymin, fxmax, fymax = transform_bounds(target_crs, source_crs, *footprint, densify_pts=21)
        if fxmin <= fxmax:  # a footprint across the antimeridian (fxmin > fxmax) is left unclamped in x
            xmin, xmax = max(xmin, fxmin), min(xmax, fxmax)
        ymin, ymax = max(ymin, fymin), min(ymax, fymax)
        if not (xmin < xmax and ymin < ymax):
            raise _no_overlap(product, corners, label)
        bounds = tuple(transform_bounds(source_crs, target_crs, xmin, ymin, xmax, ymax, densify_pts=21))
    except ProductError:
        raise
    except Exception as exc:
        raise ProductError(f"The extent {_numbers(corners)} cannot be transformed from {label} to {crs}: "
                           f"{short_error(exc)}") from None
    if not all(math.isfinite(v) for v in bounds):
        raise ProductError(f"The extent {_numbers(corners)} (in {label}) cannot be placed in {crs}; "
                           "choose an extent closer to the product.")
    return bounds  # type: ignore[return-value]


def is_stac_item(source: str) -> bool:
    """Whether what a user gave names a STAC item: an http(s) URL, or a .json file."""
    return is_url(source) or source.lower().endswith(".json")


def product_on_disk(product: Product) -> str | None:
    """What an output must never be or lie in: the SAFE folder on disk, the zip a product is read from, or a
    STAC item's .json file (None for an item read over the network: nothing of it is on this disk)."""
    if product.layout.startswith("stac"):
        return None if is_url(product.source) else product.source
    if product.is_zip:
        match = re.match(r"^/vsizip/(.*?\.zip)(?:/|$)", product.root, re.IGNORECASE)
        return match.group(1) if match else product.source
    return product.source if product.root.startswith("/vsi") else product.root


def as_product(source: "str | os.PathLike | Product") -> Product:
    """The product itself when a caller already opened it (the dock does, to describe it), else opened from its path.

    Opening parses two XML files and lists the product's folders; one run passes
    the opened product along instead of repeating that for every step.
    """
    return source if isinstance(source, Product) else open_product(source)


def no_scl_error(path: str | Path, level: str) -> ProductError:
    return ProductError(
        f"{display_path(str(path))} is an {level} product. L1C products have no SCL; choose the matching L2A product "
        "or an SCL file. The Scene Classification Layer (SCL) exists only in Level-2A products."
    )


def scl_key(product: Product) -> str:
    """The `mask_files` key of the finest Scene Classification Layer (20 m, 60 m where that is all)."""
    if product.level != "L2A":
        raise no_scl_error(product.source, product.level)
    for key in ("SCL_20m", "SCL_60m"):
        if key in product.mask_files:
            return key
    raise ProductError(
        f"{product.product_id} ({display_path(product.source)}) has no SCL file (looked for SCL_20m and SCL_60m in "
        "IMG_DATA). The product is incomplete; download it again."
    )


def scl_file(product: Product) -> str:
    """The GDAL path of the finest Scene Classification Layer of an L2A product."""
    return product.mask_files[scl_key(product)]
