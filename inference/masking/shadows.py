"""Cloud-shadow consistency: keep a shadow only where some cloud can cast it and the surface looks shadowed.

The U-Net calls many dark surfaces (lakes, dark fields) cloud shadow: it has no
idea where a shadow can fall. Physics does. A cloud at height h throws its
shadow h * tan(sun zenith) away from the sun, and the satellite sees the cloud
itself displaced h * tan(view zenith) away from the satellite (parallax), so in
the image the shadow lies from the cloud at

    h * (tan(view zenith) * d(view azimuth) - tan(sun zenith) * d(sun azimuth)),  d(a) = (sin a, cos a) east/north

for some cloud-top height h. Sweeping h over 0.2-12 km (the troposphere's
cloud tops) turns every cloud pixel into a line segment of places its shadow
may reach (Fmask, Zhu and Woodcock 2012, projects cloud objects the same way).
A model shadow pixel that no segment reaches, within a tolerance, becomes
clear. Where the mask cannot see (no data, beyond its edges) a cloud may be,
so shadows there are never removed by geometry.

Geometry cannot tell a shadow from a lake that happens to lie where a shadow
could fall. Two spectral tests decide there:

* water (Fmask's water test): NDVI < 0.01 and NIR < 0.11, or NDVI < 0.1 and
  NIR < 0.05. Open water is dark in the NIR whether shadowed or not, so the
  model's shadow on it is dropped;
* too bright for a shadow: NIR reflectance > 0.30. A shadowed surface is lit
  by diffuse skylight only, about a third of the NIR irradiance or less, so
  showing 0.30 in shadow needs a surface brighter than ~0.9 in full sun,
  which land is not.

The SCL is never used: it is what the mask is compared against.

Everything here is pure numpy / scipy: `shadow_reach` on one window,
`check_shadows` to apply the decision, `ShadowStep` to stream rows through
them with the lookahead the shadow length needs (clouds near a block's edge
cast into the next block), and `ShadowCheck`, the engine's post-step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..classes import CLEAR, CLOUD_SHADOW
from ..errors import ProductError
from ..grid import Grid
from .buffers import disk
from .codes import CodeBlock

MIN_CLOUD_HEIGHT = 200.0  # m: lowest cloud top considered (fog and stratus lie lower, but cast no separate shadow)
MAX_CLOUD_HEIGHT = 12000.0  # m: highest cloud top considered (tropopause at mid latitudes)
TOLERANCE = 150.0  # m: slack for cloud edges, the mean (not per-pixel) view angle and resampling
GEOMETRY_RESOLUTION = 30.0  # m: the grid the geometry runs on (the built-in models' grid)
BRIGHT_NIR = 0.30  # NIR reflectance above which a pixel is too bright to lie in a cloud shadow
WATER_TEST = "Fmask water test (NDVI < 0.01 and NIR < 0.11, or NDVI < 0.1 and NIR < 0.05)"
SPECTRAL_BANDS = ("red", "nir")  # model band names the spectral tests read


@dataclass(frozen=True)
class ShadowGeometry:
    """Sun and view angles (degrees; azimuths clockwise from north, view azimuth towards the satellite)."""

    sun_zenith: float
    sun_azimuth: float
    view_zenith: float = 0.0
    view_azimuth: float = 0.0
    min_height: float = MIN_CLOUD_HEIGHT
    max_height: float = MAX_CLOUD_HEIGHT

    def __post_init__(self) -> None:
        checks = {
            "sun zenith": (self.sun_zenith, 0.0, 89.0),
            "sun azimuth": (self.sun_azimuth, 0.0, 360.0),
            "view zenith": (self.view_zenith, 0.0, 60.0),
            "view azimuth": (self.view_azimuth, 0.0, 360.0),
        }
        for name, (value, low, high) in checks.items():
            if not (math.isfinite(value) and low <= value <= high):
                raise ProductError(
                    f"The {name} angle {value!r} is not usable for the cloud-shadow check (expected {low:g}-{high:g} "
                    "degrees); give the angles of the acquisition or switch the check off."
                )
        if not 0.0 <= self.min_height <= self.max_height:
            raise ValueError(f"cloud heights {self.min_height}-{self.max_height} m are not an ordered range")

    @classmethod
    def from_tile(cls, angles) -> ShadowGeometry:
        """From the tile metadata's SunViewAngles (reading/metadata.py)."""
        view_zenith, view_azimuth = angles.view()
        return cls(angles.sun_zenith, angles.sun_azimuth, view_zenith, view_azimuth % 360.0)

    def displacement(self) -> tuple[float, float]:
        """(east, north) metres from a cloud as seen to its shadow, per metre of cloud height."""
        sun_z, sun_a = math.radians(self.sun_zenith), math.radians(self.sun_azimuth)
        view_z, view_a = math.radians(self.view_zenith), math.radians(self.view_azimuth)
        east = math.tan(view_z) * math.sin(view_a) - math.tan(sun_z) * math.sin(sun_a)
        north = math.tan(view_z) * math.cos(view_a) - math.tan(sun_z) * math.cos(sun_a)
        return east, north

    def pixel_segment(self, resolution: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """(row, col) offsets from a cloud pixel to its shadow at the lowest and the highest cloud top."""
        east, north = self.displacement()
        return ((-north * self.min_height / resolution, east * self.min_height / resolution),
                (-north * self.max_height / resolution, east * self.max_height / resolution))

    def describe(self) -> str:
        return (f"sun zenith {self.sun_zenith:.2f}, azimuth {self.sun_azimuth:.2f}; view zenith {self.view_zenith:.2f}, "
                f"azimuth {self.view_azimuth:.2f} (degrees); cloud tops {self.min_height / 1000:g}-"
                f"{self.max_height / 1000:g} km")


def shadow_source(geometry: ShadowGeometry, spectral: bool) -> str:
    """What the CLASS2_SOURCE tag says when the check ran."""
    text = (f"model, then kept only where a cloud (classes 3, 4) can cast it: {geometry.describe()}, "
            f"tolerance {TOLERANCE:g} m")
    if spectral:
        text += f"; dropped on water ({WATER_TEST}) and where NIR > {BRIGHT_NIR:g}"
    return text


def _row_offsets(start: float, end: float) -> tuple[int, int]:
    return math.floor(min(start, end)), math.ceil(max(start, end))


def reach_margins(geometry: ShadowGeometry, resolution: float, tolerance: float = TOLERANCE) -> tuple[int, int]:
    """Rows of context a window needs (before, after) so every cloud that can shadow its rows is inside it."""
    (r0, _), (r1, _) = geometry.pixel_segment(resolution)
    low, high = _row_offsets(r0, r1)
    slack = int(math.ceil(tolerance / resolution)) + 1
    return max(0, high) + slack, max(0, -low) + slack


def shadow_reach(cloud: np.ndarray, geometry: ShadowGeometry, resolution: float,
                 tolerance: float = TOLERANCE) -> np.ndarray:
    """Where a shadow of any True pixel of `cloud` can fall (bool, same shape), for cloud tops in the height range.

    cloud: bool (rows, cols) on a north-up grid of `resolution` metres. Pixels
    beyond the array count as unknown (a cloud may be there), so the reach is
    complete only where the window holds `reach_margins` rows of context.
    """
    start, end = geometry.pixel_segment(resolution)
    if abs(end[0] - start[0]) >= abs(end[1] - start[1]):
        reach = _sweep(cloud, start, end)
    else:  # mostly east-west: the same with rows and columns swapped
        reach = _sweep(cloud.T, start[::-1], end[::-1]).T
    slack = int(round(tolerance / resolution))
    if slack > 0:
        reach = ndimage.binary_dilation(reach, structure=disk(slack))
    return reach


def _sweep(cloud: np.ndarray, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """OR of `cloud` shifted by every (row, col) offset on the segment start-end, to one pixel; |d col| <= |d row|.

    A few whole-array passes instead of one shift per pixel of the segment:
    the image is sheared so that the segment becomes a vertical run, a running
    OR down the columns (by doubling) sweeps it, and the shear is undone.
    Outside the array counts as True.
    """
    rows, cols = cloud.shape
    low, high = math.floor(min(start[0], end[0])), math.ceil(max(start[0], end[0]))
    span = end[0] - start[0]
    slope = (end[1] - start[1]) / span if span else 0.0  # column offset per row offset along the segment
    col_at_zero = start[1] - start[0] * slope  # the segment line's column offset at row offset 0
    # Padded row q holds image row q - top, with rows of context above and below (unknown: True).
    top, bottom = max(high, 0), max(-low, 0)
    padded_rows = top + rows + bottom
    shear = np.rint((np.arange(rows) * slope)).astype(np.int64)  # columns each image row moves left
    undo = np.rint(-col_at_zero - np.arange(rows) * slope).astype(np.int64)  # and where its shadows come back
    pad = int(max(np.abs(shear).max(), np.abs(undo).max())) + 2
    width = cols + 2 * pad
    sheared = np.ones((padded_rows, width), dtype=bool)
    for row in range(rows):  # one slice per row: cheaper than a gather over the whole array
        left = pad - shear[row]
        sheared[top + row, left: left + cols] = cloud[row]
    # A shadow on image row r takes clouds from image rows r - high .. r - low: padded rows r + top - high on.
    swept = _running_any(sheared, high - low + 1)[top - high: top - high + rows]
    reach = np.empty((rows, cols), dtype=bool)
    for row in range(rows):
        left = pad + undo[row]
        reach[row] = swept[row, left: left + cols]
    return reach


def _running_any(array: np.ndarray, length: int) -> np.ndarray:
    """out[i] = array[i: i + length].any(axis=0), by doubling: about log2(length) ORs of whole arrays."""
    span, acc = 1, array
    while 2 * span <= length:
        acc = acc[:-span] | acc[span:]
        span *= 2
    count = len(array) - length + 1
    return acc[:count] | acc[length - span: length - span + count]


def water(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Fmask's water test (Zhu and Woodcock 2012): NDVI < 0.01 and NIR < 0.11, or NDVI < 0.1 and NIR < 0.05."""
    total = nir + red
    ndvi = np.divide(nir - red, total, out=np.zeros_like(total), where=total > 0)
    return ((ndvi < 0.01) & (nir < 0.11)) | ((ndvi < 0.1) & (nir < 0.05))


def not_shadow_spectrally(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """Pixels a cloud shadow cannot explain spectrally: open water or too bright in the NIR (bool)."""
    return water(red, nir) | (nir > BRIGHT_NIR)


def check_shadows(codes: np.ndarray, reach: np.ndarray, veto: np.ndarray | None = None) -> np.ndarray:
    """Codes with every shadow pixel outside `reach` (or under `veto`) turned clear; a new array."""
    drop = (codes == CLOUD_SHADOW) & ~reach
    if veto is not None:
        drop |= (codes == CLOUD_SHADOW) & veto
    result = codes.copy()
    result[drop] = CLEAR
    return result


def cloud_or_unknown(codes: np.ndarray, factor: int) -> np.ndarray:
    """Cloud (3, 4) or no data on a grid `factor` times coarser: True where any of its pixels is (bool)."""
    # codes - 1 wraps no data (0) to 255, so "cloud or no data" is "code - 1 >= 2", and a block holds one
    # where the maximum of its (code - 1) does: maxima over strided views are far cheaper than a reduce
    shifted = codes - np.uint8(1)
    if factor == 1:
        return shifted >= 2
    pooled_rows = shifted[0::factor].copy()
    for offset in range(1, factor):
        part = shifted[offset::factor]
        np.maximum(pooled_rows[: len(part)], part, out=pooled_rows[: len(part)])
    pooled = pooled_rows[:, 0::factor].copy()
    for offset in range(1, factor):
        part = pooled_rows[:, offset::factor]
        np.maximum(pooled[:, : part.shape[1]], part, out=pooled[:, : part.shape[1]])
    return pooled >= 2


def _drop_unreached(codes: np.ndarray, reach: np.ndarray, factor: int) -> np.ndarray:
    """check_shadows with `reach` on a grid `factor` times coarser than `codes` (nearest), without upsampling it
    where the shapes allow: each coarse pixel broadcasts over its factor x factor block."""
    rows, cols = codes.shape
    if rows % factor or cols % factor:
        fine = np.repeat(np.repeat(reach, factor, axis=0), factor, axis=1)[:rows, :cols]
        return check_shadows(codes, fine)
    blocks = codes.reshape(rows // factor, factor, cols // factor, factor)
    drop = (blocks == CLOUD_SHADOW) & ~reach[: rows // factor, None, : cols // factor, None]
    return np.where(drop, np.uint8(CLEAR), blocks).reshape(rows, cols)


class ShadowStep:
    """Streams mask rows through the shadow check, holding back the rows a later cloud may still explain.

    push(codes, veto, final) takes the next rows of the mask (uint8 codes on a
    grid of `resolution` metres) with their spectral veto (bool rows, or None
    to use geometry alone) and yields finished rows in order. The geometry runs
    on a grid `factor` times coarser (about GEOMETRY_RESOLUTION metres). Memory
    holds the chunk being decided plus the rows of context the longest shadow
    asks for, whatever the image height.
    """

    def __init__(self, geometry: ShadowGeometry, resolution: float, width: int, height: int,
                 tolerance: float = TOLERANCE):
        self.geometry = geometry
        self.factor = max(1, int(round(GEOMETRY_RESOLUTION / resolution)))
        self.coarse_resolution = resolution * self.factor
        self.tolerance = tolerance
        self.width, self.height = width, height
        self.coarse_height = -(-height // self.factor)
        self.before, self.after = reach_margins(geometry, self.coarse_resolution, tolerance)
        self.chunk = max(self.before + self.after, 64)  # coarse rows decided at once
        self.parts: list[np.ndarray] = []  # held code rows, as pushed
        self.held = 0  # rows held
        self.first = 0  # image row of the first held row; a multiple of factor
        self.done = 0  # image rows yielded so far

    @property
    def held_rows(self) -> int:
        return self.held

    def push(self, codes: np.ndarray, veto: np.ndarray | None, final: bool = False) -> Iterator[np.ndarray]:
        if veto is not None:  # the veto needs no context: apply it now and hold the codes alone
            codes = np.where(veto & (codes == CLOUD_SHADOW), np.uint8(CLEAR), codes)
        self.parts.append(codes)  # joined only when a chunk is decided
        self.held += len(codes)
        available = self.first + self.held
        while self.done < self.height:
            start = self.done // self.factor
            stop = min(start + self.chunk, self.coarse_height)
            needed = min(min(stop + self.after, self.coarse_height) * self.factor, self.height)
            if not final and needed > available:
                break
            yield self._decide(start, stop)

    def _join(self) -> np.ndarray:
        if len(self.parts) > 1:
            self.parts = [np.concatenate(self.parts)]
        return self.parts[0]

    def _coarse_rows(self, start: int, stop: int) -> np.ndarray:
        """Cloud-or-unknown on coarse rows start..stop; True outside the image (a cloud may be there)."""
        result = np.ones((stop - start, -(-self.width // self.factor)), dtype=bool)
        held_first = self.first // self.factor
        held_stop = -(-(self.first + self.held) // self.factor)
        low, high = max(start, held_first, 0), min(stop, held_stop, self.coarse_height)
        if high > low:
            rows = self.parts[0][low * self.factor - self.first: high * self.factor - self.first]
            result[low - start: high - start] = cloud_or_unknown(rows, self.factor)
        return result

    def _decide(self, start: int, stop: int) -> np.ndarray:
        held = self._join()
        window = self._coarse_rows(start - self.before, stop + self.after)
        reach = shadow_reach(window, self.geometry, self.coarse_resolution, self.tolerance)
        reach = reach[self.before: self.before + stop - start]
        codes = held[start * self.factor - self.first: min(stop * self.factor, self.height) - self.first]
        result = _drop_unreached(codes, reach, self.factor)
        self.done = start * self.factor + len(codes)
        keep = min(max(0, (stop - self.before) * self.factor - self.first), self.held)
        self.parts = [held[keep:]]
        self.held -= keep
        self.first += keep
        return result


class ShadowCheck:
    """The engine's post-step (poststeps.py): the shadow check on the code rows of the output grid.

    With `spectral` it reads the red and NIR rows the engine hands over in
    CodeBlock.bands (this step's `bands`) for the water and brightness tests.
    """

    def __init__(self, geometry: ShadowGeometry, spectral: bool = True, tolerance: float = TOLERANCE):
        self.geometry = geometry
        self.spectral = spectral
        self.tolerance = tolerance
        self.bands: tuple[str, ...] = SPECTRAL_BANDS if spectral else ()

    @property
    def tags(self) -> dict[str, str]:
        return {"CLASS2_SOURCE": shadow_source(self.geometry, self.spectral)}

    def run(self, blocks: Iterator[CodeBlock], grid: Grid) -> Iterator[CodeBlock]:
        step = ShadowStep(self.geometry, grid.resolution, grid.width, grid.height, self.tolerance)
        pending: list[tuple[int, np.ndarray]] = []  # (row0, valid) of the rows the step still holds; bands not kept
        row = 0
        for block in blocks:
            pending.append((block.row0, block.valid))
            veto = _shadow_veto(block) if self.spectral else None
            final = block.row0 + len(block.codes) >= grid.height
            for codes in step.push(block.codes, veto, final):
                yield CodeBlock(row, codes, _take_valid(pending, row, len(codes)))
                row += len(codes)


def _shadow_veto(block: CodeBlock) -> np.ndarray:
    """The spectral veto, computed on the model's shadow pixels only (the only ones it can change)."""
    shadow = block.codes == CLOUD_SHADOW
    veto = np.zeros(shadow.shape, dtype=bool)
    if shadow.any():
        veto[shadow] = not_shadow_spectrally(block.bands["red"][shadow], block.bands["nir"][shadow])
    return veto


def _take_valid(pending: list[tuple[int, np.ndarray]], row0: int, count: int) -> np.ndarray:
    """The `valid` rows row0..row0+count of the pending blocks; drops blocks wholly before row0 + count."""
    parts = []
    for first, valid in pending:
        start, stop = max(row0, first), min(row0 + count, first + len(valid))
        if stop > start:
            parts.append(valid[start - first: stop - first])
    while pending and pending[0][0] + len(pending[0][1]) <= row0 + count:
        pending.pop(0)
    return np.concatenate(parts)
