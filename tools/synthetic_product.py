"""Synthetic Sentinel-2 L1C / L2A products for tests, the demo and the benchmark.

The real sample data lacks an L1C SAFE product, both sides of processing
baseline 04.00, full-size 10 m bands, the pre-2016 long-name layout and broken
files. This module writes products with the folder layout, XML structure and
JPEG 2000 encoding of real ones (lossless, reduced-resolution levels, tiled,
georeferenced in UTM 32N at tile 32UPC), holding a scene a cloud model
recognises: fields, forest, water and towns from spectral-synthesis noise with
real surface spectra, textured clouds with soft edges, cirrus, and cloud
shadows cast along the sun direction written in the tile metadata. Beside the
.SAFE it leaves ``truth.tif``: the generator's own mask codes (1 clear, 2 cloud
shadow, 3 semi-transparent cloud, 4 cloud, 0 no data) on the 10 m grid.

The scene is built from smooth fields on a coarse grid that are sampled
bilinearly at each band's resolution, plus a periodic fine texture, so a full
10980 x 10980 tile costs little more than its JPEG 2000 encoding.

    /usr/bin/python3 tools/synthetic_product.py --level L1C --baseline 04.00 --size 600 --seed 1 --out DIR
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import shutil
import sys
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from osgeo import gdal, gdal_array, osr
from scipy import ndimage

try:
    from ..inference import classes
except ImportError:  # run as a script or as `python -m tools.synthetic_product` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tools.plugin_package import import_plugin_package

    import_plugin_package()
    from s2cloudmask.inference import classes

gdal.UseExceptions()

# ---------------------------------------------------------------------------
# Sensor and tile constants
# ---------------------------------------------------------------------------

BANDS: tuple[str, ...] = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
NATIVE_RESOLUTION: dict[str, int] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
}  # fmt: skip
RESOLUTIONS = (10, 20, 60)
L2A_BANDS: dict[int, tuple[str, ...]] = {
    10: ("B02", "B03", "B04", "B08"),
    20: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12"),
    60: ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12"),
}
FULL_TILE = 10980
QUANTIFICATION = 10000
NODATA_DN = 0
SATURATED_DN = 65535
OFFSET_BASELINE = "04.00"  # from this processing baseline on, DN carry an additive offset of -1000
RADIO_OFFSET = -1000
TILE_ORIGINS: dict[str, tuple[float, float]] = {"32UPC": (600000.0, 5300040.0), "32UQC": (699960.0, 5300040.0)}
EPSG = 32632

# Central wavelength, min, max (nm) and solar irradiance (W/m2/um) of each band, Sentinel-2B.
SPECTRAL_INFO: dict[str, tuple[float, int, int, float]] = {
    "B01": (442.3, 411, 456, 1874.3), "B02": (492.3, 456, 532, 1959.75), "B03": (559.0, 536, 582, 1824.93),
    "B04": (665.0, 646, 685, 1512.79), "B05": (703.8, 694, 714, 1425.78), "B06": (739.1, 730, 748, 1291.13),
    "B07": (779.7, 766, 794, 1175.57), "B08": (833.0, 774, 907, 1041.28), "B8A": (864.0, 848, 881, 953.93),
    "B09": (943.2, 930, 957, 817.58), "B10": (1376.9, 1339, 1415, 365.41), "B11": (1610.4, 1538, 1679, 247.08),
    "B12": (2185.7, 2065, 2303, 87.75),
}  # fmt: skip

# Surface reflectance spectra of the land-cover end members, in BANDS order (B10 is not a surface band).
SPECTRA: dict[str, np.ndarray] = {
    name: np.array(values, dtype=np.float32)
    for name, values in {
        "crop": (0.030, 0.035, 0.075, 0.035, 0.110, 0.300, 0.380, 0.420, 0.440, 0.420, 0.0, 0.220, 0.105),
        "soil": (0.085, 0.100, 0.140, 0.185, 0.210, 0.240, 0.260, 0.280, 0.295, 0.300, 0.0, 0.360, 0.300),
        "forest": (0.020, 0.025, 0.045, 0.025, 0.070, 0.200, 0.250, 0.270, 0.285, 0.280, 0.0, 0.140, 0.060),
        "grass": (0.040, 0.050, 0.085, 0.065, 0.125, 0.230, 0.270, 0.300, 0.310, 0.300, 0.0, 0.250, 0.140),
        "urban": (0.100, 0.110, 0.120, 0.130, 0.150, 0.170, 0.180, 0.190, 0.200, 0.200, 0.0, 0.220, 0.200),
        "water": (0.065, 0.055, 0.045, 0.025, 0.020, 0.012, 0.010, 0.008, 0.006, 0.005, 0.0, 0.003, 0.002),
    }.items()
}
# Thick-cloud top-of-atmosphere reflectance (bright in VIS/NIR, lower in SWIR, B10 set by cloud height).
CLOUD_SPECTRUM = np.array([0.62, 0.61, 0.60, 0.60, 0.61, 0.62, 0.62, 0.62, 0.62, 0.50, 0.05, 0.45, 0.30], np.float32)
CIRRUS_SPECTRUM = np.array([0.10, 0.10, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09, 0.09, 0.07, 0.05, 0.07, 0.045], np.float32)
# Share of surface reflectance left in cloud shadow (diffuse skylight is blue, so VIS keeps more).
SHADOW_KEEP = np.array([0.50, 0.48, 0.42, 0.38, 0.36, 0.32, 0.31, 0.30, 0.30, 0.30, 1.0, 0.27, 0.27], np.float32)
# Top-of-atmosphere = path + transmittance * surface (a hazy-free mid-latitude summer atmosphere).
PATH_RADIANCE = np.array([0.095, 0.070, 0.045, 0.030, 0.026, 0.021, 0.018, 0.015, 0.014, 0.005, 0.0015, 0.003, 0.002], np.float32)  # fmt: skip
TRANSMITTANCE = np.array([0.74, 0.80, 0.85, 0.89, 0.90, 0.92, 0.93, 0.93, 0.93, 0.35, 0.01, 0.92, 0.88], np.float32)

# Generator truth classes, the plugin's mask codes.
TRUTH_NODATA, TRUTH_CLEAR, TRUTH_SHADOW, TRUTH_THIN, TRUTH_CLOUD = (
    classes.NODATA, classes.CLEAR, classes.CLOUD_SHADOW, classes.SEMI_TRANSPARENT, classes.CLOUD,
)  # fmt: skip
# SCL codes used when deriving a Sen2Cor-like scene classification from the truth.
SCL_NODATA, SCL_DARK, SCL_SHADOW, SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_WATER = 0, 2, 3, 4, 5, 6
SCL_UNCLASSIFIED, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS = 7, 8, 9, 10


@dataclass(frozen=True)
class Acquisition:
    """The identity of one acquisition: every name and date in the product derives from it."""

    satellite: str  # "S2A" / "S2B"
    sensing: datetime  # datatake start (PRODUCT_START_TIME)
    generation: datetime
    granule_sensing: datetime
    absolute_orbit: int
    relative_orbit: int
    centre: str  # processing centre code in datastrip and granule identifiers
    sun_zenith: float
    sun_azimuth: float

    @property
    def spacecraft(self) -> str:
        return "Sentinel-2" + self.satellite[-1]


ACQUISITIONS: dict[str, Acquisition] = {
    "04.00": Acquisition("S2B", datetime(2022, 6, 15, 10, 15, 59, 24000), datetime(2022, 6, 15, 12, 25, 49),
                         datetime(2022, 6, 15, 10, 17, 52), 27484, 65, "2BPS", 29.6, 154.3),
    "02.09": Acquisition("S2B", datetime(2020, 4, 6, 10, 15, 59, 24000), datetime(2020, 4, 6, 13, 1, 59),
                         datetime(2020, 4, 6, 10, 18, 7), 16107, 65, "EPAE", 43.8, 160.2),
    "02.04": Acquisition("S2A", datetime(2016, 6, 15, 10, 16, 2, 26000), datetime(2016, 6, 15, 15, 23, 12),
                         datetime(2016, 6, 15, 10, 16, 2), 5147, 65, "SGS_", 29.7, 153.8),
}  # fmt: skip


def baseline_offset(baseline: str) -> int:
    """The additive DN offset of a processing baseline (reflectance = (DN + offset) / 10000)."""
    return RADIO_OFFSET if baseline >= OFFSET_BASELINE else 0


def reflectance_to_dn(reflectance: np.ndarray, valid: np.ndarray, offset: int) -> np.ndarray:
    """uint16 DN = reflectance * 10000 - offset; 0 outside `valid`; valid pixels never collide with 0 or 65535."""
    dn = np.rint(reflectance * QUANTIFICATION - offset)
    np.clip(dn, 1, SATURATED_DN - 1, out=dn)
    dn[~valid] = NODATA_DN
    return dn.astype(np.uint16)


# ---------------------------------------------------------------------------
# The scene
# ---------------------------------------------------------------------------


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float,
    outer_scale: float,
    anisotropy: float = 1.0,
    angle: float = 0.0,
) -> np.ndarray:
    """Spectral-synthesis noise with power ~ f^-beta below `outer_scale` (pixels), zero mean, unit std, periodic."""
    rows, cols = shape
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.rfftfreq(cols)[None, :]
    if anisotropy != 1.0:
        fx, fy = fx * math.cos(angle) + fy * math.sin(angle), (fy * math.cos(angle) - fx * math.sin(angle)) * anisotropy
    freq = np.sqrt(fx**2 + fy**2 + (1.0 / outer_scale) ** 2)
    amplitude = freq ** (-beta / 2.0)
    amplitude[0, 0] = 0.0
    spectrum = (rng.standard_normal(amplitude.shape) + 1j * rng.standard_normal(amplitude.shape)) * amplitude
    noise = np.fft.irfft2(spectrum, s=shape)
    noise -= noise.mean()
    noise /= noise.std()
    return noise.astype(np.float32)


def _ramp(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 below low, 1 above high, a smoothstep in between: soft edges without halos."""
    t = np.clip((values - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    rows, cols = array.shape
    return array.reshape(rows // factor, factor, cols // factor, factor).mean(axis=(1, 3))


@dataclass
class SceneBlock:
    """The scene over rows [row_start, row_stop) of the grid at one resolution."""

    resolution: int
    reflectance: dict[str, np.ndarray]  # band -> float32 (rows, cols); TOA for L1C, BOA for L2A
    valid: np.ndarray  # bool: inside the orbit footprint
    cloud: np.ndarray  # opacity of thick cloud, 0-1
    cirrus: np.ndarray  # opacity of thin cirrus, 0-1
    shadow: np.ndarray  # strength of cloud shadow on the visible surface, 0-1
    water: np.ndarray  # water fraction of the surface, 0-1
    vegetation: np.ndarray  # vegetated fraction of the surface, 0-1

    def truth(self) -> np.ndarray:
        """Mask codes of the block: cloud over thin cloud over shadow over clear; 0 outside the footprint."""
        codes = np.full(self.valid.shape, TRUTH_CLEAR, np.uint8)
        codes[self.shadow >= 0.5] = TRUTH_SHADOW
        codes[(self.cirrus >= 0.35) | (self.cloud >= 0.15)] = TRUTH_THIN
        codes[self.cloud >= 0.5] = TRUTH_CLOUD
        codes[~self.valid] = TRUTH_NODATA
        return codes

    def surface_scl(self) -> np.ndarray:
        """What Sen2Cor would call the surface: water, vegetation or not vegetated."""
        scl = np.where(self.vegetation >= 0.45, SCL_VEGETATION, SCL_NOT_VEGETATED).astype(np.uint8)
        scl[self.water >= 0.5] = SCL_WATER
        return scl


class Scene:
    """A deterministic synthetic landscape with clouds over the first `size` x `size` 10 m pixels of a tile.

    All randomness is drawn in __init__ from one seeded generator; render() is a
    pure function of (resolution, rows), so bands at different resolutions and
    strips of one band agree with each other and between runs.
    """

    TEXTURE = 1200  # period of the fine texture at 10 m; divisible by 2 and 6

    def __init__(
        self,
        size: int,
        seed: int,
        level: str = "L1C",
        acquisition: Acquisition = ACQUISITIONS["04.00"],
        cloud_cover: float = 0.25,
        cirrus_cover: float = 0.10,
        weather: int | None = None,
    ) -> None:
        """weather: None for a scene of its own; a number for one date of a series (`write_series`): the surface
        (land cover, parcels, swath edge) is the seed's, the clouds, cirrus, shadows and haze are the date's."""
        if size < 60 or size % 6:
            raise ValueError(f"size must be a multiple of 6 and at least 60 (10 m pixels per side), got {size}")
        if level not in ("L1C", "L2A"):
            raise ValueError(f"level must be L1C or L2A, got {level!r}")
        self.size, self.level = size, level
        self.extent_m = size * 10.0
        rng = np.random.default_rng(seed)

        # Coarse grid of the smooth fields, padded so shadows of clouds outside the tile still fall inside.
        self.coarse_res = 10.0 * max(1, math.ceil(size / 1000))
        zenith, azimuth = math.radians(acquisition.sun_zenith), math.radians(acquisition.sun_azimuth)
        cloud_height = rng.uniform(1500.0, 2500.0)
        weather_rng = None if weather is None else np.random.default_rng([seed, weather])
        if weather_rng is not None:
            cloud_height = weather_rng.uniform(1500.0, 2500.0)
        length = min(cloud_height * math.tan(zenith), 1600.0)
        # Shadows fall away from the sun: east and north components, metres.
        self.shadow_shift_m = (-length * math.sin(azimuth), -length * math.cos(azimuth))
        # The padding shapes every field, so in a series it must not depend on one date's clouds: the longest shadow.
        reach = length if weather_rng is None else 1600.0
        self.pad = int(math.ceil((reach + 600.0) / self.coarse_res)) + 4
        n = int(math.ceil(self.extent_m / self.coarse_res)) + 2 * self.pad
        res = self.coarse_res

        def noise(beta: float, scale_m: float, **kw: float) -> np.ndarray:
            return fractal_noise(rng, (n, n), beta, scale_m / res, **kw)

        inner = (slice(self.pad, n - self.pad),) * 2
        cloud = noise(3.0, 9000.0)
        cloud_threshold = float(np.quantile(cloud[inner], 1.0 - cloud_cover)) if cloud_cover > 0 else 99.0
        cirrus = noise(3.2, 15000.0, anisotropy=5.0, angle=rng.uniform(0, math.pi))
        cirrus_threshold = float(np.quantile(cirrus[inner], 1.0 - cirrus_cover)) if cirrus_cover > 0 else 99.0
        lakes = noise(3.4, 6000.0)
        self.lake_threshold = float(np.quantile(lakes[inner], 0.955))
        river = noise(3.8, 40000.0)
        gy, gx = np.gradient(river, res)
        river_distance = river / np.maximum(np.hypot(gx, gy), 1e-9)  # signed distance to the river line, metres
        river_reach = noise(3.5, 30000.0)
        towns = noise(3.0, 5000.0)
        self.town_threshold = float(np.quantile(towns[inner], 0.97))
        farmland = noise(3.5, 20000.0)
        woods = noise(2.8, 8000.0)
        haze = noise(3.0, 30000.0)
        shift_rows, shift_cols = -self.shadow_shift_m[1] / res, self.shadow_shift_m[0] / res
        cloud_shadow = ndimage.shift(cloud, (shift_rows, shift_cols), order=1, mode="nearest")
        self.fields = np.stack(
            [cloud, cloud_shadow, cirrus, lakes, river_distance, river_reach, towns, farmland, woods, haze]
        ).astype(np.float32)
        self.field_index = {
            name: i
            for i, name in enumerate(
                ["cloud", "cloud_shadow", "cirrus", "lakes", "river", "reach", "towns", "farmland", "woods", "haze"]
            )
        }
        self.cloud_threshold, self.cirrus_threshold = cloud_threshold, cirrus_threshold

        # Fine periodic texture (10 m), shared by clouds and land at offsets; block means for 20 and 60 m.
        texture = fractal_noise(rng, (self.TEXTURE, self.TEXTURE), 2.8, 400.0)
        self.texture = {10: texture, 20: _block_mean(texture, 2), 60: _block_mean(texture, 6)}
        for r in (20, 60):
            self.texture[r] /= self.texture[r].std()

        # Field parcels in a rotated frame: rows of parcels, each row with its own shift and scale of the column cuts.
        self.parcel_angle = rng.uniform(-0.5, 0.5)
        span = 1.5 * self.extent_m + 2000.0
        row_heights = rng.uniform(150.0, 450.0, int(2 * span / 150.0) + 2)
        self.parcel_rows = np.cumsum(row_heights) - span
        col_widths = rng.uniform(90.0, 550.0, int(4 * span / 90.0) + 2)
        self.parcel_cols = np.cumsum(col_widths) - 2 * span
        nrow = self.parcel_rows.size + 1
        self.row_shift = rng.uniform(0.0, 600.0, nrow).astype(np.float32)
        self.row_scale = rng.uniform(0.8, 1.25, nrow).astype(np.float32)
        kinds = rng.choice(4, size=4096, p=[0.45, 0.2, 0.25, 0.1])
        vigour = np.select(
            [kinds == 0, kinds == 1, kinds == 2],
            [rng.uniform(0.75, 1.0, 4096), rng.uniform(0.35, 0.7, 4096), rng.uniform(0.0, 0.1, 4096)],
            rng.uniform(0.12, 0.3, 4096),
        )
        self.parcel_vigour = vigour.astype(np.float32)
        self.parcel_brightness = rng.uniform(0.8, 1.2, 4096).astype(np.float32)

        # The orbit edge: everything east of a slanted line is outside the swath (defined on the 60 m grid).
        self.edge_x0 = rng.uniform(0.62, 0.74) * self.extent_m
        self.edge_slope = rng.uniform(0.3, 0.5)
        self.detector_width = 25000.0

        # Where the fine texture is read for clouds, in 10 m pixels (a multiple of 6, so 20 and 60 m agree).
        self.cloud_texture_offset = (0, 0)
        if weather_rng is not None:
            self._change_weather(weather_rng, cloud_cover, cirrus_cover)

    def _change_weather(self, rng: np.random.Generator, cloud_cover: float, cirrus_cover: float) -> None:
        """A date's own clouds, cirrus, shadows and haze over the seed's surface (fields drawn from `rng`)."""
        res, n = self.coarse_res, self.fields.shape[1]
        inner = (slice(self.pad, n - self.pad),) * 2

        def noise(beta: float, scale_m: float, **kw: float) -> np.ndarray:
            return fractal_noise(rng, (n, n), beta, scale_m / res, **kw)

        cloud = noise(3.0, 9000.0)
        cirrus = noise(3.2, 15000.0, anisotropy=5.0, angle=rng.uniform(0, math.pi))
        haze = noise(3.0, 30000.0)
        self.cloud_threshold = float(np.quantile(cloud[inner], 1.0 - cloud_cover)) if cloud_cover > 0 else 99.0
        self.cirrus_threshold = float(np.quantile(cirrus[inner], 1.0 - cirrus_cover)) if cirrus_cover > 0 else 99.0
        shift_rows, shift_cols = -self.shadow_shift_m[1] / res, self.shadow_shift_m[0] / res
        cloud_shadow = ndimage.shift(cloud, (shift_rows, shift_cols), order=1, mode="nearest")
        for name, field_values in (("cloud", cloud), ("cloud_shadow", cloud_shadow), ("cirrus", cirrus), ("haze", haze)):
            self.fields[self.field_index[name]] = field_values
        steps = self.TEXTURE // 6
        self.cloud_texture_offset = (6 * int(rng.integers(steps)), 6 * int(rng.integers(steps)))

    # -- sampling helpers --------------------------------------------------

    def _coarse_coordinates(self, centres_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = centres_m / self.coarse_res + self.pad - 0.5
        lo = np.clip(np.floor(pos).astype(np.int64), 0, self.fields.shape[1] - 2)
        weight = np.clip(pos - lo, 0.0, 1.0).astype(np.float32)
        return lo, lo + 1, weight

    def _sample_fields(self, resolution: int, row_start: int, row_stop: int, names: list[str]) -> dict[str, np.ndarray]:
        """Bilinear samples of coarse fields at the pixel centres of rows [row_start, row_stop)."""
        width = self.size * 10 // resolution
        r0, r1, wr = self._coarse_coordinates((np.arange(row_start, row_stop) + 0.5) * resolution)
        c0, c1, wc = self._coarse_coordinates((np.arange(width) + 0.5) * resolution)
        idx = [self.field_index[name] for name in names]
        stack = self.fields[idx]
        rows = stack[:, r0, :]
        rows += (stack[:, r1, :] - rows) * wr[None, :, None]
        out = np.take(rows, c0, axis=2)
        out += (np.take(rows, c1, axis=2) - out) * wc
        return dict(zip(names, out))

    def _texture(self, resolution: int, row_start: int, row_stop: int, offset: tuple[int, int]) -> np.ndarray:
        tex = self.texture[resolution]
        period = tex.shape[0]
        rows = (np.arange(row_start, row_stop) + offset[0]) % period
        cols = (np.arange(self.size * 10 // resolution) + offset[1]) % period
        return tex[np.ix_(rows, cols)]

    def valid(self, resolution: int, row_start: int, row_stop: int) -> np.ndarray:
        """Inside the swath, decided per 60 m pixel so that every band has the same footprint."""
        factor = 60 // resolution
        rows60 = np.arange(row_start, row_stop) // factor
        cols60 = np.arange(self.size * 10 // resolution) // factor
        y = (rows60 + 0.5) * 60.0
        x = (cols60 + 0.5) * 60.0
        return x[None, :] < self.edge_x0 + self.edge_slope * y[:, None]

    def detectors(self, resolution: int, row_start: int, row_stop: int) -> np.ndarray:
        """Detector index (1-12) of each pixel, stripes parallel to the swath edge; 0 outside it."""
        y = (np.arange(row_start, row_stop) + 0.5) * resolution
        x = (np.arange(self.size * 10 // resolution) + 0.5) * resolution
        across = self.edge_x0 + self.edge_slope * y[:, None] - x[None, :]
        det = (12 - np.floor(across / self.detector_width).astype(np.int64)).clip(1, 12).astype(np.uint8)
        det[~self.valid(resolution, row_start, row_stop)] = 0
        return det

    def _parcels(self, resolution: int, row_start: int, row_stop: int) -> tuple[np.ndarray, np.ndarray]:
        y = ((np.arange(row_start, row_stop) + 0.5) * resolution).astype(np.float32)
        x = ((np.arange(self.size * 10 // resolution) + 0.5) * resolution).astype(np.float32)
        cos, sin = math.cos(self.parcel_angle), math.sin(self.parcel_angle)
        v = y[:, None] * cos - x[None, :] * sin
        u = x[None, :] * cos + y[:, None] * sin
        prow = np.searchsorted(self.parcel_rows, v)
        pcol = np.searchsorted(self.parcel_cols, (u + self.row_shift[prow]) * self.row_scale[prow])
        key = (prow * 7919 + pcol * 104729) % self.parcel_vigour.size
        return self.parcel_vigour[key], self.parcel_brightness[key]

    # -- rendering ------------------------------------------------------------

    def render(self, resolution: int, row_start: int, row_stop: int, bands: tuple[str, ...],
               clear_sky: bool = False) -> SceneBlock:
        """Reflectance of `bands` and the scene's layers on rows [row_start, row_stop) of the grid at `resolution`.

        clear_sky: the same rows without clouds, cirrus and shadows (the true surface under them).
        """
        f = self._sample_fields(resolution, row_start, row_stop, list(self.field_index))
        cloud_at = (self.cloud_texture_offset[0] * 10 // resolution, self.cloud_texture_offset[1] * 10 // resolution)
        tex = self._texture(resolution, row_start, row_stop, cloud_at)
        tex_land = self._texture(resolution, row_start, row_stop, (self.TEXTURE // 3, self.TEXTURE // 2))
        shift_px = (round(-self.shadow_shift_m[1] / resolution), round(self.shadow_shift_m[0] / resolution))
        tex_shadow = self._texture(resolution, row_start, row_stop, (cloud_at[0] - shift_px[0], cloud_at[1] - shift_px[1]))

        # Clouds: fine texture roughens the edges; thicker cores are brighter; the sunward side is lit.
        density = f["cloud"] + 0.3 * tex
        cloud = _ramp(density, self.cloud_threshold, self.cloud_threshold + 0.55)
        thickness = _ramp(density, self.cloud_threshold, self.cloud_threshold + 1.6)
        cloud_bright = (0.55 + 0.45 * thickness) * (1.0 + 0.10 * tex)
        shadow_density = f["cloud_shadow"] + 0.3 * tex_shadow
        shadow = _ramp(shadow_density, self.cloud_threshold + 0.05, self.cloud_threshold + 0.45) * (1.0 - cloud)
        cirrus = 0.9 * _ramp(f["cirrus"] + 0.25 * tex, self.cirrus_threshold - 0.3, self.cirrus_threshold + 0.9)
        if clear_sky:
            cloud, shadow, cirrus = (np.zeros_like(layer) for layer in (cloud, shadow, cirrus))

        # Land cover as fractions of six end members.
        water = np.maximum(
            _ramp(f["lakes"] + 0.08 * tex_land, self.lake_threshold, self.lake_threshold + 0.12),
            _ramp(45.0 - np.abs(f["river"]), 0.0, 12.0) * (f["reach"] > 0.3),
        )
        town = _ramp(f["towns"] + 0.25 * tex_land, self.town_threshold, self.town_threshold + 0.3)
        farm = _ramp(f["farmland"], -0.55, -0.25)
        forest = _ramp(f["woods"] + 0.3 * tex_land, -0.2, 0.4)
        vigour, parcel_bright = self._parcels(resolution, row_start, row_stop)
        vigour = np.clip(vigour + 0.06 * tex_land, 0.0, 1.0)
        land = 1.0 - water
        w = {
            "urban": land * town,
            "crop": land * (1 - town) * farm * vigour,
            "soil": land * (1 - town) * farm * (1 - vigour),
            "forest": land * (1 - town) * (1 - farm) * forest,
            "grass": land * (1 - town) * (1 - farm) * (1 - forest),
            "water": water,
        }
        brightness = (1.0 + 0.07 * tex_land) * np.where(farm > 0.5, parcel_bright, 1.0)
        vegetation = w["crop"] + w["forest"] + w["grass"]

        valid = self.valid(resolution, row_start, row_stop)
        toa = self.level == "L1C"
        haze = 1.0 + 0.15 * f["haze"]
        reflectance: dict[str, np.ndarray] = {}
        for band in bands:
            b = BANDS.index(band)
            if band == "B10":
                surface = np.full(valid.shape, 0.0015, np.float32) + 0.004 * w["crop"]
            else:
                surface = sum(w[k] * SPECTRA[k][b] for k in w) * np.where(w["urban"] > 0.2, 1.0, brightness)
                surface = surface * (1.0 - shadow * (1.0 - SHADOW_KEEP[b]))
                if toa:
                    surface = PATH_RADIANCE[b] * haze + TRANSMITTANCE[b] * surface
            cloud_refl = CLOUD_SPECTRUM[b] * cloud_bright
            if band == "B10":
                cloud_refl = 0.008 + 0.05 * thickness
            elif not toa:
                cloud_refl = cloud_refl - 0.5 * PATH_RADIANCE[b]
            value = surface * (1.0 - cloud) + cloud * cloud_refl
            value = value * (1.0 - 0.25 * cirrus) + cirrus * CIRRUS_SPECTRUM[b] * (1.0 if toa else 0.7)
            reflectance[band] = value.astype(np.float32)
        return SceneBlock(resolution, reflectance, valid, cloud, cirrus, shadow, water, vegetation)

    def strips(self, resolution: int, max_pixels: int = 4_000_000) -> Iterator[tuple[int, int]]:
        """Row ranges at `resolution` aligned to 60 m rows, each at most about max_pixels."""
        rows = self.size * 10 // resolution
        factor = 60 // resolution
        step = max(factor, (max_pixels // rows) // factor * factor)
        for start in range(0, rows, step):
            yield start, min(rows, start + step)


# ---------------------------------------------------------------------------
# Raster writing
# ---------------------------------------------------------------------------

JP2_BLOCK = {10: 1024, 20: 640, 60: 192}  # tile sizes of real products at each resolution


def _srs_wkt() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    return srs.ExportToWkt()


def write_jp2(path: Path, data: np.ndarray, origin: tuple[float, float], resolution: float, block: int = 1024) -> None:
    """Lossless tiled JPEG 2000 with reduced-resolution levels, as ESA writes them (uint16 at 15 bits)."""
    array = data if data.ndim == 3 else data[None]
    bands, rows, cols = array.shape
    levels = max(1, min(5, int(math.log2(max(1, min(block, rows, cols)))) - 2))
    source = gdal_array.OpenArray(np.ascontiguousarray(array))
    source.SetGeoTransform((origin[0], resolution, 0.0, origin[1], 0.0, -resolution))
    source.SetProjection(_srs_wkt())
    options = [
        "QUALITY=100", "REVERSIBLE=YES", f"RESOLUTIONS={levels}", f"BLOCKXSIZE={block}", f"BLOCKYSIZE={block}",
        "CODEBLOCK_WIDTH=64", "CODEBLOCK_HEIGHT=64", "PROGRESSION=LRCP", "YCC=NO",
    ]  # fmt: skip
    if array.dtype == np.uint16:
        options.append("NBITS=15")
    try:
        copy = gdal.GetDriverByName("JP2OpenJPEG").CreateCopy(str(path), source, strict=1, options=options)
        copy = None  # noqa: F841 - closing the copy writes the file
    finally:
        source = None


def write_truth(path: Path, truth: np.ndarray, origin: tuple[float, float]) -> None:
    """The generator's own mask codes as a tiled GeoTIFF with the plugin's palette and nodata 0.

    The colour table, names and tags go in before the pixels: libtiff 4.7 refuses
    to change the photometric interpretation once blocks are written.
    """
    driver = gdal.GetDriverByName("GTiff")
    rows, cols = truth.shape
    ds = driver.Create(str(path), cols, rows, 1, gdal.GDT_Byte, ["TILED=YES", "COMPRESS=DEFLATE"])
    try:
        ds.SetGeoTransform((origin[0], 10.0, 0.0, origin[1], 0.0, -10.0))
        ds.SetProjection(_srs_wkt())
        ds.SetMetadataItem("SOURCE", "tools.synthetic_product scene truth (codes 1-4 as the cloud mask)")
        band = ds.GetRasterBand(1)
        band.SetNoDataValue(TRUTH_NODATA)
        band.SetDescription("synthetic truth")
        table = gdal.ColorTable()
        for code, colour in classes.CLASS_COLOURS.items():
            table.SetColorEntry(code, colour)
        band.SetColorTable(table)
        band.SetCategoryNames([classes.CLASS_NAMES[c] for c in sorted(classes.CLASS_NAMES)])
        band.WriteArray(truth)
        ds.FlushCache()
    finally:
        band = None
        ds = None  # closed here even when a call above raised: no dataset outlives the function


@contextlib.contextmanager
def _gdal_threads() -> Iterator[None]:
    previous = gdal.GetConfigOption("GDAL_NUM_THREADS")
    gdal.SetConfigOption("GDAL_NUM_THREADS", "ALL_CPUS")
    try:
        yield
    finally:
        gdal.SetConfigOption("GDAL_NUM_THREADS", previous)


# ---------------------------------------------------------------------------
# Product plan: names, folders and files
# ---------------------------------------------------------------------------


def _t(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _iso(moment: datetime, digits: int = 3) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}"[:digits] + "Z"


@dataclass
class Granule:
    tile: str
    folder: str  # relative to the .SAFE
    identifier: str  # granuleIdentifier
    metadata: str  # tile metadata file name
    origin: tuple[float, float]
    band_stems: dict[tuple[str, int], str] = field(default_factory=dict)  # (band, res) -> path without .jp2
    qi: dict[str, str] = field(default_factory=dict)  # mask type key -> relative path
    extras: dict[tuple[str, int], str] = field(default_factory=dict)  # (TCI/AOT/WVP, res) -> path without .jp2

    def path(self, relative: str) -> str:
        return f"{self.folder}/{relative}"


@dataclass
class ProductPlan:
    level: str
    baseline: str
    layout: str
    acquisition: Acquisition
    name: str  # folder name without .SAFE
    metadata: str  # product metadata file name
    datastrip_folder: str
    datastrip_id: str
    datastrip_metadata: str
    granules: list[Granule]

    @property
    def offset(self) -> int:
        return baseline_offset(self.baseline)


def plan_product(level: str, baseline: str, layout: str, granules: int, extras: bool,
                 acquisition: Acquisition | None = None) -> ProductPlan:
    """Every name in the product, derived from the acquisition (by default the processing baseline's)."""
    acq = acquisition or ACQUISITIONS[baseline]
    sat, nb = acq.satellite, baseline.replace(".", "")
    tiles = list(TILE_ORIGINS)[:granules]
    if layout == "long":
        gen = _t(acq.generation)
        name = f"{sat}_OPER_PRD_MSIL1C_PDMC_{gen}_R{acq.relative_orbit:03d}_V{_t(acq.sensing)}_{_t(acq.sensing)}"
        centre = acq.centre.ljust(4, "_")
        ds_id = f"{sat}_OPER_MSI_L1C_DS_{centre}_{gen}_S{_t(acq.granule_sensing)}_N{baseline}"
        plan = ProductPlan(
            level, baseline, layout, acq, name, f"{sat}_OPER_MTD_SAFL1C_PDMC_{gen}_R{acq.relative_orbit:03d}_V{_t(acq.sensing)}_{_t(acq.sensing)}.xml",
            f"DATASTRIP/{ds_id}", ds_id, f"{sat}_OPER_MTD_L1C_DS_{centre}_{gen}_S{_t(acq.granule_sensing)}.xml", [],
        )  # fmt: skip
        for tile in tiles:
            stem = f"{sat}_OPER_MSI_L1C_TL_{centre}_{gen}_A{acq.absolute_orbit:06d}_T{tile}"
            g = Granule(tile, f"GRANULE/{stem}_N{baseline}", f"{stem}_N{baseline}",
                        f"{sat}_OPER_MTD_L1C_TL_{centre}_{gen}_A{acq.absolute_orbit:06d}_T{tile}.xml", TILE_ORIGINS[tile])  # fmt: skip
            for band in BANDS:
                g.band_stems[(band, NATIVE_RESOLUTION[band])] = g.path(f"IMG_DATA/{stem}_{band}")
            plan.granules.append(g)
        return plan

    gen = _t(acq.generation)
    name = f"{sat}_MSI{level}_{_t(acq.sensing)}_N{nb}_R{acq.relative_orbit:03d}_T{tiles[0]}_{gen}"
    ds_id = f"{sat}_OPER_MSI_{level}_DS_{acq.centre}_{gen}_S{_t(acq.granule_sensing)}_N{baseline}"
    tile = tiles[0]
    folder = f"GRANULE/{level}_T{tile}_A{acq.absolute_orbit:06d}_{_t(acq.granule_sensing)}"
    g = Granule(tile, folder, f"{sat}_OPER_MSI_{level}_TL_{acq.centre}_{gen}_A{acq.absolute_orbit:06d}_T{tile}_N{baseline}",
                "MTD_TL.xml", TILE_ORIGINS[tile])  # fmt: skip
    prefix = f"T{tile}_{_t(acq.sensing)}"
    with_masks = baseline >= OFFSET_BASELINE
    if level == "L1C":
        for band in BANDS:
            g.band_stems[(band, NATIVE_RESOLUTION[band])] = g.path(f"IMG_DATA/{prefix}_{band}")
        if extras:
            g.extras[("TCI", 10)] = g.path(f"IMG_DATA/{prefix}_TCI")
    else:
        for res, bands in L2A_BANDS.items():
            for band in bands:
                g.band_stems[(band, res)] = g.path(f"IMG_DATA/R{res}m/{prefix}_{band}_{res}m")
            if res != 10:  # Sen2Cor classifies at 20 m and aggregates to 60 m
                g.extras[("SCL", res)] = g.path(f"IMG_DATA/R{res}m/{prefix}_SCL_{res}m")
            if extras:
                for kind in ("AOT", "WVP", "TCI"):
                    g.extras[(kind, res)] = g.path(f"IMG_DATA/R{res}m/{prefix}_{kind}_{res}m")
        g.qi["MSK_CLDPRB_20m"] = g.path("QI_DATA/MSK_CLDPRB_20m.jp2")
        if extras:
            g.qi["MSK_CLDPRB_60m"] = g.path("QI_DATA/MSK_CLDPRB_60m.jp2")
            g.qi["MSK_SNWPRB_20m"] = g.path("QI_DATA/MSK_SNWPRB_20m.jp2")
    if with_masks:
        for band in BANDS:
            g.qi[f"MSK_DETFOO_{band}"] = g.path(f"QI_DATA/MSK_DETFOO_{band}.jp2")
        g.qi["MSK_CLASSI_B00"] = g.path("QI_DATA/MSK_CLASSI_B00.jp2")
    if extras:
        g.qi["PVI"] = g.path(f"QI_DATA/{prefix}_PVI.jp2")
    return ProductPlan(
        level, baseline, layout, acq, name, f"MTD_MSI{level}.xml", f"DATASTRIP/DS_{acq.centre}_{gen}_S{_t(acq.granule_sensing)}",
        ds_id, "MTD_DS.xml", [g],
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Rendering a granule's rasters
# ---------------------------------------------------------------------------


@dataclass
class GranuleStats:
    """Figures the metadata reports, measured on what was written."""

    nodata_percent: float
    cloud_percent: float  # thick + thin cloud of valid pixels
    scl_percent: dict[int, float]  # SCL code -> percent of valid pixels (L2A)
    footprint: list[tuple[float, float]]  # (x, y) UTM corners of the valid area


def _scl_from_truth(truth20: np.ndarray, surface20: np.ndarray, cloud20: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A Sen2Cor-like SCL at 20 m: the truth in SCL codes, with Sen2Cor's typical misses.

    Thick cores are high-probability cloud, their fringes medium probability or
    unclassified; some small clouds are missed (left as the surface below) and
    some shadows are called dark area pixels instead of cloud shadow.
    """
    scl = surface20.copy()
    scl[truth20 == TRUTH_SHADOW] = SCL_SHADOW
    scl[(truth20 == TRUTH_THIN) & (cloud20 < 0.15)] = SCL_CIRRUS
    fringe = (truth20 == TRUTH_THIN) & (cloud20 >= 0.15)
    scl[fringe] = np.where(cloud20[fringe] >= 0.3, SCL_CLOUD_MEDIUM, SCL_UNCLASSIFIED)
    core = truth20 == TRUTH_CLOUD
    scl[core] = np.where(cloud20[core] >= 0.8, SCL_CLOUD_HIGH, SCL_CLOUD_MEDIUM)

    footprint, count = ndimage.label((cloud20 >= 0.15) & (truth20 != TRUTH_NODATA))
    if count:
        areas = ndimage.sum_labels(np.ones_like(footprint), footprint, np.arange(1, count + 1))
        missed = np.zeros(count + 1, bool)
        missed[1:] = (areas < 150) & (rng.random(count) < 0.6)
        gone = missed[footprint]
        scl[gone] = surface20[gone]
    shadows, count = ndimage.label(truth20 == TRUTH_SHADOW)
    if count:
        dark = np.zeros(count + 1, bool)
        dark[1:] = rng.random(count) < 0.35
        scl[dark[shadows]] = SCL_DARK
    scl[truth20 == TRUTH_NODATA] = SCL_NODATA
    return scl


def _tci(block: SceneBlock) -> np.ndarray:
    rgb = np.stack([block.reflectance[b] for b in ("B04", "B03", "B02")])
    tci = np.clip(rgb / 0.25 * 255.0, 1, 255).astype(np.uint8)
    tci[:, ~block.valid] = 0
    return tci


def render_granule(
    scene: Scene, plan: ProductPlan, granule: Granule, safe: Path, seed: int, pool: ThreadPoolExecutor
) -> tuple[np.ndarray, GranuleStats]:
    """Write every raster of one granule; return the 10 m truth and the figures for the metadata."""
    size = scene.size
    futures: list[Future[None]] = []

    def submit(rel: str, data: np.ndarray, res: int, block: int | None = None) -> None:
        futures.append(pool.submit(write_jp2, safe / rel, data, granule.origin, float(res), block or JP2_BLOCK[res]))

    wanted: dict[int, list[str]] = {r: [] for r in RESOLUTIONS}
    for band, res in granule.band_stems:
        wanted[res].append(band)
    for kind, res in granule.extras:
        if kind == "TCI":
            wanted[res] += [b for b in ("B02", "B03", "B04") if b not in wanted[res]]

    truth10 = np.zeros((size, size), np.uint8)
    truth20 = surface20 = cloud20 = cirrus60 = truth60 = None
    for res in RESOLUTIONS:
        n = size * 10 // res
        bands = tuple(sorted(set(wanted[res]), key=BANDS.index))
        arrays = {b: np.zeros((n, n), np.uint16) for b in bands}
        tci = np.zeros((3, n, n), np.uint8) if ("TCI", res) in granule.extras else None
        truth = np.zeros((n, n), np.uint8)
        surface = np.zeros((n, n), np.uint8) if res == 20 else None
        cloud = np.zeros((n, n), np.float32) if res == 20 else None
        cirrus = np.zeros((n, n), np.float32) if res == 60 else None
        for r0, r1 in scene.strips(res):
            block = scene.render(res, r0, r1, bands)
            for b in bands:
                arrays[b][r0:r1] = reflectance_to_dn(block.reflectance[b], block.valid, plan.offset)
            truth[r0:r1] = block.truth()
            if tci is not None:
                tci[:, r0:r1] = _tci(block)
            if surface is not None:
                surface[r0:r1] = block.surface_scl()
                cloud[r0:r1] = block.cloud
            if cirrus is not None:
                cirrus[r0:r1] = block.cirrus
        for (band, r), stem in granule.band_stems.items():
            if r == res:
                submit(stem + ".jp2", arrays[band], res)
        if tci is not None:
            submit(granule.extras[("TCI", res)] + ".jp2", tci, res)
            if res == 10 and "PVI" in granule.qi:
                factor = 32
                m = max(1, n // factor)
                pvi = tci[:, : m * factor, : m * factor].reshape(3, m, factor, m, factor).mean(axis=(2, 4))
                futures.append(pool.submit(write_jp2, safe / granule.qi["PVI"], pvi.astype(np.uint8), granule.origin, 320.0, 343))
        for kind in ("AOT", "WVP"):
            if (kind, res) in granule.extras:
                submit(granule.extras[(kind, res)] + ".jp2", _atmosphere_layer(scene, kind, res), res)
        for bkey, rel in granule.qi.items():
            if bkey.startswith("MSK_DETFOO_") and NATIVE_RESOLUTION[bkey[-3:]] == res:
                det = np.concatenate([scene.detectors(res, r0, r1) for r0, r1 in scene.strips(res)])
                submit(rel, det, res)
        if res == 10:
            truth10 = truth
        elif res == 20:
            truth20, surface20, cloud20 = truth, surface, cloud
        else:
            truth60, cirrus60 = truth, cirrus
        del arrays

    scl_percent: dict[int, float] = {}
    if plan.level == "L2A":
        scl20 = _scl_from_truth(truth20, surface20, cloud20, np.random.default_rng(seed + 7))
        scl60 = scl20[1::3, 1::3].copy()
        submit(granule.extras[("SCL", 20)] + ".jp2", scl20, 20)
        submit(granule.extras[("SCL", 60)] + ".jp2", scl60, 60)
        valid20 = scl20 != SCL_NODATA
        counts = np.bincount(scl20[valid20], minlength=12)
        scl_percent = {code: 100.0 * counts[code] / max(1, valid20.sum()) for code in range(12)}
        prob20 = np.rint(np.clip(cloud20 * 100.0, 0, 100)).astype(np.uint8)
        prob20[truth20 == TRUTH_NODATA] = 0
        submit(granule.qi["MSK_CLDPRB_20m"], prob20, 20)
        if "MSK_CLDPRB_60m" in granule.qi:
            submit(granule.qi["MSK_CLDPRB_60m"], prob20[1::3, 1::3].copy(), 60)
            submit(granule.qi["MSK_SNWPRB_20m"], np.zeros_like(prob20), 20)
    if "MSK_CLASSI_B00" in granule.qi:
        classi = np.stack([truth60 == TRUTH_CLOUD, (cirrus60 >= 0.35) & (truth60 != TRUTH_CLOUD), np.zeros_like(cirrus60, bool)])
        submit(granule.qi["MSK_CLASSI_B00"], classi.astype(np.uint8), 60, 256)
    for future in futures:
        future.result()

    valid = truth10 != TRUTH_NODATA
    stats = GranuleStats(
        nodata_percent=100.0 * (1.0 - valid.mean()),
        cloud_percent=100.0 * np.isin(truth10[valid], (TRUTH_THIN, TRUTH_CLOUD)).mean() if valid.any() else 0.0,
        scl_percent=scl_percent,
        footprint=_footprint(scene, granule.origin),
    )
    return truth10, stats


def _atmosphere_layer(scene: Scene, kind: str, res: int) -> np.ndarray:
    """AOT (x1000) or water vapour (cm x 1000): smooth, as Sen2Cor retrieves them; 0 outside the footprint."""
    rows = []
    for r0, r1 in scene.strips(res):
        haze = scene._sample_fields(res, r0, r1, ["haze"])["haze"]
        value = 120.0 + 25.0 * haze if kind == "AOT" else 1450.0 + 180.0 * haze
        layer = np.rint(value).astype(np.uint16)
        layer[~scene.valid(res, r0, r1)] = 0
        rows.append(layer)
    return np.concatenate(rows)


def _footprint(scene: Scene, origin: tuple[float, float]) -> list[tuple[float, float]]:
    """UTM corners of the valid area, counter-clockwise from the upper left, closed."""
    ext = scene.extent_m
    x_top = min(ext, scene.edge_x0)
    x_bottom = min(ext, scene.edge_x0 + scene.edge_slope * ext)
    y_right = (ext - scene.edge_x0) / scene.edge_slope if x_bottom >= ext else ext
    ox, oy = origin
    corners = [(0.0, 0.0), (0.0, ext), (x_bottom, ext)]
    if x_bottom >= ext and y_right < ext:
        corners.append((ext, y_right))
    corners.append((x_top, 0.0))
    points = [(ox + x, oy - y) for x, y in corners]
    return points + points[:1]


def _lat_lon(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    utm, wgs = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(EPSG)
    wgs.ImportFromEPSG(4326)
    transform = osr.CoordinateTransformation(utm, wgs)  # EPSG:4326 axis order: latitude, longitude
    return [tuple(transform.TransformPoint(x, y)[:2]) for x, y in points]


# ---------------------------------------------------------------------------
# XML
# ---------------------------------------------------------------------------

XSI = "http://www.w3.org/2001/XMLSchema-instance"
PSD = "https://psd-14.sentinel2.eo.esa.int/PSD"
PSD_LONG = "https://psd-12.sentinel2.eo.esa.int/PSD"


def _sub(parent: ET.Element, tag: str, text: object = None, **attrib: object) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: str(v) for k, v in attrib.items()})
    if text is not None:
        element.text = str(text)
    return element


def _root(namespace: str, tag: str) -> ET.Element:
    ET.register_namespace("n1", namespace)
    ET.register_namespace("xsi", XSI)
    root = ET.Element(f"{{{namespace}}}{tag}")
    root.set(f"{{{XSI}}}schemaLocation", namespace)
    return root


def _write_xml(path: Path, root: ET.Element) -> None:
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    path.write_text('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + body + "\n", encoding="utf-8")


def _n1(root: ET.Element, tag: str) -> ET.Element:
    namespace = root.tag[1:].split("}")[0]
    return ET.SubElement(root, f"{{{namespace}}}{tag}")


def product_metadata(plan: ProductPlan, stats: GranuleStats) -> ET.Element:
    """MTD_MSIL1C.xml / MTD_MSIL2A.xml (or the long-layout MTD_SAFL1C) as the ground segment writes them."""
    acq, level, long = plan.acquisition, plan.level, plan.layout == "long"
    tag = "Level-1C_User_Product" if level == "L1C" else "Level-2A_User_Product"
    schema = f"User_Product_Level-{level[1:]}.xsd"
    root = _root(f"{PSD_LONG if long else PSD}/{schema}", tag)
    general = _n1(root, "General_Info")
    info = _sub(general, "Product_Info")
    _sub(info, "PRODUCT_START_TIME", _iso(acq.sensing))
    _sub(info, "PRODUCT_STOP_TIME", _iso(acq.sensing))
    _sub(info, "PRODUCT_URI", plan.name + ".SAFE")
    _sub(info, "PROCESSING_LEVEL", f"Level-{level[1:]}")
    _sub(info, "PRODUCT_TYPE", f"S2MSI{level[1:]}")
    _sub(info, "PROCESSING_BASELINE", plan.baseline)
    if plan.baseline >= OFFSET_BASELINE:
        _sub(info, "PRODUCT_DOI", "https://doi.org/10.5270/S2_-742ikth" if level == "L1C" else "https://doi.org/10.5270/S2_-znk9xsj")
    _sub(info, "GENERATION_TIME", _iso(acq.generation, 6))
    _sub(info, "PREVIEW_IMAGE_URL", "Not applicable")
    _sub(info, "PREVIEW_GEO_INFO", "Not applicable")
    datatake = _sub(info, "Datatake", datatakeIdentifier=f"G{acq.satellite}_{_t(acq.sensing)}_{acq.absolute_orbit:06d}_N{plan.baseline}")
    _sub(datatake, "SPACECRAFT_NAME", acq.spacecraft)
    _sub(datatake, "DATATAKE_TYPE", "INS-NOBS")
    _sub(datatake, "DATATAKE_SENSING_START", _iso(acq.sensing))
    _sub(datatake, "SENSING_ORBIT_NUMBER", acq.relative_orbit)
    _sub(datatake, "SENSING_ORBIT_DIRECTION", "DESCENDING")
    options = _sub(info, "Query_Options", completeSingleTile="false" if long else "true")
    if long:
        band_list = _sub(options, "Band_List")
        for band in BANDS:
            _sub(band_list, "BAND_NAME", "B" + band[1:].lstrip("0"))
        _sub(options, "METADATA_LEVEL", "Standard")
    _sub(options, "PRODUCT_FORMAT", "SAFE" if long else "SAFE_COMPACT")
    granule_list = _sub(_sub(info, "Product_Organisation"), "Granule_List")
    for g in plan.granules:
        if long:
            entry = _sub(granule_list, "Granules", datastripIdentifier=plan.datastrip_id, granuleIdentifier=g.identifier, imageFormat="JPEG2000")
            for stem in g.band_stems.values():
                _sub(entry, "IMAGE_ID", stem.rsplit("/", 1)[-1])
        else:
            entry = _sub(granule_list, "Granule", datastripIdentifier=plan.datastrip_id, granuleIdentifier=g.identifier, imageFormat="JPEG2000")
            stems = list(g.band_stems.items()) + list(g.extras.items())
            for _, stem in sorted(stems, key=lambda kv: (kv[0][1], _file_order(kv[0][0]))):
                _sub(entry, "IMAGE_FILE", stem)

    chars = _sub(general, "Product_Image_Characteristics")
    for text, index in (("NODATA", NODATA_DN), ("SATURATED", SATURATED_DN)):
        special = _sub(chars, "Special_Values")
        _sub(special, "SPECIAL_VALUE_TEXT", text)
        _sub(special, "SPECIAL_VALUE_INDEX", index)
    order = _sub(chars, "Image_Display_Order")
    for channel, value in (("RED_CHANNEL", 3), ("GREEN_CHANNEL", 2), ("BLUE_CHANNEL", 1)):
        _sub(order, channel, value)
    if level == "L1C":
        _sub(chars, "QUANTIFICATION_VALUE", QUANTIFICATION, unit="none")
        if plan.offset:
            offsets = _sub(chars, "Radiometric_Offset_List")
            for i in range(len(BANDS)):
                _sub(offsets, "RADIO_ADD_OFFSET", plan.offset, band_id=i)
    else:
        values = _sub(chars, "QUANTIFICATION_VALUES_LIST")
        _sub(values, "BOA_QUANTIFICATION_VALUE", QUANTIFICATION, unit="none")
        _sub(values, "AOT_QUANTIFICATION_VALUE", "1000.0", unit="none")
        _sub(values, "WVP_QUANTIFICATION_VALUE", "1000.0", unit="cm")
        if plan.offset:
            offsets = _sub(chars, "BOA_ADD_OFFSET_VALUES_LIST")
            for i in range(len(BANDS)):
                _sub(offsets, "BOA_ADD_OFFSET", plan.offset, band_id=i)
    conversion = _sub(chars, "Reflectance_Conversion")
    day = acq.sensing.timetuple().tm_yday
    _sub(conversion, "U", f"{1.0 / (1.0 - 0.01673 * math.cos(0.0172 * (day - 4))) ** 2:.15f}")
    irradiance = _sub(conversion, "Solar_Irradiance_List")
    for i, band in enumerate(BANDS):
        _sub(irradiance, "SOLAR_IRRADIANCE", SPECTRAL_INFO[band][3], bandId=i, unit="W/m²/µm")
    spectral = _sub(chars, "Spectral_Information_List")
    for i, band in enumerate(BANDS):
        centre, low, high, _ = SPECTRAL_INFO[band]
        item = _sub(spectral, "Spectral_Information", bandId=i, physicalBand="B" + band[1:].lstrip("0"))
        _sub(item, "RESOLUTION", NATIVE_RESOLUTION[band])
        wavelength = _sub(item, "Wavelength")
        _sub(wavelength, "MIN", low, unit="nm")
        _sub(wavelength, "MAX", high, unit="nm")
        _sub(wavelength, "CENTRAL", centre, unit="nm")
    _sub(chars, "REFERENCE_BAND", 3 if not long else "B1")
    if level == "L2A":
        scl_list = _sub(chars, "Scene_Classification_List")
        for code, text in enumerate(SCL_TEXTS):
            item = _sub(scl_list, "Scene_Classification_ID")
            _sub(item, "SCENE_CLASSIFICATION_TEXT", text)
            _sub(item, "SCENE_CLASSIFICATION_INDEX", code)

    geometric = _n1(root, "Geometric_Info")
    footprint = _sub(_sub(geometric, "Product_Footprint"), "Product_Footprint")
    ring = " ".join(f"{lat} {lon}" for lat, lon in _lat_lon(stats.footprint))
    _sub(_sub(footprint, "Global_Footprint"), "EXT_POS_LIST", ring + " ")
    _sub(geometric.find("Product_Footprint"), "RASTER_CS_TYPE", "POINT")
    _sub(geometric.find("Product_Footprint"), "PIXEL_ORIGIN", 1)
    crs = _sub(geometric, "Coordinate_Reference_System")
    _sub(crs, "GEO_TABLES", "EPSG", version=1)
    _sub(crs, "HORIZONTAL_CS_TYPE", "GEOGRAPHIC")

    aux = _n1(root, "Auxiliary_Data_Info")
    old_dem = "S2__OPER_DEM_GLOBEF_PDMC_19800101T000000_S19800101T000000"
    _sub(aux, "PRODUCTION_DEM_TYPE", "CopernicusDEM30" if plan.baseline >= OFFSET_BASELINE else old_dem)
    date = f"{acq.sensing:%Y%m%d}"
    bulletin = f"S2__OPER_AUX_UT1UTC_PDMC_{date}T000000_V{date}T000000_{acq.sensing.year + 1}{acq.sensing:%m%d}T000000"
    _sub(aux, "IERS_BULLETIN_FILENAME", bulletin)

    quality = _n1(root, "Quality_Indicators_Info")
    _sub(quality, "Cloud_Coverage_Assessment", f"{stats.cloud_percent:.6f}")
    technical = _sub(quality, "Technical_Quality_Assessment")
    _sub(technical, "DEGRADED_ANC_DATA_PERCENTAGE", "0.0")
    _sub(technical, "DEGRADED_MSI_DATA_PERCENTAGE", 0)
    checks = _sub(_sub(quality, "Quality_Control_Checks"), "Quality_Inspections")
    for check in ("FORMAT_CORRECTNESS", "GENERAL_QUALITY", "GEOMETRIC_QUALITY", "RADIOMETRIC_QUALITY", "SENSOR_QUALITY"):
        _sub(checks, "quality_check", "PASSED", checkType=check)
    if level == "L2A":
        _image_content_qi(_sub(quality, "Image_Content_QI"), stats)
    return root


SCL_TEXTS = (
    "SC_NODATA", "SC_SATURATED_DEFECTIVE", "SC_DARK_FEATURE_SHADOW", "SC_CLOUD_SHADOW", "SC_VEGETATION",
    "SC_NOT_VEGETATED", "SC_WATER", "SC_UNCLASSIFIED", "SC_CLOUD_MEDIUM_PROBA", "SC_CLOUD_HIGH_PROBA",
    "SC_THIN_CIRRUS", "SC_SNOW_ICE",
)  # fmt: skip
SCL_QI_NAMES = (
    None, "SATURATED_DEFECTIVE_PIXEL_PERCENTAGE", "DARK_FEATURES_PERCENTAGE", "CLOUD_SHADOW_PERCENTAGE",
    "VEGETATION_PERCENTAGE", "NOT_VEGETATED_PERCENTAGE", "WATER_PERCENTAGE", "UNCLASSIFIED_PERCENTAGE",
    "MEDIUM_PROBA_CLOUDS_PERCENTAGE", "HIGH_PROBA_CLOUDS_PERCENTAGE", "THIN_CIRRUS_PERCENTAGE", "SNOW_ICE_PERCENTAGE",
)  # fmt: skip


def _file_order(kind: str) -> int:
    order = list(BANDS) + ["TCI", "AOT", "WVP", "SCL"]
    return order.index(kind)


def _image_content_qi(qi: ET.Element, stats: GranuleStats, tile: bool = False) -> None:
    pct = stats.scl_percent
    cloudy = sum(pct.get(c, 0.0) for c in (SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_CIRRUS))
    if tile:
        _sub(qi, "CLOUDY_PIXEL_PERCENTAGE", f"{cloudy:.6f}")
    _sub(qi, "CLOUDY_PIXEL_OVER_LAND_PERCENTAGE", f"{cloudy:.6f}")
    if tile:
        _sub(qi, "DEGRADED_MSI_DATA_PERCENTAGE", "0.000000")
    _sub(qi, "NODATA_PIXEL_PERCENTAGE", f"{stats.nodata_percent:.6f}")
    for code, name in enumerate(SCL_QI_NAMES):
        if name:
            _sub(qi, name, f"{pct.get(code, 0.0):.6f}")
    for name, value in (("RADIATIVE_TRANSFER_ACCURACY", "0.0"), ("WATER_VAPOUR_RETRIEVAL_ACCURACY", "0.0"),
                        ("AOT_RETRIEVAL_ACCURACY", "0.0"), ("AOT_RETRIEVAL_METHOD", "SEN2COR_DDV"),
                        ("GRANULE_MEAN_AOT", "0.120000"), ("GRANULE_MEAN_WV", "1.450000"),
                        ("OZONE_SOURCE", "AUX_ECMWFT"), ("OZONE_VALUE", "331.000000")):  # fmt: skip
        _sub(qi, name, value)


def tile_metadata(plan: ProductPlan, granule: Granule, scene: Scene, stats: GranuleStats) -> ET.Element:
    """MTD_TL.xml: tile identity, geocoding at 10/20/60 m, sun and view angles, quality indicators and masks."""
    acq, level, long = plan.acquisition, plan.level, plan.layout == "long"
    schema = f"S2_PDI_Level-{level[1:]}_Tile_Metadata.xsd"
    root = _root(f"{PSD_LONG if long else PSD}/{schema}", f"Level-{level[1:]}_Tile_ID")
    general = _n1(root, "General_Info")
    if level == "L2A":
        _sub(general, "L1C_TILE_ID", granule.identifier.replace("_L2A_", "_L1C_"), metadataLevel="Brief")
    _sub(general, "TILE_ID", granule.identifier, metadataLevel="Brief")
    _sub(general, "DATASTRIP_ID", plan.datastrip_id, metadataLevel="Standard")
    _sub(general, "DOWNLINK_PRIORITY", "NOMINAL", metadataLevel="Standard")
    _sub(general, "SENSING_TIME", _iso(acq.granule_sensing, 6), metadataLevel="Standard")
    archiving = _sub(general, "Archiving_Info", metadataLevel="Expertise")
    _sub(archiving, "ARCHIVING_CENTRE", acq.centre.rstrip("_"))
    _sub(archiving, "ARCHIVING_TIME", _iso(acq.generation + timedelta(minutes=31), 6))

    geometric = _n1(root, "Geometric_Info")
    geocoding = _sub(geometric, "Tile_Geocoding", metadataLevel="Brief")
    _sub(geocoding, "HORIZONTAL_CS_NAME", "WGS84 / UTM zone 32N")
    _sub(geocoding, "HORIZONTAL_CS_CODE", f"EPSG:{EPSG}")
    for res in RESOLUTIONS:
        size = _sub(geocoding, "Size", resolution=res)
        _sub(size, "NROWS", scene.size * 10 // res)
        _sub(size, "NCOLS", scene.size * 10 // res)
    for res in RESOLUTIONS:
        position = _sub(geocoding, "Geoposition", resolution=res)
        _sub(position, "ULX", int(granule.origin[0]))
        _sub(position, "ULY", int(granule.origin[1]))
        _sub(position, "XDIM", res)
        _sub(position, "YDIM", -res)
    angles = _sub(geometric, "Tile_Angles", metadataLevel="Standard")
    steps = int(math.ceil(scene.extent_m / 5000.0)) + 1
    grid = _sub(angles, "Sun_Angles_Grid")
    for name, mean, gradient in (("Zenith", acq.sun_zenith, 0.004), ("Azimuth", acq.sun_azimuth, 0.012)):
        element = _sub(grid, name)
        _sub(element, "COL_STEP", 5000, unit="m")
        _sub(element, "ROW_STEP", 5000, unit="m")
        values = _sub(element, "Values_List")
        for row in range(steps):
            line = [mean + gradient * ((row - steps / 2) * 5 + (col - steps / 2)) for col in range(steps)]
            _sub(values, "VALUES", " ".join(f"{v:.7g}" for v in line))
    sun = _sub(angles, "Mean_Sun_Angle")
    _sub(sun, "ZENITH_ANGLE", acq.sun_zenith, unit="deg")
    _sub(sun, "AZIMUTH_ANGLE", acq.sun_azimuth, unit="deg")
    viewing = _sub(angles, "Mean_Viewing_Incidence_Angle_List")
    for i in range(len(BANDS)):
        item = _sub(viewing, "Mean_Viewing_Incidence_Angle", bandId=i)
        _sub(item, "ZENITH_ANGLE", f"{6.2 + 0.01 * i:.6f}", unit="deg")
        _sub(item, "AZIMUTH_ANGLE", f"{104.5 + 0.3 * i:.6f}", unit="deg")

    quality = _n1(root, "Quality_Indicators_Info")
    quality.set("metadataLevel", "Standard")
    content = _sub(quality, "Image_Content_QI")
    if level == "L2A":
        _image_content_qi(content, stats, tile=True)
    else:
        _sub(content, "CLOUDY_PIXEL_PERCENTAGE", f"{stats.cloud_percent:.4f}")
        _sub(content, "DEGRADED_MSI_DATA_PERCENTAGE", 0)
        if plan.offset:
            _sub(content, "SNOW_PIXEL_PERCENTAGE", "0.0000")
            _sub(content, "NODATA_PIXEL_PERCENTAGE", f"{stats.nodata_percent:.6f}")
    if granule.qi:
        pixel = _sub(quality, "Pixel_Level_QI", geometry="FULL_RESOLUTION")
        for key, rel in granule.qi.items():
            if key.startswith("MSK_DETFOO_"):
                _sub(pixel, "MASK_FILENAME", rel, bandId=BANDS.index(key[-3:]), type="MSK_DETFOO")
        for key, rel in granule.qi.items():
            if key.startswith(("MSK_CLASSI", "MSK_CLDPRB", "MSK_SNWPRB")):
                _sub(pixel, "MASK_FILENAME", rel, type=key[:10])
    if "PVI" in granule.qi:
        _sub(quality, "PVI_FILENAME", granule.qi["PVI"])
    return root


def datastrip_metadata(plan: ProductPlan) -> ET.Element:
    """A brief datastrip metadata file: identity and sensing period."""
    acq, level = plan.acquisition, plan.level
    schema = f"S2_PDI_Level-{level[1:]}_Datastrip_Metadata.xsd"
    root = _root(f"{PSD_LONG if plan.layout == 'long' else PSD}/{schema}", f"Level-{level[1:]}_DataStrip_ID")
    general = _n1(root, "General_Info")
    _sub(general, "DATASTRIP_ID", plan.datastrip_id, metadataLevel="Brief")
    info = _sub(general, "Datatake_Info", datatakeIdentifier=f"G{acq.satellite}_{_t(acq.sensing)}_{acq.absolute_orbit:06d}_N{plan.baseline}")
    _sub(info, "SPACECRAFT_NAME", acq.spacecraft)
    _sub(info, "DATATAKE_TYPE", "INS-NOBS")
    _sub(info, "SENSING_ORBIT_NUMBER", acq.relative_orbit)
    _sub(info, "SENSING_ORBIT_DIRECTION", "DESCENDING")
    times = _sub(general, "Datastrip_Time_Info")
    _sub(times, "DATASTRIP_SENSING_START", _iso(acq.granule_sensing, 6))
    _sub(times, "DATASTRIP_SENSING_STOP", _iso(acq.granule_sensing + timedelta(seconds=25), 6))
    processing = _sub(general, "Processing_Info")
    _sub(processing, "PROCESSING_CENTER", acq.centre.rstrip("_"))
    _sub(processing, "UTC_DATE_TIME", _iso(acq.generation, 6))
    _sub(processing, "PROCESSING_BASELINE", plan.baseline)
    return root


def _sha3(path: Path) -> str:
    digest = hashlib.sha3_256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest(plan: ProductPlan, safe: Path, stats: GranuleStats) -> ET.Element:
    """manifest.safe: the XFDU package map, acquisition metadata and every file with its size and SHA3-256."""
    xfdu, safe_ns, gml = "urn:ccsds:schema:xfdu:1", "http://www.esa.int/safe/sentinel/1.1", "http://www.opengis.net/gml"
    ET.register_namespace("xfdu", xfdu)
    ET.register_namespace("safe", safe_ns)
    ET.register_namespace("gml", gml)
    level = plan.level
    root = ET.Element(f"{{{xfdu}}}XFDU", {"version": f"esa/safe/sentinel/1.1/sentinel-2/msi/archive_{level.lower()}_user_product"})
    files = sorted(p for p in safe.rglob("*") if p.is_file() and p.name != "manifest.safe")
    package = _sub(root, "informationPackageMap")
    unit = ET.SubElement(package, f"{{{xfdu}}}contentUnit", {
        "dmdID": "acquisitionPeriod platform", "pdiID": "processing",
        "textInfo": f"SENTINEL-2 MSI Level-{level[1:]} User Product", "unitType": f"Product_Level-{level[1:]}",
    })  # fmt: skip
    ids = {}
    for i, path in enumerate(files):
        ids[path] = f"{path.stem.replace('.', '_')}_{i}"
        item = ET.SubElement(unit, f"{{{xfdu}}}contentUnit", {"ID": ids[path] + "_Unit", "unitType": "Data Unit"})
        _sub(item, "dataObjectPointer", dataObjectID=ids[path])
    metadata = _sub(root, "metadataSection")
    acq = plan.acquisition
    wrap = _sub(_sub(_sub(metadata, "metadataObject", ID="acquisitionPeriod", category="DMD", classification="DESCRIPTION"),
                     "metadataWrap", mimeType="text/xml", textInfo="Acquisition Period", vocabularyName="Sentinel-SAFE"), "xmlData")  # fmt: skip
    period = ET.SubElement(wrap, f"{{{safe_ns}}}acquisitionPeriod")
    ET.SubElement(period, f"{{{safe_ns}}}startTime").text = _iso(acq.sensing)
    wrap = _sub(_sub(_sub(metadata, "metadataObject", ID="platform", category="DMD", classification="DESCRIPTION"),
                     "metadataWrap", mimeType="text/xml", textInfo="Platform Description", vocabularyName="Sentinel-SAFE"), "xmlData")  # fmt: skip
    platform = ET.SubElement(wrap, f"{{{safe_ns}}}platform")
    ET.SubElement(platform, f"{{{safe_ns}}}nssdcIdentifier").text = "2017-013A" if acq.satellite == "S2B" else "2015-028A"
    ET.SubElement(platform, f"{{{safe_ns}}}familyName").text = "SENTINEL"
    ET.SubElement(platform, f"{{{safe_ns}}}number").text = acq.satellite[1:]
    wrap = _sub(_sub(_sub(metadata, "metadataObject", ID="measurementFrameSet", category="DMD", classification="DESCRIPTION"),
                     "metadataWrap", mimeType="text/xml", textInfo="Frame Set", vocabularyName="Sentinel-SAFE"), "xmlData")  # fmt: skip
    frame = ET.SubElement(ET.SubElement(wrap, f"{{{safe_ns}}}frameSet"), f"{{{safe_ns}}}footPrint",
                          {"srsName": "http://www.opengis.net/gml/srs/epsg.xml#4326"})  # fmt: skip
    ET.SubElement(frame, f"{{{gml}}}coordinates").text = " ".join(f"{lat} {lon}" for lat, lon in _lat_lon(stats.footprint))
    objects = _sub(root, "dataObjectSection")
    for path in files:
        obj = _sub(objects, "dataObject", ID=ids[path])
        mime = "text/xml" if path.suffix == ".xml" else "application/octet-stream"
        stream = _sub(obj, "byteStream", mimeType=mime, size=path.stat().st_size)
        _sub(stream, "fileLocation", href="./" + path.relative_to(safe).as_posix(), locatorType="URL")
        _sub(stream, "checksum", _sha3(path), checksumName="SHA3-256")
    return root


def _html_index(plan: ProductPlan) -> str:
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + plan.name + "</title></head>\n"
        "<body><h1>" + plan.name + "</h1><p>Sentinel-2 MSI Level-" + plan.level[1:] + " user product, processing baseline "
        + plan.baseline + ".</p><p>Product metadata: <a href=\"../" + plan.metadata + "\">" + plan.metadata + "</a></p></body></html>\n"
    )  # fmt: skip


# ---------------------------------------------------------------------------
# The product
# ---------------------------------------------------------------------------


def product_name(level: str = "L1C", baseline: str | None = None, layout: str = "compact") -> str:
    """The .SAFE folder name write_product gives these settings."""
    baseline = baseline or ("02.04" if layout == "long" else "04.00")
    return plan_product(level, baseline, layout, 1, extras=False).name + ".SAFE"


def write_product(
    out: str | Path,
    *,
    level: str = "L1C",
    baseline: str | None = None,
    size: int = 600,
    seed: int = 0,
    layout: str = "compact",
    granules: int = 1,
    zip_output: bool = False,
    cloud_cover: float = 0.25,
    cirrus_cover: float = 0.10,
    extras: bool = True,
    acquisition: Acquisition | None = None,
    weather: int | None = None,
) -> Path:
    """Write a synthetic product into folder `out` and return its path (.SAFE folder or .zip).

    baseline defaults to 04.00 (02.04 for the long layout, which predates 04.00).
    `extras` adds what a cloud mask never reads (TCI, AOT, WVP, preview, snow
    probability); leave it off for full-size benchmark products. truth.tif is
    written beside the product. Everything appears only when complete.
    acquisition and weather: one date of a series (`write_series`): its own date and names, and its own
    clouds over the surface of `seed`.
    """
    baseline = baseline or ("02.04" if layout == "long" else "04.00")
    if level not in ("L1C", "L2A"):
        raise ValueError(f"level must be L1C or L2A, got {level!r}")
    if baseline not in ACQUISITIONS:
        raise ValueError(f"baseline must be one of {', '.join(sorted(ACQUISITIONS))}, got {baseline!r}")
    if layout not in ("compact", "long"):
        raise ValueError(f"layout must be compact or long, got {layout!r}")
    if layout == "long" and (level != "L1C" or baseline >= "02.05"):
        raise ValueError("the long-name layout exists only for L1C products of processing baseline 02.04 and earlier")
    if layout == "compact" and baseline < "02.05":
        raise ValueError("compact products start at processing baseline 02.05; use --layout long for 02.04")
    if size < 60 or size % 6:
        raise ValueError(f"size must be a multiple of 6 and at least 60 (10 m pixels per side), got {size}")
    if granules not in (1, 2) or (granules == 2 and layout != "long"):
        raise ValueError("only the long-name layout holds more than one granule (at most 2 here)")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_product(level, baseline, layout, granules, extras, acquisition)
    staging = out / f".{plan.name}.partial-{uuid.uuid4().hex[:8]}"
    safe = staging / (plan.name + ".SAFE")
    truth_tmp = out / f".truth.partial-{uuid.uuid4().hex[:8]}.tif"
    try:
        safe.mkdir(parents=True)
        for folder in ("AUX_DATA", "HTML", "rep_info", f"{plan.datastrip_folder}/QI_DATA"):
            (safe / folder).mkdir(parents=True, exist_ok=True)
        stats_all: list[GranuleStats] = []
        with _gdal_threads(), ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            for i, granule in enumerate(plan.granules):
                for sub in ("IMG_DATA", "QI_DATA", "AUX_DATA"):
                    (safe / granule.folder / sub).mkdir(parents=True, exist_ok=True)
                for res in RESOLUTIONS:
                    if level == "L2A":
                        (safe / granule.folder / f"IMG_DATA/R{res}m").mkdir(exist_ok=True)
                scene = Scene(size, seed + 1000 * i, level, plan.acquisition, cloud_cover, cirrus_cover, weather)
                truth, stats = render_granule(scene, plan, granule, safe, seed + 1000 * i, pool)
                _write_xml(safe / granule.folder / granule.metadata, tile_metadata(plan, granule, scene, stats))
                if i == 0:
                    write_truth(truth_tmp, truth, granule.origin)
                stats_all.append(stats)
        _write_xml(safe / plan.metadata, product_metadata(plan, stats_all[0]))
        _write_xml(safe / plan.datastrip_folder / plan.datastrip_metadata, datastrip_metadata(plan))
        (safe / "HTML" / "UserProduct_index.html").write_text(_html_index(plan), encoding="utf-8")
        _write_xml(safe / "manifest.safe", manifest(plan, safe, stats_all[0]))

        if zip_output:
            target = out / (plan.name + ".zip")
            zip_product(safe, target)
        else:
            target = out / (plan.name + ".SAFE")
            if target.exists():
                shutil.rmtree(target)
            os.replace(safe, target)
        _move_raster(truth_tmp, out / "truth.tif")
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for leftover in (truth_tmp, Path(f"{truth_tmp}.aux.xml")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _move_raster(source: Path, target: Path) -> None:
    """Move a GeoTIFF with its .aux.xml side-car (category names live there), replacing an older one."""
    source_aux, target_aux = Path(f"{source}.aux.xml"), Path(f"{target}.aux.xml")
    if source_aux.exists():
        os.replace(source_aux, target_aux)
    else:
        with contextlib.suppress(FileNotFoundError):
            target_aux.unlink()
    os.replace(source, target)


def truth_path(product: str | Path) -> Path:
    """The truth raster written beside a product."""
    return Path(product).parent / "truth.tif"


# ---------------------------------------------------------------------------
# A time series: one tile, one surface, many dates with their own clouds
# ---------------------------------------------------------------------------

SERIES_START = datetime(2022, 5, 2, 10, 15, 59, 24000)
REVISIT_DAYS = 5  # Sentinel-2A and 2B together
# Thick-cloud cover of the dates in turn: mostly cloudy, a few nearly clear, as a European spring.
SERIES_CLOUD_COVERS = (0.30, 0.55, 0.15, 0.70, 0.40, 0.05, 0.60, 0.25, 0.45, 0.35)
SERIES_CIRRUS_COVER = 0.05
# The surface bands at 20 m, as a composite or a cleaned stack holds them by default.
SURFACE_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
SURFACE_RESOLUTION = 20
SERIES_FILE = "series.json"


def series_acquisition(index: int) -> Acquisition:
    """The acquisition of date `index`: every five days, Sentinel-2A and 2B in turn, on one relative orbit."""
    base = ACQUISITIONS["04.00"]
    shift = SERIES_START + timedelta(days=REVISIT_DAYS * index) - base.sensing
    return Acquisition(("S2A", "S2B")[index % 2], base.sensing + shift, base.generation + shift,
                       base.granule_sensing + shift, base.absolute_orbit + 72 * index, base.relative_orbit,
                       base.centre, base.sun_zenith, base.sun_azimuth)


def write_surface(path: Path, scene: Scene, origin: tuple[float, float]) -> None:
    """The true surface reflectance under every date's clouds, float32 at 20 m, in SURFACE_BANDS order.

    A 10 m band is the mean of its four 10 m pixels (what a reader averaging the 10 m file gives), a 20 m
    band is the 20 m rendering itself, so a perfect composite of clear pixels matches it to the DN's rounding.
    """
    factor = SURFACE_RESOLUTION // 10
    n = scene.size // factor
    surface = np.zeros((len(SURFACE_BANDS), n, n), np.float32)
    fine = tuple(b for b in SURFACE_BANDS if NATIVE_RESOLUTION[b] == 10)
    coarse = tuple(b for b in SURFACE_BANDS if NATIVE_RESOLUTION[b] != 10)
    for r0, r1 in scene.strips(10):
        block = scene.render(10, r0, r1, fine, clear_sky=True)
        for band in fine:
            surface[SURFACE_BANDS.index(band), r0 // factor:r1 // factor] = _block_mean(block.reflectance[band], factor)
    for r0, r1 in scene.strips(SURFACE_RESOLUTION):
        block = scene.render(SURFACE_RESOLUTION, r0, r1, coarse, clear_sky=True)
        for band in coarse:
            surface[SURFACE_BANDS.index(band), r0:r1] = block.reflectance[band]
    valid = scene.valid(SURFACE_RESOLUTION, 0, n)
    surface[:, ~valid] = np.nan
    dataset = gdal.GetDriverByName("GTiff").Create(str(path), n, n, len(SURFACE_BANDS), gdal.GDT_Float32,
                                                   ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=3"])
    try:
        dataset.SetGeoTransform((origin[0], float(SURFACE_RESOLUTION), 0.0, origin[1], 0.0, -float(SURFACE_RESOLUTION)))
        dataset.SetProjection(_srs_wkt())
        dataset.SetMetadataItem("SOURCE", "tools.synthetic_product true surface reflectance of the series")
        for index, band in enumerate(SURFACE_BANDS, start=1):
            raster = dataset.GetRasterBand(index)
            raster.SetDescription(band)
            raster.SetNoDataValue(float("nan"))
            raster.WriteArray(surface[index - 1])
        dataset.FlushCache()
    finally:
        raster = dataset = None


def write_series(out: str | Path, *, dates: int = 8, level: str = "L2A", size: int = 600, seed: int = 0,
                 cloud_covers: tuple[float, ...] = SERIES_CLOUD_COVERS) -> Path:
    """Write `dates` products of one tile over one surface, each with its own clouds, into folder `out`.

    out then holds the products (.SAFE, named by date), truth/<product id>.tif (each date's own mask
    codes, as truth.tif beside a single product), surface.tif (the true surface reflectance, float32 at
    20 m: Level-2A's bottom-of-atmosphere reflectance, for either level) and series.json (the dates, ids,
    cloud covers and files). Cloud covers are taken from `cloud_covers` in turn. Everything appears only
    when complete. Returns `out`.
    """
    if dates < 1:
        raise ValueError(f"a series needs at least one date, got {dates}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".series.partial-{uuid.uuid4().hex[:8]}"
    try:
        (staging / "truth").mkdir(parents=True)
        entries = []
        for index in range(dates):
            acquisition = series_acquisition(index)
            cover = cloud_covers[index % len(cloud_covers)]
            product = write_product(staging / f"date-{index}", level=level, size=size, seed=seed, extras=False,
                                    cloud_cover=cover, cirrus_cover=SERIES_CIRRUS_COVER, acquisition=acquisition,
                                    weather=index)
            product_id = product.name.removesuffix(".SAFE")
            os.replace(product, staging / product.name)
            _move_raster(truth_path(product), staging / "truth" / f"{product_id}.tif")
            entries.append({"product": product.name, "product_id": product_id,
                            "date": acquisition.sensing.strftime("%Y-%m-%d"), "cloud_cover": cover,
                            "truth": f"truth/{product_id}.tif"})
        scene = Scene(size, seed, "L2A", series_acquisition(0), weather=0)
        write_surface(staging / "surface.tif", scene, TILE_ORIGINS["32UPC"])
        (staging / SERIES_FILE).write_text(json.dumps(
            {"level": level, "size": size, "seed": seed, "surface": "surface.tif", "surface_bands": SURFACE_BANDS,
             "surface_resolution": SURFACE_RESOLUTION, "dates": entries}, indent=1), encoding="utf-8")
        (out / "truth").mkdir(exist_ok=True)
        for entry in entries:
            target = out / entry["product"]
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging / entry["product"], target)
            _move_raster(staging / entry["truth"], out / entry["truth"])
        _move_raster(staging / "surface.tif", out / "surface.tif")
        os.replace(staging / SERIES_FILE, out / SERIES_FILE)
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_series(folder: str | Path) -> dict:
    """series.json of a folder write_series wrote, with the paths made absolute."""
    folder = Path(folder)
    series = json.loads((folder / SERIES_FILE).read_text(encoding="utf-8"))
    series["surface"] = folder / series["surface"]
    for entry in series["dates"]:
        entry["product"], entry["truth"] = folder / entry["product"], folder / entry["truth"]
    return series


# ---------------------------------------------------------------------------
# Packaging and breaking products
# ---------------------------------------------------------------------------


def zip_product(safe_dir: str | Path, zip_path: str | Path) -> Path:
    """Zip a .SAFE folder as the Copernicus hubs deliver it: the .SAFE folder at the archive root."""
    safe_dir, zip_path = Path(safe_dir), Path(zip_path)
    partial = zip_path.with_name(f".{zip_path.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
            for path in sorted(safe_dir.rglob("*")):
                arcname = f"{safe_dir.name}/{path.relative_to(safe_dir).as_posix()}"
                if path.is_dir():
                    archive.writestr(arcname + "/", b"")
                else:
                    compress = zipfile.ZIP_STORED if path.suffix == ".jp2" else zipfile.ZIP_DEFLATED
                    archive.write(path, arcname, compress_type=compress)
        os.replace(partial, zip_path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return zip_path


def truncate_file(path: str | Path, fraction: float) -> Path:
    """Cut a file to `fraction` of its length, as an interrupted download leaves it."""
    path = Path(path)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    os.truncate(path, int(path.stat().st_size * fraction))
    return path


def corrupt_jp2(path: str | Path) -> Path:
    """Overwrite the tile-part headers of a JPEG 2000 codestream: the file still opens, reading pixels fails."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    start = data.find(b"\xff\x4f\xff\x51")  # SOC followed by SIZ: the codestream
    if start < 0:
        raise ValueError(f"{path} holds no JPEG 2000 codestream")
    position = data.find(b"\xff\x90\x00\x0a", start)  # first SOT marker segment
    if position < 0:
        raise ValueError(f"{path} holds no tile-part in its codestream")
    while position >= 0:
        data[position : position + 14] = b"\xa5" * 14
        position = data.find(b"\xff\x90\x00\x0a", position + 14)
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="/usr/bin/python3 tools/synthetic_product.py",
        description="Write a synthetic Sentinel-2 product (and truth.tif beside it); print its path.",
    )
    parser.add_argument("--level", choices=("L1C", "L2A"), default="L1C")
    parser.add_argument("--baseline", choices=sorted(ACQUISITIONS), default=None,
                        help="processing baseline (default 04.00; 02.04 for --layout long)")  # fmt: skip
    parser.add_argument("--size", type=int, default=600, help="10 m pixels per side; 10980 for a full tile")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder to write into")
    parser.add_argument("--zip", action="store_true", help="write a product .zip instead of a .SAFE folder")
    parser.add_argument("--layout", choices=("compact", "long"), default="compact")
    parser.add_argument("--granules", type=int, default=1, help="granules in a long-layout product (1 or 2)")
    parser.add_argument("--cloud-cover", type=float, default=0.25, help="fraction of the scene under thick cloud")
    parser.add_argument("--lean", action="store_true", help="skip what no cloud mask reads (TCI, AOT, WVP, preview)")
    parser.add_argument("--series", type=int, default=0, metavar="DATES",
                        help="write a time series of this many dates over one surface (truth/, surface.tif)")
    args = parser.parse_args(argv)
    try:
        if args.series:
            print(write_series(args.out, dates=args.series, level=args.level, size=args.size, seed=args.seed))
            return 0
        path = write_product(
            args.out, level=args.level, baseline=args.baseline, size=args.size, seed=args.seed, layout=args.layout,
            granules=args.granules, zip_output=args.zip, cloud_cover=args.cloud_cover, extras=not args.lean,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
