"""The README's "Clean pixels" picture: the cloudiest date of the generated series beside its composite.

The series is the one `make accuracy` scores (tools/composite_accuracy.py,
SERIES), kept in .cache/composite-picture; the composite is the median with
this plugin's masks. Both are drawn in true colour (B04, B03, B02) over the
plugin's stretch (0 to 0.25 reflectance), in which clouds saturate to white;
no data (outside the swath, or no clear observation) is drawn light grey.
Writes docs/images/composite.png.

    /usr/bin/python3 tools/composite_picture.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # `tools` imports however this file was started
from tools.plugin_package import import_plugin_package  # noqa: E402

CACHE = REPO / ".cache" / "composite-picture"
TARGET = REPO / "docs" / "images" / "composite.png"
GAP = 12  # px of white between the two images
SIDE = 480  # px per image
NO_DATA_GREY = 200


def true_colour(bands, names: list[str]):
    """uint8 (3, rows, cols) from float reflectance: B04, B03, B02 stretched from 0 to 0.25; no data grey."""
    import numpy as np
    from s2cloudmask.inference.defaults import TRUE_COLOUR_BANDS, TRUE_COLOUR_REFLECTANCE

    low, high = TRUE_COLOUR_REFLECTANCE
    rgb = np.stack([bands[names.index(band)] for band in TRUE_COLOUR_BANDS])
    scaled = np.clip((rgb - low) / (high - low) * 255.0, 0, 255)
    scaled = np.nan_to_num(scaled, nan=NO_DATA_GREY)
    scaled[:, ~np.isfinite(rgb).all(axis=0)] = NO_DATA_GREY
    return scaled.astype(np.uint8)


def main() -> int:
    import_plugin_package()
    import numpy as np
    import rasterio
    from osgeo import gdal
    from rasterio.enums import Resampling
    from rasterio.windows import Window
    from s2cloudmask.inference.cleaning.bands import ProductBands
    from s2cloudmask.inference.cleaning.composite import composite
    from s2cloudmask.inference.reading.product import open_product
    from s2cloudmask.tools.synthetic_product import SURFACE_BANDS, read_series, write_series

    from tools.composite_accuracy import SERIES

    folder = CACHE / "series"
    if not (folder / "series.json").is_file():
        write_series(folder, **SERIES)
    series = read_series(folder)
    output = CACHE / "composite.tif"
    result = composite(folder, output, masks=CACHE / "masks", device="cpu")
    cloudiest = max(series["dates"], key=lambda entry: entry["cloud_cover"])

    with ProductBands(open_product(cloudiest["product"]), list(SURFACE_BANDS), result.grid) as reader:
        block = reader.read(Window(0, 0, result.grid.width, result.grid.height))
    date = np.where(block.valid, block.data, np.nan)
    with rasterio.open(output) as dataset:
        mosaic = dataset.read(list(range(1, len(SURFACE_BANDS) + 1)), out_shape=(len(SURFACE_BANDS), SIDE, SIDE),
                              resampling=Resampling.average)
    step = date.shape[1] // SIDE
    date = date[:, :SIDE * step, :SIDE * step].reshape(len(SURFACE_BANDS), SIDE, step, SIDE, step).mean(axis=(2, 4))
    picture = np.full((3, SIDE, 2 * SIDE + GAP), 255, np.uint8)
    picture[:, :, :SIDE] = true_colour(date, list(SURFACE_BANDS))
    picture[:, :, SIDE + GAP:] = true_colour(mosaic, list(SURFACE_BANDS))
    memory = gdal.GetDriverByName("MEM").Create("", picture.shape[2], picture.shape[1], 3, gdal.GDT_Byte)
    for index in range(3):
        memory.GetRasterBand(index + 1).WriteArray(picture[index])
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    gdal.GetDriverByName("PNG").CreateCopy(str(TARGET), memory)
    memory = None
    for sidecar in TARGET.parent.glob(TARGET.name + ".aux.xml"):
        sidecar.unlink()
    print(f"{TARGET}: {cloudiest['date']} ({100 * cloudiest['cloud_cover']:.0f} % thick cloud) beside the median of "
          f"{len(result.products)} dates from {series['dates'][0]['date']} to {series['dates'][-1]['date']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
