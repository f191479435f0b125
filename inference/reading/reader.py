"""Read a product's bands onto a target grid as reflectance, block by block.

`ProductReader(product, bands, grid)` delivers `BandBlock`s for windows of `grid`:
float32 reflectance = (DN + offset) / quantification, a validity mask and a
saturation mask. Resampling is done here, in numpy, with kernels whose every
output pixel depends only on its own source pixels and on positions computed
from the whole grid, so reading a window gives exactly the values of reading the
whole grid and cropping (the block-by-block engine relies on it):

- downsampling (target pixels larger than the source's): area-weighted average
  over the source pixels each target pixel covers, fractional edges weighted by
  their overlap. JPEG 2000 files are first decoded at the coarsest reduced
  resolution level that is still at least as fine as the target and divides the
  tile exactly (10 m -> 30 m decodes the 20 m level, then averages 1.5 x 1.5);
  `reduced_resolution=False` decodes full resolution instead;
- upsampling: bilinear between the four nearest source pixel centres (edge
  pixels replicated), as GDAL's bilinear;
- same resolution and aligned: the pixels themselves.

A target pixel is invalid when any source pixel with a non-zero weight is
NODATA (from the XML) in any band, or lies outside the file; at a reduced
resolution level the wavelet mixes data and no-data near the swath edge, so
there a pixel also counts as no-data when one of its 8 neighbours is. A pixel is
saturated when any contributing source pixel is SATURATED. Invalid pixels hold 0.
"""

from __future__ import annotations

import contextlib
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.windows import Window

from ..cores import usable_cores
from ..errors import BandError, ProductError
from ..grid import Grid
from .metadata import NATIVE_RESOLUTION, to_reflectance
from .product import (
    Product,
    band_missing_error,
    display_path,
    gdal_errors,
    open_product,
    open_raster,
    product_grid,
    scl_key,
    short_error,
)
from .remote import is_remote, remote_error, remote_reads

__all__ = ["BandBlock", "ProductReader", "open_product", "product_grid", "read_mask_layer", "read_scl"]

_EPS = 1e-6
_STRIP_MIN_PIXELS = 2_000_000
_STRIP_POOL: ThreadPoolExecutor | None = None
_STRIP_LOCK = threading.Lock()


def _strip_workers() -> int:
    return min(usable_cores(), 8)


def _strip_pool() -> ThreadPoolExecutor:
    global _STRIP_POOL
    with _STRIP_LOCK:
        if _STRIP_POOL is None:
            _STRIP_POOL = ThreadPoolExecutor(max_workers=_strip_workers(), thread_name_prefix="s2-strip")
        return _STRIP_POOL


@dataclass
class BandBlock:
    data: np.ndarray  # float32 (bands, rows, cols) reflectance; 0 where not valid
    valid: np.ndarray  # bool (rows, cols): every band has data here
    saturated: np.ndarray  # bool (rows, cols): some band is saturated here


# --------------------------------------------------------------------------- resampling plans


@dataclass
class _AxisPlan:
    """How each target pixel along one axis draws on source pixels: out[j] = sum_k weight[j,k] * src[index[j,k]]."""

    index: np.ndarray  # (n, K) int64, global source pixel indices
    weight: np.ndarray  # (n, K) float32
    used: np.ndarray  # (n, K) bool: weight > 0 and inside the source
    outside: np.ndarray  # (n,) bool: the target pixel draws on something outside the source
    lo: int  # the source index range [lo, hi) that the used taps need
    hi: int
    period: int = 0  # targets after which the weights repeat and the sources move on by `stride`; 0: none
    stride: int = 0


MAX_PERIOD = 6  # 20 m -> 30 m repeats every 2 targets, 10 m -> 60 m every one; anything else is read by index


def _period(index: np.ndarray, weight: np.ndarray, used: np.ndarray) -> tuple[int, int]:
    """(targets, sources) after which a plan repeats itself exactly, or (0, 0): a repeating plan is applied
    with strided views of the source instead of gathering its pixels by index."""
    count = len(index)
    for period in range(1, min(MAX_PERIOD, count - 1) + 1):
        if not (np.array_equal(weight[period:], weight[:-period]) and np.array_equal(used[period:], used[:-period])):
            continue
        stride = int(index[period, 0] - index[0, 0])
        if stride > 0 and np.array_equal(np.where(used[period:], index[period:] - index[:-period], stride),
                                          np.full_like(index[period:], stride)):
            return period, stride
    return 0, 0


