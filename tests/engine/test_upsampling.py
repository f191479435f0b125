"""Model-grid rows -> output-grid codes (Upsampler, Coder, Tally) against plain bilinear interpolation, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from s2cloudmask.inference.classes import MASK_CODES, NODATA
from s2cloudmask.inference.grid import Grid
from s2cloudmask.inference.masking.blending import BlendedRows
from s2cloudmask.inference.masking.cirrus import L1C_RULE
from s2cloudmask.inference.masking.codes import Coder, Tally
from s2cloudmask.inference.masking.upsampling import OUTPUT_CHUNK_ROWS, Upsampler, _first_max

CARD_CODES = [1, 4, 2, 3, 0]  # the last class maps to no data, as KappaMask's "undefined" does


def grid(resolution: float, width: int, height: int, x: float = 500000.0, y: float = 5900000.0) -> Grid:
    return Grid("EPSG:32629", Affine(resolution, 0, x, 0, -resolution, y), width, height)


def axis(count: int, offset: float, out_step: float, in_step: float, in_count: int):
    """Lower and upper input pixel, weight of the upper one, and the input pixel holding each output centre."""
    centre = (offset + (np.arange(count) + 0.5) * out_step) / in_step
    position = np.clip(centre - 0.5, 0, in_count - 1)
    lower = np.floor(position).astype(int)
    return (lower, np.minimum(lower + 1, in_count - 1), (position - lower).astype(np.float32),
            np.clip(np.floor(centre).astype(int), 0, in_count - 1))


def reference(model: Grid, output: Grid, probabilities, extras, valid, nearest_extras: int):
    """Interpolate every channel at every output pixel centre (rows, then columns), take the argmax through the
    card, no data from the nearest model pixel; the post-steps' extras by nearest neighbour."""
    lr, ur, wr, nr = axis(output.height, model.transform.f - output.transform.f, output.resolution,
                          model.resolution, model.height)
    lc, uc, wc, nc = axis(output.width, output.transform.c - model.transform.c, output.resolution,
                          model.resolution, model.width)

    def bilinear(channels):
        w = wr[None, :, None]
        rows = channels[:, lr] * (1 - w) + channels[:, ur] * w
        return rows[:, :, lc] * (1 - wc) + rows[:, :, uc] * wc

    interpolated = bilinear(probabilities)
    out_valid = valid[nr][:, nc]
    codes = np.where(out_valid, np.asarray(CARD_CODES, np.uint8)[np.argmax(interpolated, axis=0)], NODATA)
    smooth = len(extras) - nearest_extras
    out_extras = np.concatenate([bilinear(extras[:smooth]), extras[smooth:][:, nr][:, :, nc]])
    return codes.astype(np.uint8), out_valid, out_extras, interpolated


