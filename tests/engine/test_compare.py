"""The comparison engine: every figure on constructed rasters, then the real T29UNU product's SCL.

The real product carries no model output, and this engine must not depend on
one, so the real "masks" here are the product's own SCL mapped onto the mask
codes with `scl_to_mask` (at 60 m or 20 m) and written as GeoTIFF masks. Such
a mask compared with the other resolution's SCL must agree highly but not
perfectly (the 60 m SCL is classified on its own, not a copy of the 20 m one).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from comparison_cases import constructed_case, write_codes
from osgeo import gdal
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window
from s2cloudmask.inference.classes import SCL_AMBIGUOUS, SCL_TO_MASK, scl_to_mask
from s2cloudmask.inference.comparing import difference, rasters
from s2cloudmask.inference.comparing.compare import compare_masks, compare_with_scl
from s2cloudmask.inference.comparing.difference import DIFFERENCE_CODES, DIFFERENCE_COLOURS, DIFFERENCE_NAMES
from s2cloudmask.inference.errors import Cancelled, OutputError, ProductError

def test_constructed_case_every_figure(tmp_path: Path) -> None:
    mask, scl, expected = constructed_case(tmp_path)
    result = compare_with_scl(mask, scl, tmp_path / "difference.tif")

    # rows: mask clear, shadow, thin, cloud; columns: clear, shadow, thin, cloud, dark, water, unclassified, snow
    assert result.matrix.tolist() == [
        [12, 1, 0, 2, 0, 2, 0, 0],
        [2, 4, 0, 0, 1, 0, 0, 0],
        [0, 0, 3, 1, 0, 0, 0, 0],
        [2, 1, 0, 6, 0, 0, 1, 0],
    ]
    assert result.folded_matrix.tolist() == [[14, 1, 0, 2], [3, 4, 0, 0], [0, 0, 3, 1], [3, 1, 0, 6]]
    assert result.compared_pixels == 38
    assert result.ambiguous_pixels == 4
    assert result.overall_agreement == pytest.approx(27 / 38)
    assert result.agreement_excluding_ambiguous == pytest.approx(25 / 34)
    # kappa = (po - pe) / (1 - pe); pe = (17*20 + 7*6 + 4*3 + 10*9) / 38^2 = 484 / 1444
    assert result.kappa == pytest.approx(float((Fraction(27, 38) - Fraction(484, 1444)) / (1 - Fraction(484, 1444))))
    assert result.kappa == pytest.approx(542 / 960)
    # without ambiguous: N = 34, pe = (15*16 + 6*6 + 4*3 + 9*9) / 34^2 = 369 / 1156
    assert result.kappa_excluding_ambiguous == pytest.approx(481 / 787)

    per_class = result.per_class
    expected_figures = {  # (agreeing, mask pixels, SCL pixels)
        "clear": (14, 17, 20),
        "cloud_shadow": (4, 7, 6),
        "semi_transparent_cloud": (3, 4, 3),
        "cloud": (6, 10, 9),
    }
    for key, (hits, in_mask, in_scl) in expected_figures.items():
        figure = per_class[key]
        assert (figure["agreeing_pixels"], figure["mask_pixels"], figure["reference_pixels"]) == (hits, in_mask, in_scl)
        assert figure["precision"] == pytest.approx(hits / in_mask)
        assert figure["recall"] == pytest.approx(hits / in_scl)
        assert figure["f1"] == pytest.approx(2 * hits / (in_mask + in_scl))
        assert figure["iou"] == pytest.approx(hits / (in_mask + in_scl - hits))
    assert per_class["semi_transparent_cloud"]["recall"] == 1.0

    expected_counts = {1: 12, 2: 9, 3: 4, 4: 2, 5: 2, 6: 2, 7: 1, 8: 1, 9: 1, 10: 1, 11: 1, 12: 2}
    assert result.difference_pixels == expected_counts
    for code, count in expected_counts.items():  # 10 m pixels: 100 m2 = 1e-4 km2
        assert result.areas[code] == pytest.approx(count * 1e-4)
    assert result.compared_area_km2 == pytest.approx(38e-4)

    with rasterio.open(tmp_path / "difference.tif") as written:
        np.testing.assert_array_equal(written.read(1), expected)


def test_difference_raster_is_described(tmp_path: Path) -> None:
    mask, scl, _ = constructed_case(tmp_path)
    compare_with_scl(mask, scl, tmp_path / "difference.tif")
    with rasterio.open(mask) as source, rasterio.open(tmp_path / "difference.tif") as written:
        assert (written.crs, written.transform, written.shape) == (source.crs, source.transform, source.shape)
        assert written.dtypes[0] == "uint8" and written.nodata == 0
        colormap = written.colormap(1)
        assert all(colormap[code] == DIFFERENCE_COLOURS[code] for code in DIFFERENCE_CODES)
        tags = written.tags()
        assert tags["REFERENCE"] == str(scl) and tags["MASK"] == str(mask)
        assert float(tags["OVERALL_AGREEMENT"]) == pytest.approx(27 / 38)
    dataset = gdal.Open(str(tmp_path / "difference.tif"))
    band = dataset.GetRasterBand(1)
    assert band.GetDescription() == "Difference: mask.tif against SCL scl.tif"  # also loads the .aux.xml
    names = band.GetCategoryNames()
    assert [names[code] for code in DIFFERENCE_CODES] == [DIFFERENCE_NAMES[code] for code in DIFFERENCE_CODES]


def test_coarser_scl_is_resampled_with_nearest_neighbour(tmp_path: Path) -> None:
    mask = write_codes(tmp_path / "mask.tif", np.array([[1, 1, 4, 1], [1, 2, 4, 4], [2, 2, 3, 4], [0, 2, 3, 3]]))
    # 20 m SCL on the same origin: each SCL pixel covers 2 x 2 mask pixels
    scl = write_codes(tmp_path / "scl.tif", np.array([[4, 8], [3, 10]]), transform=Affine(20, 0, 500000, 0, -20, 5800000))
    result = compare_with_scl(mask, scl, tmp_path / "difference.tif")
    assert result.matrix[:, :4].tolist() == [[3, 0, 0, 1], [1, 3, 0, 0], [0, 0, 3, 0], [0, 0, 1, 3]]
    assert result.matrix[:, 4:].sum() == 0
    assert result.compared_pixels == 15
    with rasterio.open(tmp_path / "difference.tif") as written:
        assert written.read(1).tolist() == [[1, 1, 2, 6], [1, 5, 2, 2], [3, 3, 2, 8], [0, 3, 2, 2]]


def test_only_pixels_inside_both_are_compared(tmp_path: Path) -> None:
    mask = write_codes(tmp_path / "mask.tif", np.full((4, 6), 1))
    # the SCL covers the mask's left three columns only, and reaches beyond it to the west
    scl = write_codes(tmp_path / "scl.tif", np.full((4, 5), 4), transform=Affine(10, 0, 499980, 0, -10, 5800000))
    result = compare_with_scl(mask, scl, tmp_path / "difference.tif")
    figures = result.to_dict()["pixels"]
    assert figures == {"total": 24, "compared": 12, "mask_no_data": 0, "reference_no_data": 12, "ambiguous": 0}
    with rasterio.open(tmp_path / "difference.tif") as written:
        assert written.read(1).tolist() == [[1, 1, 1, 0, 0, 0]] * 4


def test_another_crs_with_the_same_coordinates_gives_the_same_figures(tmp_path: Path) -> None:
    same = tmp_path / "same"
    other = tmp_path / "other"
    same.mkdir()
    other.mkdir()
    reference = compare_with_scl(*constructed_case(same)[:2], same / "difference.tif")
    # ETRS89 / UTM 29N: a different CRS whose coordinates match WGS 84 / UTM 29N to well under a pixel
    result = compare_with_scl(*constructed_case(other, crs="EPSG:25829")[:2], other / "difference.tif")
    np.testing.assert_array_equal(result.matrix, reference.matrix)


def test_reprojected_mask_is_compared_on_its_own_grid(tmp_path: Path, real_l2a: Path) -> None:
    scl_path = next(real_l2a.glob("GRANULE/*/IMG_DATA/R60m/*_SCL_60m.jp2"))
    with rasterio.open(scl_path) as scl:
        window = Window(200, 150, 300, 300)
        codes = scl_to_mask(scl.read(1, window=window))
        source_transform = scl.window_transform(window)
        source_crs = scl.crs
        west, south, east, north = transform_bounds(scl.crs, "EPSG:32630", *scl.window_bounds(window))
    # the same classes on a UTM zone 30 grid, a CRS the SCL is not in
    target_transform = Affine(60, 0, west, 0, -60, north)
    warped = np.zeros((int((north - south) // 60), int((east - west) // 60)), dtype=np.uint8)
    reproject(codes, warped, src_transform=source_transform, src_crs=source_crs, dst_transform=target_transform,
              dst_crs="EPSG:32630", resampling=Resampling.nearest, src_nodata=0, dst_nodata=0)
    assert (warped > 0).mean() > 0.5
    mask = write_codes(tmp_path / "mask30.tif", warped, transform=target_transform, crs="EPSG:32630")
    result = compare_with_scl(mask, scl_path, tmp_path / "difference.tif")
    # the SCL reprojected onto the mask grid by the same nearest-neighbour rule lands on the same classes
    assert result.overall_agreement == 1.0
    assert result.compared_pixels == int((warped > 0).sum())
    with rasterio.open(tmp_path / "difference.tif") as written:
        assert written.crs.to_epsg() == 32630
    # the whole product as SCL: its 20 m SCL, reprojected onto the zone 30 grid
    from_product = compare_with_scl(mask, real_l2a, tmp_path / "product-difference.tif")
    assert 0.97 < from_product.overall_agreement < 1.0
    assert from_product.reference_kind == "l2a_product"


def test_two_masks(tmp_path: Path) -> None:
    mask = write_codes(tmp_path / "a.tif", np.array([[1, 2, 3, 4], [1, 1, 4, 4], [0, 2, 3, 1]]))
    reference = write_codes(tmp_path / "b.tif", np.array([[1, 1, 4, 4], [2, 1, 3, 4], [1, 2, 0, 4]]))
    result = compare_masks(mask, reference, tmp_path / "difference.tif")
    assert result.reference_label == "reference mask"
    assert [c.key for c in result.columns] == ["clear", "cloud_shadow", "semi_transparent_cloud", "cloud"]
    assert result.matrix.tolist() == [[2, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 2]]
    assert result.overall_agreement == pytest.approx(5 / 10)
    # rows 4, 2, 1, 3; columns 3, 2, 1, 4: pe = (4*3 + 2*2 + 1*1 + 3*4) / 100
    assert result.kappa == pytest.approx((0.5 - 0.29) / (1 - 0.29))
    assert result.per_class["semi_transparent_cloud"]["precision"] == 0.0
    assert result.names[4] == "Cloud missed by reference mask"
    with rasterio.open(tmp_path / "difference.tif") as written:
        assert written.read(1).tolist() == [[1, 5, 8, 2], [7, 1, 8, 2], [0, 3, 0, 6]]


def test_areas_in_degrees_follow_the_latitude(tmp_path: Path) -> None:
    # 0.5 degree pixels between the equator and 1 degree north: the northern row is a little smaller
    degrees = Affine(0.5, 0, 0, 0, -0.5, 1)
    mask = write_codes(tmp_path / "mask.tif", np.array([[1, 1], [4, 4]]), transform=degrees, crs="EPSG:4326")
    scl = write_codes(tmp_path / "scl.tif", np.array([[4, 5], [9, 8]]), transform=degrees, crs="EPSG:4326")
    result = compare_with_scl(mask, scl, tmp_path / "difference.tif")
    radius = 6371007.2  # authalic sphere: a band of latitude covers R^2 * dlon * (sin(north) - sin(south))
    band = radius**2 * math.radians(1.0) / 1e6
    assert result.areas[1] == pytest.approx(band * (math.sin(math.radians(1.0)) - math.sin(math.radians(0.5))))
    assert result.areas[2] == pytest.approx(band * math.sin(math.radians(0.5)))
    assert result.areas[1] < result.areas[2]


@pytest.mark.parametrize("resolution, offset", [(10, 7), (30, 11), (60, 0)])
def test_same_crs_reading_picks_the_pixels_warping_picks(
    real_l2a: Path, tmp_path: Path, resolution: int, offset: int
) -> None:
    """Same CRS is read without warping; the result must equal GDAL's nearest-neighbour warp pixel for pixel."""
    with rasterio.open(next(real_l2a.glob("GRANULE/*/IMG_DATA/R20m/*_SCL_20m.jp2"))) as scl:
        window = Window(800, 800, 300, 300)
        codes, transform = scl.read(1, window=window), scl.window_transform(window)
    direct = write_codes(tmp_path / "scl_32629.tif", codes, transform=transform)
    # ETRS89 / UTM 29N: another CRS with the same coordinates, so this one goes through a warped VRT
    warped = write_codes(tmp_path / "scl_25829.tif", codes, transform=transform, crs="EPSG:25829")
    size = 6400 // resolution
    rows, columns = np.indices((size, size))
    mask = write_codes(tmp_path / "mask.tif", (rows // 7 + columns // 5) % 4 + 1,
                        transform=Affine(resolution, 0, transform.c - 200 + offset, 0, -resolution, transform.f + 200 - offset))
    compare_with_scl(mask, direct, tmp_path / "direct.tif")
    compare_with_scl(mask, warped, tmp_path / "warped.tif")
    with rasterio.open(tmp_path / "direct.tif") as a, rasterio.open(tmp_path / "warped.tif") as b:
        direct_codes, warped_codes = a.read(1), b.read(1)
    assert (direct_codes == 0).any() and (direct_codes > 0).mean() > 0.5  # the mask reaches beyond the SCL
    np.testing.assert_array_equal(direct_codes, warped_codes)


# --- the real product ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_masks(real_l2a: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The product's SCL at 20 m and 60 m, and masks made from each by scl_to_mask."""
    folder = tmp_path_factory.mktemp("real")
    paths = {}
    for resolution in (20, 60):
        scl = next(real_l2a.glob(f"GRANULE/*/IMG_DATA/R{resolution}m/*_SCL_{resolution}m.jp2"))
        paths[f"scl{resolution}"] = scl
        with rasterio.open(scl) as dataset:
            codes = scl_to_mask(dataset.read(1))
            path = folder / f"mask{resolution}.tif"
            write_codes(path, codes, transform=dataset.transform, crs=dataset.crs,
                         MODEL=f"scl_to_mask of SCL_{resolution}m", PRODUCT_ID=real_l2a.stem)
        paths[f"mask{resolution}"] = path
    return paths


def test_real_60m_mask_against_20m_scl(real_masks: dict[str, Path], tmp_path: Path) -> None:
    result = compare_with_scl(real_masks["mask60"], real_masks["scl20"], tmp_path / "difference.tif")
    with rasterio.open(real_masks["mask60"]) as mask, rasterio.open(real_masks["scl20"]) as scl:
        mask_codes = mask.read(1)
        # nearest neighbour from 20 m onto 60 m: the 20 m pixel under each 60 m pixel centre
        scl_on_mask = scl.read(1)[1::3, 1::3]
    valid = (mask_codes > 0) & (scl_to_mask(scl_on_mask) > 0)
    assert result.compared_pixels == int(valid.sum()) == int(result.matrix.sum())
    folded = np.zeros((4, 4), dtype=np.int64)
    np.add.at(folded, (mask_codes[valid] - 1, scl_to_mask(scl_on_mask[valid]) - 1), 1)
    np.testing.assert_array_equal(result.folded_matrix, folded)
    ambiguous_columns = [i for i, c in enumerate(result.columns) if c.ambiguous]
    assert result.ambiguous_pixels == int(np.isin(scl_on_mask[valid], list(SCL_AMBIGUOUS)).sum())
    assert result.matrix[:, ambiguous_columns].sum() == result.ambiguous_pixels

    excluded = 1 - result.compared_pixels / mask_codes.size
    assert 0.05 < excluded < 0.09  # the orbit edge's wedge of no data in the crop
    assert 0.98 < result.overall_agreement < 1.0
    assert 0.97 < result.kappa < 1.0
    assert result.compared_area_km2 == pytest.approx(result.compared_pixels * 3600 / 1e6)
    assert result.attribution == "Contains modified Copernicus Sentinel data 2022"


def test_real_20m_mask_against_its_own_scl_agrees_fully(real_masks: dict[str, Path], tmp_path: Path) -> None:
    result = compare_with_scl(real_masks["mask20"], real_masks["scl20"], tmp_path / "difference.tif")
    with rasterio.open(real_masks["scl20"]) as scl:
        histogram = np.bincount(scl.read(1).ravel(), minlength=12)
    assert result.overall_agreement == 1.0
    assert result.agreement_excluding_ambiguous == 1.0
    assert result.kappa == pytest.approx(1.0)
    columns = {c.key: i for i, c in enumerate(result.columns)}
    clear_row = result.matrix[0]
    for key, code in (("dark_area", 2), ("water", 6), ("unclassified", 7), ("snow_or_ice", 11)):
        assert clear_row[columns[key]] == histogram[code]
    assert result.matrix[:, columns["cloud"]].sum() == histogram[8] + histogram[9]
    assert result.compared_pixels == histogram[2:12].sum()
    assert result.difference_pixels[12] == histogram[[2, 6, 7, 11]].sum()


def test_real_60m_scl_onto_a_20m_mask(real_masks: dict[str, Path], tmp_path: Path) -> None:
    result = compare_with_scl(real_masks["mask20"], real_masks["scl60"], tmp_path / "difference.tif")
    with rasterio.open(real_masks["mask20"]) as mask:
        valid = int((mask.read(1) > 0).sum())
    assert 0.98 < result.overall_agreement < 1.0
    # both SCLs share the orbit edge to within a 60 m pixel
    assert abs(result.compared_pixels - valid) < 0.002 * valid


def test_real_masks_against_each_other(real_masks: dict[str, Path], tmp_path: Path) -> None:
    result = compare_masks(real_masks["mask60"], real_masks["mask20"], tmp_path / "difference.tif")
    against_scl = compare_with_scl(real_masks["mask60"], real_masks["scl20"], tmp_path / "scl-difference.tif")
    assert result.matrix.shape == (4, 4)
    # the same pixels and classes: only the ambiguous SCL columns fold into clear
    np.testing.assert_array_equal(result.matrix, against_scl.folded_matrix)
    assert result.overall_agreement == pytest.approx(against_scl.overall_agreement)
    assert result.ambiguous_pixels == 0
    assert result.difference_pixels[12] == 0


def test_streaming_in_small_blocks_gives_the_same_figures(
    real_masks: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = compare_with_scl(real_masks["mask60"], real_masks["scl20"], tmp_path / "whole.tif")
    monkeypatch.setattr(rasters, "BLOCK_PIXELS", 672 * 9)  # rows of the 672 px wide crop at 60 m
    progress: list[float] = []

    class Recorder:
        def progress(self, percent: float, stage: str) -> None:
            progress.append(percent)

        def is_cancelled(self) -> bool:
            return False

        def warn(self, message: str) -> None:
            pass

    blocks = compare_with_scl(real_masks["mask60"], real_masks["scl20"], tmp_path / "blocks.tif", feedback=Recorder())
    np.testing.assert_array_equal(blocks.counts, whole.counts)
    assert len(progress) > 50 and progress == sorted(progress) and progress[-1] == 100.0
    with rasterio.open(tmp_path / "whole.tif") as a, rasterio.open(tmp_path / "blocks.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_l2a_product_as_scl(real_masks: dict[str, Path], real_l2a: Path, tmp_path: Path) -> None:
    pytest.importorskip("s2cloudmask.inference.reading.reader")
    from_product = compare_with_scl(real_masks["mask60"], real_l2a, tmp_path / "product.tif")
    from_file = compare_with_scl(real_masks["mask60"], real_masks["scl20"], tmp_path / "file.tif")
    np.testing.assert_array_equal(from_product.matrix, from_file.matrix)
    assert from_product.reference_kind == "l2a_product"
    from_xml = compare_with_scl(real_masks["mask60"], real_l2a / "MTD_MSIL2A.xml", tmp_path / "xml.tif")
    np.testing.assert_array_equal(from_xml.matrix, from_file.matrix)


# --- failures --------------------------------------------------------------------------------


class CancelAfter:
    def __init__(self, checks: int) -> None:
        self.checks = checks

    def progress(self, percent: float, stage: str) -> None:
        pass

    def is_cancelled(self) -> bool:
        self.checks -= 1
        return self.checks < 0

    def warn(self, message: str) -> None:
        pass


@pytest.mark.parametrize("checks", [0, 1, 2, 3])
def test_cancelled_run_leaves_nothing(real_masks: dict[str, Path], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, checks: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(rasters, "BLOCK_PIXELS", 672 * 300)  # two blocks of the 672 x 560 px crop at 60 m
    with pytest.raises(Cancelled):
        compare_with_scl(real_masks["mask60"], real_masks["scl20"], out / "difference.tif",
                         report=out / "report.html", feedback=CancelAfter(checks))
    assert list(out.iterdir()) == []


def test_mask_with_foreign_codes_is_refused(tmp_path: Path) -> None:
    mask = write_codes(tmp_path / "mask.tif", np.array([[1, 7], [2, 4]]))
    scl = write_codes(tmp_path / "scl.tif", np.array([[4, 4], [4, 4]]))
    with pytest.raises(ProductError, match=r"mask .*mask\.tif holds the value 7, outside the codes 0-4"):
        compare_with_scl(mask, scl, tmp_path / "difference.tif")
    assert not (tmp_path / "difference.tif").exists()
    reference = write_codes(tmp_path / "reference.tif", np.array([[1, 5], [2, 4]]))
    with pytest.raises(ProductError, match=r"reference mask .*reference\.tif holds the value 5"):
        compare_masks(scl, reference, tmp_path / "difference.tif")


def test_a_raster_that_is_no_scl_is_refused(tmp_path: Path) -> None:
    mask = write_codes(tmp_path / "mask.tif", np.array([[1, 1], [2, 4]]))
    band = write_codes(tmp_path / "B04.tif", np.array([[812, 1203], [99, 4000]]) // 20)
    with pytest.raises(ProductError, match=r"SCL .*B04\.tif holds the value \d+, outside the codes 0-11"):
        compare_with_scl(mask, band, tmp_path / "difference.tif")


def test_rasters_that_do_not_overlap(tmp_path: Path) -> None:
    mask = write_codes(tmp_path / "mask.tif", np.ones((3, 3)))
    scl = write_codes(tmp_path / "scl.tif", np.full((3, 3), 4), transform=Affine(10, 0, 600000, 0, -10, 5800000))
    with pytest.raises(ProductError, match=r"mask\.tif and .*scl\.tif do not overlap"):
        compare_with_scl(mask, scl, tmp_path / "difference.tif")
    assert not (tmp_path / "difference.tif").exists()


def test_overlap_without_common_data(tmp_path: Path) -> None:
    mask = write_codes(tmp_path / "mask.tif", np.array([[1, 1], [0, 0]]))
    scl = write_codes(tmp_path / "scl.tif", np.array([[0, 0], [4, 4]]))
    with pytest.raises(ProductError, match="no pixel with data on both sides"):
        compare_with_scl(mask, scl, tmp_path / "difference.tif")
    assert list(tmp_path.glob("*difference*")) == []


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00 not really a tiff")
    scl = write_codes(tmp_path / "scl.tif", np.full((2, 2), 4))
    with pytest.raises(ProductError, match=r"Cannot open the mask .*broken\.tif"):
        compare_with_scl(broken, scl, tmp_path / "difference.tif")
    with pytest.raises(ProductError, match=r"Cannot open the SCL .*missing\.jp2"):
        compare_with_scl(scl, tmp_path / "missing.jp2", tmp_path / "difference.tif")


def test_outputs_are_checked_before_work(tmp_path: Path) -> None:
    mask, scl, _ = constructed_case(tmp_path)
    with pytest.raises(OutputError, match="does not exist"):
        compare_with_scl(mask, scl, tmp_path / "nowhere" / "difference.tif")
    with pytest.raises(OutputError, match=r"report .*report\.txt must be an HTML file"):
        compare_with_scl(mask, scl, tmp_path / "difference.tif", report=tmp_path / "report.txt")
    assert not (tmp_path / "difference.tif").exists()


def test_l1c_product_has_no_scl(tmp_path: Path, test_data: Path) -> None:
    metadata = next((test_data / "sentinel2" / "metadata").glob("L1C_*MTD_MSIL1C.xml"))
    safe = tmp_path / "S2B_MSIL1C_20200101T000000_N0208_R000_T29UNU_20200101T000000.SAFE"
    safe.mkdir()
    (safe / "MTD_MSIL1C.xml").write_bytes(metadata.read_bytes())
    mask = write_codes(tmp_path / "mask.tif", np.ones((2, 2)))
    with pytest.raises(ProductError, match="L1C products have no SCL; choose the matching L2A product or an SCL file"):
        compare_with_scl(mask, safe / "MTD_MSIL1C.xml", tmp_path / "difference.tif")
    with pytest.raises(ProductError, match=r"S2B_MSIL1C_.*\.SAFE is an L1C product"):
        compare_with_scl(mask, safe, tmp_path / "difference.tif")


def test_scl_columns_cover_every_scl_class_once() -> None:
    codes = [code for column in difference.SCL_COLUMNS for code in column.codes]
    assert sorted(codes) == [code for code, target in SCL_TO_MASK.items() if target]
    for column in difference.SCL_COLUMNS:
        assert {SCL_TO_MASK[code] for code in column.codes} == {column.compared_as}
        assert column.ambiguous == all(code in SCL_AMBIGUOUS for code in column.codes)
