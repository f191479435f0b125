"""The synthetic product generator writes products that look, open and read like real Sentinel-2 products."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from s2cloudmask.tools import synthetic_product as sp

from tests.sandbox_env import REPO

SIZE = 240  # 2.4 km: 240 px at 10 m, 120 at 20 m, 40 at 60 m
ORIGIN = (600000.0, 5300040.0)
SCL_CODES = set(range(12))


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"{pattern}: {found}"
    return found[0]


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


@pytest.fixture(scope="module")
def products(tmp_path_factory) -> dict[str, Path]:
    """One product of each kind the tests look at, written once."""
    root = tmp_path_factory.mktemp("synthetic")
    kinds = {
        "l1c": dict(level="L1C", baseline="04.00"),
        "l1c_0209": dict(level="L1C", baseline="02.09"),
        "l2a": dict(level="L2A", baseline="04.00"),
        "l2a_0209": dict(level="L2A", baseline="02.09"),
        "long": dict(layout="long"),
    }
    return {name: sp.write_product(root / name, size=SIZE, seed=3, **kw) for name, kw in kinds.items()}


def _granule(safe: Path) -> Path:
    return _one(safe / "GRANULE", "*")


def _band_files(safe: Path) -> dict[tuple[str, int], Path]:
    """(band, resolution) -> file, from the file names of either layout."""
    files = {}
    for path in (_granule(safe) / "IMG_DATA").rglob("*.jp2"):
        parts = path.stem.split("_")
        band = next((p for p in parts if p in sp.BANDS), None)
        if band is None:
            continue
        res = int(parts[-1][:-1]) if parts[-1].endswith("m") else sp.NATIVE_RESOLUTION[band]
        files[(band, res)] = path
    return files


# --------------------------------------------------------------------------- layout and rasters


def test_compact_l1c_layout(products):
    safe = products["l1c"]
    assert safe.name == "S2B_MSIL1C_20220615T101559_N0400_R065_T32UPC_20220615T122549.SAFE"
    for entry in ("MTD_MSIL1C.xml", "manifest.safe", "DATASTRIP", "AUX_DATA", "HTML", "rep_info"):
        assert (safe / entry).exists(), entry
    granule = _granule(safe)
    assert granule.name == "L1C_T32UPC_A027484_20220615T101752"
    assert (granule / "MTD_TL.xml").is_file()
    names = {p.name for p in (granule / "IMG_DATA").iterdir()}
    assert {f"T32UPC_20220615T101559_{b}.jp2" for b in sp.BANDS} <= names
    qi = {p.name for p in (granule / "QI_DATA").iterdir()}
    assert {f"MSK_DETFOO_{b}.jp2" for b in sp.BANDS} | {"MSK_CLASSI_B00.jp2"} <= qi
    assert (safe.parent / "truth.tif").is_file() and not (safe / "truth.tif").exists()


def test_pre_0400_l1c_has_no_raster_quality_masks(products):
    qi = list((_granule(products["l1c_0209"]) / "QI_DATA").glob("MSK_*.jp2"))
    assert qi == []
    assert "_N0209_" in products["l1c_0209"].name


def test_l2a_layout(products):
    granule = _granule(products["l2a"])
    assert granule.name.startswith("L2A_T32UPC_")
    img = granule / "IMG_DATA"
    expected = {
        10: {"B02", "B03", "B04", "B08", "AOT", "WVP", "TCI"},
        20: {"B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12", "SCL", "AOT", "WVP", "TCI"},
        60: {"B01", "B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B09", "B11", "B12", "SCL", "AOT", "WVP", "TCI"},
    }
    for res, kinds in expected.items():
        names = {p.name for p in (img / f"R{res}m").iterdir()}
        assert names == {f"T32UPC_20220615T101559_{k}_{res}m.jp2" for k in kinds}
    qi = {p.name for p in (granule / "QI_DATA").iterdir()}
    assert {"MSK_CLASSI_B00.jp2", "MSK_CLDPRB_20m.jp2"} <= qi


@pytest.mark.parametrize("kind", ["l1c", "l2a", "long"])
def test_bands_are_georeferenced_lossless_jp2_at_native_resolution(products, kind):
    files = _band_files(products[kind])
    assert {band for band, _ in files} == (set(sp.BANDS) if kind != "l2a" else set(sp.BANDS) - {"B10"})
    for (band, res), path in files.items():
        with rasterio.open(path) as ds:
            assert ds.driver == "JP2OpenJPEG"
            assert ds.crs.to_epsg() == 32632
            assert ds.res == (res, res)
            assert (ds.transform.c, ds.transform.f) == ORIGIN
            assert (ds.width, ds.height) == (SIZE * 10 // res,) * 2
            assert ds.dtypes[0] == "uint16"
            assert ds.tags(ns="IMAGE_STRUCTURE").get("COMPRESSION_REVERSIBILITY") == "LOSSLESS"
        assert _decomposition_levels(path) >= 2, f"{path.name} has no reduced-resolution levels"


def _decomposition_levels(path: Path) -> int:
    """Wavelet decomposition levels from the COD marker segment (GDAL lists overviews only of large images)."""
    data = path.read_bytes()
    cod = data.find(b"\xff\x52", data.find(b"\xff\x4f\xff\x51"))
    return data[cod + 9]


def test_full_size_jp2_uses_1024_pixel_tiles(tmp_path):
    data = (np.arange(2048 * 2048, dtype=np.uint32).reshape(2048, 2048) % 32768).astype(np.uint16)  # 15-bit DN
    path = tmp_path / "b.jp2"
    sp.write_jp2(path, data, ORIGIN, 10.0, sp.JP2_BLOCK[10])
    with rasterio.open(path) as ds:
        assert ds.block_shapes[0] == (1024, 1024)
        assert len(ds.overviews(1)) == 4
        assert np.array_equal(ds.read(1), data)
    assert _decomposition_levels(path) == 4


# --------------------------------------------------------------------------- XML


def _xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def _text(root: ET.Element, path: str) -> str:
    element = root.find(path)
    assert element is not None, path
    return element.text


@pytest.mark.parametrize(
    ("kind", "metadata", "offset_tag", "quantification"),
    [
        ("l1c", "MTD_MSIL1C.xml", "Radiometric_Offset_List/RADIO_ADD_OFFSET", "QUANTIFICATION_VALUE"),
        ("l1c_0209", "MTD_MSIL1C.xml", "Radiometric_Offset_List/RADIO_ADD_OFFSET", "QUANTIFICATION_VALUE"),
        ("l2a", "MTD_MSIL2A.xml", "BOA_ADD_OFFSET_VALUES_LIST/BOA_ADD_OFFSET",
         "QUANTIFICATION_VALUES_LIST/BOA_QUANTIFICATION_VALUE"),
        ("l2a_0209", "MTD_MSIL2A.xml", "BOA_ADD_OFFSET_VALUES_LIST/BOA_ADD_OFFSET",
         "QUANTIFICATION_VALUES_LIST/BOA_QUANTIFICATION_VALUE"),
    ],
)  # fmt: skip
def test_product_metadata(products, kind, metadata, offset_tag, quantification):
    safe = products[kind]
    root = _xml(safe / metadata)
    level = "1C" if kind.startswith("l1c") else "2A"
    assert root.tag == f"{{https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-{level}.xsd}}Level-{level}_User_Product"
    info = root.find("*/Product_Info")
    baseline = "04.00" if "0209" not in kind else "02.09"
    assert _text(info, "PROCESSING_BASELINE") == baseline
    assert _text(info, "PRODUCT_URI") == safe.name
    assert _text(info, "PROCESSING_LEVEL") == f"Level-{level}"
    assert _text(info, "PRODUCT_TYPE") == f"S2MSI{level}"
    assert _text(info, "Datatake/SPACECRAFT_NAME") == "Sentinel-2B"
    assert _text(info, "PRODUCT_START_TIME").startswith("2022-06-15T10:15:59" if baseline == "04.00" else "2020-04-06")
    image_files = [e.text for e in info.iter("IMAGE_FILE")]
    assert image_files and all((safe / (f + ".jp2")).is_file() for f in image_files)

    chars = root.find("*/Product_Image_Characteristics")
    special = {_text(s, "SPECIAL_VALUE_TEXT"): int(_text(s, "SPECIAL_VALUE_INDEX")) for s in chars.iter("Special_Values")}
    assert special == {"NODATA": 0, "SATURATED": 65535}
    assert float(_text(chars, quantification)) == 10000
    offsets = chars.findall(offset_tag)
    if baseline == "04.00":
        assert [int(o.get("band_id")) for o in offsets] == list(range(13))
        assert {int(o.text) for o in offsets} == {-1000}
    else:
        assert offsets == []
    assert len(chars.findall("Reflectance_Conversion/Solar_Irradiance_List/SOLAR_IRRADIANCE")) == 13
    bands = chars.findall("Spectral_Information_List/Spectral_Information")
    assert [b.get("physicalBand") for b in bands][:3] == ["B1", "B2", "B3"]
    assert [int(_text(b, "RESOLUTION")) for b in bands] == [sp.NATIVE_RESOLUTION[b] for b in sp.BANDS]


@pytest.mark.parametrize("kind", ["l1c", "l2a", "long"])
def test_tile_metadata_matches_the_rasters(products, kind):
    granule = _granule(products[kind])
    tile_xml = _one(granule, "*.xml")
    root = _xml(tile_xml)
    geocoding = root.find("*/Tile_Geocoding")
    assert _text(geocoding, "HORIZONTAL_CS_CODE") == "EPSG:32632"
    assert _text(geocoding, "HORIZONTAL_CS_NAME") == "WGS84 / UTM zone 32N"
    for res in (10, 20, 60):
        size = geocoding.find(f"Size[@resolution='{res}']")
        position = geocoding.find(f"Geoposition[@resolution='{res}']")
        assert int(_text(size, "NROWS")) == int(_text(size, "NCOLS")) == SIZE * 10 // res
        assert (float(_text(position, "ULX")), float(_text(position, "ULY"))) == ORIGIN
        assert (int(_text(position, "XDIM")), int(_text(position, "YDIM"))) == (res, -res)
    zenith = float(_text(root, "*/Tile_Angles/Mean_Sun_Angle/ZENITH_ANGLE"))
    assert 20 < zenith < 60
    for mask in root.iter("MASK_FILENAME"):
        assert (products[kind] / mask.text).is_file(), mask.text


def test_l2a_tile_metadata_reports_scl_percentages(products):
    root = _xml(_granule(products["l2a"]) / "MTD_TL.xml")
    qi = root.find("*/Image_Content_QI")
    shares = [float(_text(qi, name)) for name in sp.SCL_QI_NAMES if name]
    nodata = float(_text(qi, "NODATA_PIXEL_PERCENTAGE"))
    assert 0 < nodata < 60
    assert sum(shares) == pytest.approx(100.0, abs=0.01)


def test_manifest_lists_every_file_with_size_and_checksum(products):
    safe = products["l1c"]
    root = _xml(safe / "manifest.safe")
    listed = {}
    for stream in root.iter("byteStream"):
        href = stream.find("fileLocation").get("href")
        listed[href] = (int(stream.get("size")), stream.find("checksum").text)
    files = {"./" + p.relative_to(safe).as_posix() for p in safe.rglob("*") if p.is_file() and p.name != "manifest.safe"}
    assert set(listed) == files
    for href, (size, checksum) in listed.items():
        path = safe / href
        assert path.stat().st_size == size
        assert hashlib.sha3_256(path.read_bytes()).hexdigest() == checksum


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(("kind", "offset"), [("l1c", -1000), ("l1c_0209", 0), ("l2a", -1000), ("l2a_0209", 0)])
def test_dn_is_reflectance_times_10000_minus_offset(products, kind, offset):
    level = "L1C" if kind.startswith("l1c") else "L2A"
    baseline = "02.09" if "0209" in kind else "04.00"
    scene = sp.Scene(SIZE, 3, level, sp.ACQUISITIONS[baseline])
    files = _band_files(products[kind])
    for band, res in (("B02", 10), ("B8A", 20), ("B12", 20), ("B09", 60)):
        dn = _read(files[(band, res)]).astype(np.float64)
        block = scene.render(res, 0, SIZE * 10 // res, (band,))
        valid = block.valid
        reflectance = (dn + offset) / 10000.0
        assert np.abs(reflectance[valid] - block.reflectance[band][valid]).max() <= 0.5e-4 + 1e-7
        assert dn[valid].min() >= (1 if offset == 0 else 1000)


def test_spectra_look_like_sentinel2(products):
    """Clear land is green-red-dark and NIR-bright; thick cloud is bright and white; shadow is dark in NIR."""
    files = _band_files(products["l1c"])
    truth = _read(products["l1c"].parent / "truth.tif")
    refl = {b: (_read(files[(b, 10)]).astype(float) - 1000) / 10000 for b in ("B02", "B03", "B04", "B08")}
    clear, cloud, shadow = truth == 1, truth == 4, truth == 2
    assert clear.any() and cloud.any() and shadow.any()
    assert np.median(refl["B08"][clear]) > 2 * np.median(refl["B04"][clear])
    for band in ("B02", "B03", "B04", "B08"):
        assert 0.3 < np.median(refl[band][cloud]) < 0.8
    assert np.median(refl["B08"][shadow]) < 0.5 * np.median(refl["B08"][clear])
    cirrus_file = files[("B10", 60)]
    b10 = (_read(cirrus_file).astype(float) - 1000) / 10000
    thin60 = truth[::6, ::6] == 3
    assert np.median(b10[thin60]) > 3 * np.median(b10[truth[::6, ::6] == 1])


@pytest.mark.parametrize("kind", ["l1c", "l2a", "l1c_0209", "long"])
def test_no_data_wedge_is_zero_in_every_band(products, kind):
    nodata10 = _read(products[kind].parent / "truth.tif") == 0
    assert 0.02 < nodata10.mean() < 0.5
    # the wedge is a slanted orbit edge: its share grows from top to bottom or bottom to top, never constant
    per_row = nodata10.mean(axis=1)
    assert per_row[0] != per_row[-1]
    for (band, res), path in _band_files(products[kind]).items():
        step = res // 10
        expected = nodata10[::step, ::step]
        assert np.array_equal(_read(path) == 0, expected), f"{path.name}: zeros differ from the no-data wedge"


def test_l2a_scl_codes_follow_the_truth(products):
    granule = _granule(products["l2a"])
    scl = _read(_one(granule / "IMG_DATA" / "R20m", "*_SCL_20m.jp2"))
    truth20 = sp.Scene(SIZE, 3, "L2A", sp.ACQUISITIONS["04.00"]).render(20, 0, SIZE // 2, ()).truth()
    assert set(np.unique(scl)) <= SCL_CODES
    assert np.array_equal(scl == 0, truth20 == 0)
    cloud = truth20 == 4
    assert np.isin(scl[cloud], (8, 9)).mean() > 0.8
    shadow = truth20 == 2
    assert np.isin(scl[shadow], (2, 3)).all()
    assert (scl[shadow] == 2).any() and (scl[shadow] == 3).any()
    clear = truth20 == 1
    assert np.isin(scl[clear], (4, 5, 6)).mean() > 0.95
    scl60 = _read(_one(granule / "IMG_DATA" / "R60m", "*_SCL_60m.jp2"))
    assert np.array_equal(scl60, scl[1::3, 1::3])
    with rasterio.open(granule / "QI_DATA" / "MSK_CLASSI_B00.jp2") as ds:
        assert (ds.count, ds.res, ds.dtypes[0]) == (3, (60.0, 60.0), "uint8")
        opaque, cirrus, snow = ds.read()
    block60 = sp.Scene(SIZE, 3, "L2A", sp.ACQUISITIONS["04.00"]).render(60, 0, SIZE // 6, ())
    assert np.array_equal(opaque.astype(bool), block60.truth() == 4)
    assert np.array_equal(cirrus.astype(bool), (block60.cirrus >= 0.35) & (block60.truth() != 4))
    assert cirrus.any() and not snow.any()


def test_generation_is_deterministic(tmp_path):
    first = sp.write_product(tmp_path / "a", level="L2A", size=120, seed=9, extras=False)
    second = sp.write_product(tmp_path / "b", level="L2A", size=120, seed=9, extras=False)
    other = sp.write_product(tmp_path / "c", level="L2A", size=120, seed=10, extras=False)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    assert _read(tmp_path / "a" / "truth.tif").tobytes() == _read(tmp_path / "b" / "truth.tif").tobytes()
    band = next(rel for rel in files if rel.name.endswith("_B04_10m.jp2"))
    assert not np.array_equal(_read(first / band), _read(other / band))


# --------------------------------------------------------------------------- layouts, zip, breakage


def test_long_layout_names(products):
    safe = products["long"]
    assert safe.name.startswith("S2A_OPER_PRD_MSIL1C_PDMC_") and "_V2016" in safe.name
    metadata = _one(safe, "S2A_OPER_MTD_SAFL1C_PDMC_*.xml")
    root = _xml(metadata)
    assert root.tag.endswith("Level-1C_User_Product")
    assert _text(root, "*/Product_Info/PROCESSING_BASELINE") == "02.04"
    assert root.find("*/Product_Image_Characteristics/Radiometric_Offset_List") is None
    granule = _granule(safe)
    assert granule.name.startswith("S2A_OPER_MSI_L1C_TL_") and granule.name.endswith("_T32UPC_N02.04")
    assert (granule / "IMG_DATA" / (granule.name[: -len("_N02.04")] + "_B02.jp2")).is_file()
    ids = [e.text for e in root.iter("IMAGE_ID")]
    assert len(ids) == 13 and all((granule / "IMG_DATA" / f"{i}.jp2").is_file() for i in ids)


def test_long_layout_with_two_granules(tmp_path):
    safe = sp.write_product(tmp_path, layout="long", granules=2, size=120, seed=1)
    granules = sorted(p.name for p in (safe / "GRANULE").iterdir())
    assert [g.split("_")[-2] for g in granules] == ["T32UPC", "T32UQC"]
    root = _xml(_one(safe, "S2A_OPER_MTD_SAFL1C_*.xml"))
    assert len(root.findall("*/Product_Info/Product_Organisation/Granule_List/Granules")) == 2
    with rasterio.open(_one(safe / "GRANULE" / granules[1] / "IMG_DATA", "*_B02.jp2")) as ds:
        assert ds.transform.c == 699960.0


@pytest.mark.parametrize(
    "kwargs",
    [dict(layout="long", level="L2A"), dict(layout="long", baseline="04.00"), dict(granules=2),
     dict(baseline="02.04"), dict(size=100), dict(level="L1B")],
)  # fmt: skip
def test_impossible_products_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        sp.write_product(tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_zip_holds_the_safe_folder_and_reads_through_vsizip(tmp_path):
    archive = sp.write_product(tmp_path, level="L2A", size=120, seed=2, zip_output=True, extras=False)
    assert archive.suffix == ".zip" and archive.parent == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name, "truth.tif", "truth.tif.aux.xml"]
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    safe_name = archive.stem + ".SAFE"
    assert all(n.startswith(safe_name + "/") for n in names)
    assert f"{safe_name}/MTD_MSIL2A.xml" in names and f"{safe_name}/rep_info/" in names
    member = next(n for n in names if n.endswith("_B04_10m.jp2"))
    with rasterio.open(f"/vsizip/{archive}/{member}") as ds:
        assert ds.read(1).any()


def test_truncated_and_corrupt_jp2_fail_to_read(tmp_path):
    safe = sp.write_product(tmp_path, size=120, seed=4, extras=False)
    files = _band_files(safe)
    corrupt = sp.corrupt_jp2(files[("B02", 10)])
    with pytest.raises(rasterio.errors.RasterioIOError):
        with rasterio.open(corrupt) as ds:
            ds.read(1)
    truncated = files[("B03", 10)]
    size = truncated.stat().st_size
    sp.truncate_file(truncated, 0.5)
    assert truncated.stat().st_size == size // 2
    with pytest.raises(rasterio.errors.RasterioIOError):
        with rasterio.open(truncated) as ds:
            ds.read(1)
    with rasterio.open(files[("B04", 10)]) as ds:  # the others are untouched
        assert ds.read(1).any()


def test_zip_product_of_an_existing_folder(tmp_path, products):
    archive = sp.zip_product(products["l1c"], tmp_path / "copy.zip")
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        assert f"{products['l1c'].name}/manifest.safe" in zf.namelist()


def test_command_line_prints_the_product_path(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tools.synthetic_product", "--level", "L1C", "--baseline", "02.09",
         "--size", "120", "--seed", "5", "--out", str(tmp_path), "--lean"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    path = Path(result.stdout.strip())
    assert path == tmp_path / sp.product_name("L1C", "02.09")
    assert (path / "MTD_MSIL1C.xml").is_file()
    assert not list(path.rglob("*_TCI.jp2"))


# --------------------------------------------------------------------------- a real cloud model agrees


@pytest.mark.slow
def test_csmask_recognises_the_clouds_and_shadows(tmp_path):
    """The DLR U-Net of ukis-csmask, run at 30 m on a 15 km scene, finds the generator's clouds and shadows."""
    mask_module = pytest.importorskip("ukis_csmask.mask")
    safe = sp.write_product(tmp_path, level="L1C", size=1536, seed=3, extras=False)
    files = _band_files(safe)
    n = 1536 // 3
    bands = []
    for band, res in (("B02", 10), ("B03", 10), ("B04", 10), ("B08", 10), ("B11", 20), ("B12", 20)):
        with rasterio.open(files[(band, res)]) as ds:
            bands.append((ds.read(1, out_shape=(n, n), resampling=Resampling.average) - 1000.0) / 10000.0)
    image = np.dstack(bands).astype(np.float32)
    with rasterio.open(tmp_path / "truth.tif") as ds:
        truth = ds.read(1, out_shape=(n, n), resampling=Resampling.mode)
    model = mask_module.CSmask(image, band_order=["blue", "green", "red", "nir", "swir16", "swir22"],
                               product_level="l1c", intra_op_num_threads=2)  # fmt: skip
    predicted = model.csm[..., 0]  # 0 clear, 1 cloud, 2 shadow
    assert (predicted[truth == 4] == 1).mean() > 0.85
    assert (predicted[truth == 2] == 2).mean() > 0.6
    assert (predicted[truth == 1] == 0).mean() > 0.85


