"""tools/tile_geometry.py: the tile geometry the built-in cards get is the cheapest one within noise of CSmask's."""

from __future__ import annotations

import pytest
from s2cloudmask.inference.masking.model_card import builtin_card
from s2cloudmask.tools.tile_geometry import (
    COLUMNS,
    CSMASK,
    FULL_TILE_MODEL_PIXELS,
    Geometry,
    default_geometry,
    noise,
    table,
    within_noise,
)

QUICK = [column for column in COLUMNS if column[0] != "T29UNU"]
COST = {f"{size}/{batch}": 1.0 for size in range(32, 513, 32) for batch in (1, 4)}  # CPU s per Mpx, alike


def figures_at_shifts(base: float, worse: tuple = (), by: float = 0.0, t29unu: bool = True) -> dict:
    """Figures at four shifts spread by 0.004 around `base`; the columns in `worse` lower by `by`."""
    columns = COLUMNS if t29unu else QUICK
    return {column: [base - (by if column in worse else 0.0) + d for d in (0.0, 0.002, 0.004, 0.001)]
            for column in columns}


def test_the_cheapest_geometry_within_noise_is_chosen_and_the_others_say_why_not():
    ten, fitted, large = Geometry(256, 0.10, False), Geometry(256, 0.10, True), Geometry(512, 0.25, False)
    figures = {
        CSMASK.key: figures_at_shifts(0.7),
        ten.key: figures_at_shifts(0.7, (("patch", "cloud IoU"),), 0.003),  # lower, but by less than the spread
        fitted.key: figures_at_shifts(0.7, (("generated L2A", "shadow IoU"),), 0.02, t29unu=False),  # lower beyond it
        large.key: figures_at_shifts(0.7, t29unu=False),  # as good on the quick inputs, but more model pixels than CSmask's
    }
    margin = noise(figures)
    assert margin[("patch", "cloud IoU")] == pytest.approx(0.004)
    assert within_noise(figures[ten.key], figures[CSMASK.key], margin)
    assert not within_noise(figures[fitted.key], figures[CSMASK.key], margin)

    lines, best = table([CSMASK, ten, fitted, large], figures, COST, shadow_check=True)

    assert best == ten
    rows = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert rows[fitted.label].endswith("no (not run on T29UNU: already outside the noise above) |")
    assert rows[large.label].endswith("not judged (not run on T29UNU: more model pixels than CSmask's) |")
    assert rows[ten.label + (" (the default)" if default_geometry() == ten else "")].endswith("| yes |")
    assert rows[f"{CSMASK.label} (CSmask's)"].endswith("| yes |")


def test_the_builtin_cards_carry_the_chosen_geometry():
    card = builtin_card("L1C", ["B02", "B03", "B04", "B08", "B11", "B12"])
    assert card.tiling is None
    assert default_geometry() == Geometry(card.tile_size, card.overlap, False) == Geometry(256, 0.10, False)
    # fewer pixels through the model on a full tile than CSmask's tiles: 1.41 against 1.77 per image pixel
    per_image_pixel = FULL_TILE_MODEL_PIXELS**2
    assert round(default_geometry().model_pixels() / per_image_pixel, 2) == 1.41
    assert round(CSMASK.model_pixels() / per_image_pixel, 2) == 1.77