def _snap(values: np.ndarray) -> np.ndarray:
    nearest = np.round(values)
    return np.where(np.abs(values - nearest) < _EPS, nearest, values)


def _plan_axis(mode: str, t_origin: float, t_step: float, start: int, count: int,
               s_origin: float, s_step: float, n_source: int) -> _AxisPlan:
    """Positions come from the whole grid (origin + global index * step), never from the window's own
    origin, so a pixel's weights are bit-identical whichever window it is read in."""
    ratio = t_step / s_step
    index_range = np.arange(start, start + count, dtype=np.float64)
    if mode == "average":
        edges = _snap((t_origin + np.arange(start, start + count + 1, dtype=np.float64) * t_step - s_origin) / s_step)
        low, high = edges[:-1], edges[1:]
        taps = int(math.ceil(ratio - _EPS)) + 1
        index = np.floor(low).astype(np.int64)[:, None] + np.arange(taps, dtype=np.int64)
        overlap = np.minimum(high[:, None], index + 1) - np.maximum(low[:, None], index)
        overlap = np.where(overlap > _EPS, overlap, 0.0)
        weight = overlap / (high - low)[:, None]
        used = overlap > 0
    elif mode == "bilinear":
        centre = _snap((t_origin + (index_range + 0.5) * t_step - s_origin) / s_step)
        position = centre - 0.5
        first = np.floor(position)
        fraction = position - first
        index = first.astype(np.int64)[:, None] + np.arange(2, dtype=np.int64)
        weight = np.stack([1.0 - fraction, fraction], axis=1)
        used = weight > 0
        outside_centre = (centre < 0) | (centre > n_source)
        index = np.clip(index, 0, n_source - 1)  # edge pixels replicated, as GDAL
        used &= ~outside_centre[:, None]
        weight = np.where(used, weight, 0.0)
    elif mode == "nearest":
        centre = _snap((t_origin + (index_range + 0.5) * t_step - s_origin) / s_step)
        index = np.floor(centre).astype(np.int64)[:, None]
        weight = np.ones_like(index, dtype=np.float64)
        used = np.ones_like(index, dtype=bool)
    else:
        raise ValueError(f"unknown resampling {mode!r}")
    inside = (index >= 0) & (index < n_source)
    outside = np.any(used & ~inside, axis=1)
    used &= inside
    # A tap that no target pixel uses adds only zeros (10 m -> 30 m at the 20 m level: 1.5 source pixels reach
    # at most 2 of the 3 taps); leaving it out saves its pass over the band and changes no value.
    needed = used.any(axis=0)
    needed[0] = True
    index, weight, used = index[:, needed], weight[:, needed], used[:, needed]
    weight = np.where(used, weight, 0.0).astype(np.float32)
    if used.any():
        lo, hi = int(index[used].min()), int(index[used].max()) + 1
    else:
        lo, hi = 0, 0
    index = np.where(used, index, lo)
    return _AxisPlan(index, weight, used, outside, lo, hi, *_period(index, weight, used))


def _taps(array: np.ndarray, plan: _AxisPlan, axis: int):
    """Each tap k of the plan: the source values it takes, and a shape that lays a per-target vector along axis."""
    local = plan.index - plan.lo
    shape = [1] * array.ndim
    shape[axis] = -1
    for k in range(local.shape[1]):
        yield k, np.take(array, local[:, k], axis=axis), shape


def _apply(array: np.ndarray, plan: _AxisPlan, axis: int, out: np.ndarray | None = None) -> np.ndarray:
    """Weighted sum along axis, float32 (into `out` when given); taps are added one after another so that the
    order never changes.

    `array` may hold the file's integers: each tap's values are converted as they are weighted (exactly as
    converting the whole band first would, without that pass over it).
    """
    if plan.period:
        return _apply_repeating(array, plan, axis, out)
    result = None
    for k, taken, shape in _taps(array, plan, axis):
        if result is None:
            result = np.multiply(taken, plan.weight[:, k].reshape(shape), out=out, dtype=np.float32)
        else:
            result += np.multiply(taken, plan.weight[:, k].reshape(shape), dtype=np.float32)
    assert result is not None
    return result


