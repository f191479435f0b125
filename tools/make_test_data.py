"""Make the small real data under tests/data that the test suite runs on, from ../shared/data.

    /usr/bin/python3 tools/make_test_data.py [--shared ../shared/data] [--out tests/data]

It mirrors the layout of ../shared/data with only what a clone needs:

- sentinel2/<the T29UNU L2A product>.SAFE: a crop of the real tile (below);
- sentinel2/metadata/: the 18 real product and tile metadata files, as they are (XML: small in git);
- sentinel2/offset-fixtures/: as they are (two tiny real L1C crops, DN and TOA);
- arrays/labelled_6band_patch.npz: the top-left 256 x 256 pixels of the hand-labelled patch;
- arrays/l1c_13band_toa.npz: 128 x 256 pixels of the real 13-band L1C array, cirrus among them.

The crop is a valid SAFE of its own under the product's real name: every
raster of the granule (the 60 m bands, SCL at 20 and 60 m, MSK_CLASSI_B00 and
the other quality masks, AOT, WVP and TCI) cut to one window, losslessly, with its
georeference; MTD_MSIL2A.xml and manifest.safe as they are; MTD_TL.xml with the
window's size and origin and its angle grids cut to the window. The window
holds the test windows of tests/real_product.py (clear land, cloud, cirrus,
shadow) and a wedge of the orbit edge's no data, and starts on the angle grid
(a multiple of 5 km from the tile's corner). The preview (PVI), the HTML pages
and the datastrip's reports are left out. Running it again gives the same pixels and values;
tests/engine/test_test_data.py checks them against ../shared/data where that is here.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import numpy as np
from osgeo import gdal

REPO = Path(__file__).resolve().parent.parent
PRODUCT = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
SHARED = REPO.parent / "shared" / "data"
OUT = REPO / "tests" / "data"
# rows, columns of the arrays kept: (first, end) each
LABELLED_PATCH = ((0, 256), (0, 256))
L1C_ARRAY = ((128, 256), (256, 512))
# The window in 60 m pixels of the tile: first column, first row, columns, rows. 500 px = 30 km = 6 angle-grid steps.
COL0, ROW0, COLS, ROWS = 500, 500, 672, 560
ANGLE_STEP_M = 5000
TOP_FILES = ("MTD_MSIL2A.xml", "manifest.safe", "INSPIRE.xml")
LEFT_OUT = ("_PVI.jp2",)
README = """\
# Real data for the test suite

Made from ../shared/data by `tools/make_test_data.py` (run it again to make it
again); everything here is real satellite data or real product metadata.
Copernicus Sentinel data is free and open; keep the attribution lines in any
report or figure made from it.

