"""Reading over HTTP: GDAL's /vsicurl/ settings for the plugin's own reads, small documents fetched with
retries, and failures told in words that name the URL.

A STAC item's assets are read in place by GDAL's /vsicurl/, by range: opening a
COG fetches its header, reading a window fetches the blocks under it. The
settings below are made on purpose, for those reads only: they are set in the
reading thread (GDAL's thread-local settings) around each open and read of a
remote file, never in QGIS's global configuration, so QGIS's own layers read as
QGIS set them up. Where rasterio carries a GDAL of its own (its wheel on Windows
and macOS), they are set through rasterio, whose GDAL only the plugin uses.
Every option exists in GDAL 3.6 (Debian 12) and 3.10 (Debian 13).

Nothing is cached on disk: GDAL keeps its /vsicurl/ blocks in memory (bounded
below), and the documents fetched here live as long as the product object.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlparse, urlsplit, urlunsplit

from osgeo import gdal

from ..errors import RemoteError
from .metadata import parse_time
from .paths import is_url

REMOTE_PREFIXES = ("/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsiswift/", "/vsioss/")
RASTER_EXTENSIONS = (".tif", ".tiff", ".jp2")
RETRIES = 4  # a request that meets a 5xx answer, a timeout or a dropped connection is tried this many times more
RETRY_DELAY = 1.0  # seconds before the first retry; GDAL doubles it (with a little jitter) for each further one
TIMEOUT = 60  # seconds without progress before a request counts as failed
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024

HTTP_OPTIONS: dict[str, str] = {
    # A COG is one file: no directory listing and no probing for side-cars (.aux.xml, .ovr, .msk) on open.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # Neighbouring blocks of one read are fetched by one range request, not one each.
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    # 429, 5xx answers, timeouts and dropped connections are retried with a growing delay.
    "GDAL_HTTP_MAX_RETRY": str(RETRIES),
    "GDAL_HTTP_RETRY_DELAY": str(RETRY_DELAY),
    "GDAL_HTTP_TIMEOUT": str(TIMEOUT),
    "GDAL_HTTP_CONNECTTIMEOUT": "20",
    # A bounded in-memory cache per open file: blocks read twice (a window's margin) are fetched once.
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(16 * 1024 * 1024),
}


def is_remote(path: str) -> bool:
    """Whether a GDAL path is read over the network (/vsicurl/, /vsis3/, ..., also inside /vsizip/)."""
    return any(prefix in path for prefix in REMOTE_PREFIXES)


def gdal_path(href: str) -> str:
    """The GDAL path of an asset href: https://... -> /vsicurl/https://..., s3://b/k -> /vsis3/b/k, else as is."""
    scheme = urlparse(href).scheme.lower()
    if scheme in ("http", "https"):
        return "/vsicurl/" + href
    if scheme in ("s3", "gs"):
        return f"/vsi{scheme}/" + href.split("://", 1)[1]
    return href


def display_url(path: str) -> str:
    """A remote GDAL path or URL as a person reads it, without its query string (which may hold a token)."""
    url = path[len("/vsicurl/"):] if path.startswith("/vsicurl/") else path
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")) if parts.scheme else url.split("?", 1)[0]


