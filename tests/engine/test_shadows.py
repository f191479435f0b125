"""The cloud-shadow check: geometry on constructed clouds with known sun angles, spectral tests, streaming.

The scenes are small arrays on a 30 m grid, with the sun due south at 45
degrees and the satellite at nadir: a cloud at height h throws its shadow h
metres due north, so with cloud tops of 0.2-12 km its shadow can fall from 7
to 400 pixels north of it, and nowhere else.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from s2cloudmask.inference.classes import CLEAR, CLOUD, CLOUD_SHADOW, NODATA, SEMI_TRANSPARENT
from s2cloudmask.inference.errors import BandError, ProductError
from s2cloudmask.inference.grid import Grid
from s2cloudmask.inference.masking.codes import CodeBlock
from s2cloudmask.inference.masking.engine import mask_product
from s2cloudmask.inference.masking.poststeps import apply_post_steps
from s2cloudmask.inference.masking.shadows import (
    BRIGHT_NIR,
    ShadowCheck,
    ShadowGeometry,
    ShadowStep,
    check_shadows,
    cloud_or_unknown,
    not_shadow_spectrally,
    reach_margins,
    shadow_reach,
)
from s2cloudmask.inference.reading.metadata import parse_tile_metadata

RES = 30.0
SOUTH_SUN = ShadowGeometry(sun_zenith=45.0, sun_azimuth=180.0)  # shadow = cloud height, due north


def scene(height: int = 1100, width: int = 60) -> np.ndarray:
    """Clear land with one cloud (rows 500-509, cols 20-29) and three dark patches the model called shadow:
    33 px north of the cloud (a 1 km high cloud's shadow), 30 px south of it, and 450 px north (13.5 km).
    The image reaches far enough south that no unseen cloud beyond its edge could shadow the patches."""
    codes = np.full((height, width), CLEAR, np.uint8)
    codes[500:510, 20:30] = CLOUD
    codes[467:477, 20:30] = CLOUD_SHADOW  # explained: due north of the cloud
    codes[540:550, 20:30] = CLOUD_SHADOW  # south of the cloud: the sun is in the south, no cloud casts there
    codes[50:60, 20:30] = CLOUD_SHADOW  # north, but farther than a 12 km high cloud can cast
    return codes


def test_tile_metadata_gives_the_sun_and_mean_view_angles(real_l2a):
    tile_xml = next((real_l2a / "GRANULE").glob("*/MTD_TL.xml"))
    angles = parse_tile_metadata(tile_xml.read_bytes(), str(tile_xml)).angles
    assert (angles.sun_zenith, angles.sun_azimuth) == pytest.approx((57.8206, 172.8402), abs=1e-3)
    assert len(angles.viewing) == 13
    view_zenith, view_azimuth = angles.view()
    assert 9.1 < view_zenith < 9.4 and 288.9 < view_azimuth < 290.6


def test_a_shadow_lies_away_from_the_sun_and_the_cloud_is_seen_away_from_the_satellite():
    east, north = SOUTH_SUN.displacement()
    assert (east, north) == pytest.approx((0.0, 1.0))
    # satellite due east at 45 degrees: the cloud is seen h metres west of its place, so its shadow looks h east
    east, north = ShadowGeometry(45.0, 180.0, view_zenith=45.0, view_azimuth=90.0).displacement()
    assert (east, north) == pytest.approx((1.0, 1.0))


def test_shadow_is_kept_where_a_cloud_can_cast_it_and_removed_where_none_can():
    codes = scene()
    checked = check_shadows(codes, shadow_reach(cloud_or_unknown(codes, 1), SOUTH_SUN, RES))
    assert (checked[467:477, 20:30] == CLOUD_SHADOW).all()
    assert (checked[540:550, 20:30] == CLEAR).all()
    assert (checked[50:60, 20:30] == CLEAR).all()
    assert (checked[500:510, 20:30] == CLOUD).all()


def test_semi_transparent_cloud_casts_too_and_no_data_may_hide_a_cloud():
    codes = scene()
    codes[500:510, 20:30] = SEMI_TRANSPARENT
    assert (check_shadows(codes, shadow_reach(cloud_or_unknown(codes, 1), SOUTH_SUN, RES))[467:477] != CLEAR).any()
    hidden = scene()
    hidden[500:510, 20:30] = CLEAR
    hidden[480:490, :] = NODATA  # the swath edge: a cloud may be there
    checked = check_shadows(hidden, shadow_reach(cloud_or_unknown(hidden, 1), SOUTH_SUN, RES))
    assert (checked[467:477, 20:30] == CLOUD_SHADOW).all()


def test_the_reach_follows_the_sun_azimuth():
    """The scene turned a quarter (north becomes west) under a sun in the east gives the same answer, turned."""
    codes = scene()
    south = check_shadows(codes, shadow_reach(cloud_or_unknown(codes, 1), SOUTH_SUN, RES))
    east_sun = ShadowGeometry(sun_zenith=45.0, sun_azimuth=90.0)
    turned = np.ascontiguousarray(codes.T)
    east = check_shadows(turned, shadow_reach(cloud_or_unknown(turned, 1), east_sun, RES))
    assert (east == south.T).all()


def test_water_and_bright_surfaces_are_not_shadow_spectrally():
    red = np.array([0.03, 0.02, 0.05, 0.04])
    nir = np.array([0.02, 0.45, 0.12, 0.06])  # water, bright vegetation, shadowed vegetation, shadowed soil
    assert not_shadow_spectrally(red, nir).tolist() == [True, True, False, False]
    assert BRIGHT_NIR == 0.30


def test_streaming_holds_back_rows_until_the_cloud_that_explains_them_arrives():
    """The cloud (rows 500-509) lies 8 blocks below its shadow (rows 467-476): streamed in blocks of 7 rows,
    the result equals the check on the whole array, and memory stays bounded by the lookahead."""
    codes = scene(height=1500)
    codes[1200:1210, 40:50] = CLOUD
    codes[1150:1160, 40:50] = CLOUD_SHADOW
    whole = check_shadows(codes, shadow_reach(cloud_or_unknown(codes, 1), SOUTH_SUN, RES))
    step = ShadowStep(SOUTH_SUN, RES, codes.shape[1], codes.shape[0])
    before, after = reach_margins(SOUTH_SUN, RES)
    out, held = [], 0
    for start in range(0, len(codes), 7):
        out += list(step.push(codes[start: start + 7], None, final=start + 7 >= len(codes)))
        held = max(held, step.held_rows)
    streamed = np.concatenate(out)
    assert streamed.shape == codes.shape
    assert (streamed == whole).all()
    assert (streamed[467:477, 20:30] == CLOUD_SHADOW).all() and (streamed[1150:1160, 40:50] == CLOUD_SHADOW).all()
    assert held <= step.chunk + before + after + 7 < len(codes)


def test_on_a_finer_grid_the_geometry_runs_on_30_m_and_gives_the_same_answer():
    low_clouds = ShadowGeometry(sun_zenith=45.0, sun_azimuth=180.0, max_height=2000.0)  # shadows up to 67 px north
    codes = np.full((300, 30), CLEAR, np.uint8)
    codes[100:105, 10:15] = CLOUD
    codes[80:85, 10:15] = CLOUD_SHADOW  # 20 px = 600 m north: explained
    codes[120:125, 10:15] = CLOUD_SHADOW  # south: not
    fine = np.repeat(np.repeat(codes, 3, axis=0), 3, axis=1)  # the same scene at 10 m
    step = ShadowStep(low_clouds, 10.0, fine.shape[1], fine.shape[0])
    assert step.factor == 3
    out = []
    for start in range(0, len(fine), 128):
        out += list(step.push(fine[start: start + 128], None, final=start + 128 >= len(fine)))
    streamed = np.concatenate(out)
    coarse = check_shadows(codes, shadow_reach(cloud_or_unknown(codes, 1), low_clouds, RES))
    assert (coarse[80:85, 10:15] == CLOUD_SHADOW).all() and (coarse[120:125, 10:15] == CLEAR).all()
    assert (streamed == np.repeat(np.repeat(coarse, 3, axis=0), 3, axis=1)).all()


def test_the_post_step_uses_the_bands_and_keeps_no_data():
    codes = scene()
    codes[:, 55:] = NODATA
    red = np.full(codes.shape, 0.04, np.float32)
    nir = np.full(codes.shape, 0.10, np.float32)
    nir[470:473, 20:30] = 0.02  # open water inside the explained shadow
    valid = codes != NODATA
    grid = Grid("EPSG:32633", Affine(RES, 0, 400000.0, 0, -RES, 5000000.0), codes.shape[1], codes.shape[0])
    blocks = (CodeBlock(s, codes[s: s + 64].copy(), valid[s: s + 64], {"red": red[s: s + 64], "nir": nir[s: s + 64]})
              for s in range(0, len(codes), 64))
    step = ShadowCheck(SOUTH_SUN)
    assert step.bands == ("red", "nir") and "sun zenith 45.00" in step.tags["CLASS2_SOURCE"]
    result = np.concatenate([block.codes for block in apply_post_steps(blocks, [step], grid)])
    assert (result[470:473, 20:30] == CLEAR).all()
    assert (result[473:477, 20:30] == CLOUD_SHADOW).all()
    assert (result[:, 55:] == NODATA).all()
    assert (result[540:550, 20:30] == CLEAR).all()


def test_impossible_angles_are_refused_with_their_name():
    with pytest.raises(ProductError, match="sun zenith"):
        ShadowGeometry(sun_zenith=95.0, sun_azimuth=180.0)
    with pytest.raises(ProductError, match="sun azimuth"):
        ShadowGeometry(sun_zenith=40.0, sun_azimuth=float("nan"))


@pytest.fixture(scope="module")
def generated_l2a(generated_product):
    return generated_product("L2A", seed=5)


def test_a_product_mask_records_how_class_2_was_obtained_and_the_buffer(generated_l2a, tmp_path):
    on = mask_product(generated_l2a, tmp_path / "on.tif", resolution=60, device="cpu", buffer=120)
    off = mask_product(generated_l2a, tmp_path / "off.tif", resolution=60, device="cpu", shadow_check=False)
    with rasterio.open(on.output) as dataset:
        tags_on, codes_on = dataset.tags(), dataset.read(1)
    with rasterio.open(off.output) as dataset:
        tags_off, codes_off = dataset.tags(), dataset.read(1)
    assert "sun zenith 29.60, azimuth 154.30" in tags_on["CLASS2_SOURCE"]
    assert tags_on["BUFFER"].startswith("120 m")
    assert (tags_off["CLASS2_SOURCE"], tags_off["BUFFER"]) == ("model", "none")
    assert ((codes_on == 0) == (codes_off == 0)).all()
    # the buffer only grows cloud: every cloud pixel of the run without buffer is still cloud
    assert (codes_on[codes_off == CLOUD] == CLOUD).all()


def test_a_raster_needs_both_sun_angles(tmp_path):
    from s2cloudmask.inference.masking.engine import mask_raster

    with pytest.raises(BandError, match="SUN_AZIMUTH and SUN_ZENITH"):
        mask_raster(tmp_path / "absent.tif", tmp_path / "out.tif", bands={"blue": 1}, sun_azimuth=150.0)