| path | what it is | source and licence |
|---|---|---|
| `sentinel2/{product}/` | A crop of the real Level-2A tile 29UNU of 2022-10-05 (processing baseline 04.00): the window of 60 m pixels columns {col0}-{col1}, rows {row0}-{row1} of the tile, ({xmin:.0f}, {ymin:.0f}) - ({xmax:.0f}, {ymax:.0f}) in EPSG:32629, with clear land, cloud, cirrus, shadow and a wedge of the orbit edge's no data. Every raster of the granule (60 m bands, SCL 20 and 60 m, MSK_CLASSI_B00 and the other masks, AOT, WVP, TCI) cut losslessly to it; MTD_MSIL2A.xml and manifest.safe (its checksums are the whole product's) as they are; MTD_TL.xml with the window's size, origin and angle grids. | Contains modified Copernicus Sentinel data 2022. From the GitHub repository stactools-packages/sentinel2, commit 46bdb40, tests/data-files/ (repository licence Apache-2.0). |
| `sentinel2/metadata/` | 18 real product and tile metadata files (MTD_MSIL1C.xml, MTD_MSIL2A.xml, MTD_TL.xml) of processing baselines 02.04 to 05.10, as they are. | From stactools-packages/sentinel2, dlr-eoc/ukis-pysat, ungarj/s2reader, vhgauto/turb, Andrew123s/Sentinel-Data-on-Galamsey (Copernicus Sentinel data; repositories' licences). |
| `sentinel2/offset-fixtures/` | Two tiny real 13-band L1C crops of tile 32UPC (baselines 02.09 and 04.00): DN, expected TOA reflectance, the real MTD_MSIL1C.xml. | Contains modified Copernicus Sentinel data 2020, 2022. From dlr-eoc/ukis-pysat, tests/testfiles/satellite_data/ (Apache-2.0). |
| `arrays/labelled_6band_patch.npz` | Rows {labelled[0][0]}-{labelled[0][1]}, columns {labelled[1][0]}-{labelled[1][1]} of the hand-labelled patch (`img` reflectance blue, green, red, nir, swir16, swir22; `msk` 0 cloud shadow, 1-3 clear, 4 cloud). | Contains modified Copernicus Sentinel data. From dlr-eoc/ukis-csmask, tests/testfiles/sentinel2.npz (Apache-2.0). |
| `arrays/l1c_13band_toa.npz` | Rows {l1c[0][0]}-{l1c[0][1]}, columns {l1c[1][0]}-{l1c[1][1]} of the real 13-band L1C TOA array (`s2_im`, with s2cloudless's `cl_probs` and `cl_mask` for it). | Contains modified Copernicus Sentinel data. From the s2cloudless 1.2.2 source distribution on PyPI (CC-BY-SA-4.0). |

Reports, figures and test outputs made from these files: "Contains modified
Copernicus Sentinel data 2022" (2020 for the 02.09 offset fixture).
"""


def window_bounds(transform: tuple[float, ...]) -> tuple[float, float, float, float]:
    """The crop's bounds (xmin, ymin, xmax, ymax) from the tile's 60 m geotransform."""
    xmin, ymax = transform[0] + COL0 * 60, transform[3] - ROW0 * 60
    return xmin, ymax - ROWS * 60, xmin + COLS * 60, ymax


def cut_raster(source: Path, target: Path, bounds: tuple[float, float, float, float]) -> None:
    """The raster's pixels inside `bounds`, at its own resolution, as a lossless JPEG 2000 with its georeference."""
    dataset = gdal.Open(str(source))
    left, res_x, _, top, _, res_y = dataset.GetGeoTransform()
    col, row = round((bounds[0] - left) / res_x), round((top - bounds[3]) / -res_y)
    cols, rows = round((bounds[2] - bounds[0]) / res_x), round((bounds[3] - bounds[1]) / -res_y)
    options = ["QUALITY=100", "REVERSIBLE=YES", "YCC=NO"]
    nbits = dataset.GetRasterBand(1).GetMetadataItem("NBITS", "IMAGE_STRUCTURE")
    if nbits:
        options.append(f"NBITS={nbits}")
    target.parent.mkdir(parents=True, exist_ok=True)
    done = gdal.Translate(str(target), dataset, format="JP2OpenJPEG", srcWin=[col, row, cols, rows],
                          creationOptions=options)
    if done is None:
        raise SystemExit(f"could not cut {source}: {gdal.GetLastErrorMsg()}")
    done = None  # noqa: F841 (closing writes the file)
    Path(f"{target}.aux.xml").unlink(missing_ok=True)


def cut_angle_grid(block: re.Match) -> str:
    """One <Values_List>: the rows and columns of the 5 km grid over the window (one node beyond each edge)."""
    first_col, first_row = COL0 * 60 // ANGLE_STEP_M, ROW0 * 60 // ANGLE_STEP_M
    last_col = first_col + -(-COLS * 60 // ANGLE_STEP_M)
    last_row = first_row + -(-ROWS * 60 // ANGLE_STEP_M)
    lines = re.findall(r"( *)<VALUES>([^<]*)</VALUES>", block.group(0))
    kept = [f"{indent}<VALUES>{' '.join(values.split()[first_col:last_col + 1])}</VALUES>"
            for indent, values in lines[first_row:last_row + 1]]
    opening, closing = re.match(r"( *<Values_List>\n)", block.group(0)), re.search(r"(\n *</Values_List>)$", block.group(0))
    return opening.group(1) + "\n".join(kept) + closing.group(1)


def tile_metadata(text: str, tile_origin: tuple[float, float]) -> str:
    """MTD_TL.xml for the window: each resolution's size and upper-left corner, the angle grids cut to it."""
    for resolution in (10, 20, 60):
        factor = 60 // resolution
        text = re.sub(rf'(<Size resolution="{resolution}">\s*<NROWS>)\d+(</NROWS>\s*<NCOLS>)\d+(</NCOLS>)',
                      rf"\g<1>{ROWS * factor}\g<2>{COLS * factor}\g<3>", text)
        text = re.sub(rf'(<Geoposition resolution="{resolution}">\s*<ULX>)[-\d.]+(</ULX>\s*<ULY>)[-\d.]+(</ULY>)',
                      rf"\g<1>{tile_origin[0] + COL0 * 60:.0f}\g<2>{tile_origin[1] - ROW0 * 60:.0f}\g<3>", text)
    return re.sub(r" *<Values_List>\n.*?\n *</Values_List>", cut_angle_grid, text, flags=re.DOTALL)


def make_crop(source: Path, out: Path) -> Path:
    """Write the crop of the product `source` into the folder `out`; the crop's SAFE folder."""
    target = out / source.name
    staging = out / f".{source.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    granule = next((source / "GRANULE").iterdir())
    band = next(granule.glob("IMG_DATA/R60m/*_B02_60m.jp2"))
    transform = gdal.Open(str(band)).GetGeoTransform()
    bounds = window_bounds(transform)
    for name in TOP_FILES:
        if (source / name).is_file():
            staging.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, staging / name)
    for raster in sorted(granule.rglob("*.jp2")):
        if not raster.name.endswith(LEFT_OUT):
            cut_raster(raster, staging / raster.relative_to(source), bounds)
    tile_xml = granule / "MTD_TL.xml"
    (staging / tile_xml.relative_to(source)).write_text(
        tile_metadata(tile_xml.read_text(encoding="utf-8"), (transform[0], transform[3])), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def cut_array(source: Path, target: Path, rows: tuple[int, int], cols: tuple[int, int]) -> None:
    """Every array of an .npz cut to the rows and columns, whichever axes those are (image axes follow a batch axis
    of one where the source has one)."""
    with np.load(source) as data:
        arrays = {}
        for name in data.files:
            array = data[name]
            first = 1 if array.ndim == 4 or (array.ndim == 3 and array.shape[0] == 1) else 0
            index = [slice(None)] * array.ndim
            index[first], index[first + 1] = slice(*rows), slice(*cols)
            arrays[name] = array[tuple(index)]
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, **arrays)


def make_test_data(shared: Path = SHARED, out: Path = OUT) -> list[Path]:
    """Everything listed in the module's text, written into `out`; the paths written."""
    sentinel2 = out / "sentinel2"
    written = [make_crop(shared / "sentinel2" / PRODUCT, sentinel2)]
    copies = [(path, sentinel2 / folder / path.name) for folder in ("metadata", "offset-fixtures")
              for path in sorted((shared / "sentinel2" / folder).iterdir())]
    for source, target in copies:  # contents only: ../shared/data is read-only, its copies here are not
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    written += [sentinel2 / "metadata", sentinel2 / "offset-fixtures"]
    for name, (rows, cols) in (("labelled_6band_patch.npz", LABELLED_PATCH), ("l1c_13band_toa.npz", L1C_ARRAY)):
        cut_array(shared / "arrays" / name, out / "arrays" / name, rows, cols)
        written.append(out / "arrays" / name)
    transform = gdal.Open(str(next(written[0].glob("GRANULE/*/IMG_DATA/R60m/*_B02_60m.jp2")))).GetGeoTransform()
    left, top = transform[0] - COL0 * 60, transform[3] + ROW0 * 60  # the tile's corner
    xmin, ymin, xmax, ymax = (left + COL0 * 60, top - (ROW0 + ROWS) * 60, left + (COL0 + COLS) * 60, top - ROW0 * 60)
    (out / "README.md").write_text(README.format(
        product=PRODUCT, col0=COL0, col1=COL0 + COLS - 1, row0=ROW0, row1=ROW0 + ROWS - 1, xmin=xmin, ymin=ymin,
        xmax=xmax, ymax=ymax, labelled=LABELLED_PATCH, l1c=L1C_ARRAY), encoding="utf-8")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    gdal.UseExceptions()
    for path in make_test_data(args.shared, args.out):
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        print(f"{path}: {sum(p.stat().st_size for p in files) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