# --------------------------------------------------------------------------- the project's reader opens them


@pytest.fixture(scope="module")
def reader_api():
    product = pytest.importorskip("s2cloudmask.inference.reading.product")
    reader = pytest.importorskip("s2cloudmask.inference.reading.reader")
    return product, reader


@pytest.mark.parametrize(
    ("kind", "level", "zipped"),
    [("l1c", "L1C", False), ("l1c_0209", "L1C", False), ("l2a", "L2A", False), ("long", "L1C", False),
     ("l1c", "L1C", True), ("l2a", "L2A", True), ("long", "L1C", True)],
)  # fmt: skip
def test_open_product_reads_synthetic_products(products, tmp_path, reader_api, kind, level, zipped):
    product_module, reader_module = reader_api
    safe = products[kind]
    path = sp.zip_product(safe, tmp_path / (safe.stem + ".zip")) if zipped else safe
    product = product_module.open_product(path)
    baseline = "02.04" if kind == "long" else ("02.09" if "0209" in kind else "04.00")
    offset = -1000 if baseline == "04.00" else 0
    assert (product.level, product.processing_baseline, product.tile_id) == (level, baseline, "32UPC")
    assert set(product.offsets.values()) == {offset}
    assert (product.nodata_value, product.saturated_value, product.quantification) == (0, 65535, 10000)
    assert product.crs == "EPSG:32632"
    grid = product.grids[20]
    assert (grid.width, grid.height, grid.transform.c, grid.transform.f) == (SIZE // 2, SIZE // 2, *ORIGIN)

    scene = sp.Scene(SIZE, 3, level, sp.ACQUISITIONS[baseline])
    expected = scene.render(20, 0, SIZE // 2, ("B8A", "B11"))
    with reader_module.ProductReader(product, ["B8A", "B11"], grid) as reader:
        block = reader.read()
    assert np.array_equal(block.valid, expected.valid)
    for i, band in enumerate(("B8A", "B11")):
        difference = block.data[i][expected.valid] - expected.reflectance[band][expected.valid]
        assert np.abs(difference).max() <= 0.5e-4 + 1e-6
    if level == "L2A":
        scl = reader_module.read_scl(product, grid)
        assert np.array_equal(scl, _read(_one(_granule(safe) / "IMG_DATA" / "R20m", "*_SCL_20m.jp2")))


def test_open_product_refuses_a_multi_tile_long_product(tmp_path, reader_api):
    product_module, _ = reader_api
    from s2cloudmask.inference.errors import ProductError

    safe = sp.write_product(tmp_path, layout="long", granules=2, size=120, seed=1)
    with pytest.raises(ProductError):
        product_module.open_product(safe)


def test_the_generator_runs_as_a_script_from_anywhere(tmp_path):
    """`/usr/bin/python3 tools/synthetic_product.py --help`, as its docstring shows it, from any folder."""
    script = Path(__file__).resolve().parents[2] / "tools" / "synthetic_product.py"
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--level" in done.stdout and "--out" in done.stdout


def test_a_series_is_one_surface_under_each_dates_own_clouds(tmp_path):
    folder = sp.write_series(tmp_path / "series", dates=3, size=240, seed=4)
    series = sp.read_series(folder)
    assert [entry["date"] for entry in series["dates"]] == ["2022-05-02", "2022-05-07", "2022-05-12"]
    assert len({entry["product_id"] for entry in series["dates"]}) == 3
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [entry["product"].name for entry in series["dates"]] + ["series.json", "surface.tif", "truth"])
    with rasterio.open(series["surface"]) as dataset:
        surface = dataset.read(sp.SURFACE_BANDS.index("B05") + 1)
        assert dataset.descriptions == sp.SURFACE_BANDS and dataset.res == (20.0, 20.0)
    truths, b05 = [], []
    for entry in series["dates"]:
        truth = _read(entry["truth"])
        truths.append(truth)
        clear20 = (truth.reshape(120, 2, 120, 2) == sp.TRUTH_CLEAR).all(axis=(1, 3))
        dn = _read(_one(entry["product"], "GRANULE/*/IMG_DATA/R20m/*_B05_20m.jp2")).astype(np.float64)
        reflectance = (dn - 1000.0) / 10000.0
        b05.append(reflectance)
        # where the truth is clear, the product shows the one surface (a thin haze of cirrus at most)
        assert np.median(np.abs(reflectance[clear20] - surface[clear20])) < 1e-4
    assert not np.array_equal(truths[0], truths[1]) and not np.array_equal(truths[1], truths[2])
    cloudy = [(t >= sp.TRUTH_THIN).mean() for t in truths]
    assert cloudy[1] == max(cloudy)  # thick-cloud covers of SERIES_CLOUD_COVERS in turn: 30 %, 55 %, 15 %
    valid = (truths[0] > 0).reshape(120, 2, 120, 2).all(axis=(1, 3))
    assert np.isnan(surface[~valid]).all() and np.isfinite(surface[valid]).all()
