"""Metadata parsing and DN -> reflectance on real product metadata (../shared/data/sentinel2)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import rasterio
from s2cloudmask.inference.errors import ProductError
from s2cloudmask.inference.reading.metadata import (
    BAND_IDS,
    ProductMetadata,
    TileMetadata,
    baseline_tuple,
    parse_metadata,
    parse_product_metadata,
    parse_tile_metadata,
    parse_time,
    to_reflectance,
)

# Expectations read from the files themselves (PROCESSING_BASELINE, SPACECRAFT_NAME, QUANTIFICATION_VALUE /
# BOA_QUANTIFICATION_VALUE, RADIO_ADD_OFFSET / BOA_ADD_OFFSET, Special_Values): every one of them has
# quantification 10000, NODATA 0 and SATURATED 65535; those from baseline 04.00 on list -1000 for all 13 bands,
# the older ones list no offset at all.
PRODUCT_XMLS = {
    "L1C_N0204_S2A_20170226_T32TNM_MTD_MSIL1C.xml": ("L1C", "02.04", "Sentinel-2A", "32TNM", 0.0),
    "L1C_N0209_S2A_20200717_T01LAC_MTD_MSIL1C.xml": ("L1C", "02.09", "Sentinel-2A", "01LAC", 0.0),
    "L1C_N0209_S2B_20200406_T32UPC_MTD_MSIL1C.xml": ("L1C", "02.09", "Sentinel-2B", "32UPC", 0.0),
    "L1C_N0301_S2A_20210908_T46RER_MTD_MSIL1C.xml": ("L1C", "03.01", "Sentinel-2A", "46RER", 0.0),
    "L1C_N0400_S2B_20220615_T32UPC_MTD_MSIL1C.xml": ("L1C", "04.00", "Sentinel-2B", "32UPC", -1000.0),
    "L1C_N0509_S2B_20230601_T34UDD_MTD_MSIL1C.xml": ("L1C", "05.09", "Sentinel-2B", "34UDD", -1000.0),
    "L1C_N0510_S2A_20240101_T30NWM_MTD_MSIL1C.xml": ("L1C", "05.10", "Sentinel-2A", "30NWM", -1000.0),
    "L2A_N0212_S2A_20190212_T07HFE_MTD_MSIL2A.xml": ("L2A", "02.12", "Sentinel-2A", "07HFE", 0.0),
    "L2A_N0214_S2B_20210122_T22HBD_MTD_MSIL2A.xml": ("L2A", "02.14", "Sentinel-2B", "22HBD", 0.0),
    "L2A_N0400_S2B_20220413_T33XWJ_MTD_MSIL2A.xml": ("L2A", "04.00", "Sentinel-2B", "33XWJ", -1000.0),
    "L2A_N0509_S2A_20230821_T01KAB_MTD_MSIL2A.xml": ("L2A", "05.09", "Sentinel-2A", "01KAB", -1000.0),
    "L2A_N0510_S2B_20231217_T21JUK_MTD_MSIL2A.xml": ("L2A", "05.10", "Sentinel-2B", "21JUK", -1000.0),
}

# From each MTD_TL.xml: TILE_ID's tile and _Nxx.yy, HORIZONTAL_CS_CODE, the 10 m Geoposition ULX/ULY.
TILE_XMLS = {
    "L1C_N0204_S2A_20170226_T32TNM_MTD_TL.xml": ("L1C", "32TNM", "02.04", "EPSG:32632", 499980.0, 4700040.0),
    "L1C_N0209_S2A_20200717_T01LAC_MTD_TL.xml": ("L1C", "01LAC", "02.09", "EPSG:32701", 99960.0, 8300020.0),
    "L1C_N0301_S2A_20210908_T46RER_MTD_TL.xml": ("L1C", "46RER", "03.01", "EPSG:32646", 499980.0, 3100020.0),
    "L2A_N0212_S2A_20190212_T07HFE_MTD_TL.xml": ("L2A", "07HFE", "02.12", "EPSG:32707", 600000.0, 6500020.0),
    "L2A_N0400_S2B_20220413_T33XWJ_MTD_TL.xml": ("L2A", "33XWJ", "04.00", "EPSG:32633", 499980.0, 8900040.0),
    "L2A_N0509_S2A_20230821_T01KAB_MTD_TL.xml": ("L2A", "01KAB", "05.09", "EPSG:32701", 99960.0, 8200000.0),
}

OFFSET_FIXTURES = {
    # product id: offset expected in its MTD
    "S2B_MSIL1C_20200406T101559_N0209_R065_T32UPC_20200406T130159": 0.0,
    "S2B_MSIL1C_20220615T101559_N0400_R065_T32UPC_20220615T122549": -1000.0,
}


@pytest.fixture(scope="module")
def metadata_dir(test_data: Path) -> Path:
    return test_data / "sentinel2" / "metadata"


def test_every_metadata_file_is_covered(metadata_dir: Path):
    names = sorted(path.name for path in metadata_dir.glob("*.xml"))
    assert len(names) == 18
    assert set(names) == set(PRODUCT_XMLS) | set(TILE_XMLS)
    for name in names:
        parsed = parse_metadata((metadata_dir / name).read_bytes(), name)
        assert parsed.level == name[:3]
        assert isinstance(parsed, TileMetadata if name.endswith("_MTD_TL.xml") else ProductMetadata)


@pytest.mark.parametrize("name", sorted(PRODUCT_XMLS))
def test_product_metadata(metadata_dir: Path, name: str):
    level, baseline, satellite, tile, offset = PRODUCT_XMLS[name]
    meta = parse_product_metadata((metadata_dir / name).read_bytes(), name)
    assert meta.level == level
    assert meta.product_type == ("S2MSI1C" if level == "L1C" else "S2MSI2A")
    assert meta.processing_baseline == baseline
    assert meta.satellite == satellite
    assert meta.tile_id == tile
    assert meta.quantification == 10000.0
    assert set(meta.offsets) == set(BAND_IDS)
    assert set(meta.offsets.values()) == {offset}
    assert meta.offsets_in_xml == (offset != 0.0)
    assert (meta.nodata_value, meta.saturated_value) == (0, 65535)
    assert meta.product_id.startswith(f"S2{satellite[-1]}_MSI{level}_")
    assert meta.product_id[-15:-7].isdigit()
    assert meta.sensing_time.tzinfo is not None
    assert meta.sensing_time.strftime("%Y%m%d") == name.split("_")[3]
    assert meta.warnings == ()
    assert len(meta.granule_identifiers) == 1
    files = meta.granules[0].image_files
    assert any(f.endswith("_B02") or f.endswith("_B02_10m") or f.endswith("_B02_20m") for f in files)


def test_baseline_04_offsets_differ_from_older(metadata_dir: Path):
    """The point of it all: N0400+ products carry -1000 in the XML, older ones nothing."""
    for name, (_, baseline, _, _, offset) in PRODUCT_XMLS.items():
        text = (metadata_dir / name).read_text(encoding="utf-8")
        tag = "RADIO_ADD_OFFSET" if name.startswith("L1C") else "BOA_ADD_OFFSET"
        assert (f"<{tag} band_id=" in text) == (baseline_tuple(baseline) >= (4, 0))
        assert (offset == -1000.0) == (baseline_tuple(baseline) >= (4, 0))


@pytest.mark.parametrize("name", sorted(TILE_XMLS))
def test_tile_metadata(metadata_dir: Path, name: str):
    level, tile, baseline, crs, ulx, uly = TILE_XMLS[name]
    meta = parse_tile_metadata((metadata_dir / name).read_bytes(), name)
    assert (meta.level, meta.tile_id, meta.processing_baseline, meta.crs) == (level, tile, baseline, crs)
    assert meta.sizes == {10: (10980, 10980), 20: (5490, 5490), 60: (1830, 1830)}
    for res in (10, 20, 60):
        assert meta.geopositions[res] == (ulx, uly, float(res), float(-res))
        assert tuple(meta.transform(res)) == (res, 0.0, ulx, 0.0, -res, uly, 0.0, 0.0, 1.0)
    assert meta.sensing_time is not None and meta.sensing_time.year >= 2017
    assert meta.masks, "MASK_FILENAME entries are listed"


def test_real_l2a_metadata(real_l2a: Path):
    meta = parse_product_metadata((real_l2a / "MTD_MSIL2A.xml").read_bytes(), "MTD_MSIL2A.xml")
    assert meta.product_id == real_l2a.name[:-5]
    assert (meta.level, meta.processing_baseline, meta.quantification) == ("L2A", "04.00", 10000.0)
    assert set(meta.offsets.values()) == {-1000.0}
    assert meta.sensing_time == datetime(2022, 10, 5, 11, 54, 11, 24000, tzinfo=timezone.utc)
    tile_xml = next((real_l2a / "GRANULE").glob("*/MTD_TL.xml"))
    tile = parse_tile_metadata(tile_xml.read_bytes(), str(tile_xml))
    assert (tile.tile_id, tile.crs, tile.processing_baseline) == ("29UNU", "EPSG:32629", "04.00")
    types = {mask.type for mask in tile.masks}
    assert {"MSK_CLASSI", "MSK_CLDPRB", "MSK_DETFOO", "MSK_QUALIT"} <= types


# --------------------------------------------------------------------------- DN -> reflectance


@pytest.mark.parametrize("product_id", sorted(OFFSET_FIXTURES))
def test_offset_fixtures_reproduce_toa(test_data: Path, product_id: str):
    """The real 13-band DN crops and their expected TOA reflectance, either side of baseline 04.00.

    The stacks hold the 13 bands in product order B01..B08, B8A, B09, B10, B11, B12 (band 11 of
    the N0400 stack is B10, DN ~1010, i.e. reflectance ~0.001 once the -1000 offset is applied).
    """
    folder = test_data / "sentinel2" / "offset-fixtures"
    meta = parse_product_metadata((folder / f"{product_id}_MTD.xml").read_bytes(), f"{product_id}_MTD.xml")
    assert meta.product_id == product_id
    assert set(meta.offsets.values()) == {OFFSET_FIXTURES[product_id]}
    with rasterio.open(folder / f"{product_id}.tif") as dataset:
        assert dataset.count == 13
        dn = dataset.read()
    with rasterio.open(folder / f"{product_id}_toa.tif") as dataset:
        expected = dataset.read()
    toa = to_reflectance(dn, list(BAND_IDS), meta)
    assert toa.dtype == np.float32 and toa.shape == dn.shape
    np.testing.assert_allclose(toa, expected, atol=1e-4, rtol=0)
    if OFFSET_FIXTURES[product_id]:
        # Forgetting the offset shifts every band by 0.1: the failure this guards against.
        assert np.abs(dn / 10000.0 - expected).min() > 0.099


def test_to_reflectance_shapes_and_bands():
    class Meta:
        offsets = {band: -1000.0 for band in BAND_IDS}
        quantification = 10000.0

    dn = np.array([[[1000, 2000], [11000, 0]]], dtype=np.uint16)
    out = to_reflectance(dn, ["B02"], Meta)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2)
    np.testing.assert_allclose(out[0], [[0.0, 0.1], [1.0, -0.1]], atol=1e-7)
    single = to_reflectance(dn[0], ["B02"], Meta)
    assert single.shape == (2, 2)
    two = to_reflectance(np.stack([dn[0], dn[0] + 5]), ["B02", "B8A"], Meta)
    assert two.shape == (2, 2, 2)
    fractional = to_reflectance(np.array([[1500.5]]), ["B02"], Meta)
    assert fractional[0, 0] == pytest.approx(0.05005, abs=1e-7)
    with pytest.raises(ValueError):
        to_reflectance(dn, ["B02", "B03"], Meta)
    with pytest.raises(ValueError):
        to_reflectance(dn, ["B13"], Meta)


# --------------------------------------------------------------------------- bad metadata


def _real_l1c(test_data: Path) -> str:
    return (test_data / "sentinel2" / "metadata" / "L1C_N0400_S2B_20220615_T32UPC_MTD_MSIL1C.xml").read_text(encoding="utf-8")


def test_syntax_error_names_the_file(test_data: Path):
    text = _real_l1c(test_data)
    broken = text.replace("</PROCESSING_BASELINE>", "</PROCESSING_BASELIN>", 1)
    with pytest.raises(ProductError, match=r"broken/MTD_MSIL1C.xml is not valid XML.*download it again"):
        parse_metadata(broken.encode(), "broken/MTD_MSIL1C.xml")
    with pytest.raises(ProductError, match="is empty"):
        parse_metadata(b"  \n", "empty/MTD_MSIL1C.xml")
    with pytest.raises(ProductError, match="not valid XML"):
        parse_metadata(text.encode()[: len(text) // 2], "half/MTD_MSIL1C.xml")


@pytest.mark.parametrize(
    "xml, pattern",
    [
        ("<LANDSAT_METADATA_FILE><PRODUCT_CONTENTS/></LANDSAT_METADATA_FILE>", "Landsat metadata"),
        ('<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" version="esa/safe/sentinel-1.0/sentinel-1/sar/level-1/slc">'
         "<informationPackageMap/></xfdu:XFDU>", "Sentinel-1"),
        ("<product><adsHeader><missionId>S1A</missionId></adsHeader></product>", "Sentinel-1"),
        ('<n1:Level-1B_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1B.xsd"/>',
         "Level-1B"),
        ("<Level-3_User_Product><General_Info/></Level-3_User_Product>", "Level-3"),
        ('<n1:Level-1C_DataStrip_ID xmlns:n1="x"/>', "datastrip metadata"),
        ("<html><body>Not found</body></html>", r"root element is <html>"),
    ],
)
def test_other_missions_and_levels_are_refused(xml: str, pattern: str):
    with pytest.raises(ProductError, match=pattern):
        parse_metadata(xml.encode(), "some.xml")


def test_level_and_type_must_agree(test_data: Path):
    text = _real_l1c(test_data).replace("<PRODUCT_TYPE>S2MSI1C</PRODUCT_TYPE>", "<PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>")
    with pytest.raises(ProductError, match="type S2MSI2A"):
        parse_metadata(text.encode(), "MTD_MSIL1C.xml")


def test_missing_quantification_is_an_error(test_data: Path):
    text = _real_l1c(test_data).replace("QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE_GONE")
    with pytest.raises(ProductError, match="QUANTIFICATION_VALUE"):
        parse_metadata(text.encode(), "MTD_MSIL1C.xml")


def test_missing_offsets_after_04_are_assumed_with_a_warning(test_data: Path):
    text = re.sub(r"<Radiometric_Offset_List>.*?</Radiometric_Offset_List>", "", _real_l1c(test_data), flags=re.S)
    meta = parse_product_metadata(text.encode(), "MTD_MSIL1C.xml")
    assert set(meta.offsets.values()) == {-1000.0}
    assert not meta.offsets_in_xml
    assert any("RADIO_ADD_OFFSET" in warning for warning in meta.warnings)


def test_special_values_come_from_the_xml(test_data: Path):
    text = _real_l1c(test_data).replace(
        "<SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>", "<SPECIAL_VALUE_INDEX>32767</SPECIAL_VALUE_INDEX>"
    )
    meta = parse_product_metadata(text.encode(), "MTD_MSIL1C.xml")
    assert meta.saturated_value == 32767 and meta.nodata_value == 0


def test_parse_time_and_baseline():
    assert parse_time("2022-10-05T11:54:11.024Z") == datetime(2022, 10, 5, 11, 54, 11, 24000, tzinfo=timezone.utc)
    assert parse_time("2020-07-17T22:20:29.740125Z").microsecond == 740125
    assert parse_time("2020-07-17T22:20:29.7401259Z").microsecond == 740125
    assert parse_time("2020-07-17T22:20:29") == datetime(2020, 7, 17, 22, 20, 29, tzinfo=timezone.utc)
    assert parse_time("yesterday") is None
    assert baseline_tuple("04.00") == (4, 0) and baseline_tuple("N0509") == (5, 9) and baseline_tuple(None) == (0, 0)


# --------------------------------------------------------------------------- numbers that must not be believed


def _real_product_mtd(real_l2a: Path) -> str:
    return (real_l2a / "MTD_MSIL2A.xml").read_text(encoding="utf-8")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e-300", "0", "-10000", "1e309"])
def test_a_quantification_that_is_not_believable_is_refused_by_name(real_l2a: Path, value: str):
    """A NaN or 1e-300 quantification used to give a confident 0 % cloud where the truth is 53 %."""
    text = _real_product_mtd(real_l2a).replace(
        '<BOA_QUANTIFICATION_VALUE unit="none">10000<', f'<BOA_QUANTIFICATION_VALUE unit="none">{value}<')
    with pytest.raises(ProductError, match=r"MTD_MSIL2A\.xml gives BOA_QUANTIFICATION_VALUE = .*outside 1 to 1e\+06"):
        parse_product_metadata(text, "MTD_MSIL2A.xml")


@pytest.mark.parametrize("value", ["nan", "inf", "-1e9"])
def test_an_offset_that_is_not_believable_is_refused_by_name(real_l2a: Path, value: str):
    text = _real_product_mtd(real_l2a).replace('<BOA_ADD_OFFSET band_id="3">-1000<', f'<BOA_ADD_OFFSET band_id="3">{value}<')
    with pytest.raises(ProductError, match=r"gives BOA_ADD_OFFSET \(band_id 3\) = .*download it again"):
        parse_product_metadata(text, "MTD_MSIL2A.xml")


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "65536", "1e30", "12.5"])
def test_a_special_value_that_is_no_digital_number_is_refused_without_a_traceback(real_l2a: Path, value: str):
    """<SPECIAL_VALUE_INDEX>inf</SPECIAL_VALUE_INDEX> used to raise OverflowError."""
    text = _real_product_mtd(real_l2a).replace("<SPECIAL_VALUE_INDEX>0<", f"<SPECIAL_VALUE_INDEX>{value}<")
    with pytest.raises(ProductError, match=r"SPECIAL_VALUE_INDEX of NODATA"):
        parse_product_metadata(text, "MTD_MSIL2A.xml")


@pytest.mark.parametrize(("element", "value", "named"), [
    ("ULX", "nan", "ULX of the 10 m Geoposition"),
    ("ULY", "inf", "ULY of the 10 m Geoposition"),
    ("XDIM", "0", "XDIM of the 10 m Geoposition"),
    ("YDIM", "10", "YDIM of the 10 m Geoposition"),
    ("NROWS", "0", "NROWS of the 10 m Size"),
    ("NCOLS", "99999999", "NCOLS of the 10 m Size"),
])
def test_tile_geometry_that_is_not_believable_is_refused_by_name(real_l2a: Path, element: str, value: str, named: str):
    """A NaN ULX used to be reported as 'the extent does not overlap'."""
    path = next(real_l2a.glob("GRANULE/*/MTD_TL.xml"))
    text = path.read_text(encoding="utf-8")
    first = text.index(f"<{element}>")
    end = text.index(f"</{element}>", first)
    text = text[:first] + f"<{element}>{value}" + text[end:]
    with pytest.raises(ProductError, match=rf"MTD_TL\.xml gives {named} = "):
        parse_tile_metadata(text, "MTD_TL.xml")


def test_an_unknown_encoding_is_a_product_error(real_l2a: Path):
    text = _real_product_mtd(real_l2a).replace('encoding="UTF-8"', 'encoding="B02"', 1)
    assert 'encoding="B02"' in text
    with pytest.raises(ProductError, match="is not valid XML"):
        parse_product_metadata(text.encode("utf-8"), "MTD_MSIL2A.xml")


def test_an_impossible_sensing_date_is_no_date():
    assert parse_time("2022-13-45T25:61:61.000Z") is None


def test_a_size_with_hundreds_of_digits_is_refused_without_a_traceback(real_l2a: Path):
    path = next(real_l2a.glob("GRANULE/*/MTD_TL.xml"))
    text = re.sub(r"<NROWS>\d+<", f"<NROWS>{'9' * 400}<", path.read_text(encoding="utf-8"), count=1)
    with pytest.raises(ProductError, match=r"NROWS of the 10 m Size = 9{37}\.\.\., outside"):
        parse_tile_metadata(text, "MTD_TL.xml")