def _apply_repeating(array: np.ndarray, plan: _AxisPlan, axis: int, out: np.ndarray | None) -> np.ndarray:
    """_apply for a plan that repeats itself: each phase of the repeat and each of its taps is one strided
    view of the source and one scalar weight, in the same operations and order as _apply, so the sums are
    the same to the bit (a tap of weight 0 adds nothing and is left out)."""
    count = len(plan.index)
    if out is None:
        shape = list(array.shape)
        shape[axis] = count
        out = np.empty(shape, dtype=np.float32)
    before = (slice(None),) * axis
    for phase in range(min(plan.period, count)):
        targets = out[before + (slice(phase, None, plan.period),)]
        n = targets.shape[axis]
        first = True
        for k in np.flatnonzero(plan.weight[phase]):
            start = int(plan.index[phase, k]) - plan.lo
            taken = array[before + (slice(start, start + plan.stride * (n - 1) + 1, plan.stride),)]
            if first:
                np.multiply(taken, plan.weight[phase, k], out=targets, dtype=np.float32)
                first = False
            else:
                targets += np.multiply(taken, plan.weight[phase, k], dtype=np.float32)
        if first:
            targets[...] = 0
    return out


def _apply_any(array: np.ndarray, plan: _AxisPlan, axis: int) -> np.ndarray:
    """Whether any used tap of each target pixel is True."""
    result = None
    for k, taken, shape in _taps(array, plan, axis):
        taken &= plan.used[:, k].reshape(shape)
        if result is None:
            result = taken
        else:
            result |= taken
    assert result is not None
    return result


