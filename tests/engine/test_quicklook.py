"""The demo's quicklook: every class tells apart from the others and from no data, as a person sees it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from osgeo import gdal
from s2cloudmask.inference.classes import CLASS_COLOURS, CLEAR, CLEAR_SHOWN_COLOUR, MASK_CODES, NODATA
from s2cloudmask.inference.comparing.quicklook import write_quicklook

from model_helpers import utm_grid, write_raster


def test_clear_is_drawn_visibly_and_every_code_has_its_own_colour(tmp_path: Path) -> None:
    codes = np.repeat(np.arange(5, dtype=np.uint8), 40)[None, :].repeat(200, axis=0)  # five vertical stripes
    mask = write_raster(tmp_path / "mask.tif", codes[None], utm_grid(200, 200))
    png = write_quicklook(mask, tmp_path / "quicklook.png")
    dataset = gdal.Open(str(png))
    rgb = np.stack([dataset.GetRasterBand(band).ReadAsArray() for band in (1, 2, 3)], axis=-1)
    middle = rgb.shape[0] // 2
    colours = {code: tuple(rgb[middle, int((code + 0.5) * rgb.shape[1] / 5)]) for code in (NODATA, *MASK_CODES)}
    assert colours[CLEAR] == CLEAR_SHOWN_COLOUR[:3]
    for code in MASK_CODES:
        if code != CLEAR:
            assert colours[code] == CLASS_COLOURS[code][:3]
    assert len(set(colours.values())) == 5, colours