def model_rows(shape: tuple[int, int], n_extras: int, seed: int):
    """Patchy probabilities (classes in blocks, noise on top: borders everywhere), holes of no data."""
    rng = np.random.default_rng(seed)
    height, width = shape
    blocks = rng.random((len(CARD_CODES), height // 4 + 1, width // 4 + 1), dtype=np.float32)
    probabilities = np.repeat(np.repeat(blocks, 4, axis=1), 4, axis=2)[:, :height, :width]
    probabilities = probabilities + 0.3 * rng.random(probabilities.shape, dtype=np.float32)
    valid = np.repeat(rng.random((height // 3 + 1, width), dtype=np.float32) > 0.2, 3, axis=0)[:height]
    valid &= rng.random(shape) > 0.05
    valid[height // 3] = False
    probabilities[:, ~valid] = 0.0
    extras = rng.random((n_extras, height, width), dtype=np.float32) * np.float32(0.05)
    return probabilities.astype(np.float32), extras, valid


def upsample(model: Grid, output: Grid, probabilities, extras, valid, strip: int, nearest_extras: int,
             keep_probabilities: bool, names: list[str]):
    upsampler = Upsampler(model, output, CARD_CODES, keep_probabilities, nearest_extras)
    coder = Coder(L1C_RULE if names else None, names)
    tally = Tally()
    blocks, chunks = [], []
    for row0 in range(0, model.height, strip):
        rows = slice(row0, row0 + strip)
        for out in upsampler.push(BlendedRows(row0, probabilities[:, rows], extras[:, rows], valid[rows])):
            chunks.append(out.probabilities)
            blocks.append(coder(out))
            tally.add(blocks[-1])
    assert [b.row0 for b in blocks] == list(np.cumsum([0] + [len(b.codes) for b in blocks[:-1]]))
    return blocks, chunks, tally


MODEL = grid(30, 47, 61)
CASES = {
    "30 m -> 10 m": (MODEL, grid(10, 141, 183)),
    "30 m -> 20 m (ratio 1.5)": (MODEL, MODEL.resampled(20)),
    "20 m -> 10 m, odd sizes": (grid(20, 33, 71), grid(10, 65, 141)),
    "identity": (MODEL, MODEL),
    "unaligned origin, output beyond the model": (MODEL, grid(10, 150, 190, x=499993.0, y=5900011.0)),
    "unaligned origin inside": (MODEL, grid(10, 131, 170, x=500017.0, y=5899974.0)),
    "60 m -> 10 m, one model column": (grid(60, 1, 30), grid(10, 5, 180)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(("strip", "extras", "keep_probabilities"),
                         [(7, False, False), (50, True, False), (13, True, True), (1000, False, True)])
def test_codes_valid_extras_and_probabilities_equal_plain_bilinear_interpolation_bit_for_bit(
        case, strip, extras, keep_probabilities):
    model, output = CASES[case]
    names = ["cirrus", "red", "nir"] if extras else []
    probabilities, extra_rows, valid = model_rows(model.shape, len(names), seed=len(case) + strip)
    nearest_extras = 1 if extras else 0
    blocks, chunks, tally = upsample(model, output, probabilities, extra_rows, valid, strip, nearest_extras,
                                     keep_probabilities, names)
    codes, out_valid, out_extras, interpolated = reference(model, output, probabilities, extra_rows, valid,
                                                           nearest_extras)
    if extras:
        codes = np.where(out_valid, L1C_RULE.apply(codes, {"cirrus": out_extras[0], "red": out_extras[1]}), NODATA)
        assert (codes == 3).any()
    assert max(len(b.codes) for b in blocks) <= OUTPUT_CHUNK_ROWS
    np.testing.assert_array_equal(np.concatenate([b.codes for b in blocks]), codes)
    np.testing.assert_array_equal(np.concatenate([b.valid for b in blocks]), out_valid)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(np.concatenate([b.bands[name] for b in blocks]), out_extras[i])
    if keep_probabilities:
        np.testing.assert_array_equal(np.concatenate(chunks, axis=1), interpolated)
    assert tally.valid_pixels == out_valid.sum()
    assert tally.counts == {code: int((codes == code).sum()) for code in MASK_CODES}
    assert 0 < out_valid.mean() < 1 and len(np.unique(codes)) >= 3


def test_a_strip_of_a_single_model_row_still_gives_every_output_row_once():
    model, output = CASES["30 m -> 10 m"]
    probabilities, extra_rows, valid = model_rows(model.shape, 0, seed=3)
    blocks, _, _ = upsample(model, output, probabilities, extra_rows, valid, 1, 0, False, [])
    codes, *_ = reference(model, output, probabilities, extra_rows, valid, 0)
    np.testing.assert_array_equal(np.concatenate([b.codes for b in blocks]), codes)


def test_the_most_probable_class_is_numpys_argmax_with_ties_and_nan():
    rng = np.random.default_rng(5)
    values = rng.integers(0, 3, (4, 50, 60)).astype(np.float32)  # many ties
    values[rng.random(values.shape) < 0.02] = np.nan
    values[rng.random(values.shape) < 0.02] = -0.0
    assert np.isnan(values).any(axis=0).mean() > 0.02
    np.testing.assert_array_equal(_first_max(values), np.argmax(values, axis=0))