def _pick(array: np.ndarray, plan: _AxisPlan, axis: int) -> np.ndarray:
    return np.take(array, plan.index[:, 0] - plan.lo, axis=axis)


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3 x 3 binary dilation (array edges are not set)."""
    padded = np.pad(mask, 1, mode="constant", constant_values=False)
    out = np.zeros_like(mask)
    rows, cols = mask.shape
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy:dy + rows, dx:dx + cols]
    return out


def _int_window(window, grid: Grid) -> tuple[int, int, int, int]:
    """(col_off, row_off, width, height) of an integer window; None means the whole grid."""
    if window is None:
        return 0, 0, grid.width, grid.height
    if not isinstance(window, Window):
        window = Window(*window)
    values = (window.col_off, window.row_off, window.width, window.height)
    rounded = tuple(int(round(v)) for v in values)
    if any(abs(v - r) > _EPS for v, r in zip(values, rounded)):
        raise ValueError(f"the window {window} is not made of whole pixels of the grid")
    if rounded[2] <= 0 or rounded[3] <= 0:
        raise ValueError(f"the window {window} is empty")
    return rounded  # type: ignore[return-value]


# --------------------------------------------------------------------------- raster sources


class _Source:
    """One raster file, opened once, read at the level chosen for the target resolution.

    resampling: "auto" (spectral bands: average when downsampling, bilinear when
    upsampling, reduced resolution levels allowed), or "nearest" / "average" /
    "bilinear" as asked. Same resolution and aligned always reads the pixels themselves.
    """

    def __init__(self, path: str, label: str, target_resolution: float, *, resampling: str = "auto",
                 reduced_resolution: bool = False):
        self.path = path
        self.label = label
        self.resampling = resampling
        self.full = open_raster(path)
        self.dataset = self.full
        self.factor = 1
        self.open_options: dict[str, int] = {}
        self.split = True  # may split large reads into strips decoded in parallel
        native = abs(self.full.transform.a)
        downsampling = target_resolution > native * (1 + _EPS)
        if resampling == "auto" and downsampling and reduced_resolution and self.full.driver == "JP2OpenJPEG":
            best = None
            for level, factor in enumerate(self.full.overviews(1)):
                exact = self.full.width % factor == 0 and self.full.height % factor == 0
                if exact and native * factor <= target_resolution * (1 + _EPS):
                    best = (level, factor)
            if best is not None:
                overview = open_raster(path, OVERVIEW_LEVEL=best[0])
                expected = abs(self.full.transform.a) * best[1]
                if abs(abs(overview.transform.a) - expected) <= _EPS * expected:  # never trust an inexact level
                    self.dataset, self.factor = overview, best[1]
                    self.open_options = {"OVERVIEW_LEVEL": best[0]}
                else:
                    overview.close()
        self.resolution = abs(self.dataset.transform.a)

    def plans(self, grid: Grid, col: int, row: int, width: int, height: int) -> tuple[_AxisPlan, _AxisPlan]:
        t, s = grid.transform, self.dataset.transform
        ratio = abs(t.a) / abs(s.a)
        offset_x = (t.c - s.c) / s.a
        offset_y = (t.f - s.f) / s.e
        aligned = abs(offset_x - round(offset_x)) < _EPS and abs(offset_y - round(offset_y)) < _EPS
        if self.resampling == "nearest" or (abs(ratio - 1) < _EPS and aligned):
            mode = "nearest"
        elif self.resampling == "auto":
            mode = "average" if ratio > 1 + _EPS else "bilinear"
        else:
            mode = self.resampling
        x = _plan_axis(mode, t.c, t.a, col, width, s.c, s.a, self.dataset.width)
        y = _plan_axis(mode, t.f, t.e, row, height, s.f, s.e, self.dataset.height)
        return y, x

    def read_block(self, rows: tuple[int, int], cols: tuple[int, int], band: int = 1) -> np.ndarray:
        """Source pixels [rows) x [cols) (inside the file); GDAL failures become ProductError.

        A large read is split into strips along the file's block rows, each decoded by its
        own short-lived handle in the strip pool (JPEG 2000 decoding runs in one thread per
        handle here, see gdal_errors), and the handles are closed at once so that no file
        stays locked after the reader is closed.
        """
        (r0, r1), (c0, c1) = rows, cols
        height, width = r1 - r0, c1 - c0
        block = max(1, self.dataset.block_shapes[0][0])
        workers = _strip_workers()
        if not (self.split and workers > 1 and height * width >= _STRIP_MIN_PIXELS and height >= 2 * block):
            return self._read(self.dataset, band, r0, r1, c0, c1)
        pieces = min(workers, math.ceil(height / block))
        edges = sorted({r0, r1, *(min(r1, max(r0, (r0 + (height * i) // pieces) // block * block))
                                  for i in range(1, pieces))})
        out = np.empty((height, width), dtype=self.dataset.dtypes[band - 1])

        def part(span: tuple[int, int]) -> None:
            dataset = open_raster(self.path, **self.open_options)
            try:
                out[span[0] - r0:span[1] - r0] = self._read(dataset, band, span[0], span[1], c0, c1)
            finally:
                dataset.close()

        list(_strip_pool().map(part, [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]))
        return out

    def _read(self, dataset, band: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        with gdal_errors() as errors, remote_reads(self.path):
            try:
                data = dataset.read(band, window=Window(c0, r0, c1 - c0, r1 - r0))
            except Exception as exc:
                if is_remote(self.path):
                    raise remote_error(self.path, " ".join([str(exc), *errors]), what=f"the file of {self.label}") from None
                raise ProductError(
                    f"Reading {self.label} from {display_path(self.path)} failed ({short_error(exc)}). The file is damaged "
                    "or was not completely downloaded; download the product again."
                ) from None
        if errors and is_remote(self.path):
            raise remote_error(self.path, " ".join(errors), what=f"the file of {self.label}")
        if errors:
            raise ProductError(
                f"Reading {self.label} from {display_path(self.path)} failed ({errors[-1]}). The file is damaged or "
                "was not completely downloaded; download the product again."
            )
        return data

    def close(self) -> None:
        if self.dataset is not self.full:
            self.dataset.close()
        self.full.close()


def _resample_dn(source: _Source, grid: Grid, window: tuple[int, int, int, int], out: np.ndarray, *,
                 nodata: int | None, saturated: int | None) -> tuple[np.ndarray, np.ndarray]:
    """One band on a window of grid: float32 DN into `out` (rows, cols); returns (invalid, saturated)."""
    col, row, width, height = window
    plan_y, plan_x = source.plans(grid, col, row, width, height)
    invalid = plan_y.outside[:, None] | plan_x.outside[None, :]
    if plan_y.hi <= plan_y.lo or plan_x.hi <= plan_x.lo:
        out[:] = 0
        return np.ones((height, width), bool), np.zeros((height, width), bool)
    margin = 1 if source.factor > 1 else 0
    r0, r1 = max(plan_y.lo - margin, 0), min(plan_y.hi + margin, source.dataset.height)
    c0, c1 = max(plan_x.lo - margin, 0), min(plan_x.hi + margin, source.dataset.width)
    raw = source.read_block((r0, r1), (c0, c1))
    bad = raw == nodata if nodata is not None else np.zeros(raw.shape, bool)
    if margin and bad.any():
        bad = _dilate(bad)
    inner = (slice(plan_y.lo - r0, plan_y.hi - r0), slice(plan_x.lo - c0, plan_x.hi - c0))
    raw, bad = raw[inner], bad[inner]
    sat = raw == saturated if saturated is not None else np.zeros(raw.shape, bool)
    if plan_x.weight.shape[1] == 1 and plan_y.weight.shape[1] == 1:  # same grid: the pixels themselves
        out[:] = _pick(_pick(raw, plan_x, 1), plan_y, 0)
        invalid |= _pick(_pick(bad, plan_x, 1), plan_y, 0)
        sat_out = _pick(_pick(sat, plan_x, 1), plan_y, 0)
    else:
        _apply(_apply(raw, plan_x, 1), plan_y, 0, out=out)
        if bad.any():
            invalid |= _apply_any(_apply_any(bad, plan_x, 1), plan_y, 0)
        sat_out = _apply_any(_apply_any(sat, plan_x, 1), plan_y, 0) if sat.any() else np.zeros((height, width), bool)
    return invalid, sat_out & ~invalid


# --------------------------------------------------------------------------- ProductReader


class ProductReader:
    """Reads `bands` of `product` onto `grid` (a grid in the product's CRS, e.g. from `product_grid`).

    A context manager: band files stay open across reads until `close()`. Each band is
    taken from the finest resolution the product has for it; `resolutions_used` says
    which. BandError names the band and the product when a band is absent at every
    resolution (substitutions such as B8A for B08 are the caller's decision).
    """

    def __init__(self, product: Product, bands: list[str], grid: Grid, *, band_names: list[str] | None = None,
                 reduced_resolution: bool = True, threads: int = 0):
        if not bands:
            raise BandError("No bands were asked for.")
        if len(set(bands)) != len(bands):
            raise BandError(f"A band is asked for twice in {bands}.")
        if band_names is not None and len(band_names) != len(bands):
            raise BandError(f"{len(band_names)} band names were given for {len(bands)} bands.")
        _check_crs(product, grid)
        for band in bands:
            if band not in product.band_files:
                raise band_missing_error(product, band)
        self.product = product
        self.bands = list(bands)
        self.band_names = list(band_names) if band_names is not None else list(bands)
        self.grid = grid
        self.resolutions_used: dict[str, int] = {band: min(product.band_files[band]) for band in bands}
        self.warnings: list[str] = []
        coarser = [band for band in bands if self.resolutions_used[band] > NATIVE_RESOLUTION[band]]
        if coarser:
            res = sorted({self.resolutions_used[band] for band in coarser})
            self.warnings.append(
                f"{', '.join(coarser)} are read from {'/'.join(str(r) for r in res)} m files because {product.product_id} "
                "has no finer file for them; detail finer than that is not in the input."
            )
        self._sources: dict[str, _Source] = {}
        try:
            for band in bands:
                path = product.band_files[band][self.resolutions_used[band]]
                self._sources[band] = _Source(path, f"band {band}", grid.resolution, resampling="auto",
                                              reduced_resolution=reduced_resolution)
        except BaseException:
            self.close()
            raise
        self.read_resolutions: dict[str, float] = {band: src.resolution for band, src in self._sources.items()}
        workers = threads if threads and threads > 0 else min(len(bands), usable_cores())
        for source in self._sources.values():  # bands already keep the cores busy: no strips on top
            source.split = len(bands) < usable_cores()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s2-read") if workers > 1 else None

    def __enter__(self) -> ProductReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True)
            self._pool = None
        for source in getattr(self, "_sources", {}).values():
            with contextlib.suppress(Exception):
                source.close()
        self._sources = {}

    def read(self, window=None, *, reflectance: bool = True) -> BandBlock:
        """The bands on `window` (a rasterio Window of whole pixels of `grid`; None: the whole grid).

        reflectance=False: the product's digital numbers, resampled as the reflectance would be (float32),
        for outputs that keep the product's own values.
        """
        if not self._sources:
            raise ProductError(f"The reader of {self.product.product_id} is closed.")
        win = _int_window(window, self.grid)
        nodata, saturated = self.product.nodata_value, self.product.saturated_value
        height, width = win[3], win[2]
        dn = np.empty((len(self.bands), height, width), np.float32)  # each band resampled straight into its layer

        def one(index: int):
            return _resample_dn(self._sources[self.bands[index]], self.grid, win, dn[index], nodata=nodata,
                                saturated=saturated)

        if self._pool is not None and len(self.bands) > 1:
            results = list(self._pool.map(one, range(len(self.bands))))
        else:
            results = [one(index) for index in range(len(self.bands))]
        invalid = np.zeros((height, width), bool)
        sat = np.zeros((height, width), bool)
        for band_invalid, band_sat in results:
            invalid |= band_invalid
            sat |= band_sat
        data = to_reflectance(dn, self.bands, self.product, out=dn) if reflectance else dn
        data[:, invalid] = 0.0
        return BandBlock(data=data, valid=~invalid, saturated=sat & ~invalid)


def _check_crs(product: Product, grid: Grid) -> None:
    try:
        same = CRS.from_user_input(grid.crs) == CRS.from_user_input(product.crs)
    except Exception:
        same = False
    if not same:
        raise ProductError(
            f"The target grid is in {grid.crs} but {product.product_id} is in {product.crs}; the reader does not "
            "reproject. Build the grid with product_grid(product, resolution, extent)."
        )


# --------------------------------------------------------------------------- SCL and masks


_RESAMPLINGS = ("nearest", "average", "bilinear")


def read_mask_layer(product: Product, key: str, grid: Grid, band: int = 1, resampling: str = "nearest",
                    window=None) -> np.ndarray:
    """One band of a quality mask on grid (or a window of it).

    key: a key of product.mask_files ("MSK_CLASSI_B00", "MSK_CLDPRB_20m", "SCL_20m", ...) or a
    prefix of one ("MSK_CLDPRB": the finest present). MSK_CLASSI_B00 has three bands from
    baseline 04.00 on: 1 opaque clouds, 2 cirrus, 3 snow. resampling "nearest" keeps the
    file's dtype; "average" and "bilinear" give float32 (masks are never read at reduced
    resolution levels: the wavelet would mix codes). Pixels outside the file are 0.
    """
    if resampling not in _RESAMPLINGS:
        raise ValueError(f"resampling must be one of {', '.join(_RESAMPLINGS)}, not {resampling!r}")
    path = _mask_path(product, key)
    _check_crs(product, grid)
    win = _int_window(window, grid)
    source = _Source(path, key, grid.resolution, resampling=resampling)
    try:
        if not 1 <= band <= source.dataset.count:
            raise ProductError(f"{display_path(path)} has {source.dataset.count} band(s); band {band} does not exist.")
        col, row, width, height = win
        plan_y, plan_x = source.plans(grid, col, row, width, height)
        dtype = source.dataset.dtypes[band - 1] if resampling == "nearest" else "float32"
        out = np.zeros((height, width), dtype=dtype)
        if plan_y.hi <= plan_y.lo or plan_x.hi <= plan_x.lo:
            return out
        raw = source.read_block((plan_y.lo, plan_y.hi), (plan_x.lo, plan_x.hi), band)
        if resampling == "nearest":
            out = _pick(_pick(raw, plan_x, 1), plan_y, 0)
        else:
            out = _apply(_apply(raw.astype(np.float32), plan_x, 1), plan_y, 0).astype(np.float32)
        outside = plan_y.outside[:, None] | plan_x.outside[None, :]
        out[outside] = 0
        return out
    finally:
        source.close()


def read_scl(product: Product, grid: Grid, window=None) -> np.ndarray:
    """The Scene Classification Layer on grid (or a window of it), uint8, nearest neighbour from the
    20 m SCL (60 m where that is all); 0 (no data) outside the file."""
    return read_mask_layer(product, scl_key(product), grid, 1, "nearest", window).astype(np.uint8, copy=False)


def _mask_path(product: Product, key: str) -> str:
    if key in product.mask_files:
        return product.mask_files[key]
    prefixed = sorted((k for k in product.mask_files if k.startswith(key + "_")),
                      key=lambda k: int(k.rsplit("_", 1)[1][:-1]) if k.endswith("m") and k.rsplit("_", 1)[1][:-1].isdigit() else 999)
    if prefixed:
        return product.mask_files[prefixed[0]]
    present = ", ".join(sorted(product.mask_files)) or "none"
    raise ProductError(f"{product.product_id} has no mask {key} (masks present: {present}).")
