"""Buffers around cloud, semi-transparent cloud and shadow: distances in metres, priorities, streaming."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from s2cloudmask.inference.classes import CLEAR, CLOUD, CLOUD_SHADOW, NODATA, SEMI_TRANSPARENT
from s2cloudmask.inference.errors import BandError
from s2cloudmask.inference.grid import Grid
from s2cloudmask.inference.masking.buffers import BufferStep, buffer_codes, buffer_pixels, check_buffer
from s2cloudmask.inference.masking.codes import CodeBlock
from s2cloudmask.inference.masking.poststeps import apply_post_steps


def test_a_buffer_grows_each_class_by_the_distance_over_lower_classes_only():
    codes = np.full((21, 21), CLEAR, np.uint8)
    codes[10, 10] = CLOUD
    codes[10, 14] = CLOUD_SHADOW
    codes[0, :] = NODATA
    grown = buffer_codes(codes, buffer_pixels(60.0, 20.0))  # 3 pixels
    distance = np.hypot(*np.mgrid[-10:11, -10:11])
    assert (grown[(distance <= 3) & (codes != NODATA)] == CLOUD).all()  # the cloud's disk covers the shadow too
    assert grown[10, 17] == CLOUD_SHADOW and grown[10, 18] == CLEAR  # the shadow grows 3 px east, not more
    assert grown[12, 16] == CLOUD_SHADOW  # within 3 px of the shadow, beyond the cloud's reach
    assert (grown[0] == NODATA).all()


def test_semi_transparent_cloud_does_not_cover_cloud():
    codes = np.full((9, 9), CLEAR, np.uint8)
    codes[4, 3] = SEMI_TRANSPARENT
    codes[4, 5] = CLOUD
    grown = buffer_codes(codes, 2)
    assert grown[4, 5] == CLOUD and grown[4, 4] == CLOUD and grown[4, 1] == SEMI_TRANSPARENT


def test_streamed_buffer_equals_the_whole_array_across_block_borders():
    rng = np.random.default_rng(4)
    codes = rng.choice([CLEAR, CLEAR, CLEAR, CLOUD_SHADOW, SEMI_TRANSPARENT, CLOUD], size=(300, 40),
                       p=[0.9, 0.02, 0.02, 0.02, 0.02, 0.02]).astype(np.uint8)
    grid = Grid("EPSG:32633", Affine(10.0, 0, 400000.0, 0, -10.0, 5000000.0), 40, 300)
    valid = np.ones(codes.shape, bool)
    blocks = (CodeBlock(s, codes[s: s + 13].copy(), valid[s: s + 13]) for s in range(0, 300, 13))
    step = BufferStep(50.0)
    result = np.concatenate([block.codes for block in apply_post_steps(blocks, [step], grid)])
    assert (result == buffer_codes(codes, 5)).all()
    assert step.tags["BUFFER"].startswith("50 m")


@pytest.mark.parametrize("metres", [-1.0, float("nan"), 1e6])
def test_an_unusable_buffer_is_a_band_error_naming_it(metres):
    with pytest.raises(BandError, match="BUFFER"):
        check_buffer(metres)
