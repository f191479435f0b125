"""PNG quicklooks for a glance without GIS software: a true-colour view of the product beside its mask, and the
difference raster the comparison report shows.

PNG is written with zlib alone so the engine needs no imaging library.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from ..classes import CLASS_COLOURS, CLEAR, CLEAR_SHOWN_COLOUR
from ..outputs import atomic_output
from ..reading.reader import ProductReader, open_product, product_grid
from .difference import DIFFERENCE_COLOURS

QUICKLOOK_SIZE = 900  # pixels along the longer side of each panel


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an (rows, cols, 3 or 4) uint8 array as PNG."""
    rows, cols, channels = rgb.shape
    colour_type = {3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(rows))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", cols, rows, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def write_png(rgb: np.ndarray, path: str | Path) -> Path:
    with atomic_output(path) as temporary:
        temporary.write_bytes(encode_png(np.ascontiguousarray(rgb, dtype=np.uint8)))
    return Path(path)


# A PNG has no canvas under it: clear is drawn as the mask layer's "clear shown" style, so it is not mistaken
# for no data (dark grey).
QUICKLOOK_COLOURS = {**CLASS_COLOURS, CLEAR: CLEAR_SHOWN_COLOUR}


def colourise(codes: np.ndarray, colours: dict[int, tuple[int, int, int, int]] = QUICKLOOK_COLOURS) -> np.ndarray:
    """Map class codes to RGB; unknown codes and no data become dark grey so the footprint reads."""
    lut = np.full((256, 3), 40, dtype=np.uint8)
    for code, (red, green, blue, alpha) in colours.items():
        if alpha:
            lut[code] = (red, green, blue)
    return lut[codes]


def _panel_shape(rows: int, cols: int) -> tuple[int, int]:
    scale = QUICKLOOK_SIZE / max(rows, cols)
    return max(1, round(rows * scale)), max(1, round(cols * scale))


def _true_colour(product_path: str | Path, mask_dataset, shape: tuple[int, int]) -> np.ndarray | None:
    """B04/B03/B02 of the product, on the mask's extent, stretched like the Sentinel-2 TCI (0-0.25 reflectance)."""
    product = open_product(product_path)
    left, bottom, right, top = mask_dataset.bounds
    resolution = max((right - left) / shape[1], (top - bottom) / shape[0])
    grid = product_grid(product, 60, extent=(left, bottom, right, top, mask_dataset.crs.to_string()))
    grid = grid.resampled(max(60.0, resolution))
    with ProductReader(product, ["B04", "B03", "B02"], grid) as reader:
        block = reader.read(Window(0, 0, grid.width, grid.height))
    rgb = np.clip(block.data / 0.25 * 255, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    rgb[~block.valid] = 40
    rows = np.linspace(0, rgb.shape[0] - 1, shape[0]).round().astype(int)
    cols = np.linspace(0, rgb.shape[1] - 1, shape[1]).round().astype(int)
    return rgb[rows][:, cols]


def write_quicklook(mask_path: str | Path, png_path: str | Path, product: str | Path | None = None) -> Path:
    """The mask in its palette; with a product, its true colour on the left and the mask on the right."""
    with rasterio.open(mask_path) as dataset:
        shape = _panel_shape(dataset.height, dataset.width)
        codes = dataset.read(1, out_shape=shape, resampling=Resampling.mode)
        panels = [colourise(codes)]
        if product is not None:
            true_colour = _true_colour(product, dataset, shape)
            if true_colour is not None:
                panels.insert(0, true_colour)
    gap = np.full((shape[0], 8, 3), 255, dtype=np.uint8)
    image = panels[0] if len(panels) == 1 else np.concatenate([panels[0], gap, panels[1]], axis=1)
    return write_png(image, png_path)


def difference_quicklook(difference_raster: str | Path, size: int = QUICKLOOK_SIZE) -> bytes:
    """The difference raster downsampled (nearest, from its overviews) to at most `size` pixels a side, as RGBA PNG."""
    with rasterio.open(difference_raster) as dataset:
        scale = max(dataset.width, dataset.height) / size
        shape = (max(1, round(dataset.height / scale)), max(1, round(dataset.width / scale))) if scale > 1 else None
        codes = dataset.read(1, out_shape=shape, resampling=Resampling.nearest)
    lut = np.zeros((256, 4), dtype=np.uint8)  # codes without a colour (and no data) stay transparent
    for code, colour in DIFFERENCE_COLOURS.items():
        lut[code] = colour
    return encode_png(lut[codes])