def options_for(path: str) -> dict[str, str]:
    """The GDAL settings for reading `path`: HTTP_OPTIONS, plus a list of the extensions GDAL may open over
    /vsicurl/ where the path ends in one (an asset without extension, a service URL, is left free)."""
    name = urlparse(path.rsplit("/vsicurl/", 1)[-1]).path.lower()
    if name.endswith(RASTER_EXTENSIONS):
        return {**HTTP_OPTIONS, "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ",".join(RASTER_EXTENSIONS)}
    return dict(HTTP_OPTIONS)


@contextlib.contextmanager
def remote_reads(path: str) -> Iterator[None]:
    """The HTTP settings around one open or read of `path`, in this thread only; nothing for a local path."""
    if not is_remote(path):
        yield
        return
    options = options_for(path)
    previous = {key: gdal.GetThreadLocalConfigOption(key, None) for key in options}
    for key, value in options.items():
        gdal.SetThreadLocalConfigOption(key, value)
    try:
        with _rasterio_env(options):
            yield
    finally:
        for key, value in previous.items():
            gdal.SetThreadLocalConfigOption(key, value)


@contextlib.contextmanager
def _rasterio_env(options: dict[str, str]) -> Iterator[None]:
    """rasterio.Env where rasterio's GDAL is not QGIS's (osgeo's settings above do not reach it)."""
    from ...packages.activation import rasterio_has_own_gdal  # below the engine; imports rasterio itself

    if not rasterio_has_own_gdal():
        yield
        return
    import rasterio  # only in this case: rasterio.Env is then the one way to reach its GDAL

    with rasterio.Env(**options):
        yield


# ------------------------------------------------------------------------------------------ failures in words

_HTTP_CODE_RE = re.compile(r"HTTP (?:response|error) code(?: on [^:]*)?\s*:\s*(\d{3})", re.IGNORECASE)
_CURL_RE = re.compile(r"CURL error:\s*(.*)", re.IGNORECASE)
_UNREACHABLE_RE = re.compile(r"could(?:n't| not) (?:connect|resolve)|failed to connect|connection refused|"
                             r"name or service not known|no route to host|network is unreachable", re.IGNORECASE)


def remote_error(path: str, detail: str, *, what: str = "the file") -> RemoteError:
    """The RemoteError for a failed open or read of a remote file, from GDAL's (or urllib's) words."""
    url = display_url(path)
    code_match = _HTTP_CODE_RE.search(detail)
    code = int(code_match.group(1)) if code_match else None
    curl = _CURL_RE.search(detail)
    reason = (curl.group(1) if curl else detail).strip().rstrip(".")[:200]
    return _error_for(url, code, reason, what)


def _error_for(url: str, code: int | None, reason: str, what: str) -> RemoteError:
    if code in (401, 403):
        return RemoteError(
            f"The server refused {what} {url} (HTTP {code}). The asset needs a valid token: for Planetary Computer "
            "set a SAS token or a signing endpoint (the plugin's STAC settings, S2CLOUDMASK_STAC_TOKEN or "
            "S2CLOUDMASK_STAC_SIGNING_URL; see the README, 'From a STAC catalogue'); a token that has expired "
            "needs renewing."
        )
    if code in (404, 410):
        return RemoteError(
            f"{what[0].upper() + what[1:]} {url} is not on the server (HTTP {code}). The item may be out of date or "
            "the asset removed: fetch the item from the catalogue again."
        )
    if code is not None:
        return RemoteError(f"The server answered HTTP {code} for {what} {url}, also after {RETRIES} retries. "
                           "Try again later.")
    host = urlparse(url).netloc or url
    if _UNREACHABLE_RE.search(reason):
        return RemoteError(f"{host} cannot be reached for {what} {url} ({reason}). Check the network connection, "
                           "a proxy, and the URL, then run again.")
    return RemoteError(f"Reading {what} {url} failed ({reason}), also after {RETRIES} retries. Check the network "
                       "connection and run again.")


# ------------------------------------------------------------------------------------------- small documents


def fetch(url: str, what: str = "the file", limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of a small remote document (an item, MTD_TL.xml, a token), retried like GDAL's reads;
    RemoteError naming the URL when it cannot be had."""
    request = urllib.request.Request(url, headers={"Accept": "application/json, application/xml, */*"})
    delay = RETRY_DELAY
    for attempt in range(RETRIES + 1):
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                data = answer.read(limit + 1)
            if len(data) > limit:
                raise RemoteError(f"{what[0].upper() + what[1:]} {display_url(url)} is larger than "
                                  f"{limit // (1024 * 1024)} MB; it is not a STAC item or metadata file.")
            return data
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 500, 502, 503, 504) or attempt == RETRIES:
                raise _error_for(display_url(url), exc.code, str(exc.reason), what) from None
        except (urllib.error.URLError, OSError) as exc:  # unreachable, timed out, dropped
            reason = str(getattr(exc, "reason", exc))
            if _UNREACHABLE_RE.search(reason) or attempt == RETRIES:
                raise _error_for(display_url(url), None, reason, what) from None
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # the loop returns or raises


def load_json(data: bytes, source: str, what: str) -> object:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RemoteError(f"{what[0].upper() + what[1:]} {display_url(source)} is not JSON ({exc}).") from None


# ------------------------------------------------------------------------------------------- signing tokens

RENEW_BEFORE = 300  # seconds: a token that expires sooner than this is fetched anew
UNKNOWN_LIFETIME = 1800  # seconds a token without a stated expiry is used
_TOKENS: dict[str, tuple[str, float]] = {}  # endpoint URL -> (token, expiry as time.time()), in memory only
_TOKENS_LOCK = threading.Lock()


def endpoint_token(endpoint: str, collection: str) -> str:
    """The token a signing endpoint hands out for `collection` ("{collection}" in its URL), kept until shortly
    before it expires; the answer is Planetary Computer's {"token": ..., "msft:expiry": ...}."""
    url = endpoint.replace("{collection}", collection or "")
    with _TOKENS_LOCK:
        cached = _TOKENS.get(url)
        if cached and cached[1] - time.time() > RENEW_BEFORE:
            return cached[0]
    answer = load_json(fetch(url, "the signing endpoint"), url, "the signing endpoint's answer")
    token = str(answer.get("token", "")).lstrip("?") if isinstance(answer, dict) else ""
    if not token:
        raise RemoteError(f"The signing endpoint {display_url(url)} answered without a token; check the endpoint in "
                          "the plugin's STAC settings (or S2CLOUDMASK_STAC_SIGNING_URL).")
    expiry = parse_time(str(answer.get("msft:expiry", "")))
    with _TOKENS_LOCK:
        _TOKENS[url] = (token, expiry.timestamp() if expiry else time.time() + UNKNOWN_LIFETIME)
    return token
